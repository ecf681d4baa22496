"""The Safety page's competing-risks and benchmarking sections, as pure table builders plus
render functions (kept out of the page module so each section is one call there).

Decisions:
- Centre benchmarking is analytics.benchmarking's (the same numbers as `msreg benchmark`):
  Aalen–Johansen / Kaplan–Meier estimates from every patient, observed against case-mix
  expected numbers, a signal on the exact one-sided Poisson p. It always runs on the whole
  registry the viewer may see (the sidebar's cohort filter would change the case-mix model).
- For viewers who see aggregates only (governance, researchers), event counts of 1–4 go through
  the viewer's release (registry.security.disclosure): 1–4 hidden, the rest rounded; beside a hidden count the
  estimate, O/E and p-value are hidden too (each gives the count away with the patients or the
  expected number), and the funnel does not draw that centre.
- TRM by group: Gray's test (cumulative incidence) beside the cause-specific log-rank test
  (analytics.comparisons, as `msreg compare trm`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from analytics.aalen_johansen import cumulative_incidence
from analytics.benchmarking import BenchmarkResult, centre_sentence
from analytics.comparisons import compare_endpoint
from analytics.estimates import drawn_part
from dashboard import analysis
from dashboard.downloads import show_figure
from dashboard.figures.style import MANY_GROUPS
from dashboard.labels import for_display, relabel_result, test_label
from registry.security.disclosure import Release

MIN_AT_RISK = 5
BENCHMARK_MEASURES: dict[str, str] = {
    "Early mortality (all-cause death by day 100)": "early_mortality",
    "Transplant-related mortality by 1 year": "trm",
}


def competing_curves(df: pd.DataFrame, *, min_at_risk: int = MIN_AT_RISK) -> pd.DataFrame:
    """``time, first, second``: Aalen–Johansen incidence of TRM (status 1) and of other deaths
    (status 2), up to the last time with at least ``min_at_risk`` patients at risk."""
    d = df[df["trm_days"].notna() & df["trm_status"].notna()]
    if len(d) < min_at_risk:
        return pd.DataFrame(columns=["time", "first", "second"])
    t = d["trm_days"].astype(float).to_numpy()
    s = d["trm_status"].astype(int).to_numpy()
    first = cumulative_incidence(t, s, cause=1).table_[["time", "estimate", "n_risk"]]
    second = cumulative_incidence(t, s, cause=2).table_[["time", "estimate"]]
    out = pd.DataFrame({"time": first["time"], "first": first["estimate"], "second": second["estimate"].to_numpy(),
                        "n_risk": first["n_risk"]})
    return drawn_part(out, min_at_risk).drop(columns=["n_risk"]).reset_index(drop=True)


def benchmark_table(result: BenchmarkResult, release: Release) -> tuple[pd.DataFrame, frozenset[str]]:
    """The per-centre table as shown (strings) and the centres whose counts are hidden.

    Counts go through the viewer's release (registry.security.disclosure): exact for roles that see
    patient codes; for aggregate-only roles 1-4 read "<5" and the rest are rounded, and beside a
    hidden event count the estimate, O/E and p are hidden too (they would give it back)."""
    table = result.table
    hidden = frozenset(c for c, e in zip(table["centre_code"], table["events"], strict=True)
                       if not release.estimate_shown(int(e)))
    rows = []
    for _, r in table.iterrows():
        centre = r["centre_code"]
        tested = bool(r["tested"])
        hide = centre in hidden
        rows.append({
            "Centre": centre,
            "Patients": release.text(int(r["patients"])),
            "Events": release.text(int(r["events"])),
            "Estimate (95% CI)": _estimate_text(r) if tested and not hide else "—",
            "Expected": f"{r['expected']:.1f}" if tested else "—",
            "O/E (95% CI)": (f"{r['o_e']:.2f} ({r['o_e_lower']:.2f}–{r['o_e_upper']:.2f})"
                             if tested and not hide and np.isfinite(r["o_e"]) else "—"),
            "p (one-sided)": f"{r['p_value']:.3f}" if tested and not hide else "—",
            "Signal": ("yes" if r["signal"] else "no") if tested else "not tested",
        })
    return pd.DataFrame(rows), hidden


def _estimate_text(r: pd.Series) -> str:
    if r["estimate"] is None or math.isnan(r["estimate"]):
        return "not estimable"
    if r["estimate"] == 0:
        return f"0% (upper bound {100 * r['upper']:.1f}%)"
    return analysis.format_estimate(r["estimate"], r["lower"], r["upper"])


def render_trm_comparison(ctx, df: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    """TRM by a grouping factor: Gray's test and the cause-specific log-rank test."""
    from dashboard import data
    from dashboard.figures import cumulative_incidence_figure

    st.subheader("Transplant-related mortality by group")
    options = {k: v for k, v in analysis.GROUPINGS.items() if v is not None}
    label = st.selectbox("Compare TRM by", list(options), key="sf_trm_by", bind="query-params")  # linkable
    by = options[label]
    res = relabel_result(data.survival(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), "trm", by), by)
    pooled = (data.survival(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), "trm", None).curves
              if len(res.groups) > MANY_GROUPS else None)  # grey in every panel of small multiples
    tests = compare_endpoint(df, "trm", by, min_group_size=ctx.settings.min_group_size)
    gray = tests.set_index("test").loc["gray"]
    extra = (f"Gray's test p = {gray['p_value']:.3g} (cumulative incidence); " if not pd.isna(gray["p_value"]) else "")
    show_figure(
        cumulative_incidence_figure(res.curves, res.risk, title=f"Transplant-related mortality by {label.lower()}",
                                    caption=ctx.caption(len(df), extra + "Aalen–Johansen; other deaths compete."),
                                    min_group_size=ctx.settings.min_group_size, release=ctx.release, pooled=pooled),
        key="safety_trm_by",
    )
    shown = tests.assign(
        test=tests["test"].map(test_label),
        statistic=tests["statistic"].map(lambda v: "—" if pd.isna(v) else f"{v:.2f}"),
        p_value=tests["p_value"].map(lambda v: "—" if pd.isna(v) else f"{v:.3g}"),
    )[["test", "statistic", "df", "p_value"]]
    st.dataframe(for_display(shown), hide_index=True, width="stretch")
    st.caption("Gray's test compares the cumulative incidence curves (what the figure shows); the cause-specific "
               "log-rank test compares the rate of transplant-related death among patients still alive. Groups "
               f"under {ctx.settings.min_group_size} patients are left out.")


def render_stacked_incidence(ctx, df: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    from dashboard.figures.competing import stacked_incidence_figure

    curves = competing_curves(df, min_at_risk=ctx.settings.min_group_size)
    if curves.empty:
        return
    show_figure(
        stacked_incidence_figure(curves, title="Deaths after transplant: transplant-related and other causes",
                                 labels=("Transplant-related", "Other causes"),
                                 caption=ctx.caption(len(df), "Aalen–Johansen cumulative incidence of each cause, "
                                                     "stacked: the top edge is all-cause mortality. Curves stop where "
                                                     f"fewer than {ctx.settings.min_group_size} patients are at risk.")),
        key="safety_stacked",
    )


def render_benchmark(ctx) -> None:  # type: ignore[no-untyped-def]
    """Centres against the registry: O/E funnel, the per-centre table and one sentence each."""
    from dashboard.figures.benchmark import benchmark_funnel_figure

    st.subheader("Centres against the registry")
    left, right = st.columns([3, 1])
    metric = left.radio("Measure", list(BENCHMARK_MEASURES), key="sf_metric", horizontal=True)
    adjusted = right.toggle("Adjust for case mix", value=True, key="sf_adjusted")
    measure = BENCHMARK_MEASURES[metric]
    from dashboard import data

    result = data.benchmark(ctx.url, ctx.scope, ctx.version, ctx.settings_key, measure, adjusted)
    table, hidden = benchmark_table(result, ctx.release)
    od = result.overdispersion
    spread = ""
    if od["df"] >= 1 and np.isfinite(od["p_value"]):
        spread = (f" Overdispersion check: χ² {od['chisq']:.1f} on {int(od['df'])} df, p = {od['p_value']:.3f}"
                  + (" — centres differ more than chance allows; read single signals with care." if od["p_value"] < 0.05
                     else " (no excess spread)."))
    show_figure(
        benchmark_funnel_figure(result.table, level=result.level, title=f"{metric}: observed against expected, by centre",
                                caption=ctx.caption(int(result.table["patients"].sum()), result.describe() + "." + spread),
                                hidden=hidden),
        key="safety_funnel",
    )
    for note in result.notes:
        st.info(analysis.release_counts_in_text(note, ctx.release))
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(
        f"Estimate: the centre's own {'Aalen–Johansen' if measure == 'trm' else 'Kaplan–Meier'} probability by day "
        f"{result.at}, from every patient (none dropped for short follow-up); where no event occurred, the exact "
        f"one-sided upper bound. Expected: what the centre's patients would have had with the registry's "
        f"{'case-mix-adjusted ' if result.adjusted else ''}risk over the time each was followed. Signal: exact one-sided "
        f"Poisson p < {result.level:g}; about {result.expected_false_signals:.2f} false signal(s) expected by chance among "
        f"{result.n_tested} centres."
        + ("" if ctx.release.exact else f" {ctx.release.footnote(len(hidden))} Beside a hidden count the values that would reveal it are hidden too.")
    )
    with st.expander("What each centre's result means", expanded=bool(result.table["signal"].any())):
        for _, row in result.table.iterrows():
            text = ctx.release.text(int(row["events"])) if not ctx.release.exact else None
            st.markdown("- " + centre_sentence(row, result, events_text=text))
