"""The page computations that sit on top of analytics.estimates (pure, no Streamlit)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from dashboard import analysis


def test_risk_table_rows_add_up_to_the_group_size_at_every_time():
    days = np.array([0, 10, 100, 365, 400, 800, 800])
    status = np.array([1, 0, 1, 0, 2, 1, 0])
    rt = analysis.risk_table(days, status, [0, 365, 730], competing=True)
    assert list(rt["n_risk"]) == [7, 4, 2]  # time >= t, R's convention: a death on day 0 is at risk at 0
    assert list(rt["n_event"]) == [0, 2, 2]
    assert list(rt["n_competing"]) == [0, 0, 1]
    assert list(rt["n_censor"]) == [0, 1, 2]
    assert (rt["n_risk"] + rt["n_event"] + rt["n_competing"] + rt["n_censor"] == 7).all()


@pytest.mark.parametrize("max_days,expected", [(300, [0, 91, 183, 274]), (1000, [0, 183, 365, 548, 730, 913]),
                                               (3000, [round(k * 365.25) for k in range(9)])])
def test_risk_times_are_regular_whole_month_steps_within_follow_up(max_days, expected):
    assert analysis.risk_times(max_days) == expected


def test_filter_cohort_empty_selection_means_all():
    df = pd.DataFrame({"centre_code": ["A", "B", "C"], "phenotype": ["RRMS", "SPMS", "RRMS"],
                       "transplant_year": pd.array([2010, 2015, None], dtype="Int64")})
    assert len(analysis.filter_cohort(df)) == 3
    assert list(analysis.filter_cohort(df, centres=["A", "C"], phenotypes=["RRMS"])["centre_code"]) == ["A", "C"]
    assert list(analysis.filter_cohort(df, years=(2011, 2020))["centre_code"]) == ["B"]


def test_follow_up_completeness_clark_index_and_recent_contact():
    today = dt.date(2024, 1, 1)
    df = pd.DataFrame({
        "centre_code": ["A", "A", "A"],
        "day0": [dt.date(2020, 1, 1)] * 3,
        "lc_date": [dt.date(2023, 6, 1), dt.date(2021, 1, 1), dt.date(2020, 6, 1)],
        "death_date": [None, None, dt.date(2020, 6, 1)],
    })
    (row,) = analysis.follow_up_completeness(df, today).to_dict("records")
    assert row["patients"] == 3 and row["alive"] == 2
    assert row["seen_last_12m_pct"] == pytest.approx(50.0)
    observed = (dt.date(2023, 6, 1) - dt.date(2020, 1, 1)).days + 366 + 152
    potential = 2 * (today - dt.date(2020, 1, 1)).days + 152
    assert row["clark_c_pct"] == pytest.approx(100 * observed / potential)


def test_format_estimate():
    assert analysis.format_estimate(0.8734, 0.841, 0.9) == "87.3% (84.1–90.0)"
    assert analysis.format_estimate(math.nan, math.nan, math.nan) == "—"


@pytest.mark.parametrize("b,expected", [(0.0, 1.5), (1.0, 1.0), (5.5, 1.0), (6.0, 0.5)])
def test_minimum_change_follows_endpoints_md(b, expected):
    assert analysis.minimum_change(b, 5.5) == expected


def _os_frame(spec):
    return pd.DataFrame({"os_days": pd.array([t for t, _ in spec], dtype="Int64"),
                         "os_event": pd.array([e for _, e in spec], dtype="Int64")})


def test_a_median_from_the_undrawn_tail_is_not_reported():
    # 20 patients: 8 deaths early (curve at 60%), 8 censored, then the last 4 die late,
    # where only 4 remain at risk: the curve stops at 60%.
    spec = [(30 * (i + 1), 1) for i in range(8)] + [(400, 0)] * 8 + [(1000 + 100 * i, 1) for i in range(4)]
    groups = analysis.survival_curves(_os_frame(spec), "os").groups
    assert math.isnan(groups["median_days"].iloc[0])


def test_a_median_inside_the_drawn_curve_is_reported():
    spec = [(30 * (i + 1), 1) for i in range(15)] + [(900, 0)] * 5
    groups = analysis.survival_curves(_os_frame(spec), "os").groups
    assert groups["median_days"].iloc[0] == 300


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("sex U: 2 patient(s), 0 event(s) — left out", "sex U: <5 patient(s), 0 event(s) — left out"),
        ("17 event(s) for 8 model terms", "15 event(s) for 8 model terms"),
        ("phenotype PPMS: 106 patient(s), 4 event(s)", "phenotype PPMS: 105 patient(s), <5 event(s)"),
    ],
)
def test_counts_in_notes_are_released_for_aggregate_roles(text, shown):
    from registry.security.disclosure import release_for

    assert analysis.release_counts_in_text(text, release_for("governance")) == shown
    assert analysis.release_counts_in_text(text, release_for("admin")) == text


def test_the_checked_trm_model_has_cause_specific_and_fine_gray_ratios():
    from analytics.settings import EndpointSettings
    from tests.analytics.test_cox_checks import endpoints

    frame = endpoints(1500, seed=3)
    frame["trm_status"] = np.where(frame["trm_status"] == 0, 0, np.where(frame["baseline_edss"] >= 4, 1, frame["trm_status"]))
    model = analysis.cox_checked(frame, "trm", EndpointSettings())
    assert not model.hr.empty and not model.fine_gray.empty
    assert list(model.fine_gray["term"]) == list(model.hr["term"])
    assert model.ph["term"].iloc[-1] == "Global"
