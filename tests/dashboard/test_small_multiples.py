"""Survival and engraftment figures with many groups are small multiples: one panel per group,
the group's curve in one colour against the pooled curve in grey, its number at risk under it.

Pure figure tests through `fig.to_dict()`; the page views (twelve demo centres) are covered by
the layout browser test (no text overlap at 1280 and 1920 px).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.figures import cumulative_incidence_figure, engraftment_figure, km_figure
from dashboard.figures.facets import GROUP_COLOUR, POOLED_COLOUR, facet_columns
from dashboard.figures.style import MANY_GROUPS, OKABE_ITO
from registry.security.disclosure import release_for

DAYS = [0, 365, 730, 1096, 1461, 1826]


def _cohort(n_groups: int, *, sizes: dict[int, int] | None = None, events: dict[int, int] | None = None):  # type: ignore[no-untyped-def]
    """Curves and risk tables of `n_groups` centres (C01...), and the pooled curve."""
    sizes = sizes or {}
    events = events or {}
    curves, risk = [], []
    for i in range(n_groups):
        g = f"C{i + 1:02d}"
        n = sizes.get(i, 40)
        e = events.get(i, 8)
        t = np.linspace(60, 1800, 10)
        est = np.linspace(0.98, 0.7 + 0.01 * i, 10)
        curves.append(pd.DataFrame({"group": g, "time": t, "estimate": est, "lower": est - 0.08, "upper": est + 0.05,
                                    "n_risk": np.linspace(n, 10, 10).round(), "n_event": [e // 2, e - e // 2] + [0] * 8,
                                    "n_censor": [0, 0, 1, 0, 1, 0, 0, 1, 0, 0]}))
        risk.append(pd.DataFrame({"group": g, "time": DAYS, "n_risk": [n, n - 8, n - 16, n - 21, n - 26, n - 30],
                                  "n_event": [0, 2, 4, 5, 6, 7], "n_censor": [0, 6, 12, 16, 20, 23]}))
    t = np.linspace(30, 1800, 25)
    pooled = pd.DataFrame({"group": "All patients", "time": t, "estimate": np.linspace(0.99, 0.75, 25),
                           "lower": 0.7, "upper": 0.99, "n_risk": np.linspace(480, 100, 25).round(), "n_event": 4})
    return pd.concat(curves, ignore_index=True), pd.concat(risk, ignore_index=True), pooled


def _panels(d: dict) -> list[str]:
    return [a["text"] for a in d["layout"]["annotations"] if str(a.get("name", "")).startswith("panel ")]


def _curve_traces(d: dict) -> list[dict]:
    """The drawn curves (not bands, censor ticks, text rows or the empty legend entries)."""
    return [t for t in d["data"] if t.get("mode") == "lines" and t.get("x") and t["x"][0] is not None
            and "CI" not in t.get("name", "")]


def test_twelve_groups_make_twelve_panels_each_one_coloured_curve_against_the_grey_pooled_one() -> None:
    curves, risk, pooled = _cohort(12)
    d = km_figure(curves, risk, title="Overall survival by centre", caption="c", pooled=pooled,
                  test_text="Log-rank p = 0.2").to_dict()
    assert _panels(d) == [f"C{i:02d}" for i in range(1, 13)]
    x_axes = [k for k in d["layout"] if k.startswith("xaxis")]
    assert len(x_axes) == 12 and facet_columns(12) == 3
    lines = _curve_traces(d)
    grey = [t for t in lines if t["line"]["color"] == POOLED_COLOUR]
    coloured = [t for t in lines if t["line"]["color"] != POOLED_COLOUR]
    assert len(grey) == 12 and len(coloured) == 12  # per panel: its group and the pooled curve
    assert {t["line"]["color"] for t in coloured} == {GROUP_COLOUR} == {OKABE_ITO[0]}  # one safe colour
    # each panel's own curve sits on its own axes, with the pooled curve beside it
    assert sorted({t.get("xaxis", "x") for t in coloured}) == sorted({t.get("xaxis", "x") for t in grey})
    assert len({t.get("xaxis", "x") for t in coloured}) == 12
    # axes shared: every panel shows the same time span and the same y scale
    assert all(d["layout"][k].get("matches") == "x" for k in x_axes if k != "xaxis")
    legend = [t["name"] for t in d["data"] if t.get("showlegend") is not False]
    assert legend == ["The panel's group (95% CI band)", "All patients (pooled)"]
    assert any(a.get("name") == "test" and a["text"] == "Log-rank p = 0.2" for a in d["layout"]["annotations"])
    # a number-at-risk row under every panel, starting with the group's size
    at_risk = [t for t in d["data"] if t.get("mode") == "text"]
    assert len(at_risk) == 12 and at_risk[0]["text"][0] == "40" and at_risk[0]["meta"] == {"msreg_counts": ["text"]}


def test_up_to_six_groups_stay_on_one_plot() -> None:
    curves, risk, pooled = _cohort(MANY_GROUPS)
    d = km_figure(curves, risk, title="t", caption="c", pooled=pooled).to_dict()
    assert _panels(d) == [] and not any(t.get("line", {}).get("color") == POOLED_COLOUR for t in d["data"])
    assert len({t["line"]["color"] for t in _curve_traces(d)}) == MANY_GROUPS


def test_small_multiples_keep_the_disclosure_rules_of_the_one_plot_figure() -> None:
    """A bound role: a group under 5 patients and one with 1–4 events get no curve (said in the
    panel), every number at risk is released, no censor ticks; the pooled curve is drawn."""
    curves, risk, pooled = _cohort(8, sizes={2: 3}, events={5: 2})
    risk.loc[risk["group"] == "C03", "n_risk"] = [3, 2, 1, 1, 0, 0]
    curves = curves[curves["group"] != "C03"]  # a suppressed group has no estimator table
    release = release_for("governance", 5)
    d = km_figure(curves, risk, title="t", caption="c", pooled=pooled, release=release).to_dict()
    notes = {a["name"]: a["text"] for a in d["layout"]["annotations"] if str(a.get("name", "")).startswith("no curve ")}
    assert notes == {"no curve C03": "No curve: fewer than 5 patients", "no curve C06": "No curve: fewer than 5 events"}
    drawn = {t["name"] for t in _curve_traces(d) if t["line"]["color"] == GROUP_COLOUR}
    assert "C03" not in drawn and "C06" not in drawn and len(drawn) == 6
    texts = [v for t in d["data"] if t.get("mode") == "text" for v in t["text"]]
    assert texts and all(v == "<5" or int(v) % 5 == 0 for v in texts)
    assert not any("censor" in t.get("name", "") for t in d["data"])
    assert sum(t["line"]["color"] == POOLED_COLOUR for t in _curve_traces(d)) == 8


def test_the_pooled_curve_resting_on_few_events_is_not_drawn_for_bound_roles() -> None:
    curves, risk, pooled = _cohort(8)
    pooled = pooled.assign(n_event=0)
    pooled.loc[0, "n_event"] = 3
    d = km_figure(curves, risk, title="t", caption="c", pooled=pooled, release=release_for("researcher", 5)).to_dict()
    assert not any(t.get("line", {}).get("color") == POOLED_COLOUR for t in d["data"])
    assert any("No pooled curve: fewer than 5 events" in a["text"] for a in d["layout"]["annotations"])


@pytest.mark.parametrize("figure", [km_figure, cumulative_incidence_figure])
def test_every_panel_has_its_number_at_risk_under_its_own_time_axis(figure) -> None:  # type: ignore[no-untyped-def]
    curves, risk, pooled = _cohort(9)
    d = figure(curves, risk, title="t", caption="c", pooled=pooled).to_dict()
    rows = [t for t in d["data"] if t.get("mode") == "text"]
    assert len(rows) == 9
    for row in rows:
        axis = d["layout"]["yaxis" + row["yaxis"][1:]]
        panel_axis = d["layout"]["xaxis" + row.get("xaxis", "x")[1:]]
        assert axis["anchor"] == row.get("xaxis", "x") and axis["domain"][1] < d["layout"][
            "yaxis" + panel_axis["anchor"][1:]]["domain"][0]  # under the panel it belongs to
    assert d["layout"]["yaxis"]["range"][0] == 0.0


def test_engraftment_by_twelve_centres_is_small_multiples_in_days() -> None:
    curves, _, pooled = _cohort(12)
    curves = curves.assign(time=curves["time"] / 60, estimate=1 - curves["estimate"])
    pooled = pooled.assign(time=pooled["time"] / 60, estimate=1 - pooled["estimate"])
    d = engraftment_figure(curves, title="Neutrophil engraftment by centre", caption="c", pooled=pooled).to_dict()
    assert len(_panels(d)) == 12
    assert [a["text"] for a in d["layout"]["annotations"] if a.get("name") == "x title"] == ["Days since transplant"]
    assert d["layout"]["xaxis"]["range"] == [0.0, 42.0]
    assert sum(t["line"]["color"] == POOLED_COLOUR for t in _curve_traces(d)) == 12
