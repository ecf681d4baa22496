"""data_version: a one-row change counter moved by triggers on every table analytics read

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 19:30:00

Why: the dashboard and the CLI key their caches by the registry's data version. It used to be
computed by counting every table and taking each table's latest `updated_at` (0.36 s per call
at 100,000 patients, on every page rerun). Now every insert, update or delete of a data table
bumps `data_version.counter` in the same transaction, from any door (services, bundle import,
restore, scripts, a console), and reading the version is one primary-key look-up.

SQLite has only row-level triggers (one counter update per written row, a page already in
cache); PostgreSQL uses statement-level triggers, one update per statement, TRUNCATE included.
On PostgreSQL writers already queue on the audit chain's advisory lock, so the counter row
adds no new serialisation.

Trap for later migrations (as in 0002): on SQLite, batch mode recreates a table it alters and
drops its triggers; run `create_triggers([table])` from this module again afterwards. A new
table that analytics read needs `create_triggers([new_table])` too
(tests/analytics/test_data_version.py checks every snapshot table).

`alembic check` does not compare triggers, so these add no model drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA_TABLES: tuple[str, ...] = (
    "centres",
    "patients",
    "transplants",
    "visits",
    "relapses",
    "mri_scans",
    "adverse_events",
    "deaths",
    "treatments",
    "data_queries",
    "registry_settings",
)
PG_FUNCTION = "data_version_bump"
_BUMP = "UPDATE data_version SET counter = counter + 1 WHERE id = 1"


def _sqlite_names(table: str) -> dict[str, str]:
    return {f"{table}_data_version_{event.lower()}": event for event in ("INSERT", "UPDATE", "DELETE")}


def create_triggers(tables: Iterable[str] = DATA_TABLES) -> None:
    """Make every insert, update or delete of `tables` move the data version."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                {_BUMP};
                RETURN NULL;
            END
            $$
            """
        )
        for table in tables:
            op.execute(
                f"CREATE TRIGGER {table}_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()"
            )
    else:
        for table in tables:
            for name, event in _sqlite_names(table).items():
                op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {_BUMP}; END")


def drop_triggers(tables: Iterable[str] = DATA_TABLES) -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in tables:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_data_version ON {table}")
    else:
        for table in tables:
            for name in _sqlite_names(table):
                op.execute(f"DROP TRIGGER IF EXISTS {name}")


def upgrade() -> None:
    op.create_table(
        "data_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_data_version_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_version")),
    )
    op.execute("INSERT INTO data_version (id, counter) VALUES (1, 0)")
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
    op.drop_table("data_version")
