"""Services: the only write path. Validation, access, audit, optimistic locking, duplicates."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session

from registry import services as S
from registry.security.access import AccessDenied, Actor
from registry.security.audit import verify_chain
from registry.db import make_engine, session_scope
from registry.models import AuditEntry, Patient

ADMIN = Actor("admin", "admin")
OSLO = Actor("oslo-dm", "centre", "OSL")
UPPSALA = Actor("upp-dm", "centre", "UPP")
GOVERNANCE = Actor("gov", "governance")
RESEARCHER = Actor("res", "researcher")

P1 = {"centre_code": "OSL", "patient_code": "P1"}
VISIT_KEY = P1 | {"visit_date": "2016-01-01"}


@pytest.fixture
def seeded(sqlite_engine: Engine) -> Engine:
    """Two centres, one Oslo patient with a transplant and a visit."""
    with session_scope(sqlite_engine) as s:
        S.create(s, ADMIN, "centres", {"centre_code": "OSL", "name": "Oslo", "country": "NO"})
        S.create(s, ADMIN, "centres", {"centre_code": "UPP", "name": "Uppsala", "country": "SE"})
        S.create(s, ADMIN, "patients", P1 | {"sex": "F", "birth_year": 1980, "ms_onset_date": "2005-03-01"})
        S.create(s, ADMIN, "transplants", P1 | {"transplant_number": 1, "transplant_date": "2015-06-01", "phenotype": "RRMS"})
        S.create(s, ADMIN, "visits", P1 | {"visit_date": "2016-01-01", "edss": "3.0"})
    return sqlite_engine


def audit_rows(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))


# --- create -------------------------------------------------------------------------------


def test_create_writes_one_insert_audit_row_with_full_values(seeded: Engine) -> None:
    before = len(audit_rows(seeded))
    with session_scope(seeded) as s:
        S.create(s, OSLO, "relapses", P1 | {"onset_date": "2017-02-03", "severity": "MILD", "steroids": "true"})
    rows = audit_rows(seeded)
    assert len(rows) == before + 1
    row = rows[-1]
    assert (row.action, row.entity, row.actor) == ("INSERT", "relapses", "oslo-dm")
    assert json.loads(row.entity_key) == P1 | {"onset_date": "2017-02-03"}
    assert json.loads(row.new_values) == P1 | {"onset_date": "2017-02-03", "severity": "MILD", "steroids": True, "recovery": None}
    assert row.old_values is None


def test_create_accepts_typed_values_as_from_a_form(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        view = S.create(s, OSLO, "mri", P1 | {"scan_date": dt.date(2016, 5, 1), "new_t2": 2, "gd_enhancing": 0})
    assert view.values["scan_date"] == dt.date(2016, 5, 1) and view.version == 1


def test_create_refuses_an_invalid_value_naming_column_and_value(seeded: Engine) -> None:
    with session_scope(seeded) as s, pytest.raises(S.ValidationFailed) as info:
        S.create(s, OSLO, "visits", P1 | {"visit_date": "2017-01-01", "edss": "0.5"})
    [error] = info.value.errors
    assert (error.column, error.value) == ("edss", 0.5)
    assert "EDSS" in error.message


def test_create_checks_cross_record_rules_against_the_database(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        S.create(s, OSLO, "deaths", P1 | {"death_date": "2018-01-01", "cause": "MS"})
    with session_scope(seeded) as s, pytest.raises(S.ValidationFailed) as info:
        S.create(s, OSLO, "visits", P1 | {"visit_date": "2019-01-01", "edss": "4.0"})
    assert info.value.errors[0].column == "visit_date"
    assert "after the death on 2018-01-01" in info.value.errors[0].message


def test_create_refuses_a_child_of_an_unknown_patient(seeded: Engine) -> None:
    with session_scope(seeded) as s, pytest.raises(S.ValidationFailed) as info:
        S.create(s, OSLO, "visits", {"centre_code": "OSL", "patient_code": "NOPE", "visit_date": "2017-01-01"})
    assert info.value.errors[0].column == "patient_code"


def test_duplicate_key_raises_already_exists(seeded: Engine) -> None:
    with session_scope(seeded) as s, pytest.raises(S.AlreadyExists, match="visit_date=2016-01-01"):
        S.create(s, OSLO, "visits", P1 | {"visit_date": "2016-01-01", "edss": "2.0"})


def test_patients_get_random_study_ids_unrelated_to_their_codes(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        for code in ("P2", "P3"):
            S.create(s, OSLO, "patients", {"centre_code": "OSL", "patient_code": code, "sex": "M", "birth_year": 1970})
    with Session(seeded) as s:
        ids = {code: sid for code, sid in s.execute(select(Patient.patient_code, Patient.study_id))}
    assert len(set(ids.values())) == 3
    for code, study_id in ids.items():
        assert len(study_id) == 16 and code not in study_id


# --- access -------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", [UPPSALA, GOVERNANCE, RESEARCHER], ids=["other-centre", "governance", "researcher"])
def test_only_the_own_centre_or_admin_may_write(seeded: Engine, actor: Actor) -> None:
    with session_scope(seeded) as s:
        with pytest.raises(AccessDenied):
            S.create(s, actor, "visits", P1 | {"visit_date": "2017-01-01"})
        with pytest.raises(AccessDenied):
            S.update(s, actor, "visits", VISIT_KEY, {"edss": "4.0"}, reason="x")
        with pytest.raises(AccessDenied):
            S.delete(s, actor, "visits", VISIT_KEY, reason="x")


def test_centre_users_may_not_create_centres(seeded: Engine) -> None:
    with session_scope(seeded) as s, pytest.raises(AccessDenied, match="administrator"):
        S.create(s, OSLO, "centres", {"centre_code": "OSL2", "name": "Oslo 2"})


def test_centre_user_may_not_move_a_patient_to_another_centre(seeded: Engine) -> None:
    with session_scope(seeded) as s, pytest.raises(AccessDenied):
        S.update(s, OSLO, "patients", P1, {"centre_code": "UPP"}, reason="transfer")


@pytest.mark.parametrize("actor", [GOVERNANCE, RESEARCHER])
def test_read_only_roles_do_not_read_identifiable_records(seeded: Engine, actor: Actor) -> None:
    with Session(seeded) as s, pytest.raises(AccessDenied):
        S.list_records(s, actor, "patients")


def test_centre_users_list_only_their_centre(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        S.create(s, ADMIN, "patients", {"centre_code": "UPP", "patient_code": "U1", "sex": "M", "birth_year": 1970})
    with Session(seeded) as s:
        assert [r.key["patient_code"] for r in S.list_records(s, OSLO, "patients")] == ["P1"]
        assert len(S.list_records(s, ADMIN, "patients")) == 2


# --- update -------------------------------------------------------------------------------


def test_update_audits_only_the_changed_fields_with_the_reason(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        view = S.update(s, OSLO, "visits", VISIT_KEY, {"edss": "3.5"}, expected_version=1, reason="transcription error")
    assert view.version == 2 and view.values["edss"] == 3.5
    row = audit_rows(seeded)[-1]
    assert (row.action, row.reason) == ("UPDATE", "transcription error")
    assert json.loads(row.old_values) == {"edss": 3.0}
    assert json.loads(row.new_values) == {"edss": 3.5}


def test_update_without_changes_writes_nothing(seeded: Engine) -> None:
    before = len(audit_rows(seeded))
    with session_scope(seeded) as s:
        view = S.update(s, OSLO, "visits", VISIT_KEY, {"edss": "3.0"}, reason="no-op")
    assert view.version == 1 and len(audit_rows(seeded)) == before


def test_update_can_correct_a_key_date(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        S.update(s, OSLO, "visits", VISIT_KEY, {"visit_date": "2016-01-02"}, reason="wrong day")
    with Session(seeded) as s:
        assert [r.key["visit_date"] for r in S.list_records(s, ADMIN, "visits")] == [dt.date(2016, 1, 2)]


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_update_and_delete_need_a_reason(seeded: Engine, reason: str | None) -> None:
    with session_scope(seeded) as s:
        with pytest.raises(S.ReasonRequired):
            S.update(s, OSLO, "visits", VISIT_KEY, {"edss": "3.5"}, reason=reason)  # type: ignore[arg-type]
        with pytest.raises(S.ReasonRequired):
            S.delete(s, OSLO, "visits", VISIT_KEY, reason=reason)  # type: ignore[arg-type]


def test_stale_version_raises_stale_record_with_a_clear_message(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        S.update(s, OSLO, "visits", VISIT_KEY, {"edss": "3.5"}, expected_version=1, reason="first editor")
    with session_scope(seeded) as s, pytest.raises(S.StaleRecord, match="changed by someone else since you opened it"):
        S.update(s, OSLO, "visits", VISIT_KEY, {"edss": "4.0"}, expected_version=1, reason="second editor")


def test_update_of_a_missing_record_raises_not_found(seeded: Engine) -> None:
    with session_scope(seeded) as s, pytest.raises(S.NotFound):
        S.update(s, OSLO, "visits", P1 | {"visit_date": "2001-01-01"}, {"edss": "1.0"}, reason="x")


def test_update_is_checked_against_the_patients_history(seeded: Engine) -> None:
    with session_scope(seeded) as s, pytest.raises(S.ValidationFailed) as info:
        S.update(s, OSLO, "patients", P1, {"ms_diagnosis_date": "2016-01-01"}, reason="x")
    assert info.value.errors[0].column == "ms_diagnosis_date"
    assert "after the first transplant" in info.value.errors[0].message


# --- delete -------------------------------------------------------------------------------


def test_delete_writes_an_audit_row_with_the_old_values(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        S.delete(s, OSLO, "visits", VISIT_KEY, reason="entered twice")
    row = audit_rows(seeded)[-1]
    assert (row.action, row.reason, row.new_values) == ("DELETE", "entered twice", None)
    assert json.loads(row.old_values)["edss"] == 3.0


def test_deleting_a_patient_with_clinical_data_is_refused(seeded: Engine) -> None:
    with session_scope(seeded) as s, pytest.raises(S.DeleteRefused, match="1 transplants, 1 visits"):
        S.delete(s, ADMIN, "patients", P1, reason="x")


def test_deleting_a_transplant_that_is_not_the_last_is_refused(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        S.create(s, OSLO, "transplants", P1 | {"transplant_number": 2, "transplant_date": "2018-01-01", "phenotype": "RRMS"})
    with session_scope(seeded) as s, pytest.raises(S.DeleteRefused, match="gap"):
        S.delete(s, OSLO, "transplants", P1 | {"transplant_number": 1}, reason="x")


def test_every_write_keeps_the_audit_chain_intact(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        S.update(s, OSLO, "visits", VISIT_KEY, {"edss": "3.5"}, reason="x")
        S.delete(s, OSLO, "visits", P1 | {"visit_date": "2016-01-01"}, reason="y")
    with Session(seeded) as s:
        assert verify_chain(s) == []
        assert s.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 7


# --- both backends ------------------------------------------------------------------------


def test_create_update_delete_on_each_backend(engine: Engine) -> None:
    with session_scope(engine) as s:
        S.create(s, ADMIN, "centres", {"centre_code": "OSL", "name": "Oslo"})
        S.create(s, ADMIN, "patients", P1 | {"sex": "U", "birth_year": "1990"})
        S.create(s, ADMIN, "deaths", P1 | {"death_date": "2020-02-02", "cause": "OTHER"})
    with session_scope(engine) as s:
        S.update(s, ADMIN, "deaths", P1, {"cause": "UNKNOWN"}, expected_version=1, reason="x")
        S.delete(s, ADMIN, "deaths", P1, expected_version=2, reason="y")
    with Session(engine) as s:
        assert S.get_patient_record(s, ADMIN, "OSL", "P1").children["deaths"] == []
        assert verify_chain(s) == []


@pytest.fixture
def pg_engine(databases) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    eng = make_engine(databases.new("postgresql"))
    yield eng
    eng.dispose()


def test_a_concurrent_insert_of_the_same_key_becomes_already_exists(pg_engine: Engine) -> None:
    """Another process saves the same visit between our check and our INSERT (PostgreSQL)."""
    with session_scope(pg_engine) as s:
        S.create(s, ADMIN, "centres", {"centre_code": "OSL", "name": "Oslo"})
        S.create(s, ADMIN, "patients", P1 | {"sex": "F", "birth_year": 1980})
    other = make_engine(pg_engine.url.render_as_string(hide_password=False))
    fired: list[bool] = []

    def race(conn, clauseelement, multiparams, params, execution_options):  # type: ignore[no-untyped-def]
        if not fired and getattr(clauseelement, "is_insert", False) and clauseelement.table.name == "visits":
            fired.append(True)
            with other.begin() as c2:
                pid = c2.execute(text("SELECT id FROM patients")).scalar_one()
                c2.execute(
                    text("INSERT INTO visits (patient_id, visit_date, created_at, updated_at, version) VALUES (:p, '2016-01-01', now(), now(), 1)"),
                    {"p": pid},
                )

    event.listen(pg_engine, "before_execute", race)
    try:
        with session_scope(pg_engine) as s, pytest.raises(S.AlreadyExists, match="someone else"):
            S.create(s, ADMIN, "visits", VISIT_KEY)
    finally:
        event.remove(pg_engine, "before_execute", race)
        other.dispose()
    assert fired
