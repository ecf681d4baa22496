"""Time to engraftment: cumulative incidence (death competing) against days since transplant.

Why days, not months like every other time axis: engraftment happens in the second week; on a
months axis the whole curve would sit in the first tick.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from analytics.estimates import drawn_part
from dashboard.figures.facets import small_multiples
from dashboard.figures.style import MANY_GROUPS, add_caption, base_layout, colour, dash, rgba
from registry.security.disclosure import Release

MAX_DAY = 42


def engraftment_figure(curves: pd.DataFrame, *, title: str, caption: str, min_group_size: int = 5,
                       pooled: pd.DataFrame | None = None, release: Release | None = None,
                       sizes: Mapping[str, int] | None = None) -> go.Figure:
    """Step curves per group of `curves` (group, time, estimate, lower, upper, n_risk: the
    Aalen–Johansen table of analytics.estimates.survival_curves, small groups already absent).
    A curve stops where fewer than `min_group_size` remain at risk, as survival figures do.
    Past MANY_GROUPS groups: small multiples, each group against `pooled` (the whole cohort's
    curve, same columns) in grey.

    Disclosure: with a bound `release` and the groups' `sizes`, a group whose drawn curve ends
    with 1..k-1 patients engrafted or 1..k-1 not engrafted gets no curve (its plateau times its
    size would give that count away), by the same rule as the table beside it
    (`Release.split_shown`)."""
    fig = go.Figure()
    groups = dict.fromkeys(curves["group"].astype(str)) if "group" in curves.columns else {}
    drawn = {g: _drawn(curves[curves["group"].astype(str) == g], min_group_size) for g in groups}
    hidden = [g for g in groups if not _shown(drawn[g], release, (sizes or {}).get(g))]
    if hidden:
        caption = (caption + f" No curve for {', '.join(hidden)}: fewer than {release.k} patients engrafted, "
                   "or not engrafted (a disclosure risk).").strip() if release is not None else caption
    if len(groups) > MANY_GROUPS:
        pooled_drawn = _drawn(pooled, min_group_size) if pooled is not None and len(pooled) else None
        if pooled_drawn is not None and not _shown(pooled_drawn, release, sum(sizes.values()) if sizes else None):
            pooled = None
        reason = f"No curve: fewer than {release.k} engrafted, or not engrafted" if release is not None else ""
        return _small_multiples(drawn, list(groups), {g: reason for g in hidden}, title=title, caption=caption,
                                min_group_size=min_group_size, pooled=pooled)
    for i, group in enumerate(groups):
        g = drawn[group]
        if g.empty or group in hidden:
            continue
        c = colour(i)
        t = [0.0, *g["time"].astype(float)]
        est = [0.0, *g["estimate"].astype(float)]
        lower = [0.0, *g["lower"].astype(float).fillna(g["estimate"].astype(float))]
        upper = [0.0, *g["upper"].astype(float).fillna(g["estimate"].astype(float))]
        common = dict(legendgroup=group, line_shape="hv", hoverinfo="skip", showlegend=False)
        fig.add_trace(go.Scatter(x=t, y=lower, mode="lines", line=dict(width=0, color=c), name=f"{group} 95% CI lower", **common))
        fig.add_trace(go.Scatter(x=t, y=upper, mode="lines", line=dict(width=0, color=c), fill="tonexty",
                                 fillcolor=rgba(c, 0.12), name=f"{group} 95% CI", **common))
        fig.add_trace(go.Scatter(x=t, y=est, mode="lines", line=dict(color=c, width=2.5, dash=dash(i)), line_shape="hv",
                                 name=group, legendgroup=group,
                                 hovertemplate=f"{group}<br>day %{{x:.0f}}: %{{y:.1%}}<extra></extra>"))
    base_layout(fig, title=title, height=460)
    fig.update_xaxes(title_text="Days since transplant", range=[0, MAX_DAY], dtick=7)
    fig.update_yaxes(title_text="Engrafted (%)", range=[0, 1.02], tickformat=".0%")
    add_caption(fig, caption)
    return fig


def _drawn(g: pd.DataFrame, min_group_size: int) -> pd.DataFrame:
    g = drawn_part(g.sort_values("time", kind="stable"), min_group_size)
    return g[g["time"] <= MAX_DAY]


def _shown(drawn: pd.DataFrame, release: Release | None, size: int | None) -> bool:
    """Whether a bound viewer may see this drawn curve: its last estimate times the group's size
    is the number engrafted; that and the rest must each be 0 or at least k."""
    if release is None or release.exact or drawn.empty:
        return True
    if size is None:
        return False  # a bound role with no group size cannot be checked: nothing drawn
    engrafted = round(float(drawn["estimate"].iloc[-1]) * int(size))
    return release.split_shown(engrafted, int(size))


def _small_multiples(by_group: Mapping[str, pd.DataFrame], groups: list[str], hidden: Mapping[str, str], *, title: str,
                     caption: str, min_group_size: int, pooled: pd.DataFrame | None) -> go.Figure:
    no_curve = {g: "No curve: too few at risk" for g in groups if by_group[g].empty}
    no_curve |= {g: why for g, why in hidden.items() if not by_group[g].empty}
    return small_multiples(
        groups,
        curve=lambda g: by_group[g] if g not in no_curve else by_group[g].iloc[0:0],
        pooled=_drawn(pooled, min_group_size) if pooled is not None and len(pooled) else None,
        no_curve=no_curve,
        risk=None,
        title=title,
        caption=(caption + " Each panel: one group (blue, 95% CI band) against all patients of the figure (grey).").strip(),
        x=lambda days: [float(d) for d in days],
        x_title="Days since transplant",
        x_range=(0.0, float(MAX_DAY)),
        dtick=7,
        y_title="Engrafted (%)",
        y_range=(0.0, 1.02),
        start=0.0,
        hover_time="day %{x:.0f}",
    )
