"""Validation rules as pure functions: parsing, single-record rules, cross-record rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry import codes
from registry.validation import (
    ENTITIES,
    FieldError,
    Record,
    check_duplicates,
    check_header,
    check_history,
    check_record,
    check_references,
    format_edss,
    parse_row,
)

TODAY = dt.date(2026, 11, 24)


def d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


# --- FieldError ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (FieldError("visits", "edss", "0.5", "bad", 7, "visits.csv"), "visits.csv:7: edss: bad"),
        (FieldError("visits", "edss", "0.5", "bad", 7, "export/visits.csv"), "export/visits.csv:7: edss: bad"),
        (FieldError("visits", "edss", "0.5", "bad"), "visits.csv: edss: bad"),
    ],
)
def test_field_error_prints_as_file_line_column_message(error: FieldError, text: str) -> None:
    assert str(error) == text


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "column", "text", "value"),
    [
        ("visits", "visit_date", "2016-01-31", dt.date(2016, 1, 31)),
        ("visits", "visit_date", " 2016-01-31 ", dt.date(2016, 1, 31)),
        ("visits", "edss", "3", 3.0),
        ("visits", "edss", "3.50", 3.5),
        ("visits", "edss", "", None),
        ("relapses", "steroids", "false", False),
        ("patients", "birth_year", "+1980", 1980),
        ("centres", "name", "  Oslo  ", "Oslo"),
    ],
)
def test_parse_row_converts_text(entity: str, column: str, text: str, value: object) -> None:
    values, errors = parse_row(entity, {column: text})
    assert errors == [] and values[column] == value


@pytest.mark.parametrize(
    ("entity", "column", "text", "reason"),
    [
        ("visits", "visit_date", "20160131", "not a date"),
        ("visits", "visit_date", "2016-1-31", "not a date"),
        ("visits", "visit_date", "2016-02-30", "not a valid calendar date"),
        ("visits", "visit_date", "２０１６-01-31", "not a date"),
        ("visits", "edss", "3,5", "not a number"),
        ("visits", "edss", "nan", "not a number"),
        ("patients", "birth_year", "1980.0", "not a whole number"),
        ("mri", "new_t2", "٣", "not a whole number"),
        ("relapses", "steroids", "True", "expected true or false"),
        ("relapses", "steroids", "1", "expected true or false"),
        ("visits", "visit_date", "", "required value is missing"),
    ],
)
def test_parse_row_rejects_malformed_text_naming_the_value(entity: str, column: str, text: str, reason: str) -> None:
    _, [error] = parse_row(entity, {column: text}, line=4, file="x.csv")
    assert reason in error.message and (error.line, error.file, error.column) == (4, "x.csv", column)
    if text:
        assert repr(text) in error.message


def test_parse_row_accepts_typed_form_values() -> None:
    values, errors = parse_row("transplants", {"transplant_date": dt.date(2015, 1, 1), "baseline_edss": Decimal("3.5"), "cd34_selection": True, "relapses_12m": 2})
    assert errors == []
    assert values == {"transplant_date": dt.date(2015, 1, 1), "baseline_edss": 3.5, "cd34_selection": True, "relapses_12m": 2}


def test_parse_row_rejects_a_wrongly_typed_form_value() -> None:
    _, [error] = parse_row("transplants", {"cd34_selection": 1})
    assert error.column == "cd34_selection"


def test_unknown_column_is_an_error() -> None:
    _, [error] = parse_row("visits", {"edss_score": "3.0"})
    assert error.column == "edss_score" and "unknown column" in error.message


def test_header_reports_unknown_duplicated_and_missing_required_columns() -> None:
    errors = check_header("visits", ["centre_code", "centre_code", "edss", "colour"])
    assert {(e.column, e.line) for e in errors} == {("centre_code", 1), ("colour", 1), ("patient_code", 1), ("visit_date", 1)}


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY))
def test_every_iso_date_parses_back(day: dt.date) -> None:
    assert parse_row("visits", {"visit_date": day.isoformat()})[0]["visit_date"] == day


@given(st.sampled_from(codes.EDSS_STEPS))
def test_every_edss_step_as_written_by_export_is_accepted(step: float) -> None:
    values, errors = parse_row("visits", {"edss": format_edss(step)})
    assert errors == [] and check_record("visits", values, today=TODAY) == [] and values["edss"] == step


@given(st.decimals(min_value=-20, max_value=20, places=2).filter(lambda x: x not in codes.EDSS_STEP_SET))
def test_every_other_number_is_not_an_edss_step(x: Decimal) -> None:
    values, _ = parse_row("visits", {"edss": str(x)})
    [error] = check_record("visits", values, today=TODAY)
    assert error.column == "edss" and "not an EDSS step" in error.message


@given(st.sampled_from(sorted(ENTITIES)), st.dictionaries(st.sampled_from(["centre_code", "edss", "visit_date", "grade", "sex", "x"]), st.text(max_size=12)))
def test_parse_and_check_never_crash_on_any_text(entity: str, raw: dict[str, str]) -> None:
    values, errors = parse_row(entity, raw)
    errors += check_record(entity, values, today=TODAY)
    assert all(isinstance(e, FieldError) and e.message for e in errors)


# --- single-record rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "values", "column"),
    [
        ("patients", {"birth_year": 1899}, "birth_year"),
        ("patients", {"birth_year": 2027}, "birth_year"),
        ("patients", {"ms_onset_date": d("2010-01-02"), "ms_diagnosis_date": d("2010-01-01")}, "ms_onset_date"),
        ("visits", {"visit_date": d("1899-12-31")}, "visit_date"),
        ("visits", {"visit_date": d("2026-11-25")}, "visit_date"),
        ("visits", {"edss": 0.5}, "edss"),
        ("mri", {"gd_enhancing": -1}, "gd_enhancing"),
        ("adverse_events", {"grade": 6}, "grade"),
        ("centres", {"country": "gb"}, "country"),
        ("centres", {"centre_code": "X" * 17}, "centre_code"),
        ("transplants", {"transplant_number": 0}, "transplant_number"),
        ("deaths", {"cause": "COVID"}, "cause"),
    ],
)
def test_single_record_rules(entity: str, values: dict[str, object], column: str) -> None:
    [error] = check_record(entity, values, today=TODAY)
    assert error.column == column


@pytest.mark.parametrize(
    ("entity", "values"),
    [
        ("patients", {"birth_year": 1900}),
        ("patients", {"birth_year": 2026, "ms_onset_date": d("2026-01-01"), "ms_diagnosis_date": d("2026-01-01")}),
        ("visits", {"visit_date": TODAY, "edss": 0.0}),
        ("visits", {"visit_date": d("1900-01-01"), "edss": 10.0}),
        ("mri", {"new_t2": 0}),
        ("adverse_events", {"grade": 5}),
        ("centres", {"country": "GB"}),
    ],
)
def test_boundary_values_are_accepted(entity: str, values: dict[str, object]) -> None:
    assert check_record(entity, values, today=TODAY) == []


# --- cross-record rules -------------------------------------------------------------------

PK = {"centre_code": "OSL", "patient_code": "P1"}


def rec(entity: str, new: bool = True, line: int | None = None, **values: object) -> Record:
    return Record(entity, PK | values, new=new, line=line, file=f"{entity}.csv")


def test_duplicates_are_reported_on_the_later_row_naming_the_first() -> None:
    rows = [rec("visits", line=2, visit_date=d("2020-01-01")), rec("visits", line=3, visit_date=d("2020-02-01")), rec("visits", line=4, visit_date=d("2020-01-01"))]
    [error] = check_duplicates(rows)
    assert (error.line, error.column) == (4, "visit_date") and "same as line 2" in error.message


def test_references_look_at_the_given_centres_and_patients() -> None:
    rows = [rec("visits", line=2), Record("visits", {"centre_code": "UPP", "patient_code": "U1"}, line=3), Record("patients", {"centre_code": "XXX", "patient_code": "X"}, line=4)]
    errors = check_references(rows, centres={"OSL", "UPP"}, patients={("OSL", "P1")})
    assert [(e.line, e.column) for e in errors] == [(3, "patient_code"), (4, "centre_code")]


def test_a_new_visit_after_a_stored_death_is_blamed_on_the_visit() -> None:
    errors = check_history(
        rec("patients", new=False, birth_year=1980),
        [rec("deaths", new=False, death_date=d("2020-01-01")), rec("visits", line=9, visit_date=d("2020-01-02"))],
    )
    assert [(e.entity, e.line, e.column) for e in errors] == [("visits", 9, "visit_date")]


def test_a_record_on_the_death_date_is_accepted() -> None:
    assert check_history(rec("patients", birth_year=1980), [rec("deaths", death_date=d("2020-01-01")), rec("adverse_events", onset_date=d("2020-01-01"))]) == []


def test_inconsistent_stored_data_does_not_block_unrelated_new_records() -> None:
    stored = [rec("deaths", new=False, death_date=d("2020-01-01")), rec("visits", new=False, visit_date=d("2021-01-01"))]
    new = rec("mri", scan_date=d("2019-01-01"))
    assert check_history(rec("patients", new=False, birth_year=1980), [*stored, new]) == []


def test_transplant_numbers_must_follow_dates_and_have_no_gaps() -> None:
    txs = [
        rec("transplants", line=2, transplant_number=1, transplant_date=d("2015-01-01")),
        rec("transplants", line=3, transplant_number=2, transplant_date=d("2014-01-01")),
        rec("transplants", line=4, transplant_number=4, transplant_date=d("2019-01-01")),
    ]
    errors = check_history(rec("patients", birth_year=1980), txs)
    assert [(e.line, e.column) for e in errors] == [(3, "transplant_number"), (4, "transplant_number")]
    assert "no transplant 3" in errors[1].message
