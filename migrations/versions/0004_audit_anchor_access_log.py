"""audit_log: key id, position, door and OS account of each HMAC-linked row; access_log

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 19:40:00

Why: the audit chain becomes HMAC-SHA-256 under a key kept outside the database
(registry.anchor, registry.chain). Each row names the key that signed it (`key_id`) and its
position in the chain (`seq`), and records the door (cli, dashboard, ...) and the
operating-system account. Rows written before this revision keep NULLs and their plain
SHA-256 links. `access_log` is the chained record of logins, exports, downloads, backups,
restores and key rotations, append-only like `audit_log` (same triggers).

The new columns are added with plain ADD COLUMN (no batch mode): on SQLite a batch alter
would recreate `audit_log` and drop its append-only triggers (see 0002).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "access_log is append-only"
def _audit_columns() -> list[sa.Column]:
    return [
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("door", sa.String(length=32), nullable=True),
        sa.Column("os_account", sa.String(length=64), nullable=True),
    ]
PG_FUNCTION = "access_log_append_only"
PG_TRIGGERS = {
    "access_log_no_update": "BEFORE UPDATE ON access_log FOR EACH ROW",
    "access_log_no_delete": "BEFORE DELETE ON access_log FOR EACH ROW",
    "access_log_no_truncate": "BEFORE TRUNCATE ON access_log FOR EACH STATEMENT",
}
SQLITE_TRIGGERS = {"access_log_no_update": "UPDATE", "access_log_no_delete": "DELETE"}


def upgrade() -> None:
    for column in _audit_columns():
        op.add_column("audit_log", column)
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("centre_code", sa.String(length=16), nullable=True),
        sa.Column("door", sa.String(length=32), nullable=False),
        sa.Column("os_account", sa.String(length=64), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
        sa.UniqueConstraint("row_hash", name=op.f("uq_access_log_row_hash")),
    )
    op.create_index("ix_access_log_event_occurred_at", "access_log", ["event", "occurred_at"])
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
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON access_log BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON access_log")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_access_log_event_occurred_at", table_name="access_log")
    op.drop_table("access_log")
    # SQLite cannot drop a column without recreating the table (which would drop the
    # append-only triggers of 0002): recreate them after the batch.
    with op.batch_alter_table("audit_log") as batch:
        for column in reversed(_audit_columns()):
            batch.drop_column(column.name)
    if op.get_bind().dialect.name == "sqlite":
        for name, event in (("audit_log_no_update", "UPDATE"), ("audit_log_no_delete", "DELETE")):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")
