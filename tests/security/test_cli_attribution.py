"""CLI actions are attributable: the OS account comes from the real uid (not $USER), `--as NAME`
names a registry account only if it exists and is enabled, and the door is recorded."""

from __future__ import annotations

import os
import pwd

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from registry.cli import main
from registry.db import make_engine, make_session_factory
from registry.models import AccessEvent, AuditEntry

OS_ACCOUNT = pwd.getpwuid(os.getuid()).pw_name


def _msreg(url: str, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["--db", url, *args], env=env)


def _last(url: str, model):  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as s:
            return s.execute(select(model).order_by(model.id.desc()).limit(1)).scalar_one()
    finally:
        engine.dispose()


def test_the_os_account_comes_from_the_uid_not_from_user(sqlite_url: str) -> None:
    result = _msreg(sqlite_url, "user", "add", "ann", "--role", "admin", env={"USER": "someone-else", "LOGNAME": "someone-else"})
    assert result.exit_code == 0, result.output
    row = _last(sqlite_url, AuditEntry)
    assert (row.actor, row.os_account, row.door) == (f"cli:{OS_ACCOUNT}", OS_ACCOUNT, "cli")
    access = _last(sqlite_url, AccessEvent)
    assert (access.event, access.actor, access.os_account, access.door) == ("user.add", f"cli:{OS_ACCOUNT}", OS_ACCOUNT, "cli")


def test_as_names_an_existing_registry_account(sqlite_url: str) -> None:
    assert _msreg(sqlite_url, "user", "add", "ann", "--role", "admin").exit_code == 0
    result = _msreg(sqlite_url, "--as", "ann", "user", "add", "bob", "--role", "researcher")
    assert result.exit_code == 0, result.output
    row = _last(sqlite_url, AuditEntry)
    assert (row.actor, row.role, row.os_account, row.door) == ("ann", "admin", OS_ACCOUNT, "cli")


@pytest.mark.parametrize(("setup", "message"), [([], "no registry user 'ann'"), (["disable"], "account 'ann' is disabled")])
def test_as_refuses_an_unknown_or_disabled_account(sqlite_url: str, setup: list[str], message: str) -> None:
    if setup:
        assert _msreg(sqlite_url, "user", "add", "ann", "--role", "admin").exit_code == 0
        assert _msreg(sqlite_url, "user", "disable", "ann").exit_code == 0
    result = _msreg(sqlite_url, "--as", "ann", "user", "add", "bob", "--role", "researcher")
    assert result.exit_code == 1
    assert message in result.output


def test_as_keeps_the_accounts_own_rights(sqlite_url: str) -> None:
    assert _msreg(sqlite_url, "user", "add", "rita", "--role", "researcher").exit_code == 0
    result = _msreg(sqlite_url, "--as", "rita", "user", "add", "bob", "--role", "researcher")
    assert result.exit_code == 1
    assert "only admins manage users" in result.output
