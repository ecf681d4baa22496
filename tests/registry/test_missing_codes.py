"""Missing-data codes (NE: not evaluated, UNK: unknown) of optional clinical fields: distinct
from blank in validation, storage, audit and bundles; the analytics see a missing value."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from registry import services as S
from registry.security.access import Actor
from registry.io.bundle import export_bundle, import_bundle
from registry.db import session_scope
from registry.models import AuditEntry, Transplant, Visit
from registry.validation import MISSING_CODE_COLUMNS, check_record, parse_row

ADMIN = Actor("admin", "admin")
P1 = {"centre_code": "OSL", "patient_code": "P1"}
VISIT = P1 | {"visit_date": "2016-01-01"}


@pytest.fixture
def seeded(sqlite_engine: Engine) -> Engine:
    with session_scope(sqlite_engine) as s:
        S.create(s, ADMIN, "centres", {"centre_code": "OSL", "name": "Oslo", "country": "NO"})
        S.create(s, ADMIN, "patients", P1 | {"sex": "F", "birth_year": 1980})
        S.create(s, ADMIN, "transplants", P1 | {"transplant_number": 1, "transplant_date": "2015-06-01", "phenotype": "RRMS",
                                                "conditioning": "UNK", "gd_lesions_baseline": "NE"})
        S.create(s, ADMIN, "visits", VISIT | {"edss": "NE"})
    return sqlite_engine


@pytest.mark.parametrize(("entity", "column"), [(e, c) for e, cols in MISSING_CODE_COLUMNS.items() for c in cols])
@pytest.mark.parametrize("code", ["NE", "UNK", " NE "])
def test_every_optional_clinical_field_takes_the_codes(entity: str, column: str, code: str) -> None:
    values, errors = parse_row(entity, {column: code})
    assert errors == [] and values == {column: code.strip()}
    assert check_record(entity, values) == []


@pytest.mark.parametrize(
    ("entity", "column", "cell"),
    [
        ("visits", "visit_date", "NE"),  # a key
        ("adverse_events", "grade", "UNK"),  # required
        ("patients", "ms_onset_date", "UNK"),  # dates need real dates (date order rules)
        ("patients", "followup_status", "NE"),  # administrative, not clinical
        ("visits", "edss", "ne"),  # codes are upper case, as every code
    ],
)
def test_other_fields_refuse_them(entity: str, column: str, cell: str) -> None:
    values, errors = parse_row(entity, {column: cell})
    errors += check_record(entity, values)
    assert [e.column for e in errors] == [column]


def test_free_text_ne_stays_text() -> None:
    assert parse_row("adverse_events", {"description": "NE"}) == ({"description": "NE"}, [])


def test_stored_as_null_with_the_code_beside_it_and_read_back_as_the_code(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        edss, missing = s.execute(select(Visit.edss, Visit.missing_codes)).one()
        assert edss is None and json.loads(missing) == {"edss": "NE"}
        tx = s.execute(select(Transplant.conditioning, Transplant.gd_lesions_baseline, Transplant.missing_codes)).one()
        assert tx[:2] == (None, None) and json.loads(tx[2]) == {"conditioning": "UNK", "gd_lesions_baseline": "NE"}
        assert S.get_record(s, ADMIN, "visits", VISIT).values["edss"] == "NE"


def test_replacing_a_code_with_a_value_is_an_audited_change(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        S.update(s, ADMIN, "visits", VISIT, {"edss": "3.5"}, reason="assessed after all")
    with session_scope(seeded) as s:
        assert s.execute(select(Visit.edss, Visit.missing_codes)).one() == (3.5, None)
        row = s.execute(select(AuditEntry).where(AuditEntry.action == "UPDATE")).scalar_one()
    assert json.loads(row.old_values) == {"edss": "NE"} and json.loads(row.new_values) == {"edss": 3.5}


def test_a_blank_is_not_a_code(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        S.update(s, ADMIN, "visits", VISIT, {"edss": ""}, reason="unknown whether assessed")
        assert S.get_record(s, ADMIN, "visits", VISIT).values["edss"] is None
        assert s.execute(select(Visit.missing_codes)).scalar_one() is None


def test_bundles_carry_the_codes_and_round_trip(seeded: Engine, tmp_path: Path) -> None:
    export_bundle(seeded, tmp_path / "out")
    with (tmp_path / "out" / "visits.csv").open(newline="", encoding="utf-8") as f:
        assert [r["edss"] for r in csv.DictReader(f)] == ["NE"]
    with (tmp_path / "out" / "transplants.csv").open(newline="", encoding="utf-8") as f:
        (tx,) = csv.DictReader(f)
    assert (tx["conditioning"], tx["gd_lesions_baseline"], tx["relapses_12m"]) == ("UNK", "NE", "")
    result = import_bundle(seeded, tmp_path / "out", ADMIN)
    assert result.ok and sum(result.updated.values()) == 0 and sum(result.inserted.values()) == 0


def test_a_bundle_sets_and_clears_codes(seeded: Engine, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "visits.csv").write_text(
        "centre_code,patient_code,visit_date,edss\nOSL,P1,2016-01-01,UNK\nOSL,P1,2017-01-01,NE\n", encoding="utf-8")
    result = import_bundle(seeded, tmp_path / "b", ADMIN)
    assert result.ok and (result.updated["visits"], result.inserted["visits"]) == (1, 1)
    with session_scope(seeded) as s:
        got = [(v.values["visit_date"].isoformat(), v.values["edss"]) for v in S.list_records(s, ADMIN, "visits")]
    assert got == [("2016-01-01", "UNK"), ("2017-01-01", "NE")]


def test_analytics_see_a_missing_value(seeded: Engine) -> None:
    from analytics.snapshot import load_snapshot

    snap = load_snapshot(seeded)
    assert snap.cursor().execute("SELECT edss FROM visits").fetchall() == [(None,)]


def test_quality_counts_a_coded_key_field_as_documented(seeded: Engine) -> None:
    import datetime as dt

    from analytics.quality import quality_report
    from analytics.snapshot import load_snapshot

    report = quality_report(load_snapshot(seeded), today=dt.date(2016, 3, 1))
    problems = set(report.issues["problem"])
    assert "missing conditioning regimen" not in problems  # UNK
    assert "missing Gd-enhancing lesions at baseline" not in problems  # NE
    assert "missing relapses in the 12 months before transplant" in problems  # blank: still a gap
    row = report.per_centre.set_index("centre_code").loc["OSL"]
    assert (row["conditioning_complete_pct"], row["relapses_12m_complete_pct"]) == (100.0, 0.0)


def test_every_entity_taking_codes_has_the_column_to_keep_them() -> None:
    from registry.services import MODELS

    for entity, columns in MISSING_CODE_COLUMNS.items():
        assert columns, entity
        assert "missing_codes" in MODELS[entity].__table__.c, f"{entity}: add missing_codes to its model and a migration"
