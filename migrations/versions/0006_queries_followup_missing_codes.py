"""data_queries (clarification requests to centres) and the patients' follow-up status

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-01 20:00:00

Follow-up status: three nullable columns on patients (lost to follow-up, transferred, consent
withdrawn; the date and a reason). On SQLite the CHECK constraints need batch mode, which
recreates `patients`; no triggers live on it (the audit_log trap of 0002 does not apply).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOLLOWUP_STATUS = ("LOST", "TRANSFERRED", "CONSENT_WITHDRAWN")  # registry.codes at this revision
QUERY_STATUS = ("OPEN", "ANSWERED", "CLOSED")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("followup_status", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("followup_status_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("followup_status_reason", sa.Text(), nullable=True))
        batch_op.create_check_constraint("followup_status_code", _in("followup_status", FOLLOWUP_STATUS))
        batch_op.create_check_constraint("followup_status_dated", "(followup_status IS NULL) = (followup_status_date IS NULL)")

    op.create_table(
        "data_queries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("record_key", sa.Text(), nullable=True),
        sa.Column("field_name", sa.String(length=64), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(_in("status", QUERY_STATUS), name=op.f("ck_data_queries_status_code")),
        sa.CheckConstraint("length(question) > 0", name=op.f("ck_data_queries_question_not_empty")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_data_queries_patient_id_patients"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_queries")),
    )
    with op.batch_alter_table("data_queries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_queries_patient_id"), ["patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("data_queries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_queries_patient_id"))
    op.drop_table("data_queries")
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.drop_constraint("followup_status_dated", type_="check")
        batch_op.drop_constraint("followup_status_code", type_="check")
        batch_op.drop_column("followup_status_reason")
        batch_op.drop_column("followup_status_date")
        batch_op.drop_column("followup_status")
