"""treatments.csv and the optional transplant-haematology and MRI columns in bundles: each new
rejection rule (exact file, line, column; the registry left as it was), the previous bundle
format still imports, and export -> import -> export is exact on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from registry.io.bundle import export_bundle, import_bundle, read_bundle
from registry.db import make_engine
from tests.registry import test_bundle_rejections as rejections
from tests.registry.bundle_helpers import ADMIN, TODAY, Bundle, base, write
from tests.registry.test_bundle_rejections import Case, add, only, setv

P1 = {"centre_code": "OSL", "patient_code": "P1"}
U1 = {"centre_code": "UPP", "patient_code": "U1"}

TREATMENTS = [
    P1 | {"drug": "INTERFERON_BETA", "start_date": "2006-07-01", "stop_date": "2009-03-01", "stop_reason": "INEFFICACY"},
    P1 | {"drug": "NATALIZUMAB", "start_date": "2009-04-01", "stop_date": "2014-10-01", "stop_reason": "AHSCT"},
    P1 | {"drug": "OCRELIZUMAB", "start_date": "2019-01-01", "stop_date": "", "stop_reason": ""},
    U1 | {"drug": "FINGOLIMOD", "start_date": "2013-01-01", "stop_date": "2018-12-01", "stop_reason": "INEFFICACY"},
]
HAEMATOLOGY = {
    "neutrophil_engraftment_date": "2015-01-11",
    "platelet_engraftment_date": "2015-01-13",
    "hospital_days": "24",
    "atg_given": "true",
    "cd34_dose": "5.2",
}
LESIONS = {"t2_lesions_total": "25", "spinal_cord_involvement": "true", "brainstem_involvement": "false"}


def full() -> Bundle:
    """The base bundle plus treatments, haematology of P1's first transplant and MRI lesion location."""
    b = base()
    b["treatments"] = [dict(r) for r in TREATMENTS]
    for i, row in enumerate(b["transplants"]):
        row.update(HAEMATOLOGY if i == 0 else dict.fromkeys(HAEMATOLOGY, ""))
    b["mri"][0].update(LESIONS)
    return b


def with_full(*fs):  # type: ignore[no-untyped-def]
    """Break the full bundle (the rejection cases start from base(); add the new files first)."""

    def f(b: Bundle) -> None:
        b.clear()
        b.update(full())
        for g in fs:
            g(b)

    return f


CASES = [
    Case("drug not in list", with_full(setv("treatments", 0, drug="ASPIRIN")), [("treatments.csv", 2, "drug")], "ASPIRIN"),
    Case("stop reason not in list", with_full(setv("treatments", 0, stop_reason="COST")), [("treatments.csv", 2, "stop_reason")], "COST"),
    Case("missing drug", with_full(setv("treatments", 1, drug="")), [("treatments.csv", 3, "drug")], "missing"),
    Case("missing start date", with_full(setv("treatments", 1, start_date="")), [("treatments.csv", 3, "start_date")], "missing"),
    Case("malformed stop date", with_full(setv("treatments", 0, stop_date="2009-13-01")), [("treatments.csv", 2, "stop_date")], "2009-13-01"),
    Case("stop before start", with_full(setv("treatments", 0, stop_date="2006-06-30")), [("treatments.csv", 2, "stop_date")], "2006-07-01"),
    Case("start in the future", with_full(setv("treatments", 2, start_date="2027-01-01")), [("treatments.csv", 4, "start_date")], "future"),
    Case("stop in the future", with_full(setv("treatments", 2, stop_date="2026-12-01")), [("treatments.csv", 4, "stop_date")], "future"),
    Case("treatment start after death", with_full(add("treatments", **U1, drug="RITUXIMAB", start_date="2021-02-01")), [("treatments.csv", 6, "start_date")], "2021-01-01"),
    Case("treatment stop after death", with_full(setv("treatments", 3, stop_date="2021-03-01")), [("treatments.csv", 5, "stop_date")], "2021-01-01"),
    Case("treatment before the birth year", with_full(setv("treatments", 3, start_date="1989-01-01")), [("treatments.csv", 5, "start_date")], "1990"),
    Case("overlapping periods of one drug", with_full(add("treatments", **P1, drug="NATALIZUMAB", start_date="2014-01-01", stop_date="2014-12-01")), [("treatments.csv", 6, "start_date")], "2009-04-01"),
    Case("a period inside an ongoing one", with_full(add("treatments", **P1, drug="OCRELIZUMAB", start_date="2020-06-01", stop_date="2020-07-01")), [("treatments.csv", 6, "start_date")], "ongoing"),
    Case("duplicate treatment key", with_full(add("treatments", **P1, drug="NATALIZUMAB", start_date="2009-04-01")), [("treatments.csv", 6, "start_date")], "line 3"),
    Case("treatment of an unknown patient", with_full(add("treatments", centre_code="OSL", patient_code="NOPE", drug="RITUXIMAB", start_date="2016-01-01")), [("treatments.csv", 6, "patient_code")], "NOPE"),
    Case("unknown treatments column", with_full(lambda b: b["treatments"][0].update(dose="1")), [("treatments.csv", 1, "dose")], "dose"),
    Case("overlap with a period in the registry", only("treatments", P1 | {"drug": "NATALIZUMAB", "start_date": "2012-01-01"}), [("treatments.csv", 2, "start_date")], "2009-04-01", preseed=True),
    # transplant haematology and MRI lesion location
    Case("neutrophil engraftment before the transplant", with_full(setv("transplants", 0, neutrophil_engraftment_date="2014-12-31")), [("transplants.csv", 2, "neutrophil_engraftment_date")], "2015-01-01"),
    Case("platelet engraftment on the transplant day", with_full(setv("transplants", 0, platelet_engraftment_date="2015-01-01")), [("transplants.csv", 2, "platelet_engraftment_date")], "not after"),
    Case("engraftment after death", with_full(setv("transplants", 2, neutrophil_engraftment_date="2021-01-05")), [("transplants.csv", 4, "neutrophil_engraftment_date")], "2021-01-01"),
    Case("negative days in hospital", with_full(setv("transplants", 0, hospital_days="-1")), [("transplants.csv", 2, "hospital_days")], "-1"),
    Case("negative CD34+ dose", with_full(setv("transplants", 0, cd34_dose="-0.5")), [("transplants.csv", 2, "cd34_dose")], "-0.5"),
    Case("ATG given not a boolean", with_full(setv("transplants", 0, atg_given="yes")), [("transplants.csv", 2, "atg_given")], "yes"),
    Case("negative total T2 lesions", with_full(setv("mri", 0, t2_lesions_total="-3")), [("mri.csv", 2, "t2_lesions_total")], "-3"),
    Case("spinal cord involvement not a boolean", with_full(setv("mri", 0, spinal_cord_involvement="1")), [("mri.csv", 2, "spinal_cord_involvement")], "1"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rejected_treatment_or_haematology_row_reports_the_place_and_changes_nothing(
    case: Case, sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if case.preseed:  # rules against the registry: seed the full bundle, not only the base one
        monkeypatch.setattr(rejections, "base", full)
    rejections.test_rejected_bundle_reports_the_place_and_changes_nothing(case, sqlite_engine, tmp_path)


def test_the_full_bundle_with_treatments_is_accepted(sqlite_engine: Engine, tmp_path: Path) -> None:
    result = import_bundle(sqlite_engine, write(full(), tmp_path / "b"), ADMIN, today=TODAY)
    assert result.ok, [str(e) for e in result.errors]
    assert result.inserted["treatments"] == 4


def test_periods_of_one_drug_may_follow_each_other(sqlite_engine: Engine, tmp_path: Path) -> None:
    b = full()
    b["treatments"].append(P1 | {"drug": "NATALIZUMAB", "start_date": "2014-10-01", "stop_date": "2014-12-01", "stop_reason": "AHSCT"})
    b["treatments"].append(P1 | {"drug": "RITUXIMAB", "start_date": "2014-10-01", "stop_date": "2014-12-01", "stop_reason": ""})
    result = import_bundle(sqlite_engine, write(b, tmp_path / "b"), ADMIN, today=TODAY)
    assert result.ok, [str(e) for e in result.errors]


def test_previous_bundle_format_without_the_new_file_and_columns_imports(sqlite_engine: Engine, tmp_path: Path) -> None:
    result = import_bundle(sqlite_engine, write(base(), tmp_path / "b"), ADMIN, today=TODAY)
    assert result.ok and "treatments" not in result.files
    export_bundle(sqlite_engine, tmp_path / "e")
    exported = read_bundle(tmp_path / "e")
    assert exported["treatments"] == []
    assert {c: exported["transplants"][0][c] for c in HAEMATOLOGY} == dict.fromkeys(HAEMATOLOGY, "")


def test_an_old_format_import_keeps_the_new_fields_already_stored(sqlite_engine: Engine, tmp_path: Path) -> None:
    assert import_bundle(sqlite_engine, write(full(), tmp_path / "b1"), ADMIN, today=TODAY).ok
    result = import_bundle(sqlite_engine, write(base(), tmp_path / "b2"), ADMIN, today=TODAY)
    assert result.ok and sum(result.updated.values()) == 0
    export_bundle(sqlite_engine, tmp_path / "e")
    assert read_bundle(tmp_path / "e")["transplants"][0]["cd34_dose"] == "5.2"


def test_round_trip_with_treatments_and_new_columns_is_exact(databases, backend: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = make_engine(databases.new(backend))
    second = make_engine(databases.new(backend))
    try:
        assert import_bundle(first, write(full(), tmp_path / "b"), ADMIN, today=TODAY).ok
        export_bundle(first, tmp_path / "e1")
        assert import_bundle(second, tmp_path / "e1", ADMIN, today=TODAY).ok
        export_bundle(second, tmp_path / "e2")
    finally:
        first.dispose()
        second.dispose()
    e1 = {p.name: p.read_bytes() for p in sorted((tmp_path / "e1").iterdir())}
    e2 = {p.name: p.read_bytes() for p in sorted((tmp_path / "e2").iterdir())}
    assert e1 == e2
    exported = read_bundle(tmp_path / "e1")
    assert {(r["drug"], r["start_date"], r["stop_date"], r["stop_reason"]) for r in exported["treatments"]} == {
        (r["drug"], r["start_date"], r["stop_date"], r["stop_reason"]) for r in TREATMENTS
    }
    assert {c: exported["transplants"][0][c] for c in HAEMATOLOGY} == HAEMATOLOGY
    assert {c: exported["mri"][0][c] for c in LESIONS} == LESIONS
