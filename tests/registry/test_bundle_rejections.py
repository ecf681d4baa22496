"""Every rejection rule of docs/bundle-format.md: a small bundle that breaks it, the exact
file/line/column of the error, and a registry left exactly as it was (full export compared)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine

from registry.io.bundle import import_bundle
from tests.registry.bundle_helpers import ADMIN, TODAY, Bundle, base, snapshot, write

Where = tuple[str, int | None, str]  # (file, line, column)


@dataclass(frozen=True)
class Case:
    id: str
    breaks: Callable[[Bundle], None]
    expected: list[Where]
    mentions: str = ""  # text the (first) message must contain: the value or the date involved
    preseed: bool = False  # import the valid base bundle first (rules against the registry)
    extra_files: dict[str, bytes] = field(default_factory=dict)


def setv(entity: str, index: int, **cells: str) -> Callable[[Bundle], None]:
    def f(b: Bundle) -> None:
        b[entity][index].update(cells)

    return f


def add(entity: str, **cells: str) -> Callable[[Bundle], None]:
    def f(b: Bundle) -> None:
        row = {k: "" for k in b[entity][0]}
        row.update(cells)
        b[entity].append(row)

    return f


def only(entity: str, *rows: dict[str, str]) -> Callable[[Bundle], None]:
    """Replace the bundle by one file (for rules checked against the registry's data)."""

    def f(b: Bundle) -> None:
        b.clear()
        b[entity] = [dict(r) for r in rows]

    return f


def both(*fs: Callable[[Bundle], None]) -> Callable[[Bundle], None]:
    def f(b: Bundle) -> None:
        for g in fs:
            g(b)

    return f


def drop_column(entity: str, column: str) -> Callable[[Bundle], None]:
    def f(b: Bundle) -> None:
        for r in b[entity]:
            del r[column]

    return f


def rename_column(entity: str, old: str, new: str) -> Callable[[Bundle], None]:
    def f(b: Bundle) -> None:
        b[entity] = [{(new if k == old else k): v for k, v in r.items()} for r in b[entity]]

    return f


P1 = {"centre_code": "OSL", "patient_code": "P1"}
U1 = {"centre_code": "UPP", "patient_code": "U1"}

CASES = [
    # files and columns
    Case("unknown file", lambda b: None, [("notes.csv", None, "(file)")], "notes.csv", extra_files={"notes.csv": b"a,b\n"}),
    Case("unknown column", rename_column("visits", "edss", "edss_score"), [("visits.csv", 1, "edss_score")], "edss_score"),
    Case("missing required column", drop_column("visits", "visit_date"), [("visits.csv", 1, "visit_date")], "visit_date"),
    Case("missing required value", setv("patients", 1, sex=""), [("patients.csv", 3, "sex")], "missing"),
    Case("missing required value (whitespace only)", setv("deaths", 0, cause="  "), [("deaths.csv", 2, "cause")], "missing"),
    # malformed values
    Case("malformed date (not ISO)", setv("visits", 0, visit_date="01/02/2016"), [("visits.csv", 2, "visit_date")], "01/02/2016"),
    Case("malformed date (no such day)", setv("visits", 1, visit_date="2017-02-30"), [("visits.csv", 3, "visit_date")], "2017-02-30"),
    Case("malformed whole number", setv("patients", 0, birth_year="19x0"), [("patients.csv", 2, "birth_year")], "19x0"),
    Case("malformed count (not whole)", setv("transplants", 0, relapses_12m="1.5"), [("transplants.csv", 2, "relapses_12m")], "1.5"),
    Case("malformed EDSS", setv("visits", 0, edss="three"), [("visits.csv", 2, "edss")], "three"),
    Case("malformed boolean", setv("relapses", 0, steroids="yes"), [("relapses.csv", 2, "steroids")], "yes"),
    Case("boolean in upper case", setv("transplants", 0, cd34_selection="TRUE"), [("transplants.csv", 2, "cd34_selection")], "TRUE"),
    # code lists
    Case("sex not in list", setv("patients", 0, sex="X"), [("patients.csv", 2, "sex")], "'X'"),
    Case("phenotype in lower case", setv("transplants", 1, phenotype="spms"), [("transplants.csv", 3, "phenotype")], "spms"),
    Case("mobilisation not in list", setv("transplants", 0, mobilisation="PLERIXAFOR"), [("transplants.csv", 2, "mobilisation")], "PLERIXAFOR"),
    Case("conditioning not in list", setv("transplants", 0, conditioning="BEAM"), [("transplants.csv", 2, "conditioning")], "BEAM"),
    Case("intensity not in list", setv("transplants", 0, conditioning_intensity="MEDIUM"), [("transplants.csv", 2, "conditioning_intensity")], "MEDIUM"),
    Case("severity not in list", setv("relapses", 0, severity="MINOR"), [("relapses.csv", 2, "severity")], "MINOR"),
    Case("recovery not in list", setv("relapses", 0, recovery="FULL"), [("relapses.csv", 2, "recovery")], "FULL"),
    Case("AE category not in list", setv("adverse_events", 0, category="SEPSIS"), [("adverse_events.csv", 2, "category")], "SEPSIS"),
    Case("death cause not in list", setv("deaths", 0, cause="CARDIAC"), [("deaths.csv", 2, "cause")], "CARDIAC"),
    Case("country not alpha-2 (lower case)", setv("centres", 0, country="no"), [("centres.csv", 2, "country")], "'no'"),
    Case("country not alpha-2 (three letters)", setv("centres", 1, country="SWE"), [("centres.csv", 3, "country")], "SWE"),
    Case("grade above 5", setv("adverse_events", 0, grade="6"), [("adverse_events.csv", 2, "grade")], "6"),
    Case("grade 0", setv("adverse_events", 0, grade="0"), [("adverse_events.csv", 2, "grade")], "0"),
    # EDSS steps, counts, years, date ranges
    Case("EDSS 0.5", setv("visits", 0, edss="0.5"), [("visits.csv", 2, "edss")], "0.5"),
    Case("EDSS between steps", setv("visits", 2, edss="3.25"), [("visits.csv", 4, "edss")], "3.25"),
    Case("baseline EDSS above 10", setv("transplants", 0, baseline_edss="10.5"), [("transplants.csv", 2, "baseline_edss")], "10.5"),
    Case("negative count", setv("mri", 0, new_t2="-1"), [("mri.csv", 2, "new_t2")], "-1"),
    Case("negative prior DMT count", setv("transplants", 0, prior_dmt_count="-2"), [("transplants.csv", 2, "prior_dmt_count")], "-2"),
    Case("birth year before 1900", setv("patients", 1, birth_year="1899"), [("patients.csv", 3, "birth_year")], "1899"),
    Case("birth year in the future", setv("patients", 1, birth_year=str(TODAY.year + 1)), [("patients.csv", 3, "birth_year")], str(TODAY.year + 1)),
    Case("date before 1900", setv("patients", 1, ms_onset_date="1899-12-31"), [("patients.csv", 3, "ms_onset_date")], "1899-12-31"),
    Case("date in the future", add("visits", **P1, visit_date="2026-11-25"), [("visits.csv", 5, "visit_date")], "2026-11-25"),
    # references and keys
    Case("patient not in bundle or registry", add("visits", centre_code="OSL", patient_code="P9", visit_date="2017-01-01"), [("visits.csv", 5, "patient_code")], "P9"),
    Case("centre not in bundle or registry", add("patients", centre_code="XXX", patient_code="X1", sex="F", birth_year="1980"), [("patients.csv", 5, "centre_code")], "XXX"),
    Case("patient of another centre", add("visits", centre_code="UPP", patient_code="P1", visit_date="2017-01-01"), [("visits.csv", 5, "patient_code")], "P1"),
    Case("two rows with the same key", add("visits", **P1, visit_date="2016-01-01", edss="4.0"), [("visits.csv", 5, "visit_date")], "line 2"),
    Case("two adverse events with the same key", add("adverse_events", **P1, onset_date="2015-01-10", category="INFECTION", grade="2"), [("adverse_events.csv", 3, "category")], "line 2"),
    Case("two deaths of one patient", add("deaths", **U1, death_date="2021-01-02", cause="OTHER"), [("deaths.csv", 3, "patient_code")], "line 2"),
    Case("two centres with the same code", add("centres", centre_code="OSL", name="Oslo again"), [("centres.csv", 4, "centre_code")], "line 2"),
    # date order
    Case("MS onset after diagnosis", setv("patients", 0, ms_onset_date="2007-01-01"), [("patients.csv", 2, "ms_onset_date")], "2006-06-01"),
    Case("diagnosis after the transplant", setv("patients", 2, ms_diagnosis_date="2019-06-01"), [("patients.csv", 4, "ms_diagnosis_date")], "2019-05-05"),
    Case("onset after the transplant", setv("patients", 2, ms_onset_date="2019-06-01", ms_diagnosis_date=""), [("patients.csv", 4, "ms_onset_date")], "2019-05-05"),
    Case(
        "transplant before birth",
        both(
            add("patients", centre_code="OSL", patient_code="P3", sex="F", birth_year="2000"),
            add("transplants", centre_code="OSL", patient_code="P3", transplant_number="1", transplant_date="1999-06-01", phenotype="RRMS"),
        ),
        [("transplants.csv", 5, "transplant_date")],
        "2000",
    ),
    Case("visit after death", add("visits", **U1, visit_date="2021-06-01"), [("visits.csv", 5, "visit_date")], "2021-01-01"),
    Case("relapse after death", add("relapses", **U1, onset_date="2021-06-01"), [("relapses.csv", 3, "onset_date")], "2021-01-01"),
    Case("MRI after death", add("mri", **U1, scan_date="2021-06-01"), [("mri.csv", 3, "scan_date")], "2021-01-01"),
    Case("adverse event after death", add("adverse_events", **U1, onset_date="2021-06-01", category="OTHER", grade="1"), [("adverse_events.csv", 3, "onset_date")], "2021-01-01"),
    Case("last contact after death", setv("patients", 2, last_contact_date="2021-02-01"), [("patients.csv", 4, "last_contact_date")], "2021-01-01"),
    Case(
        "death before the first transplant",
        setv("deaths", 0, death_date="2019-01-01"),
        [("deaths.csv", 2, "death_date"), ("transplants.csv", 4, "transplant_date"), ("visits.csv", 4, "visit_date"), ("patients.csv", 4, "last_contact_date")],
        "2019-05-05",
    ),
    Case("transplant_number against the dates", setv("transplants", 1, transplant_date="2014-01-01"), [("transplants.csv", 3, "transplant_number")], "2015-01-01"),
    Case("transplant_number with a gap", setv("transplants", 1, transplant_number="3"), [("transplants.csv", 3, "transplant_number")], "no transplant 2"),
    Case("two transplants on one date", setv("transplants", 1, transplant_date="2015-01-01"), [("transplants.csv", 3, "transplant_number")], "2015-01-01"),
    # against the registry's data (the valid base bundle imported first)
    Case("visit after a death in the registry", only("visits", U1 | {"visit_date": "2021-06-01", "edss": "7.0"}), [("visits.csv", 2, "visit_date")], "2021-01-01", preseed=True),
    Case("death before visits in the registry", only("deaths", P1 | {"death_date": "2016-03-01", "cause": "OTHER"}), [("deaths.csv", 2, "death_date")], "already in the registry", preseed=True),
    Case("death before a transplant in the registry", only("deaths", P1 | {"death_date": "2014-03-01", "cause": "OTHER"}), [("deaths.csv", 2, "death_date")], "first transplant", preseed=True),
    Case("transplant out of order with the registry", only("transplants", P1 | {"transplant_number": "3", "transplant_date": "2017-01-01", "phenotype": "SPMS"}), [("transplants.csv", 2, "transplant_number")], "2018-01-01", preseed=True),
    Case("diagnosis after a transplant in the registry", only("patients", P1 | {"sex": "F", "birth_year": "1980", "ms_diagnosis_date": "2016-01-01"}), [("patients.csv", 2, "ms_diagnosis_date")], "2015-01-01", preseed=True),
    Case("birth year after a transplant in the registry", only("patients", U1 | {"sex": "U", "birth_year": "2020"}), [("patients.csv", 2, "birth_year")], "2012-03-04", preseed=True),
    Case("patient of an unknown centre in an update", only("visits", {"centre_code": "ZZZ", "patient_code": "P1", "visit_date": "2017-01-01"}), [("visits.csv", 2, "centre_code")], "ZZZ", preseed=True),
    # bytes and shape
    Case("invalid UTF-8", lambda b: None, [("mri.csv", 3, "(file)")], "UTF-8", extra_files={"mri.csv": b"centre_code,patient_code,scan_date\nOSL,P1,2016-02-01\nOSL,P\xe9,2016-03-01\n"}),
    Case("row with too many cells", lambda b: None, [("deaths.csv", 4, "(row)")], "5 cells", extra_files={"deaths.csv": b"centre_code,patient_code,death_date,cause\nUPP,U1,2021-01-01,MS\n\nUPP,U1,2021-01-01,MS,extra\n"}),
    Case("empty file", lambda b: None, [("relapses.csv", 1, "(file)")], "header", extra_files={"relapses.csv": b""}),
]


def _where(e) -> Where:  # type: ignore[no-untyped-def]
    return (e.file, e.line, e.column)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rejected_bundle_reports_the_place_and_changes_nothing(case: Case, sqlite_engine: Engine, tmp_path: Path) -> None:
    if case.preseed:
        seeded = import_bundle(sqlite_engine, write(base(), tmp_path / "seed"), ADMIN, today=TODAY)
        assert seeded.ok, seeded.errors
    before = snapshot(sqlite_engine, tmp_path / "before")

    bundle = base()
    case.breaks(bundle)
    folder = write(bundle, tmp_path / "bundle")
    for name, data in case.extra_files.items():
        (folder / name).write_bytes(data)
    result = import_bundle(sqlite_engine, folder, ADMIN, today=TODAY)

    assert sorted(map(_where, result.errors), key=str) == sorted(case.expected, key=str), [str(e) for e in result.errors]
    first = next(e for e in result.errors if _where(e) == case.expected[0])
    assert case.mentions in first.message, str(first)
    assert str(first).startswith(f"{case.expected[0][0]}:{case.expected[0][1]}: {case.expected[0][2]}: " if case.expected[0][1] else f"{case.expected[0][0]}: ")
    assert sum(result.inserted.values()) + sum(result.updated.values()) == 0
    assert snapshot(sqlite_engine, tmp_path / "after") == before


def test_every_error_is_reported_not_just_the_first(sqlite_engine: Engine, tmp_path: Path) -> None:
    bundle = base()
    for case in (c for c in CASES if not c.preseed and not c.extra_files and c.id.startswith(("EDSS", "negative", "grade above"))):
        case.breaks(bundle)
    result = import_bundle(sqlite_engine, write(bundle, tmp_path / "b"), ADMIN, today=TODAY)
    assert {(e.file, e.column) for e in result.errors} == {
        ("visits.csv", "edss"),
        ("mri.csv", "new_t2"),
        ("transplants.csv", "prior_dmt_count"),
        ("adverse_events.csv", "grade"),
    }
    assert len(result.errors) == 5  # two bad visits


def test_the_valid_base_bundle_is_accepted(sqlite_engine: Engine, tmp_path: Path) -> None:
    result = import_bundle(sqlite_engine, write(base(), tmp_path / "b"), ADMIN, today=TODAY)
    assert result.ok, [str(e) for e in result.errors]
    assert result.inserted == {"centres": 2, "patients": 3, "transplants": 3, "visits": 3, "relapses": 1, "mri": 1, "adverse_events": 1, "deaths": 1}


def test_rows_may_refer_to_patients_already_in_the_registry(sqlite_engine: Engine, tmp_path: Path) -> None:
    assert import_bundle(sqlite_engine, write(base(), tmp_path / "seed"), ADMIN, today=TODAY).ok
    follow_up = {"visits": [P1 | {"visit_date": "2023-01-01", "edss": "2.5"}]}
    result = import_bundle(sqlite_engine, write(follow_up, tmp_path / "b"), ADMIN, today=TODAY)
    assert result.ok and result.inserted == {"visits": 1}
