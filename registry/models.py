"""The registry's tables as typed SQLAlchemy 2 models.

Why these shapes:
- Natural keys of docs/bundle-format.md ("Keys") are UNIQUE constraints; a surrogate integer id is
  the primary key so that correcting a visit date is an update, not a delete plus an insert.
- Code lists and EDSS steps are CHECK constraints built from `registry.codes`, so the database
  refuses what validation refuses even if someone bypasses the services.
- Clinical children of a patient use ON DELETE RESTRICT and no ORM delete cascade: deleting a
  patient with data is refused, never a silent loss of follow-up.
- Every row carries UTC created/updated timestamps and a version counter used for optimistic
  locking (a stale edit raises `StaleDataError`, reported as "changed by someone else").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

from registry import codes
from registry.security.access import ROLES

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps are stored as naive UTC and always come back timezone-aware.

    SQLite has no timezone type; storing naive UTC everywhere keeps SQLite and PostgreSQL
    byte-identical in exports and makes comparisons safe.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware (UTC)")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


def in_list(column: str, values: tuple[Any, ...]) -> str:
    """SQL text `column IN (...)` for a CHECK constraint (NULL passes, as SQL CHECK does)."""
    rendered = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values)
    return f"{column} IN ({rendered})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Tracked:
    """Created/updated UTC timestamps and an optimistic-locking version counter."""

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, sort_order=90)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, sort_order=91
    )
    version: Mapped[int] = mapped_column(Integer, default=1, sort_order=92)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


def _edss_check(column: str) -> str:
    return in_list(column, codes.EDSS_STEPS)


class Centre(Tracked, Base):
    __tablename__ = "centres"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))

    patients: Mapped[list[Patient]] = relationship(back_populates="centre", passive_deletes="all")

    __table_args__ = (
        CheckConstraint("length(centre_code) > 0", name="centre_code_not_empty"),
        CheckConstraint("country IS NULL OR length(country) = 2", name="country_alpha2"),
    )


class Patient(Tracked, Base):
    """A person transplanted for MS at one centre, known there by `patient_code`.

    `study_id` is random and stable: it is what leaves the registry in research exports, and it
    is never derived from the patient code.
    """

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centres.id", ondelete="RESTRICT"), index=True)
    patient_code: Mapped[str] = mapped_column(String(64))
    study_id: Mapped[str] = mapped_column(String(32), unique=True)
    sex: Mapped[str] = mapped_column(String(1))
    birth_year: Mapped[int] = mapped_column(Integer)
    ms_onset_date: Mapped[dt.date | None] = mapped_column(Date)
    ms_diagnosis_date: Mapped[dt.date | None] = mapped_column(Date)
    last_contact_date: Mapped[dt.date | None] = mapped_column(Date)
    followup_status: Mapped[str | None] = mapped_column(String(24))
    followup_status_date: Mapped[dt.date | None] = mapped_column(Date)
    followup_status_reason: Mapped[str | None] = mapped_column(Text)

    centre: Mapped[Centre] = relationship(back_populates="patients")
    transplants: Mapped[list[Transplant]] = relationship(back_populates="patient", passive_deletes="all")
    visits: Mapped[list[Visit]] = relationship(back_populates="patient", passive_deletes="all")
    relapses: Mapped[list[Relapse]] = relationship(back_populates="patient", passive_deletes="all")
    mri_scans: Mapped[list[MriScan]] = relationship(back_populates="patient", passive_deletes="all")
    adverse_events: Mapped[list[AdverseEvent]] = relationship(back_populates="patient", passive_deletes="all")
    death: Mapped[Death | None] = relationship(back_populates="patient", passive_deletes="all")
    treatments: Mapped[list[Treatment]] = relationship(back_populates="patient", passive_deletes="all")

    __table_args__ = (
        UniqueConstraint("centre_id", "patient_code"),
        CheckConstraint("length(patient_code) > 0", name="patient_code_not_empty"),
        CheckConstraint(in_list("sex", codes.SEX), name="sex_code"),
        CheckConstraint(f"birth_year >= {codes.MIN_YEAR}", name="birth_year_min"),
        CheckConstraint(in_list("followup_status", codes.FOLLOWUP_STATUS), name="followup_status_code"),
        CheckConstraint("(followup_status IS NULL) = (followup_status_date IS NULL)", name="followup_status_dated"),
    )


class _PatientChild:
    """A clinical record that belongs to one patient."""

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-2)

    @declared_attr
    def patient_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"), index=True, sort_order=-1)


class Transplant(_PatientChild, Tracked, Base):
    __tablename__ = "transplants"

    transplant_number: Mapped[int] = mapped_column(Integer)
    transplant_date: Mapped[dt.date] = mapped_column(Date)
    phenotype: Mapped[str] = mapped_column(String(4))
    baseline_edss: Mapped[float | None] = mapped_column(Float)
    baseline_edss_date: Mapped[dt.date | None] = mapped_column(Date)
    relapses_12m: Mapped[int | None] = mapped_column(Integer)
    relapses_24m: Mapped[int | None] = mapped_column(Integer)
    gd_lesions_baseline: Mapped[int | None] = mapped_column(Integer)
    prior_dmt_count: Mapped[int | None] = mapped_column(Integer)
    mobilisation: Mapped[str | None] = mapped_column(String(16))
    conditioning: Mapped[str | None] = mapped_column(String(16))
    conditioning_intensity: Mapped[str | None] = mapped_column(String(16))
    cd34_selection: Mapped[bool | None] = mapped_column(Boolean)
    # Haematology of the transplant (optional): what transplant committees look at.
    neutrophil_engraftment_date: Mapped[dt.date | None] = mapped_column(Date)
    platelet_engraftment_date: Mapped[dt.date | None] = mapped_column(Date)
    hospital_days: Mapped[int | None] = mapped_column(Integer)
    atg_given: Mapped[bool | None] = mapped_column(Boolean)
    cd34_dose: Mapped[float | None] = mapped_column(Float)  # CD34+ cells infused, x10^6 per kg
    # missing-data codes of optional fields as JSON ({"edss": "NE"}); the field itself is NULL
    missing_codes: Mapped[str | None] = mapped_column(Text, sort_order=80)

    patient: Mapped[Patient] = relationship(back_populates="transplants")

    __table_args__ = (
        UniqueConstraint("patient_id", "transplant_number"),
        CheckConstraint("transplant_number >= 1", name="transplant_number_positive"),
        CheckConstraint(in_list("phenotype", codes.PHENOTYPE), name="phenotype_code"),
        CheckConstraint(_edss_check("baseline_edss"), name="baseline_edss_step"),
        CheckConstraint("relapses_12m >= 0", name="relapses_12m_not_negative"),
        CheckConstraint("relapses_24m >= 0", name="relapses_24m_not_negative"),
        CheckConstraint("gd_lesions_baseline >= 0", name="gd_lesions_baseline_not_negative"),
        CheckConstraint("prior_dmt_count >= 0", name="prior_dmt_count_not_negative"),
        CheckConstraint("hospital_days >= 0", name="hospital_days_not_negative"),
        CheckConstraint("cd34_dose >= 0", name="cd34_dose_not_negative"),
        CheckConstraint(in_list("mobilisation", codes.MOBILISATION), name="mobilisation_code"),
        CheckConstraint(in_list("conditioning", codes.CONDITIONING), name="conditioning_code"),
        CheckConstraint(
            in_list("conditioning_intensity", codes.CONDITIONING_INTENSITY), name="conditioning_intensity_code"
        ),
    )


class Visit(_PatientChild, Tracked, Base):
    __tablename__ = "visits"

    visit_date: Mapped[dt.date] = mapped_column(Date)
    edss: Mapped[float | None] = mapped_column(Float)
    # missing-data codes of optional fields as JSON ({"edss": "NE"}); the field itself is NULL
    missing_codes: Mapped[str | None] = mapped_column(Text, sort_order=80)

    patient: Mapped[Patient] = relationship(back_populates="visits")

    __table_args__ = (
        UniqueConstraint("patient_id", "visit_date"),
        CheckConstraint(_edss_check("edss"), name="edss_step"),
    )


class Relapse(_PatientChild, Tracked, Base):
    __tablename__ = "relapses"

    onset_date: Mapped[dt.date] = mapped_column(Date)
    severity: Mapped[str | None] = mapped_column(String(16))
    steroids: Mapped[bool | None] = mapped_column(Boolean)
    recovery: Mapped[str | None] = mapped_column(String(16))
    # missing-data codes of optional fields as JSON ({"edss": "NE"}); the field itself is NULL
    missing_codes: Mapped[str | None] = mapped_column(Text, sort_order=80)

    patient: Mapped[Patient] = relationship(back_populates="relapses")

    __table_args__ = (
        UniqueConstraint("patient_id", "onset_date"),
        CheckConstraint(in_list("severity", codes.RELAPSE_SEVERITY), name="severity_code"),
        CheckConstraint(in_list("recovery", codes.RELAPSE_RECOVERY), name="recovery_code"),
    )


class MriScan(_PatientChild, Tracked, Base):
    __tablename__ = "mri_scans"

    scan_date: Mapped[dt.date] = mapped_column(Date)
    new_t2: Mapped[int | None] = mapped_column(Integer)
    gd_enhancing: Mapped[int | None] = mapped_column(Integer)
    # Optional lesion burden and location (used by the aggressive-MS feature F4).
    t2_lesions_total: Mapped[int | None] = mapped_column(Integer)
    spinal_cord_involvement: Mapped[bool | None] = mapped_column(Boolean)
    brainstem_involvement: Mapped[bool | None] = mapped_column(Boolean)
    # missing-data codes of optional fields as JSON ({"edss": "NE"}); the field itself is NULL
    missing_codes: Mapped[str | None] = mapped_column(Text, sort_order=80)

    patient: Mapped[Patient] = relationship(back_populates="mri_scans")

    __table_args__ = (
        UniqueConstraint("patient_id", "scan_date"),
        CheckConstraint("new_t2 >= 0", name="new_t2_not_negative"),
        CheckConstraint("gd_enhancing >= 0", name="gd_enhancing_not_negative"),
        CheckConstraint("t2_lesions_total >= 0", name="t2_lesions_total_not_negative"),
    )


class AdverseEvent(_PatientChild, Tracked, Base):
    __tablename__ = "adverse_events"

    onset_date: Mapped[dt.date] = mapped_column(Date)
    category: Mapped[str] = mapped_column(String(32))
    grade: Mapped[int] = mapped_column(Integer)
    serious: Mapped[bool | None] = mapped_column(Boolean)
    description: Mapped[str | None] = mapped_column(Text)
    # missing-data codes of optional fields as JSON ({"edss": "NE"}); the field itself is NULL
    missing_codes: Mapped[str | None] = mapped_column(Text, sort_order=80)

    patient: Mapped[Patient] = relationship(back_populates="adverse_events")

    __table_args__ = (
        UniqueConstraint("patient_id", "onset_date", "category"),
        CheckConstraint(in_list("category", codes.AE_CATEGORY), name="category_code"),
        CheckConstraint(in_list("grade", codes.AE_GRADES), name="grade_ctcae"),
    )


class Death(_PatientChild, Tracked, Base):
    __tablename__ = "deaths"

    death_date: Mapped[dt.date] = mapped_column(Date)
    cause: Mapped[str] = mapped_column(String(32))

    patient: Mapped[Patient] = relationship(back_populates="death")

    __table_args__ = (
        UniqueConstraint("patient_id"),
        CheckConstraint(in_list("cause", codes.DEATH_CAUSE), name="cause_code"),
    )


class Treatment(_PatientChild, Tracked, Base):
    """A disease-modifying treatment period, before or after the transplant.

    An empty `stop_date` is an ongoing treatment. Two periods of one drug may follow each other
    but not overlap (validation), and a period never stops before it starts (also a CHECK).
    """

    __tablename__ = "treatments"

    drug: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[dt.date] = mapped_column(Date)
    stop_date: Mapped[dt.date | None] = mapped_column(Date)
    stop_reason: Mapped[str | None] = mapped_column(String(16))

    patient: Mapped[Patient] = relationship(back_populates="treatments")

    __table_args__ = (
        UniqueConstraint("patient_id", "drug", "start_date"),
        CheckConstraint(in_list("drug", codes.DMT_DRUG), name="drug_code"),
        CheckConstraint(in_list("stop_reason", codes.DMT_STOP_REASON), name="stop_reason_code"),
        CheckConstraint("stop_date >= start_date", name="stop_not_before_start"),
    )


class User(Tracked, Base):
    """An account of the dashboard and CLI. `centre_id` is set for (and only for) centre users."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centres.id", ondelete="RESTRICT"))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    centre: Mapped[Centre | None] = relationship()

    __table_args__ = (
        CheckConstraint(in_list("role", ROLES), name="role_code"),
        CheckConstraint("(role = 'centre') = (centre_id IS NOT NULL)", name="centre_role_has_centre"),
        CheckConstraint("failed_logins >= 0", name="failed_logins_not_negative"),
    )


class AuditEntry(Base):
    """One row per insert, update or delete, from any door; append-only and hash-chained.

    `entity_key` is the record's natural key as JSON (the bundle's key columns), `old_values`
    and `new_values` the changed fields as JSON (None for insert/delete respectively).
    `row_hash` = SHA-256 over `prev_hash` and the row's content: altering or deleting a row
    breaks the chain, which `msreg audit verify` reports.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    centre_code: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(8))
    entity: Mapped[str] = mapped_column(String(32), index=True)
    entity_key: Mapped[str] = mapped_column(Text)
    old_values: Mapped[str | None] = mapped_column(Text)
    new_values: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Migration 0004 (registry.security.chain): the key that signed the HMAC link (None: a plain SHA-256
    # row from before 0004), the row's position in the chain, and who acted from where.
    key_id: Mapped[str | None] = mapped_column(String(16))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    door: Mapped[str | None] = mapped_column(String(32))
    os_account: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (CheckConstraint(in_list("action", ("INSERT", "UPDATE", "DELETE")), name="action_code"),)


class AccessEvent(Base):
    """Who looked at or took what, and who logged in: logins, refusals, lockouts, logouts,
    timeouts, exports and downloads, user administration, backups, restores, key rotations.

    Append-only and HMAC-chained exactly like `audit_log` (registry.security.chain), in a chain of its
    own: written by `registry.security.access_log.record_access`. `details` is canonical JSON (what,
    settings, row counts); `client` the network address where the door knows it.
    """

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    centre_code: Mapped[str | None] = mapped_column(String(16))
    door: Mapped[str] = mapped_column(String(32))
    os_account: Mapped[str | None] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    details: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (Index("ix_access_log_event_occurred_at", "event", "occurred_at"),)


class RegistrySetting(Tracked, Base):
    """Facts about the registry as a whole, kept in the registry itself (key -> value).

    Why in the database: they must travel with the data (a backup restored elsewhere is still a
    synthetic demo, still under the same research agreement), and every page and export reads
    them from the same place. Examples: `synthetic` ("true" for a registry built by `msreg
    demo`), `stable_study_ids` (research agreement for stable study ids in exports).
    """

    __tablename__ = "registry_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class DataQuery(Tracked, Base):
    """A clarification request from the registry office (governance, administrators) to a centre.

    It concerns one patient, optionally one record (`entity` and its natural key as JSON) and
    one field. Status OPEN -> ANSWERED (the centre replies or corrects) -> CLOSED (the opener,
    or another governance user or administrator); every step is audited. The patient is a
    foreign key, so queries follow a corrected patient code and a patient with queries cannot
    be deleted unnoticed.
    """

    __tablename__ = "data_queries"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"), index=True)
    entity: Mapped[str] = mapped_column(String(32))
    record_key: Mapped[str | None] = mapped_column(Text)
    field_name: Mapped[str | None] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="OPEN")
    answer: Mapped[str | None] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint(in_list("status", codes.QUERY_STATUS), name="status_code"),
        CheckConstraint("length(question) > 0", name="question_not_empty"),
    )


class DataVersion(Base):
    """The registry's change counter: one row, moved by database triggers on every insert,
    update or delete of the tables analytics read (migration 0007).

    Why in the database and not in the services: writes that bypass the services (bulk loads,
    restores, scripts, tests through the ORM) move it too, and reading it is one primary-key
    look-up however large the registry, where counting every table took 0.36 s at 100,000
    patients. The counter is transactional: a reader sees it move exactly when the write's
    rows become visible (`analytics.snapshot.data_version`).
    """

    __tablename__ = "data_version"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    counter: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


CLINICAL_MODELS: tuple[type[Base], ...] = (Transplant, Visit, Relapse, MriScan, AdverseEvent, Death, Treatment)
