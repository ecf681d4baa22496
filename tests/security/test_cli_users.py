"""`msreg user …` and `msreg audit …` from the command line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from registry.security import auth
from registry.cli import main
from registry.db import make_session_factory


def msreg(url: str, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["--db", url, *args], input=input, catch_exceptions=False)


def _login_ok(engine: Engine, username: str, password: str) -> bool:
    with make_session_factory(engine)() as s:
        try:
            auth.authenticate(s, username, password)
        except auth.LoginFailed:
            return False
        return True


def _printed_password(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("password (shown once): ")]
    assert len(lines) == 1, output
    return lines[0].split(": ", 1)[1]


def test_add_prints_a_password_once_that_logs_in(centres_engine: Engine) -> None:
    url = centres_engine.url.render_as_string(hide_password=False)
    result = msreg(url, "user", "add", "ann", "--role", "centre", "--centre", "AAA")
    assert result.exit_code == 0, result.output
    assert "user ann added (role centre, centre AAA)" in result.output
    assert _login_ok(centres_engine, "ann", _printed_password(result.output))


def test_password_stdin_is_used_and_not_echoed(sqlite_engine: Engine) -> None:
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = msreg(url, "user", "add", "gov", "--role", "governance", "--password-stdin", input="a long enough secret\n")
    assert result.exit_code == 0, result.output
    assert "a long enough secret" not in result.output and "password (shown once)" not in result.output
    assert _login_ok(sqlite_engine, "gov", "a long enough secret")


def test_disable_reset_and_list(sqlite_engine: Engine) -> None:
    url = sqlite_engine.url.render_as_string(hide_password=False)
    first = _printed_password(msreg(url, "user", "add", "res", "--role", "researcher").output)
    assert msreg(url, "user", "disable", "res", "--reason", "left").exit_code == 0
    assert not _login_ok(sqlite_engine, "res", first)
    listing = msreg(url, "user", "list").output.splitlines()
    assert listing[0] == "username\trole\tcentre\tstate\tlast_login"
    assert listing[1].startswith("res\tresearcher\t-\tdisabled\t")
    assert msreg(url, "user", "enable", "res").exit_code == 0
    second = _printed_password(msreg(url, "user", "reset-password", "res").output)
    assert not _login_ok(sqlite_engine, "res", first)
    assert _login_ok(sqlite_engine, "res", second)
    assert msreg(url, "user", "list").output.splitlines()[1].startswith("res\tresearcher\t-\tactive\t20")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", "add", "x", "--role", "centre"], "centre users need a centre"),
        (["user", "add", "x", "--role", "centre", "--centre", "NOPE"], "no centre 'NOPE'"),
        (["user", "disable", "ghost"], "no user 'ghost'"),
        (["user", "reset-password", "ghost"], "no user 'ghost'"),
    ],
)
def test_refusals_exit_1_with_the_reason(centres_engine: Engine, args: list[str], message: str) -> None:
    url = centres_engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(main, ["--db", url, *args])
    assert result.exit_code == 1
    assert message in result.output


def test_audit_verify_ok_and_show(sqlite_engine: Engine) -> None:
    url = sqlite_engine.url.render_as_string(hide_password=False)
    msreg(url, "user", "add", "a1", "--role", "admin")
    msreg(url, "user", "add", "r1", "--role", "researcher")
    msreg(url, "user", "disable", "r1")
    result = msreg(url, "audit", "verify")
    assert result.exit_code == 0
    from sqlalchemy import select

    from registry.db import session_scope
    from registry.models import AuditEntry

    with session_scope(sqlite_engine) as s:
        head = s.execute(select(AuditEntry.row_hash).order_by(AuditEntry.id.desc()).limit(1)).scalar()
    line = result.output.strip()
    assert line.startswith("audit trail OK: 3 audit rows, 3 access rows") and line.endswith(f"head {head}")
    shown = msreg(url, "audit", "show", "--entity", "users", "--limit", "2").output.splitlines()
    assert len(shown) == 3
    assert shown[1].split("\t")[5:8] == ["INSERT", "users", '{"username":"r1"}']
    assert shown[2].split("\t")[5:10] == ["UPDATE", "users", '{"username":"r1"}', '{"disabled":false}', '{"disabled":true}']
    assert msreg(url, "audit", "show", "--entity", "patients").output.splitlines()[1:] == []


def _bundle(folder) -> str:  # type: ignore[no-untyped-def]
    folder.mkdir()
    (folder / "centres.csv").write_text("centre_code,name\nCCC,Centre C\n", encoding="utf-8")
    return str(folder)


@pytest.mark.parametrize(
    ("args", "entity", "actions"),
    [
        (["import", "{bundle}"], "centres", ["INSERT"]),
        (["user", "add", "new", "--role", "governance"], "users", ["INSERT"]),
        (["user", "disable", "old"], "users", ["UPDATE"]),
        (["user", "reset-password", "old"], "users", ["UPDATE"]),
    ],
    ids=["import", "user add", "user disable", "user reset-password"],
)
def test_every_writing_command_acts_as_the_cli_administrator_and_is_audited(
    sqlite_engine: Engine, tmp_path, args: list[str], entity: str, actions: list[str]  # type: ignore[no-untyped-def]
) -> None:
    """The command line is the local administrator (whoever holds the database credentials):
    it may do everything, and the audit trail says it was the command line, and who ran it."""
    import getpass
    import json

    from sqlalchemy import select

    from registry.db import session_scope
    from registry.models import AuditEntry

    url = sqlite_engine.url.render_as_string(hide_password=False)
    msreg(url, "user", "add", "old", "--role", "researcher")
    with session_scope(sqlite_engine) as s:
        before = s.execute(select(AuditEntry.id).order_by(AuditEntry.id.desc())).scalars().first() or 0
    args = [a.replace("{bundle}", _bundle(tmp_path / "bundle")) if a == "{bundle}" else a for a in args]
    result = msreg(url, *args)
    assert result.exit_code == 0, result.output
    with session_scope(sqlite_engine) as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.id > before).order_by(AuditEntry.id)).scalars().all()
    assert [(r.entity, r.action) for r in rows] == [(entity, a) for a in actions]
    assert {(r.actor, r.role, r.centre_code) for r in rows} == {(f"cli:{getpass.getuser()}", "admin", None)}
    assert all("password" not in (r.new_values or "") or json.loads(r.new_values) == {"password": "reset"} for r in rows)
    assert msreg(url, "audit", "verify").exit_code == 0


@pytest.mark.parametrize("args", [["audit", "verify"], ["user", "list"]])
def test_a_database_without_schema_says_to_run_init(tmp_path, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["--db", f"sqlite:///{tmp_path / 'empty.db'}", *args])
    assert result.exit_code == 1
    assert "msreg init" in result.output and "Traceback" not in result.output
