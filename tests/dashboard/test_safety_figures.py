"""The Safety page's new figures and tables, as the browser receives them (Plotly JSON, frames)."""

from __future__ import annotations

from registry.security.disclosure import release_for

import numpy as np
import pandas as pd
import pytest

from analytics.benchmarking import benchmark, signal_threshold
from dashboard.figures.benchmark import benchmark_funnel_figure, signal_limits
from dashboard.figures.competing import stacked_incidence_figure
from dashboard.safety_views import benchmark_table, competing_curves


def registry(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for centre, n, rate in (("A", 200, 0.0003), ("B", 150, 0.0003), ("C", 120, 0.003), ("D", 40, 0.0003), ("E", 3, 0.0)):
        days = np.floor(np.minimum(rng.exponential(1 / max(rate, 1e-9), n), rng.uniform(100, 800, n)))
        event = (days < 800) & (rng.uniform(size=n) < 0.5) if rate else np.zeros(n, bool)
        rows.append(pd.DataFrame({"centre_code": centre, "trm_days": days, "trm_status": event.astype(int),
                                  "os_days": days, "os_event": event.astype(int), "age_at_transplant": 40,
                                  "baseline_edss": 3.0, "phenotype": "RRMS", "conditioning_intensity": "HIGH"}))
    return pd.concat(rows, ignore_index=True)


def test_the_funnel_limit_is_the_smallest_o_e_that_signals() -> None:
    expected = np.array([0.5, 1.0, 2.5, 7.0])
    limits = signal_limits(expected, 0.025)
    for e, lim in zip(expected, limits, strict=True):
        assert lim * e == signal_threshold(e, 0.025)


def test_the_funnel_draws_tested_centres_and_colours_signals() -> None:
    result = benchmark(registry(), "trm", adjusted=False)
    spec = benchmark_funnel_figure(result.table, level=0.025, title="t", caption="c").to_dict()
    centres = next(t for t in spec["data"] if t["name"] == "Centres")
    assert "E" not in centres["text"]  # three patients: not tested, not drawn
    drawn = [c[2] for c in centres["customdata"]]
    assert [t for t in centres["text"] if t] == [c for c, f in zip(drawn, centres["customdata"], strict=True) if f[0] == "signal"]
    signalled = result.table.set_index("centre_code").loc[drawn, "signal"].tolist()
    assert [c[0] == "signal" for c in centres["customdata"]] == signalled


def test_the_funnel_does_not_draw_a_centre_whose_count_is_hidden() -> None:
    result = benchmark(registry(), "trm", adjusted=False)
    spec = benchmark_funnel_figure(result.table, level=0.025, title="t", caption="c", hidden=frozenset({"D"})).to_dict()
    centres = next(t for t in spec["data"] if t["name"] == "Centres")
    assert "D" not in centres["text"]
    assert "not drawn" in spec["layout"]["annotations"][0]["text"]


def test_hidden_counts_hide_the_values_that_would_reveal_them() -> None:
    result = benchmark(registry(), "trm", adjusted=False)
    table, hidden = benchmark_table(result, release_for("governance"))
    rows = table.set_index("Centre")
    small = [c for c, e in zip(result.table["centre_code"], result.table["events"], strict=True) if 1 <= e <= 4]
    for centre in small:
        assert centre in hidden
        assert rows.loc[centre, ["Events", "O/E (95% CI)", "p (one-sided)", "Estimate (95% CI)"]].tolist() == ["<5", "—", "—", "—"]
    assert rows.loc["E", "Patients"] == "<5" and rows.loc["E", "Signal"] == "not tested"
    admin, none_hidden = benchmark_table(result, release_for("admin"))
    assert not none_hidden and "<5" not in set(admin["Events"])


def test_a_centre_without_events_shows_its_exact_upper_bound() -> None:
    frame = registry()
    frame.loc[frame["centre_code"] == "B", "trm_status"] = 0
    table, _ = benchmark_table(benchmark(frame, "trm", adjusted=False), release_for("admin"))
    assert table.set_index("Centre").loc["B", "Estimate (95% CI)"].startswith("0% (upper bound ")


def test_stacked_incidence_adds_the_competing_causes_up_to_all_cause_mortality() -> None:
    rng = np.random.default_rng(2)
    n = 300
    days = np.floor(rng.uniform(1, 1500, n))
    status = rng.choice([0, 1, 2], n, p=[0.8, 0.08, 0.12])
    curves = competing_curves(pd.DataFrame({"trm_days": days, "trm_status": status}))
    assert curves["time"].max() < days.max()  # stops where fewer than 5 are at risk
    spec = stacked_incidence_figure(curves, title="t", caption="c", labels=("TRM", "Other")).to_dict()
    first, top = spec["data"][0]["y"], spec["data"][1]["y"]
    from analytics.kaplan_meier import KaplanMeier

    km = KaplanMeier().fit(days, (status > 0).astype(int)).at([curves["time"].iloc[-1]])
    assert top[-1] == pytest.approx(100 * (1 - km["estimate"].iloc[0]), abs=1e-3)
    assert all(a <= b + 1e-9 for a, b in zip(first, top, strict=True))
