"""Follow-up status of a patient (lost to follow-up, transferred, consent withdrawn): validated,
audited, carried by bundles, and consent withdrawn keeps the patient out of research exports."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from analytics.snapshot import load_snapshot
from analytics.survival_export import ExportResult, write_survival_export
from registry import services as S
from registry.security.access import Actor
from registry.io.bundle import export_bundle, import_bundle
from registry.db import session_scope
from registry.models import AuditEntry, Patient
from registry.validation import check_record, parse_row

ADMIN = Actor("admin", "admin")
OSLO = Actor("oslo-dm", "centre", "OSL")


@pytest.fixture
def seeded(sqlite_engine: Engine) -> Engine:
    with session_scope(sqlite_engine) as s:
        S.create(s, ADMIN, "centres", {"centre_code": "OSL", "name": "Oslo", "country": "NO"})
        for code in ("P1", "P2"):
            key = {"centre_code": "OSL", "patient_code": code}
            S.create(s, ADMIN, "patients", key | {"sex": "F", "birth_year": 1980, "ms_onset_date": "2005-03-01"})
            S.create(s, ADMIN, "transplants", key | {"transplant_number": 1, "transplant_date": "2015-06-01", "phenotype": "RRMS"})
            S.create(s, ADMIN, "visits", key | {"visit_date": "2016-01-01", "edss": "3.0"})
    return sqlite_engine


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        ({"followup_status": "LOST", "followup_status_date": ""}, "followup_status_date", "needs its date"),
        ({"followup_status": "", "followup_status_date": "2020-01-01"}, "followup_status", "needs the status"),
        ({"followup_status": "GONE", "followup_status_date": "2020-01-01"}, "followup_status", "not in the code list"),
    ],
)
def test_a_status_and_its_date_go_together(cells: dict[str, str], column: str, message: str) -> None:
    values, errors = parse_row("patients", cells)
    errors += check_record("patients", values)
    assert [(e.column, message in e.message) for e in errors] == [(column, True)]


def test_the_status_date_follows_the_date_rules_of_every_clinical_date(seeded: Engine) -> None:
    with session_scope(seeded) as s, pytest.raises(S.ValidationFailed, match="after the follow-up status date on 1970-01-01"):
        S.update(s, OSLO, "patients", {"centre_code": "OSL", "patient_code": "P1"},
                 {"followup_status": "LOST", "followup_status_date": "1970-01-01"}, reason="moved away")


def test_recording_consent_withdrawn_is_audited_with_its_reason(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        S.update(s, OSLO, "patients", {"centre_code": "OSL", "patient_code": "P1"},
                 {"followup_status": "CONSENT_WITHDRAWN", "followup_status_date": "2024-05-02",
                  "followup_status_reason": "letter of 2 May"}, reason="patient withdrew consent")
    with session_scope(seeded) as s:
        row = s.execute(select(AuditEntry).where(AuditEntry.action == "UPDATE")).scalar_one()
    assert row.actor == "oslo-dm" and row.reason == "patient withdrew consent"
    assert json.loads(row.new_values) == {"followup_status": "CONSENT_WITHDRAWN", "followup_status_date": "2024-05-02",
                                          "followup_status_reason": "letter of 2 May"}


def _withdraw(engine: Engine, code: str, status: str = "CONSENT_WITHDRAWN") -> None:
    with session_scope(engine) as s:
        S.update(s, OSLO, "patients", {"centre_code": "OSL", "patient_code": code},
                 {"followup_status": status, "followup_status_date": "2024-05-02"}, reason="recorded")


def _exported_study_ids(engine: Engine, path: Path) -> tuple[ExportResult, set[str]]:
    # Full detail with the registry's stable study ids: the default (k-anonymous, k = 5) export
    # refuses a two-patient cohort, and stable ids say *which* patients were exported.
    result = write_survival_export(load_snapshot(engine), path, full_detail=True, stable_study_ids=True)
    with path.open(newline="", encoding="utf-8") as f:
        return result, {r["study_id"] for r in csv.DictReader(f)}


@pytest.mark.parametrize(("status", "exported"), [("CONSENT_WITHDRAWN", {"P2"}), ("LOST", {"P1", "P2"}), ("TRANSFERRED", {"P1", "P2"})])
def test_consent_withdrawn_leaves_the_research_export_other_statuses_do_not(seeded: Engine, tmp_path: Path, status: str, exported: set[str]) -> None:
    with session_scope(seeded) as s:
        study_id = {p.patient_code: p.study_id for p in s.execute(select(Patient)).scalars()}
    before, ids = _exported_study_ids(seeded, tmp_path / "before.csv")
    assert before.rows == 2 and ids == {study_id["P1"], study_id["P2"]}
    _withdraw(seeded, "P1", status)
    after, ids = _exported_study_ids(seeded, tmp_path / "after.csv")
    assert after.rows == len(exported) and ids == {study_id[c] for c in exported}
    assert "without a recorded first transplant" not in after.metadata["cohort"]  # not miscounted as such


def test_bundles_carry_the_status_and_a_file_without_the_columns_keeps_it(seeded: Engine, tmp_path: Path) -> None:
    _withdraw(seeded, "P1", "LOST")
    export_bundle(seeded, tmp_path / "out")
    with (tmp_path / "out" / "patients.csv").open(newline="", encoding="utf-8") as f:
        rows = {r["patient_code"]: r for r in csv.DictReader(f)}
    assert (rows["P1"]["followup_status"], rows["P1"]["followup_status_date"]) == ("LOST", "2024-05-02")
    assert rows["P2"]["followup_status"] == ""
    assert import_bundle(seeded, tmp_path / "out", ADMIN).ok  # round trip: unchanged
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "patients.csv").write_text(
        "centre_code,patient_code,sex,birth_year\nOSL,P1,F,1980\n", encoding="utf-8")
    result = import_bundle(seeded, tmp_path / "old", ADMIN)
    assert result.ok and result.unchanged["patients"] == 1
    with session_scope(seeded) as s:
        p1 = S.get_record(s, ADMIN, "patients", {"centre_code": "OSL", "patient_code": "P1"})
    assert p1.values["followup_status"] == "LOST" and p1.values["followup_status_date"] == dt.date(2024, 5, 2)
