"""Kaplan–Meier and cumulative-incidence figures in the KMunicate style (Morris et al. 2019).

Inputs are plain DataFrames so the figures can be tested without Streamlit or estimators:

- ``curves``: one row per distinct time per group, as an estimator's ``table_`` plus a
  ``group`` column: ``group, time`` (days since transplant), ``estimate, lower, upper``
  (probabilities) and optionally ``n_censor`` (censorings at that time, for the tick marks).
- ``risk_table``: ``group, time, n_risk, n_event, n_censor`` at regular times, where
  ``n_risk`` counts patients with time ≥ t (R's convention) and ``n_event``/``n_censor`` are
  cumulative counts before t, so the three add up to the group's size (with ``n_competing``,
  competing events before t, as a fourth row for cumulative incidence). The first time must be
  0, where ``n_risk`` is the group's size.

Why the figure (not only the page) enforces the minimum group size: the figure is what reaches
the browser, so it is the last place where a curve of three patients can be held back. Such a
group keeps its risk-table rows, with every count shown as ``<5``, and the caption says why it
has no curve.

Disclosure (registry.security.disclosure): figures take the viewer's `Release`. For roles bound by the
policy (governance, researcher) the risk table shows the number at risk only, released (small
counts as "<5", others rounded): with events and censored beside it, at risk at the start minus
at risk now minus censored would give a hidden event count. Groups whose events are 1..k-1 get
no curve (its steps would count them), and censor ticks (individual last-contact times) are
left out.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analytics.estimates import drawn_part
from registry.security.disclosure import Release, release_for

from dashboard.figures.facets import small_multiples
from dashboard.figures.style import (
    DAYS_PER_YEAR,
    MANY_GROUPS,
    TIME_AXIS_TITLE,
    add_caption,
    base_layout,
    colour,
    dash,
    rgba,
    suppressed_label,
    time_step_years,
    years,
)

COMPACT_AFTER = 4
# The competing-events row appears only when the risk table has it (cumulative incidence).
RISK_ROWS: tuple[tuple[str, str], ...] = (
    ("n_risk", "At risk"),
    ("n_event", "Events"),
    ("n_competing", "Competing events"),
    ("n_censor", "Censored"),
)


def group_sizes(risk_table: pd.DataFrame) -> dict[str, int]:
    """Group size = number at risk at time 0 (the largest number at risk)."""
    if risk_table.empty:
        return {}
    return {str(g): int(v) for g, v in risk_table.groupby("group", sort=False)["n_risk"].max().items()}


def km_figure(
    curves: pd.DataFrame,
    risk_table: pd.DataFrame,
    *,
    title: str,
    caption: str,
    y_title: str = "Survival (%)",
    min_group_size: int = 5,
    x_max_years: float | None = None,
    hide_small_counts: bool = False,
    release: Release | None = None,
    test_text: str = "",
    pooled: pd.DataFrame | None = None,
) -> go.Figure:
    """Kaplan–Meier survival curves: step lines from (0, 100 %), 95 % CI bands, censor ticks
    and a number-at-risk table (at risk / events / censored) under a shared axis in years.
    Each curve stops at the last time with at least `min_group_size` patients at risk. With
    `hide_small_counts` (roles that see only aggregates) risk-table counts of 1 to
    min_group_size-1 show as "<min_group_size".

    Past MANY_GROUPS groups the figure is small multiples (dashboard/figures/facets.py): one
    panel per group against `pooled`, the whole cohort's curve (``time, estimate`` and
    ``n_risk``, ``n_event`` as in `curves`), in grey."""
    return _survival_figure(
        curves,
        risk_table,
        title=title,
        caption=caption,
        y_title=y_title,
        min_group_size=min_group_size,
        x_max_years=x_max_years,
        release=_release(release, hide_small_counts, min_group_size),
        start=1.0,
        show_censors=True,
        test_text=test_text,
        pooled=pooled,
    )


def cumulative_incidence_figure(
    curves: pd.DataFrame,
    risk_table: pd.DataFrame,
    *,
    title: str,
    caption: str,
    y_title: str = "Cumulative incidence (%)",
    min_group_size: int = 5,
    x_max_years: float | None = None,
    hide_small_counts: bool = False,
    release: Release | None = None,
    test_text: str = "",
    pooled: pd.DataFrame | None = None,
) -> go.Figure:
    """Aalen–Johansen cumulative incidence (e.g. TRM with other deaths competing).

    Same layout as `km_figure`, but rising from (0, 0 %) and with the y axis fitted to the
    data: TRM is a few percent, and a 0–100 % axis would flatten it into the floor. No censor
    ticks: on an incidence curve they read as events. Past MANY_GROUPS groups: small multiples
    against `pooled`, as `km_figure`.
    """
    return _survival_figure(
        curves,
        risk_table,
        title=title,
        caption=caption,
        y_title=y_title,
        min_group_size=min_group_size,
        x_max_years=x_max_years,
        release=_release(release, hide_small_counts, min_group_size),
        start=0.0,
        show_censors=False,
        test_text=test_text,
        pooled=pooled,
    )


def _release(release: Release | None, hide_small_counts: bool, min_group_size: int) -> Release:
    """The viewer's release; `hide_small_counts=True` (older callers) means a bound role."""
    if release is not None:
        return release
    return release_for("governance" if hide_small_counts else "admin", max(2, min_group_size))


def _survival_figure(
    curves: pd.DataFrame,
    risk_table: pd.DataFrame,
    *,
    title: str,
    caption: str,
    y_title: str,
    min_group_size: int,
    x_max_years: float | None,
    release: Release,
    start: float,
    show_censors: bool,
    test_text: str = "",
    pooled: pd.DataFrame | None = None,
) -> go.Figure:
    sizes = group_sizes(risk_table)
    groups = list(dict.fromkeys([*map(str, risk_table["group"]), *map(str, curves["group"])]))
    too_small = [g for g in groups if sizes.get(g, 0) < min_group_size]
    few_events: list[str] = []
    if not release.exact and "n_event" in curves.columns:
        events = curves.groupby(curves["group"].astype(str))["n_event"].sum()
        few_events = [g for g in groups if g not in too_small and release.is_small(events.get(g, 0))]
    show_censors = show_censors and release.exact
    if len(groups) > MANY_GROUPS:
        return _small_multiples(curves, risk_table, groups, too_small=too_small, few_events=few_events, title=title,
                                caption=caption, y_title=y_title, min_group_size=min_group_size,
                                x_max_years=x_max_years, release=release, start=start, show_censors=show_censors,
                                test_text=test_text, pooled=pooled)
    # KMunicate's three rows per group stay readable for a few groups; past COMPACT_AFTER
    # groups (e.g. twelve centres) only the number at risk is shown, and the caption says so.
    # Bound roles get the number at risk only (see the module docstring).
    compact = len(groups) > COMPACT_AFTER or not release.exact
    rows = [r for r in RISK_ROWS if r[0] in risk_table.columns and (not compact or r[0] == "n_risk")]
    n_table_rows = max(1, len(groups) * len(rows))
    band_alpha = 0.18 if len(groups) <= 3 else 0.08  # overlapping bands of many groups stay see-through
    # Heights in pixels, so the axis title never collides with the risk table however many rows.
    plot_px, gap_px, table_px = 380, 75, 20 * n_table_rows + 10
    domain_px = plot_px + gap_px + table_px
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=gap_px / domain_px,
        row_heights=[plot_px, table_px],
    )
    y_max = start
    x_max = 0.0
    for i, group in enumerate(groups):
        if group in too_small or group in few_events:
            continue
        c = colour(i)
        g = curves[curves["group"].astype(str) == group].sort_values("time", kind="stable")
        # The curve ends where fewer than `min_group_size` remain at risk (the one rule,
        # analytics.estimates.enough_at_risk, which the tables and `msreg survival` follow).
        # The risk table still shows the tail.
        if "n_risk" in g.columns:
            g = drawn_part(g, min_group_size)
        if g.empty:
            continue
        t = [0.0, *g["time"].astype(float)]
        est = [start, *g["estimate"].astype(float)]
        # log-log limits are undefined where the estimate is 0 or 1: draw the band shut there.
        lower = [start, *g["lower"].astype(float).fillna(g["estimate"].astype(float))]
        upper = [start, *g["upper"].astype(float).fillna(g["estimate"].astype(float))]
        x = years(t)
        x_max = max(x_max, x[-1])
        y_max = max(y_max, max(upper), max(est))
        common = dict(legendgroup=group, line_shape="hv", hoverinfo="skip", showlegend=False)
        # Band: lower first, then upper filled down to it ("tonexty"), both as hv steps.
        fig.add_trace(
            go.Scatter(x=x, y=lower, mode="lines", line=dict(width=0, color=c), name=f"{group} 95% CI lower", **common),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=upper,
                mode="lines",
                line=dict(width=0, color=c),
                fill="tonexty",
                fillcolor=rgba(c, band_alpha),
                name=f"{group} 95% CI",
                **common,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=est,
                mode="lines",
                line=dict(color=c, width=2.5, dash=dash(i)),
                line_shape="hv",
                name=group,
                legendgroup=group,
                customdata=t,
                hovertemplate=f"{group}<br>%{{x:.2f}} years (day %{{customdata:.0f}})<br>%{{y:.1%}}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        if show_censors and "n_censor" in g.columns:
            cens = g[g["n_censor"].fillna(0) > 0]
            if not cens.empty:
                fig.add_trace(
                    go.Scatter(
                        x=years(cens["time"]),
                        customdata=cens["time"].astype(float).tolist(),
                        y=cens["estimate"].astype(float).tolist(),
                        mode="markers",
                        marker=dict(symbol="line-ns-open", size=9, color=c, line=dict(width=1.5, color=c)),
                        name=f"{group} censor ticks",
                        legendgroup=group,
                        showlegend=False,
                        hovertemplate=f"{group} censored<br>%{{x:.2f}} years (day %{{customdata:.0f}})<extra></extra>",
                    ),
                    row=1,
                    col=1,
                )
    # Risk table: one text row per group and count, top to bottom, in the group's colour.
    labels: list[str] = []
    small = suppressed_label(min_group_size)
    for i, group in enumerate(groups):
        rt = risk_table[risk_table["group"].astype(str) == group].sort_values("time")
        for col, name in rows:
            label = name if len(groups) == 1 else f"{group} · {name.lower()}"
            labels.append(label)
            if rt.empty:
                continue
            if group in too_small:
                text = [small] * len(rt)
            else:  # through the viewer's release: exact, or small hidden and the rest rounded
                text = [release.text(v) for v in rt[col]]
            rx = years(rt["time"])
            x_max = max(x_max, max(rx))
            fig.add_trace(
                go.Scatter(
                    x=rx,
                    y=[label] * len(rt),
                    mode="text",
                    text=text,
                    textfont=dict(color="#222222", size=11),  # KMunicate: black, labelled rows
                    name=f"{group} {name.lower()}",
                    showlegend=False,
                    hoverinfo="skip",
                    meta={"msreg_counts": ["text"]},
                ),
                row=2,
                col=1,
            )
    base_layout(fig, title=title, height=80 + domain_px + 30)
    x_hi = x_max_years if x_max_years is not None else max(x_max, 1.0)
    # Ticks at the risk table's columns, so each count stands under its tick.
    table_times = sorted({float(t) for t in risk_table["time"]}) if len(risk_table) else []
    tick = (table_times[1] - table_times[0]) / DAYS_PER_YEAR if len(table_times) >= 2 else time_step_years(x_hi)
    x_range = [-x_hi * 0.015, x_hi * 1.03]
    fig.update_xaxes(range=x_range, dtick=tick, tick0=0, row=1, col=1, showticklabels=True,
                     title_text=TIME_AXIS_TITLE, title_standoff=4, zeroline=False)
    fig.update_xaxes(range=x_range, dtick=tick, tick0=0, row=2, col=1, showticklabels=False, showline=False, ticks="")
    if start == 1.0:
        fig.update_yaxes(range=[0, 1.02], tickformat=".0%", title_text=y_title, row=1, col=1)
    else:
        fig.update_yaxes(range=[0, max(0.05, y_max * 1.15)], tickformat=".0%", title_text=y_title, row=1, col=1)
    fig.update_yaxes(
        type="category",
        categoryorder="array",
        categoryarray=list(reversed(labels)),
        range=[-0.6, len(labels) - 0.4],  # half a row of room so the top row is not clipped
        showline=False,
        ticks="",
        showgrid=False,
        ticklabelstandoff=10,  # the first column's numbers stand at day 0, just right of the labels
        row=2,
        col=1,
    )
    # Room on the left for the longest risk-table label ("Secondary progressive MS · censored"),
    # about 7 px a character at 13 px, so the caption below starts where the figure does.
    longest = max((len(label) for label in labels), default=0)
    fig.update_layout(margin=dict(l=max(150, int(7 * longest) + 30)))
    if test_text:
        # On the plot, where the curves leave room: bottom left under falling survival curves,
        # top left above rising incidence curves.
        fig.add_annotation(text=test_text, xref="x domain", yref="y domain", x=0.01, y=0.03 if start == 1.0 else 0.97,
                           xanchor="left", yanchor="bottom" if start == 1.0 else "top", showarrow=False,
                           font=dict(size=12, color="#222222"), bgcolor="rgba(255,255,255,0.8)", name="test")
    notes = []
    if compact:
        notes.append("Risk table: number at risk only" + (" (more than four groups)." if release.exact else "."))
    if few_events:
        notes.append(f"No curve for {', '.join(few_events)}: fewer than {release.k} events (a disclosure risk).")
    if not release.exact:
        notes.append(release.footnote())
    if too_small:
        notes.append(
            f"No curve for {', '.join(too_small)}: fewer than {min_group_size} patients "
            f"(too few to estimate, and a disclosure risk)."
        )
    add_caption(fig, " ".join([caption, *notes]).strip(), below_px=12, base_margin=10)
    fig.update_layout(height=80 + domain_px + (fig.layout.margin.b or 30))
    return fig


def _drawn(g: pd.DataFrame, min_group_size: int) -> pd.DataFrame:
    """The part of a curve a figure draws (analytics.estimates.enough_at_risk), in time order."""
    g = g.sort_values("time", kind="stable")
    return drawn_part(g, min_group_size) if "n_risk" in g.columns else g


def _small_multiples(
    curves: pd.DataFrame,
    risk_table: pd.DataFrame,
    groups: list[str],
    *,
    too_small: list[str],
    few_events: list[str],
    title: str,
    caption: str,
    y_title: str,
    min_group_size: int,
    x_max_years: float | None,
    release: Release,
    start: float,
    show_censors: bool,
    test_text: str,
    pooled: pd.DataFrame | None,
) -> go.Figure:
    """The survival figure for many groups: one panel per group, the pooled curve in grey,
    each panel's number at risk under it (the same released counts as the one-plot table)."""
    small = suppressed_label(min_group_size)
    by_group = {g: _drawn(curves[curves["group"].astype(str) == g], min_group_size) for g in groups}
    no_curve = {g: f"No curve: fewer than {min_group_size} patients" for g in too_small}
    no_curve |= {g: f"No curve: fewer than {release.k} events" for g in few_events}
    no_curve |= {g: "No curve: too few at risk" for g in groups
                 if g not in no_curve and by_group[g].empty}
    # The pooled curve follows the same rules as any curve: cut where few remain at risk, and
    # not drawn for bound roles when its events are 1..k-1.
    pooled_drawn = None
    if pooled is not None and len(pooled):
        events = int(pooled["n_event"].sum()) if "n_event" in pooled.columns else None
        if release.exact or events is None or not release.is_small(events):
            pooled_drawn = _drawn(pooled, min_group_size)
    table_times = sorted({float(t) for t in risk_table["time"]}) if len(risk_table) else []
    # At most about six numbers under a panel a third of the page wide: every other column past that.
    every = max(1, -(-len(table_times) // 6))
    shown_times = set(table_times[::every])
    tick = ((table_times[1] - table_times[0]) / DAYS_PER_YEAR * every if len(table_times) >= 2
            else time_step_years(x_max_years or 1.0))
    x_max = max([max(years(g["time"]), default=0.0) for g in by_group.values()] + [max(years(table_times), default=0.0)])
    x_hi = x_max_years if x_max_years is not None else max(x_max, 1.0)
    y_hi = 1.02
    if start == 0.0:
        tops = [float(g["upper"].fillna(g["estimate"]).max()) for g in by_group.values() if len(g)]
        if pooled_drawn is not None and len(pooled_drawn):
            tops.append(float(pooled_drawn["estimate"].max()))
        y_hi = max(0.05, max(tops, default=0.0) * 1.15)

    def risk(group: str) -> tuple[list[float], list[str]]:
        rt = risk_table[(risk_table["group"].astype(str) == group) & risk_table["time"].astype(float).isin(shown_times)]
        rt = rt.sort_values("time")
        texts = [small] * len(rt) if group in too_small else [release.text(v) for v in rt["n_risk"]]
        return rt["time"].astype(float).tolist(), texts

    def censors(group: str) -> pd.DataFrame | None:
        g = by_group[group]
        if not show_censors or "n_censor" not in g.columns:
            return None
        return g[g["n_censor"].fillna(0) > 0]

    notes = ["Each panel: one group (blue, 95% CI band) against all patients of the figure (grey); "
             "under each panel its number at risk."]
    if pooled_drawn is None:
        notes.append("No pooled curve" + (f": fewer than {release.k} events." if pooled is not None else "."))
    if not release.exact:
        notes.append(release.footnote())
    return small_multiples(
        groups,
        curve=lambda g: None if g in too_small or g in few_events else by_group[g],
        pooled=pooled_drawn,
        no_curve=no_curve,
        risk=risk,
        title=title,
        caption=" ".join([caption, *notes]).strip(),
        x=years,
        x_title=TIME_AXIS_TITLE,
        # room left of day 0 for half of the first number at risk, clear of the row's label
        x_range=(-x_hi * 0.07, x_hi * 1.04),
        dtick=tick,
        y_title=y_title,
        y_range=(0.0, y_hi),
        start=start,
        hover_time="%{x:.2f} years (day %{customdata:.0f})",
        censor_ticks=censors,
        test_text=test_text,
    )
