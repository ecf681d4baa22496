"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 15:18:08.057982
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op



revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('centre_code', sa.String(length=16), nullable=True),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_key', sa.Text(), nullable=False),
    sa.Column('old_values', sa.Text(), nullable=True),
    sa.Column('new_values', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('row_hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint("action IN ('INSERT', 'UPDATE', 'DELETE')", name=op.f('ck_audit_log_action_code')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    sa.UniqueConstraint('row_hash', name=op.f('uq_audit_log_row_hash'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_entity'), ['entity'], unique=False)

    op.create_table('centres',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('country IS NULL OR length(country) = 2', name=op.f('ck_centres_country_alpha2')),
    sa.CheckConstraint('length(centre_code) > 0', name=op.f('ck_centres_centre_code_not_empty')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_centres')),
    sa.UniqueConstraint('centre_code', name=op.f('uq_centres_centre_code'))
    )
    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=False),
    sa.Column('patient_code', sa.String(length=64), nullable=False),
    sa.Column('study_id', sa.String(length=32), nullable=False),
    sa.Column('sex', sa.String(length=1), nullable=False),
    sa.Column('birth_year', sa.Integer(), nullable=False),
    sa.Column('ms_onset_date', sa.Date(), nullable=True),
    sa.Column('ms_diagnosis_date', sa.Date(), nullable=True),
    sa.Column('last_contact_date', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("sex IN ('F', 'M', 'U')", name=op.f('ck_patients_sex_code')),
    sa.CheckConstraint('birth_year >= 1900', name=op.f('ck_patients_birth_year_min')),
    sa.CheckConstraint('length(patient_code) > 0', name=op.f('ck_patients_patient_code_not_empty')),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_patients_centre_id_centres'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patients')),
    sa.UniqueConstraint('centre_id', 'patient_code', name=op.f('uq_patients_centre_id_patient_code')),
    sa.UniqueConstraint('study_id', name=op.f('uq_patients_study_id'))
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patients_centre_id'), ['centre_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('centre_id', sa.Integer(), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("(role = 'centre') = (centre_id IS NOT NULL)", name=op.f('ck_users_centre_role_has_centre')),
    sa.CheckConstraint("role IN ('centre', 'governance', 'researcher', 'admin')", name=op.f('ck_users_role_code')),
    sa.CheckConstraint('failed_logins >= 0', name=op.f('ck_users_failed_logins_not_negative')),
    sa.ForeignKeyConstraint(['centre_id'], ['centres.id'], name=op.f('fk_users_centre_id_centres'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('adverse_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('onset_date', sa.Date(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('grade', sa.Integer(), nullable=False),
    sa.Column('serious', sa.Boolean(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("category IN ('INFECTION', 'VIRAL_REACTIVATION', 'FEBRILE_NEUTROPENIA', 'ENGRAFTMENT_SYNDROME', 'SECONDARY_AUTOIMMUNITY', 'MALIGNANCY', 'ORGAN_TOXICITY', 'OTHER')", name=op.f('ck_adverse_events_category_code')),
    sa.CheckConstraint('grade IN (1, 2, 3, 4, 5)', name=op.f('ck_adverse_events_grade_ctcae')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_adverse_events_patient_id_patients'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adverse_events')),
    sa.UniqueConstraint('patient_id', 'onset_date', 'category', name=op.f('uq_adverse_events_patient_id_onset_date_category'))
    )
    with op.batch_alter_table('adverse_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_adverse_events_patient_id'), ['patient_id'], unique=False)

    op.create_table('deaths',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('death_date', sa.Date(), nullable=False),
    sa.Column('cause', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("cause IN ('TRANSPLANT_RELATED', 'MS', 'OTHER', 'UNKNOWN')", name=op.f('ck_deaths_cause_code')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_deaths_patient_id_patients'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deaths')),
    sa.UniqueConstraint('patient_id', name=op.f('uq_deaths_patient_id'))
    )
    with op.batch_alter_table('deaths', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deaths_patient_id'), ['patient_id'], unique=False)

    op.create_table('mri_scans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('scan_date', sa.Date(), nullable=False),
    sa.Column('new_t2', sa.Integer(), nullable=True),
    sa.Column('gd_enhancing', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('gd_enhancing >= 0', name=op.f('ck_mri_scans_gd_enhancing_not_negative')),
    sa.CheckConstraint('new_t2 >= 0', name=op.f('ck_mri_scans_new_t2_not_negative')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_mri_scans_patient_id_patients'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mri_scans')),
    sa.UniqueConstraint('patient_id', 'scan_date', name=op.f('uq_mri_scans_patient_id_scan_date'))
    )
    with op.batch_alter_table('mri_scans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mri_scans_patient_id'), ['patient_id'], unique=False)

    op.create_table('relapses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('onset_date', sa.Date(), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=True),
    sa.Column('steroids', sa.Boolean(), nullable=True),
    sa.Column('recovery', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("recovery IN ('COMPLETE', 'PARTIAL', 'NONE', 'UNKNOWN')", name=op.f('ck_relapses_recovery_code')),
    sa.CheckConstraint("severity IN ('MILD', 'MODERATE', 'SEVERE')", name=op.f('ck_relapses_severity_code')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_relapses_patient_id_patients'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_relapses')),
    sa.UniqueConstraint('patient_id', 'onset_date', name=op.f('uq_relapses_patient_id_onset_date'))
    )
    with op.batch_alter_table('relapses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_relapses_patient_id'), ['patient_id'], unique=False)

    op.create_table('transplants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('transplant_number', sa.Integer(), nullable=False),
    sa.Column('transplant_date', sa.Date(), nullable=False),
    sa.Column('phenotype', sa.String(length=4), nullable=False),
    sa.Column('baseline_edss', sa.Float(), nullable=True),
    sa.Column('baseline_edss_date', sa.Date(), nullable=True),
    sa.Column('relapses_12m', sa.Integer(), nullable=True),
    sa.Column('relapses_24m', sa.Integer(), nullable=True),
    sa.Column('gd_lesions_baseline', sa.Integer(), nullable=True),
    sa.Column('prior_dmt_count', sa.Integer(), nullable=True),
    sa.Column('mobilisation', sa.String(length=16), nullable=True),
    sa.Column('conditioning', sa.String(length=16), nullable=True),
    sa.Column('conditioning_intensity', sa.String(length=16), nullable=True),
    sa.Column('cd34_selection', sa.Boolean(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("conditioning IN ('BEAM_ATG', 'CY_ATG', 'CY_ATG_RTX', 'BU_CY_ATG', 'FLU_CY_ATG', 'OTHER')", name=op.f('ck_transplants_conditioning_code')),
    sa.CheckConstraint("conditioning_intensity IN ('LOW', 'INTERMEDIATE', 'HIGH')", name=op.f('ck_transplants_conditioning_intensity_code')),
    sa.CheckConstraint("mobilisation IN ('CY_GCSF', 'GCSF', 'OTHER')", name=op.f('ck_transplants_mobilisation_code')),
    sa.CheckConstraint("phenotype IN ('RRMS', 'SPMS', 'PPMS')", name=op.f('ck_transplants_phenotype_code')),
    sa.CheckConstraint('baseline_edss IN (0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0)', name=op.f('ck_transplants_baseline_edss_step')),
    sa.CheckConstraint('gd_lesions_baseline >= 0', name=op.f('ck_transplants_gd_lesions_baseline_not_negative')),
    sa.CheckConstraint('prior_dmt_count >= 0', name=op.f('ck_transplants_prior_dmt_count_not_negative')),
    sa.CheckConstraint('relapses_12m >= 0', name=op.f('ck_transplants_relapses_12m_not_negative')),
    sa.CheckConstraint('relapses_24m >= 0', name=op.f('ck_transplants_relapses_24m_not_negative')),
    sa.CheckConstraint('transplant_number >= 1', name=op.f('ck_transplants_transplant_number_positive')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_transplants_patient_id_patients'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transplants')),
    sa.UniqueConstraint('patient_id', 'transplant_number', name=op.f('uq_transplants_patient_id_transplant_number'))
    )
    with op.batch_alter_table('transplants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transplants_patient_id'), ['patient_id'], unique=False)

    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('visit_date', sa.Date(), nullable=False),
    sa.Column('edss', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('edss IN (0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0)', name=op.f('ck_visits_edss_step')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_visits_patient_id_patients'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits')),
    sa.UniqueConstraint('patient_id', 'visit_date', name=op.f('uq_visits_patient_id_visit_date'))
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visits_patient_id'), ['patient_id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visits_patient_id'))

    op.drop_table('visits')
    with op.batch_alter_table('transplants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transplants_patient_id'))

    op.drop_table('transplants')
    with op.batch_alter_table('relapses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_relapses_patient_id'))

    op.drop_table('relapses')
    with op.batch_alter_table('mri_scans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mri_scans_patient_id'))

    op.drop_table('mri_scans')
    with op.batch_alter_table('deaths', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deaths_patient_id'))

    op.drop_table('deaths')
    with op.batch_alter_table('adverse_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_adverse_events_patient_id'))

    op.drop_table('adverse_events')
    op.drop_table('users')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patients_centre_id'))

    op.drop_table('patients')
    op.drop_table('centres')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_entity'))

    op.drop_table('audit_log')
    
