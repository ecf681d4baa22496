"""treatments (DMT periods); transplant haematology and MRI lesion location (optional columns)

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01 19:30:00

Why plain `ALTER TABLE ... ADD COLUMN ... CHECK` instead of Alembic's batch mode: on SQLite batch
mode recreates the whole table, which is slow on a large registry and risks losing what the
reflection does not carry over. Adding a nullable column with its own column-level CHECK is
one statement that SQLite and PostgreSQL both accept, and dropping it again drops its CHECK.

The code lists are written out here (not imported from registry.codes): a migration describes
the schema as it was at this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DRUGS = (
    "INTERFERON_BETA", "GLATIRAMER", "TERIFLUNOMIDE", "DIMETHYL_FUMARATE", "DIROXIMEL_FUMARATE", "FINGOLIMOD",
    "SIPONIMOD", "OZANIMOD", "PONESIMOD", "CLADRIBINE", "NATALIZUMAB", "ALEMTUZUMAB", "OCRELIZUMAB", "OFATUMUMAB",
    "UBLITUXIMAB", "RITUXIMAB", "MITOXANTRONE", "CYCLOPHOSPHAMIDE", "OTHER",
)
STOP_REASONS = ("INEFFICACY", "INTOLERANCE", "SAFETY", "PREGNANCY", "AHSCT", "PATIENT_CHOICE", "OTHER")

# (table, column, SQL type, CHECK or None)
NEW_COLUMNS: tuple[tuple[str, str, str, str | None], ...] = (
    ("transplants", "neutrophil_engraftment_date", "DATE", None),
    ("transplants", "platelet_engraftment_date", "DATE", None),
    ("transplants", "hospital_days", "INTEGER", "hospital_days >= 0"),
    ("transplants", "atg_given", "BOOLEAN", None),
    ("transplants", "cd34_dose", "FLOAT", "cd34_dose >= 0"),
    ("mri_scans", "t2_lesions_total", "INTEGER", "t2_lesions_total >= 0"),
    ("mri_scans", "spinal_cord_involvement", "BOOLEAN", None),
    ("mri_scans", "brainstem_involvement", "BOOLEAN", None),
)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "treatments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("drug", sa.String(length=32), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("stop_date", sa.Date(), nullable=True),
        sa.Column("stop_reason", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(_in("drug", DRUGS), name=op.f("ck_treatments_drug_code")),
        sa.CheckConstraint(_in("stop_reason", STOP_REASONS), name=op.f("ck_treatments_stop_reason_code")),
        sa.CheckConstraint("stop_date >= start_date", name=op.f("ck_treatments_stop_not_before_start")),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_treatments_patient_id_patients"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treatments")),
        sa.UniqueConstraint("patient_id", "drug", "start_date", name=op.f("uq_treatments_patient_id_drug_start_date")),
    )
    op.create_index(op.f("ix_treatments_patient_id"), "treatments", ["patient_id"], unique=False)
    for table, column, type_, check in NEW_COLUMNS:
        constraint = f" CONSTRAINT ck_{table}_{column}_not_negative CHECK ({check})" if check else ""
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} {type_}{constraint}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # A later batch migration (0006) recreates these tables, which turns the columns' CHECKs
        # into table CHECKs; SQLite's DROP COLUMN refuses a column named in a table CHECK, so
        # the tables are recreated without the columns (batch mode), their CHECKs with them.
        for table in dict.fromkeys(t for t, *_ in NEW_COLUMNS):
            columns = [(c, check) for t, c, _type, check in NEW_COLUMNS if t == table]
            with op.batch_alter_table(table, recreate="always") as batch_op:
                for column, check in reversed(columns):
                    if check:
                        batch_op.drop_constraint(f"{column}_not_negative", type_="check")  # ck_TABLE_ by convention
                    batch_op.drop_column(column)
    else:
        for table, column, _type, _check in reversed(NEW_COLUMNS):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.drop_index(op.f("ix_treatments_patient_id"), table_name="treatments")
    op.drop_table("treatments")
