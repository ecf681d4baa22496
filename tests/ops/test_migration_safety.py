"""Every migration is safe on a registry that holds data, on SQLite and PostgreSQL.

tests/test_migrations.py checks an empty database; this one checks what hurts in production.
For each revision R found in the script directory (so new migrations are covered without
editing this file), on a database populated at head with centres, patients and every kind of
child row plus audit rows, walked down to R:

    downgrade one step -> upgrade back to R

must give identical per-table checksums (all rows, ordered by id) of what the lower revision
can hold (the tables and columns that exist at R's predecessor: rows of a table or values of a
column that R creates cannot survive R's own downgrade), the same schema (tables,
columns, foreign keys, unique constraints, indexes, triggers), no foreign-key violation (SQLite
`PRAGMA foreign_key_check`; PostgreSQL: every FK constraint present and VALIDATED), and, at
head, ids that keep counting (a recreated table must not reset its sequence).

The first revision cannot keep data across its downgrade (it drops the schema): for it the
test asserts that the downgrade succeeds on a populated database (tables dropped in a valid
order) and that upgrading again yields the same, empty schema.
"""

from __future__ import annotations

from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from registry import migrate
from registry.io.backup import table_checksums
from registry.db import is_sqlite, make_engine
from registry.migrate import alembic_config
from tests.ops.population import populate

SCRIPTS = ScriptDirectory.from_config(alembic_config("sqlite://"))
REVISIONS = [r.revision for r in SCRIPTS.walk_revisions()]  # head first


def test_exactly_one_head_and_a_linear_history() -> None:
    assert len(SCRIPTS.get_heads()) == 1, f"more than one head: {SCRIPTS.get_heads()}"
    assert len(SCRIPTS.get_bases()) == 1, f"more than one base: {SCRIPTS.get_bases()}"
    for rev in SCRIPTS.walk_revisions():
        assert not rev.is_merge_point, f"revision {rev.revision} merges branches"
        assert not rev.is_branch_point, f"revision {rev.revision} starts a branch"


def _schema(conn: Connection) -> dict[str, Any]:
    insp = inspect(conn)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        out[table] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
            "fks": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                for fk in insp.get_foreign_keys(table)
            ),
            "uniques": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(table)),
        }
    out["<triggers>"] = _triggers(conn)
    return out


def _triggers(conn: Connection) -> list[tuple[str, str]]:
    """Triggers count as schema: SQLite batch mode silently drops a recreated table's triggers."""
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'")
    else:
        rows = conn.execute(text("SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal"))
    return sorted((str(a), str(b)) for a, b in rows)


def _fk_problems(conn: Connection) -> list[str]:
    if conn.dialect.name == "sqlite":
        return [f"{t} rowid {rid} -> {parent}" for t, rid, parent, _ in conn.exec_driver_sql("PRAGMA foreign_key_check")]
    rows = conn.execute(
        text("SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' AND NOT convalidated")
    )
    return [f"{t}.{name} is NOT VALID (existing rows unchecked)" for t, name in rows]


def _state(url: str) -> tuple[dict[str, str], dict[str, Any], list[str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return table_checksums(conn), _schema(conn), _fk_problems(conn)
    finally:
        engine.dispose()


def _populated_at(databases, backend: str, revision: str) -> str:
    url = databases.new(backend, migrated=False)
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        populate(engine)
    finally:
        engine.dispose()
    if revision != REVISIONS[0]:
        migrate.downgrade(url, revision)
    assert migrate.current_revision(url) == revision
    return url


@pytest.mark.slow
@pytest.mark.parametrize("revision", REVISIONS)
def test_downgrade_and_upgrade_again_keeps_every_row(databases, backend: str, revision: str) -> None:
    url = _populated_at(databases, backend, revision)
    down = SCRIPTS.get_revision(revision).down_revision
    before_rows, before_schema, problems = _state(url)
    assert problems == []
    assert before_rows.keys() >= {"patients", "visits", "audit_log"}

    before_values, before_columns = _rows(url), _columns(url)
    migrate.downgrade(url, down or "base")
    assert migrate.current_revision(url) == down
    _, _, problems = _state(url)
    assert problems == [], f"downgrade {revision} -> {down} left foreign-key violations"
    kept = _columns(url)  # what the lower revision can hold

    migrate.upgrade(url, revision)
    assert migrate.current_revision(url) == revision
    after_rows, after_schema, problems = _state(url)
    assert problems == [], f"re-upgrade to {revision} left foreign-key violations"
    assert after_schema == before_schema, f"schema at {revision} differs after downgrade + upgrade"

    if down is None:
        # The first migration creates the schema: its downgrade cannot keep data.
        engine = make_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM patients")).scalar() == 0
        engine.dispose()
        return

    after_values = _rows(url)
    # data_version's counter is re-created by design (migration 0007: it must not repeat a value)
    changed = sorted(
        t for t, cols in kept.items()
        if t != "data_version" and t in before_values  # side tables a downgrade parks rows in are not compared
        and [{c: r[c] for c in cols} for r in before_values[t]] != [{c: r[c] for c in cols} for r in after_values[t]]
    )
    assert not changed, f"downgrade {revision} -> {down} -> {revision} changed the rows of {changed}"
    untouched = sorted(t for t in before_rows if t != "data_version" and kept.get(t) == before_columns.get(t)
                       and before_rows[t] != after_rows.get(t))
    assert not untouched, f"tables {untouched}, which {revision} does not alter, changed (checksums)"


def _rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table as column -> value, ordered by primary key."""
    from sqlalchemy import MetaData, select

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            meta = MetaData()
            meta.reflect(bind=conn)
            return {
                name: [dict(r._mapping) for r in conn.execute(select(t).order_by(*(list(t.primary_key.columns) or list(t.columns))))]
                for name, t in meta.tables.items()
            }
    finally:
        engine.dispose()


def _columns(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            return {t: [c["name"] for c in insp.get_columns(t)] for t in insp.get_table_names()}
    finally:
        engine.dispose()


@pytest.mark.slow
def test_ids_keep_counting_after_a_round_trip_at_head(databases, backend: str) -> None:
    head = REVISIONS[0]
    url = _populated_at(databases, backend, head)
    down = SCRIPTS.get_revision(head).down_revision
    if down is None:
        pytest.skip("only one revision: its round trip cannot keep data")
    migrate.downgrade(url, down)
    migrate.upgrade(url, head)
    engine = make_engine(url)
    try:
        populate(engine, prefix="N", n_patients=3)  # new rows must get fresh ids, no collision
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM patients")).scalar() == 15
            if is_sqlite(url):
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
