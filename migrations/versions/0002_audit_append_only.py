"""audit_log is append-only: triggers refuse UPDATE, DELETE (and TRUNCATE on PostgreSQL)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 15:40:00

Why triggers: the hash chain *detects* tampering after the fact; the triggers *prevent* the
easy kind (an UPDATE or DELETE from the application, a script or a console) on both backends.
They do not stop the table's owner or a superuser, who can drop or disable a trigger: on a
shared PostgreSQL server run the application as a role that does not own `audit_log` and has
only SELECT and INSERT on it, and keep the chain check (`msreg audit verify`) in monitoring.

Trap for later migrations: on SQLite, Alembic's batch mode recreates a table it alters, which
drops that table's triggers. A migration that batch-alters `audit_log` must run
`create_triggers()` from this module again afterwards.

`alembic check` does not compare triggers, so these add no model drift.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "audit_log is append-only"

SQLITE_TRIGGERS = {
    "audit_log_no_update": "UPDATE",
    "audit_log_no_delete": "DELETE",
}

PG_FUNCTION = "audit_log_append_only"
PG_TRIGGERS = {
    "audit_log_no_update": "BEFORE UPDATE ON audit_log FOR EACH ROW",
    "audit_log_no_delete": "BEFORE DELETE ON audit_log FOR EACH ROW",
    "audit_log_no_truncate": "BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT",
}


def create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE} (% refused)', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        for name, when in PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION {PG_FUNCTION}()")
    else:
        for name, event in SQLITE_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {event} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )


def drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON audit_log")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")


def upgrade() -> None:
    create_triggers()


def downgrade() -> None:
    drop_triggers()
