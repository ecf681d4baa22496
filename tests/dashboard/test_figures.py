"""The dashboard's figures, checked through `fig.to_dict()` without Streamlit.

Each test states one rule of the figure conventions (KMunicate style) or of the disclosure policy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.figures import (
    cumulative_incidence_figure,
    forest_figure,
    funnel_figure,
    funnel_limits,
    km_figure,
    patient_timeline_figure,
    serious_ae_figure,
    transplants_per_year_figure,
)
from dashboard.figures.counts import time_window
from dashboard.figures.style import OKABE_ITO

Y = 365.25


def _curves() -> tuple[pd.DataFrame, pd.DataFrame]:
    curves = pd.DataFrame(
        {
            "group": ["A", "A", "A", "B", "B", "B", "C"],
            "time": [100, 400, 800, 200, 365, 900, 50],
            "estimate": [0.9, 0.8, 0.8, 0.95, 0.7, 0.7, 0.5],
            "lower": [0.8, 0.65, 0.65, 0.85, 0.5, 0.5, 0.1],
            "upper": [0.97, 0.9, 0.9, 0.99, 0.85, 0.85, 0.9],
            "n_censor": [0, 0, 3, 0, 1, 2, 1],
        }
    )
    risk = pd.DataFrame(
        {
            "group": ["A"] * 3 + ["B"] * 3 + ["C"] * 3,
            "time": [0, 365, 730] * 3,
            "n_risk": [10, 8, 4, 20, 15, 9, 3, 1, 0],
            "n_event": [0, 1, 2, 0, 3, 6, 0, 1, 1],
            "n_censor": [0, 1, 4, 0, 2, 5, 0, 1, 2],
        }
    )
    return curves, risk


def _traces(fig, name):  # type: ignore[no-untyped-def]
    return [t for t in fig.to_dict()["data"] if t.get("name") == name]


def test_km_curve_is_a_step_line_starting_at_time_zero_and_100_percent():
    curves, risk = _curves()
    fig = km_figure(curves, risk, title="RFS", caption="All centres; confirmation 182 days")
    (line,) = _traces(fig, "A")
    assert line["line"]["shape"] == "hv"
    assert line["type"] == "scatter"  # not scattergl: bands must fill under WebGL-free traces
    assert (line["x"][0], line["y"][0]) == (0.0, 1.0)
    assert line["x"][1] == pytest.approx(100 / Y)  # x axis in years since transplant


@pytest.mark.parametrize("min_group_size, last_day_shown", [(5, 400), (3, 800), (10, 100)])
def test_km_curve_ends_at_the_last_time_with_enough_patients_at_risk(min_group_size, last_day_shown):
    curves, risk = _curves()
    curves["n_risk"] = [12, 6, 4, 20, 15, 9, 3]
    fig = km_figure(curves, risk, title="RFS", caption="c", min_group_size=min_group_size)
    (line,) = _traces(fig, "A")
    assert line["x"][-1] == pytest.approx(last_day_shown / Y)


def test_km_confidence_band_is_lower_then_upper_filled_tonexty():
    curves, risk = _curves()
    data = km_figure(curves, risk, title="t", caption="c").to_dict()["data"]
    names = [t.get("name") for t in data]
    lower, upper = names.index("A 95% CI lower"), names.index("A 95% CI")
    assert upper == lower + 1
    assert data[upper]["fill"] == "tonexty" and "fill" not in data[lower]
    assert data[lower]["line"]["shape"] == data[upper]["line"]["shape"] == "hv"
    assert all(t.get("fill") != "toself" for t in data)


def test_km_censor_ticks_are_a_marker_trace_at_the_censoring_times():
    curves, risk = _curves()
    (ticks,) = _traces(km_figure(curves, risk, title="t", caption="c"), "A censor ticks")
    assert ticks["mode"] == "markers"
    assert ticks["x"] == pytest.approx([800 / Y])
    assert ticks["y"] == [0.8]


def test_km_risk_table_shows_at_risk_events_censored_under_the_plot():
    curves, risk = _curves()
    fig = km_figure(curves, risk, title="t", caption="c")
    (at_risk,) = _traces(fig, "B at risk")
    assert at_risk["mode"] == "text" and at_risk["xaxis"] == "x2" and at_risk["yaxis"] == "y2"
    assert at_risk["text"] == ["20", "15", "9"]
    assert _traces(fig, "B events")[0]["text"] == ["0", "3", "6"]
    assert _traces(fig, "B censored")[0]["text"] == ["0", "2", "5"]
    layout = fig.to_dict()["layout"]
    assert layout["xaxis"].get("matches") == "x2" or layout["xaxis2"].get("matches") == "x"


def test_km_group_under_five_patients_has_no_curve_and_shows_suppressed_counts():
    curves, risk = _curves()
    fig = km_figure(curves, risk, title="t", caption="c")
    assert _traces(fig, "C") == [] and _traces(fig, "C 95% CI") == []
    assert set(_traces(fig, "C at risk")[0]["text"]) == {"<5"}
    assert set(_traces(fig, "C events")[0]["text"]) == {"<5"}
    captions = " ".join(a["text"] for a in fig.to_dict()["layout"]["annotations"])
    assert "No curve for C" in captions


def test_km_y_axis_in_percent_palette_okabe_ito_and_caption_written():
    curves, risk = _curves()
    fig = km_figure(curves, risk, title="Relapse-free survival", caption="Cohort: 30 patients; confirmation 182 days")
    d = fig.to_dict()
    assert d["layout"]["yaxis"]["tickformat"] == ".0%"
    assert d["layout"]["xaxis"]["title"]["text"] == "Years since transplant"
    assert _traces(fig, "A")[0]["line"]["color"] == OKABE_ITO[0]
    assert _traces(fig, "B")[0]["line"]["color"] == OKABE_ITO[1]
    assert any("confirmation 182 days" in a["text"] for a in d["layout"]["annotations"])
    assert d["layout"]["title"]["text"] == "Relapse-free survival"


def test_km_missing_log_log_limits_close_the_band_at_the_estimate():
    curves = pd.DataFrame({"group": ["all"] * 2, "time": [10, 20], "estimate": [0.5, 0.0],
                           "lower": [0.2, np.nan], "upper": [0.8, np.nan], "n_censor": [0, 0]})
    risk = pd.DataFrame({"group": ["all"] * 2, "time": [0, 365], "n_risk": [6, 0], "n_event": [0, 6], "n_censor": [0, 0]})
    fig = km_figure(curves, risk, title="t", caption="c")
    assert _traces(fig, "all 95% CI")[0]["y"][-1] == 0.0
    assert _traces(fig, "all at risk")[0]["text"] == ["6", "0"]
    assert fig.to_dict()["layout"]["yaxis2"]["categoryarray"] == ["Censored", "Events", "At risk"]


def test_cumulative_incidence_rises_from_zero_and_fits_the_axis_to_the_data():
    curves = pd.DataFrame({"group": ["all"] * 2, "time": [30, 90], "estimate": [0.01, 0.02],
                           "lower": [0.002, 0.01], "upper": [0.03, 0.04]})
    risk = pd.DataFrame({"group": ["all"] * 2, "time": [0, 365], "n_risk": [100, 80], "n_event": [0, 2], "n_censor": [0, 18]})
    fig = cumulative_incidence_figure(curves, risk, title="TRM", caption="c")
    (line,) = _traces(fig, "all")
    assert (line["y"][0], line["line"]["shape"]) == (0.0, "hv")
    assert fig.to_dict()["layout"]["yaxis"]["range"][1] < 0.2
    assert not any("censor ticks" in (t.get("name") or "") for t in fig.to_dict()["data"])


def test_forest_plot_has_log_axis_whiskers_and_reference_line_at_one():
    hr = pd.DataFrame({"term": ["age (per 10 y)", "SPMS vs RRMS"], "hr": [1.2, 2.0], "lower": [0.9, 1.1],
                       "upper": [1.6, 3.6], "p": [0.2, 0.0004]})
    d = forest_figure(hr, title="Cox model", caption="c").to_dict()
    assert d["layout"]["xaxis"]["type"] == "log"
    assert list(d["layout"]["xaxis"]["tickvals"]) == [0.5, 1, 2, 5]
    point = d["data"][0]
    assert point["error_x"]["array"] == pytest.approx([0.4, 1.6])
    assert point["error_x"]["arrayminus"] == pytest.approx([0.3, 0.9])
    (ref,) = [s for s in d["layout"]["shapes"] if s.get("name") == "no effect"]
    assert ref["x0"] == ref["x1"] == 1
    assert "2.00 (1.10–3.60), p=<0.001" in d["data"][1]["text"]


def test_funnel_limits_widen_for_small_centres_and_contain_the_rate():
    n = np.array([10, 100, 1000])
    lo95, hi95 = funnel_limits(0.05, n, 0.95)
    lo998, hi998 = funnel_limits(0.05, n, 0.998)
    assert np.all(np.diff(hi95) < 0) and np.all(lo95 <= 0.05) and np.all(hi95 >= 0.05)
    assert np.all(hi998 >= hi95) and np.all(lo998 <= lo95)
    # Large n: close to the normal approximation p ± 1.96 sqrt(p(1-p)/n).
    assert hi95[-1] == pytest.approx(0.05 + 1.96 * np.sqrt(0.05 * 0.95 / 1000), abs=0.003)


def test_funnel_flags_outlying_centres_and_hides_tiny_ones():
    centres = pd.DataFrame({"centre_code": ["AAA", "BBB", "CCC", "TINY"], "n": [200, 150, 100, 3],
                            "events": [25, 20, 30, 1]})
    fig = funnel_figure(centres, title="TRM at 1 year", caption="c", rate_label="TRM")
    (points,) = _traces(fig, "Centres")
    assert points["text"] == ["AAA", "BBB", "CCC"]
    assert [c[1] for c in points["customdata"]] == ["within limits", "within limits", "outside 99.8%"]
    assert _traces(fig, "Registry rate 16.8%")
    assert len(_traces(fig, "95% limits")) == 2 and len(_traces(fig, "99.8% limits")) == 2
    assert any("fewer than 5 transplants" in a["text"] for a in fig.to_dict()["layout"]["annotations"])


def test_transplants_per_year_stacks_one_bar_trace_per_centre():
    counts = pd.DataFrame({"transplant_year": [2020, 2021, 2021], "centre_code": ["B", "A", "B"], "n": [3, 4, 5]})
    d = transplants_per_year_figure(counts, title="t", caption="c").to_dict()
    assert d["layout"]["barmode"] == "stack"
    assert [(t["name"], list(t["y"])) for t in d["data"]] == [("A", [4]), ("B", [3, 5])]


def test_serious_ae_figure_counts_by_category_and_time_window_by_grade():
    events = pd.DataFrame({"category": ["INFECTION", "INFECTION", "MALIGNANCY"], "grade": [3, 4, 3],
                           "days": [10, 400, 1000]})
    d = serious_ae_figure(events, title="t", caption="c").to_dict()
    grade3 = [t for t in d["data"] if t["name"] == "Grade 3"]
    # categories in words (the data dictionary), not codes
    assert list(grade3[0]["y"]) == ["Infection", "Malignancy"] and list(grade3[0]["x"]) == [1, 1]
    assert grade3[1]["orientation"] == "h"  # time windows as horizontal bars too: long labels never collide
    assert list(grade3[1]["y"])[:5] == ["Day 0–30", "Day 31–100", "Day 101–365", "Year 1–2", "After year 2"]
    assert list(grade3[1]["x"]) == [1, 0, 0, 0, 1]
    assert list(time_window(pd.Series([0, 30, 31, 100, 365, 366, 731, -5]))) == [
        "Day 0–30", "Day 0–30", "Day 31–100", "Day 31–100", "Day 101–365", "Year 1–2", "After year 2", "Before day 0"]


def test_patient_timeline_draws_baseline_threshold_events_and_markers():
    fig = patient_timeline_figure(
        visits=pd.DataFrame({"day": [-30, 180, 365, 550], "edss": [3.0, 3.5, 4.0, 4.5]}),
        relapses=pd.DataFrame({"day": [200]}),
        mri=pd.DataFrame({"day": [90, 400], "new_t2": [1, 0], "gd_enhancing": [0, 2], "counts": [False, True]}),
        adverse_events=pd.DataFrame({"day": [12], "category": ["INFECTION"], "grade": [3]}),
        baseline_edss=3.0,
        delta=1.0,
        markers={"CDW": 365.0, "End of NEDA-3": 200.0, "Death": None},
        title="Patient S-123",
        caption="c",
    )
    names = [t.get("name") for t in fig.to_dict()["data"]]
    assert "Baseline b = 3" in names and "Worsening threshold b + δ(b) = 4" in names
    assert {"Relapse", "MRI active (counts for NEDA-3)", "MRI active (before re-baseline)", "Adverse event"} <= set(names)
    assert names.count("CDW") == 2 and names.count("Day 0") == 2 and "Death" not in names
    (edss,) = _traces(fig, "EDSS")
    assert edss["y"] == [3.0, 3.5, 4.0, 4.5]


def test_km_risk_table_keeps_only_at_risk_rows_for_more_than_four_groups():
    groups = [f"G{i}" for i in range(6)]
    curves = pd.DataFrame({"group": groups, "time": [100] * 6, "estimate": [0.9] * 6, "lower": [0.8] * 6,
                           "upper": [0.95] * 6, "n_censor": [0] * 6})
    risk = pd.DataFrame({"group": groups, "time": [0] * 6, "n_risk": [10] * 6, "n_event": [0] * 6, "n_censor": [0] * 6})
    fig = km_figure(curves, risk, title="t", caption="c")
    assert _traces(fig, "G0 at risk") and not _traces(fig, "G0 events") and not _traces(fig, "G0 censored")
    assert any("number at risk only" in a["text"] for a in fig.to_dict()["layout"]["annotations"])
    assert _traces(fig, "G5")[0]["line"]["color"] == OKABE_ITO[5]


def _serious_events() -> pd.DataFrame:
    rows = [("INFECTION", 3, 20)] * 12 + [("INFECTION", 4, 30)] * 2 + [("MALIGNANCY", 3, 900)] * 1 + [("OTHER", 3, 50)] * 7
    return pd.DataFrame(rows, columns=["category", "grade", "days"])


def _bar_values(fig) -> list:  # type: ignore[no-untyped-def]
    values = []
    for t in fig.to_dict()["data"]:
        if t["type"] == "bar":
            values += list(t["x"] if t.get("orientation") == "h" else t["y"])
    return values


def _hidden_marks(fig) -> list:  # type: ignore[no-untyped-def]
    return [v for t in fig.to_dict()["data"] if t.get("name") == "hidden cells" for v in t["text"]]


def test_serious_ae_figure_for_aggregate_roles_draws_no_count_from_1_to_4():
    fig = serious_ae_figure(_serious_events(), title="t", caption="c", min_cell=5)
    shown = _bar_values(fig)
    assert shown and not [v for v in shown if 1 <= v <= 4] and None not in shown
    assert _hidden_marks(fig) and set(_hidden_marks(fig)) == {"<5"}, "a small cell is marked, not just left out"
    assert any("hidden (counts below 5" in a["text"] for a in fig.to_dict()["layout"]["annotations"])


def test_serious_ae_figure_for_aggregate_roles_pools_grades_and_windows_before_hiding():
    rows = [("INFECTION", 3, 20)] * 12 + [("INFECTION", 4, 20)] * 3 + [("INFECTION", 5, 50)] * 4 + [("INFECTION", 3, 500)] * 8
    fig = serious_ae_figure(pd.DataFrame(rows, columns=["category", "grade", "days"]), title="t", caption="c", min_cell=5)
    d = fig.to_dict()
    time_traces = [t for t in d["data"] if t["type"] == "bar" and t.get("xaxis") == "x2"]
    assert [t["name"] for t in time_traces] == ["Grade 1–2", "Grade 3", "Grade 4–5"]
    assert list(time_traces[0]["y"]) == ["Up to day 100", "Day 101–365", "After year 1"]
    assert [list(t["x"]) for t in time_traces] == [[0, 0, 0], [10, 0, 10], [5, 0, 0]]  # 12→10, 8→10, 7→5
    assert _hidden_marks(fig) == [], "coarsening left no cell to hide"
    assert any("Coarsened" in a["text"] for a in d["layout"]["annotations"])


def test_serious_ae_figure_for_centre_users_draws_every_count():
    fig = serious_ae_figure(_serious_events(), title="t", caption="c")
    assert {1, 2} <= set(_bar_values(fig))


def _risk_texts(fig) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(v) for t in fig.to_dict()["data"] if t.get("mode") == "text" for v in t["text"]]


def test_km_risk_table_for_aggregate_roles_shows_small_counts_as_less_than_five():
    curves, risk = _curves()
    fig = km_figure(curves, risk, title="RFS", caption="c", hide_small_counts=True)
    texts = _risk_texts(fig)
    assert "<5" in texts and not [t for t in texts if t in {"1", "2", "3", "4"}]
    assert "10" in texts  # large counts stay (rounded to 5)
    names = [t.get("name") for t in fig.to_dict()["data"]]
    assert not [n for n in names if n and (n.endswith(" events") or n.endswith(" censored"))], "at risk only"


def test_km_risk_table_for_centre_users_shows_exact_counts():
    curves, risk = _curves()
    texts = _risk_texts(km_figure(curves, risk, title="RFS", caption="c"))
    assert "4" in texts and "1" in texts


def test_km_risk_table_is_black_text_in_labelled_rows():
    curves, risk = _curves()
    fig = km_figure(curves, risk, title="t", caption="c")
    for name in ("A at risk", "B events", "B censored"):
        (row,) = _traces(fig, name)
        assert row["textfont"]["color"] == "#222222"
    ticks = fig.to_dict()["layout"]["yaxis2"]["categoryarray"]
    assert "B · at risk" in ticks and "A · censored" in ticks


@pytest.mark.parametrize("figure, corner", [(km_figure, 0.03), (cumulative_incidence_figure, 0.97)])
def test_the_test_result_is_written_on_the_plot(figure, corner):
    curves, risk = _curves()
    fig = figure(curves, risk, title="t", caption="c", test_text="Log-rank p = 0.012")
    (note,) = [a for a in fig.to_dict()["layout"]["annotations"] if a.get("name") == "test"]
    assert note["text"] == "Log-rank p = 0.012" and note["xref"] == "x domain" and note["y"] == corner


@pytest.mark.parametrize(
    "max_days, step_days",
    [(300, 91), (1000, 183), (3000, 365), (7300, 730), (12000, 1826)],
)
def test_time_ticks_are_whole_fractions_of_years_at_any_follow_up(max_days, step_days):
    from dashboard.analysis import risk_times

    times = risk_times(max_days)
    assert times[0] == 0 and times[-1] <= max_days
    assert times[1] == step_days
    assert len(times) <= 14


def test_patient_timeline_draws_each_dmt_period_as_a_bar_before_and_after_day_0():
    fig = patient_timeline_figure(
        visits=pd.DataFrame({"day": [-30, 180], "edss": [3.0, 3.0]}),
        relapses=pd.DataFrame({"day": []}),
        mri=pd.DataFrame({"day": [], "new_t2": [], "gd_enhancing": [], "counts": []}),
        adverse_events=pd.DataFrame({"day": [], "category": [], "grade": []}),
        baseline_edss=3.0, delta=1.0, markers={}, title="t", caption="c",
        treatments=pd.DataFrame({"drug": ["NATALIZUMAB", "RITUXIMAB", "OCRELIZUMAB"], "start": [-900, 0, 400],
                                 "stop": [-60.0, 1.0, None], "stop_reason": ["AHSCT", None, None]}),
    )
    bars = [t for t in fig.to_dict()["data"] if t.get("y") is not None and list(t["y"]) == ["DMT", "DMT"]]
    assert [b["customdata"][0][0] for b in bars] == ["NATALIZUMAB", "RITUXIMAB", "OCRELIZUMAB"]
    assert [b["name"] for b in bars] == ["DMT before or at transplant", "DMT before or at transplant", "DMT after transplant"]
    assert bars[0]["customdata"][0][2] == "day -60 (AHSCT)" and bars[2]["customdata"][0][2] == "ongoing"
    assert bars[0]["x"][0] < 0 < bars[2]["x"][0] < bars[2]["x"][1]  # drawn on both sides of day 0, ongoing to the edge
    assert [b["showlegend"] for b in bars] == [True, False, True]


def test_funnel_for_aggregate_roles_leaves_out_centres_with_1_to_4_events_and_rounds_the_hover():
    from registry.security.disclosure import release_for

    centres = pd.DataFrame({"centre_code": ["AAA", "BBB", "FLO"], "n": [200, 150, 86], "events": [25, 20, 1]})
    gov = funnel_figure(centres, title="t", caption="c", rate_label="TRM", release=release_for("governance"))
    (points,) = _traces(gov, "Centres")
    assert points["text"] == ["AAA", "BBB"], "1 of 86 would be read off the hover text"
    assert [c[0] for c in points["customdata"]] == ["25", "20"] and [c[2] for c in points["customdata"]] == ["200", "150"]
    assert points["meta"]["msreg_counts"] == ["customdata.0", "customdata.2", "x"]
    assert any("FLO" in a["text"] and "fewer than 5 events" in a["text"] for a in gov.to_dict()["layout"]["annotations"])
    admin = funnel_figure(centres, title="t", caption="c", rate_label="TRM")
    assert _traces(admin, "Centres")[0]["text"] == ["AAA", "BBB", "FLO"]


def test_transplants_per_year_for_aggregate_roles_pools_centres_and_marks_hidden_years():
    from registry.security.disclosure import release_for

    counts = pd.DataFrame({"transplant_year": [2020, 2021, 2021, 2022], "centre_code": ["B", "A", "B", "A"], "n": [3, 4, 5, 2]})
    d = transplants_per_year_figure(counts, title="t", caption="c", release=release_for("researcher")).to_dict()
    bars = [t for t in d["data"] if t["type"] == "bar"]
    assert [(t["name"], list(t["y"]), list(t["text"])) for t in bars] == [("All centres", [0, 10, 0], ["<5", "10", "<5"])]
    marks = [t for t in d["data"] if t.get("name") == "All centres hidden"]
    assert list(marks[0]["x"]) == [2020, 2022] and set(marks[0]["text"]) == {"<5"}


def test_time_ticks_stand_over_the_risk_table_columns():
    curves, risk = _curves()
    xaxis = km_figure(curves, risk, title="t", caption="c").to_dict()["layout"]["xaxis"]
    assert xaxis["dtick"] == pytest.approx(365 / Y) and xaxis["tick0"] == 0
