"""audit_log: key id, position, door and OS account of each HMAC-linked row; access_log

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 19:40:00

Why: the audit chain becomes HMAC-SHA-256 under a key kept outside the database
(registry.security.anchor, registry.security.chain). Each row names the key that signed it (`key_id`) and its
position in the chain (`seq`), and records the door (cli, dashboard, ...) and the
operating-system account. Rows written before this revision keep NULLs and their plain
SHA-256 links. `access_log` is the chained record of logins, exports, downloads, backups,
restores and key rotations, append-only like `audit_log` (same triggers).

The new columns are added with plain ADD COLUMN (no batch mode): on SQLite a batch alter
would recreate `audit_log` and drop its append-only triggers (see 0002). A downgrade parks the
signatures and the access log in `_audit_anchor_0004` / `_access_log_0004` instead of dropping
them, and the next upgrade puts them back: an accidental downgrade must not make the trail
unverifiable.
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


# A downgrade must not destroy the trail's signatures: it parks them (and the access log) in
# these tables, and the next upgrade puts them back, so downgrade + upgrade is lossless.
PARKED_AUDIT = "_audit_anchor_0004"
PARKED_ACCESS = "_access_log_0004"
AUDIT_TRIGGERS_SQLITE = {"audit_log_no_update": "UPDATE", "audit_log_no_delete": "DELETE"}


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def _restore_parked_signatures() -> None:
    """Put back what a downgrade parked (the append-only triggers are lifted meanwhile: this is
    the owner restoring columns, not an edit of the trail's content)."""
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
    else:
        for name in AUDIT_TRIGGERS_SQLITE:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    cols = ("key_id", "seq", "door", "os_account")
    sets = ", ".join(f"{c} = (SELECT p.{c} FROM {PARKED_AUDIT} p WHERE p.id = audit_log.id)" for c in cols)
    op.execute(f"UPDATE audit_log SET {sets} WHERE id IN (SELECT id FROM {PARKED_AUDIT})")
    if pg:
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")
    else:
        _sqlite_audit_triggers()
    op.drop_table(PARKED_AUDIT)


def _sqlite_audit_triggers() -> None:
    for name, event in AUDIT_TRIGGERS_SQLITE.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")


def upgrade() -> None:
    for column in _audit_columns():
        op.add_column("audit_log", column)
    tables = _tables()
    if PARKED_AUDIT in tables:
        _restore_parked_signatures()
    if PARKED_ACCESS in tables:  # its triggers and indexes travelled with it
        op.rename_table(PARKED_ACCESS, "access_log")
        return
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
    """Park the signatures and the access log (see PARKED_*), then drop the new columns."""
    op.execute(f"CREATE TABLE {PARKED_AUDIT} AS SELECT id, key_id, seq, door, os_account FROM audit_log")
    op.rename_table("access_log", PARKED_ACCESS)
    # SQLite cannot drop a column without recreating the table (which would drop the
    # append-only triggers of 0002): recreate them after the batch.
    with op.batch_alter_table("audit_log") as batch:
        for column in reversed(_audit_columns()):
            batch.drop_column(column.name)
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_audit_triggers()
