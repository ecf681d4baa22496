"""The data-quality report: one test per problem type, plus the per-centre summary."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from analytics.quality import ISSUE_COLUMNS, PROBLEMS, overdue_cutoff, quality_report
from tests.analytics.endpoint_cohort import DAY0, Cohort

# Visits at every protocol window, so that only the problem under test shows up.
PROTOCOL_VISITS = {100: 3.0, 182: 3.0, 365: 3.0}
TODAY = DAY0 + dt.timedelta(days=430)  # all windows over (1-year ends on day 425)


def problems_of(today: dt.date = TODAY, **patient: Any) -> list[tuple[str, str]]:
    patient.setdefault("visits", PROTOCOL_VISITS)
    report = quality_report(Cohort().add("P1", **patient).snapshot(), today=today)
    return [(r.problem, r.detail) for r in report.issues.itertuples()]


def names(problems: list[tuple[str, str]]) -> list[str]:
    return [p for p, _ in problems]


def test_complete_patient_has_no_problem() -> None:
    assert problems_of() == []


@pytest.mark.parametrize(
    ("case", "patient", "expected"),
    [
        ("no transplant at all", dict(first_transplant=False), ["no first transplant"]),
        ("only a second transplant", dict(first_transplant=False, second_transplant_days=0), ["no first transplant"]),
        ("no baseline anywhere", dict(baseline_edss=None), ["no baseline EDSS", "missing baseline EDSS"]),
        ("baseline from a visit: only the field is missing",
         dict(baseline_edss=None, visits={-30: 3.0, **PROTOCOL_VISITS}), ["missing baseline EDSS"]),
        ("no onset date", dict(onset_days=None), ["missing MS onset date"]),
        ("no conditioning", dict(conditioning=None), ["missing conditioning regimen"]),
        ("no relapse count", dict(relapses_12m=None), ["missing relapses in the 12 months before transplant"]),
        ("no Gd lesion count", dict(gd_lesions_baseline=None), ["missing Gd-enhancing lesions at baseline"]),
        ("no day-100 visit", dict(visits={182: 3.0, 365: 3.0}), ["missing day-100 visit"]),
        ("day-100 visit at day 70 counts", dict(visits={70: 3.0, 182: 3.0, 365: 3.0}), []),
        ("day-100 visit at day 131 is outside", dict(visits={131: 3.0, 182: 3.0, 365: 3.0}), ["missing day-100 visit"]),
        ("no 6-month visit", dict(visits={100: 3.0, 365: 3.0}), ["missing 6-month visit"]),
        ("no 1-year visit", dict(visits={100: 3.0, 182: 3.0, 300: 3.0}), ["missing 1-year visit"]),
        ("a visit without EDSS still counts as a visit", dict(visits={100: None, 182: 3.0, 365: 3.0}), []),
        ("death before a window: not missing", dict(visits={100: 3.0}, death=(200, "MS")), []),
        ("death in the window's last day: not due", dict(visits={100: 3.0}, death=(227, "MS")), []),
    ],
)
def test_problem_is_reported(case: str, patient: dict[str, Any], expected: list[str]) -> None:
    assert names(problems_of(**patient)) == expected


def test_window_still_open_is_not_missing() -> None:
    # 1-year window (day 305-425) still open on day 420.
    assert names(problems_of(today=DAY0 + dt.timedelta(days=425), visits={100: 3.0, 182: 3.0})) == []
    assert names(problems_of(today=DAY0 + dt.timedelta(days=426), visits={100: 3.0, 182: 3.0})) == ["missing 1-year visit"]


@pytest.mark.parametrize(
    ("days_since_last_visit", "overdue"),
    [(400, False), (455, False), (456, True), (800, True)],
)
def test_overdue_after_fifteen_months(days_since_last_visit: int, overdue: bool) -> None:
    # Last visit on day 365 = 2021-01-14; 15 months before 2022-04-14 is 2021-01-14 (not more).
    today = DAY0 + dt.timedelta(days=365 + days_since_last_visit)
    assert ("overdue follow-up" in names(problems_of(today=today))) is overdue


def test_overdue_detail_names_the_last_visit() -> None:
    today = DAY0 + dt.timedelta(days=1000)
    [(problem, detail)] = [p for p in problems_of(today=today) if p[0] == "overdue follow-up"]
    assert "last visit 2021-01-14" in detail and "635 days ago" in detail


def test_dead_patients_are_never_overdue() -> None:
    today = DAY0 + dt.timedelta(days=2000)
    assert "overdue follow-up" not in names(problems_of(today=today, death=(400, "MS")))


def test_no_visit_at_all_is_overdue_from_day_0() -> None:
    today = DAY0 + dt.timedelta(days=500)
    found = dict(problems_of(today=today, visits={}))
    assert "no visit since day 0 (2020-01-15)" in found["overdue follow-up"]


@pytest.mark.parametrize(("today", "expected"), [
    (dt.date(2022, 4, 15), dt.date(2021, 1, 15)),
    (dt.date(2022, 5, 31), dt.date(2021, 2, 28)),
    (dt.date(2021, 3, 1), dt.date(2019, 12, 1)),
])
def test_overdue_cutoff_is_fifteen_calendar_months(today: dt.date, expected: dt.date) -> None:
    assert overdue_cutoff(today) == expected


def test_per_centre_summary_counts_and_completeness() -> None:
    cohort = (
        Cohort()
        .add("A1", centre="C1", visits=PROTOCOL_VISITS)
        .add("A2", centre="C1", visits=PROTOCOL_VISITS, baseline_edss=None, onset_days=None)
        .add("A3", centre="C1", first_transplant=False)
        .add("B1", centre="C2", visits={}, conditioning=None)
    )
    report = quality_report(cohort.snapshot(), today=TODAY)
    rows = report.per_centre.set_index("centre_code")
    assert rows.loc["C1", "patients"] == 3 and rows.loc["C2", "patients"] == 1
    assert rows.loc["C1", "without_first_transplant"] == 1
    assert rows.loc["C1", "without_baseline_edss"] == 1
    assert rows.loc["C1", "baseline_edss_complete_pct"] == 50.0  # of 2 transplanted
    assert rows.loc["C1", "ms_onset_date_complete_pct"] == pytest.approx(66.7)  # of 3 registered
    assert rows.loc["C2", "conditioning_complete_pct"] == 0.0
    assert rows.loc["C2", "missing_day100_visit"] == 1 and rows.loc["C1", "missing_day100_visit"] == 0
    assert list(report.issues.columns) == list(ISSUE_COLUMNS)
    assert set(report.issues["problem"]) <= set(PROBLEMS)


def test_issues_name_centre_and_patient() -> None:
    report = quality_report(Cohort().add("Q7", centre="C9", baseline_edss=None, visits=PROTOCOL_VISITS).snapshot(), today=TODAY)
    first = report.issues.iloc[0]
    assert (first["centre_code"], first["patient_code"], first["problem"]) == ("C9", "Q7", "no baseline EDSS")


def test_roles_without_patient_codes_get_no_dated_details() -> None:
    from analytics.snapshot import Scope, Snapshot

    rows = Cohort().add("Q7", baseline_edss=None, visits=PROTOCOL_VISITS).rows()
    rows["patients"][0]["patient_code"] = None  # as the snapshot reads it for such roles
    snap = Snapshot.from_tables({k: pd.DataFrame(v) for k, v in rows.items() if v},
                                scope=Scope(patient_codes=False))
    issues = quality_report(snap, today=TODAY).issues
    assert list(issues["problem"]) == ["no baseline EDSS", "missing baseline EDSS"]
    assert issues["detail"].isna().all() and issues["patient_code"].isna().all()


@pytest.mark.parametrize("status", ["LOST", "TRANSFERRED", "CONSENT_WITHDRAWN"])
def test_a_follow_up_status_ends_the_overdue_reminder(status: str) -> None:
    today = DAY0 + dt.timedelta(days=365 * 12)  # last seen 11 years ago
    assert "overdue follow-up" in names(problems_of(today=today))
    assert "overdue follow-up" not in names(problems_of(today=today, followup=(400, status)))


def test_protocol_windows_after_the_follow_up_status_are_not_missing() -> None:
    # lost on day 150: the 6-month (ends day 227) and 1-year windows are not chased; day 100 still is
    found = names(problems_of(visits={}, followup=(150, "LOST")))
    assert "missing day-100 visit" in found
    assert "missing 6-month visit" not in found and "missing 1-year visit" not in found


def test_key_field_problems_use_the_data_dictionary_labels() -> None:
    [(problem, detail)] = problems_of(gd_lesions_baseline=None)
    assert problem == "missing Gd-enhancing lesions at baseline"
    assert detail == "Gd-enhancing lesions at baseline is empty on the first transplant record"
    assert "gd_lesions_baseline" not in " ".join(PROBLEMS)
