"""The data version: moved by every write from any door, unmoved by reads, one O(1) query."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, event, text

from analytics.snapshot import SNAPSHOT_SCHEMA, clear_snapshot_cache, data_version, load_snapshot
from registry.security.access import cli_actor
from tests.analytics.endpoint_cohort import Cohort

VERSION = re.compile(r"audit-\d+:[0-9a-f]{16}")
# The tables whose writes must move the version: everything a snapshot holds, and the
# registry-wide settings pages read.
WATCHED = (*SNAPSHOT_SCHEMA, "registry_settings")


def cohort() -> Cohort:
    return Cohort().add("A1", centre="C1", visits={-10: 2.0, 100: 3.0}, relapses=(50,), mri=[(200, 1, 0)],
                        adverse_events=(5,), death=(400, "OTHER"), treatments=[("RITUXIMAB", 200, None)])


def _first_id(engine: Engine, table: str) -> object:
    key = "key" if table == "registry_settings" else "id"
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT {key} FROM {table} ORDER BY {key} LIMIT 1")).scalar_one()


def _ensure_setting(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO registry_settings (key, value, created_at, updated_at, version) "
            "VALUES ('probe', 'x', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"
        ))


def test_version_has_one_format(engine: Engine) -> None:
    assert VERSION.fullmatch(data_version(engine))
    cohort().write(engine)
    assert VERSION.fullmatch(data_version(engine))


@pytest.mark.parametrize("table", WATCHED)
def test_a_raw_sql_update_of_any_data_table_moves_the_version(engine: Engine, table: str) -> None:
    """Writes that bypass the services (scripts, consoles, restores) move it too: triggers."""
    cohort().write(engine)
    _ensure_setting(engine)
    key_col = "key" if table == "registry_settings" else "id"
    key = _first_id(engine, table)
    before = data_version(engine)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {table} SET version = version + 1 WHERE {key_col} = :k"), {"k": key})
    assert data_version(engine) != before


def test_a_raw_sql_delete_moves_the_version(engine: Engine) -> None:
    cohort().write(engine)
    before = data_version(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM relapses"))
    assert data_version(engine) != before


def test_an_insert_through_the_orm_moves_the_version(engine: Engine) -> None:
    cohort().write(engine)
    before = data_version(engine)
    Cohort().add("Z9", centre="C9").write(engine)
    assert data_version(engine) != before


def test_a_service_write_moves_the_version_and_its_audit_head(engine: Engine) -> None:
    from registry import services
    from registry.db import session_scope

    before = data_version(engine)
    with session_scope(engine) as session:
        services.create(session, cli_actor(), "centres", {"centre_code": "X1", "name": "X", "country": "GB"})
    after = data_version(engine)
    assert after != before
    assert int(after.split(":")[0].removeprefix("audit-")) > int(before.split(":")[0].removeprefix("audit-"))


def test_reads_do_not_move_the_version(engine: Engine) -> None:
    cohort().write(engine)
    before = data_version(engine)
    clear_snapshot_cache()
    load_snapshot(engine)
    with engine.connect() as conn:
        for table in WATCHED:
            conn.execute(text(f"SELECT count(*) FROM {table}")).all()
    assert data_version(engine) == before


def test_a_rolled_back_write_does_not_move_the_version(engine: Engine) -> None:
    cohort().write(engine)
    before = data_version(engine)
    with engine.connect() as conn:
        conn.execute(text("UPDATE visits SET version = version + 1"))
        conn.rollback()
    assert data_version(engine) == before


def test_reading_the_version_touches_no_data_table(engine: Engine) -> None:
    """O(1): the query reads the counter row and the audit head, never a data table."""
    cohort().write(engine)
    statements: list[str] = []

    def capture(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", capture)
    try:
        data_version(engine)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    [query] = [s for s in statements if "data_version" in s]
    for table in WATCHED:
        assert not re.search(rf"\b{table}\b", query), table


def test_a_counter_recreated_by_downgrade_and_upgrade_does_not_repeat_a_version(databases) -> None:
    from alembic.script import ScriptDirectory

    from registry import migrate
    from registry.db import make_engine

    before_counter = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_revision("0007").down_revision
    url = databases.new("sqlite")
    engine = make_engine(url)
    seen = {data_version(engine)}
    cohort().write(engine)
    seen.add(data_version(engine))
    engine.dispose()
    migrate.downgrade(url, str(before_counter))
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        assert data_version(engine) not in seen
    finally:
        engine.dispose()
