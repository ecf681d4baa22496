"""The audit trail cannot be changed in place, and what is changed behind the triggers' back is
found by `msreg audit verify`, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from registry import migrate

from registry.security import auth
from registry.security.access import Actor
from registry.cli import main
from registry.db import session_scope

ADMIN = Actor("boss", "admin")


def _three_rows(engine: Engine) -> None:
    with session_scope(engine) as s:
        auth.add_user(s, ADMIN, "u1", "admin")
        auth.add_user(s, ADMIN, "u2", "researcher")
        auth.disable_user(s, ADMIN, "u2")


def _verify(engine: Engine):  # type: ignore[no-untyped-def]
    url = engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(main, ["--db", url, "audit", "verify"])


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET reason = 'rewritten' WHERE id = 2",
        "DELETE FROM audit_log WHERE id = 2",
        "DELETE FROM audit_log",
    ],
)
def test_update_and_delete_are_refused_by_the_database(engine: Engine, statement: str) -> None:
    _three_rows(engine)
    with pytest.raises(DBAPIError, match="audit_log is append-only"):
        with engine.begin() as conn:
            conn.execute(text(statement))
    assert _verify(engine).exit_code == 0


def test_truncate_is_refused_on_postgresql(databases) -> None:  # type: ignore[no-untyped-def]
    from registry.db import make_engine

    engine = make_engine(databases.new("postgresql"))
    try:
        _three_rows(engine)
        with pytest.raises(DBAPIError, match="audit_log is append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_log"))
    finally:
        engine.dispose()


def _without_triggers(engine: Engine, statement: str, **params: object) -> None:
    """What an attacker with owner rights does: lift the protection, tamper, put it back."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            conn.execute(text(statement), params)
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
            conn.execute(text(statement), params)


def test_altered_row_is_named_by_verify(engine: Engine) -> None:
    _three_rows(engine)
    forged = json.dumps({"role": "admin", "centre_code": None, "disabled": False}, separators=(",", ":"))
    _without_triggers(engine, "UPDATE audit_log SET new_values = :v WHERE id = 2", v=forged)
    result = _verify(engine)
    assert result.exit_code == 1
    assert "audit row 2: content does not match its hash (altered)" in result.output
    assert "audit row 1" not in result.output and "audit row 3" not in result.output
    assert "BROKEN" in result.output


def test_deleted_row_is_detected_at_the_next_row(engine: Engine) -> None:
    _three_rows(engine)
    _without_triggers(engine, "DELETE FROM audit_log WHERE id = 2")
    result = _verify(engine)
    assert result.exit_code == 1
    assert "audit row 3: link to the previous row is broken" in result.output


def test_downgrade_removes_the_triggers_and_upgrade_restores_them(databases, backend: str) -> None:  # type: ignore[no-untyped-def]
    from registry.db import make_engine

    url = databases.new(backend)
    engine = make_engine(url)
    try:
        _three_rows(engine)  # written at head: the code writes the newest schema's columns
        migrate.downgrade(url, "0001")
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET reason = 'x' WHERE id = 1"))
        migrate.upgrade(url)
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_log WHERE id = 1"))
    finally:
        engine.dispose()
