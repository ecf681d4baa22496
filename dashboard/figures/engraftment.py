"""Time to engraftment: cumulative incidence (death competing) against days since transplant.

Why days, not months like every other time axis: engraftment happens in the second week; on a
months axis the whole curve would sit in the first tick.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analytics.estimates import drawn_part
from dashboard.figures.facets import small_multiples
from dashboard.figures.style import MANY_GROUPS, add_caption, base_layout, colour, dash, rgba

MAX_DAY = 42


def engraftment_figure(curves: pd.DataFrame, *, title: str, caption: str, min_group_size: int = 5,
                       pooled: pd.DataFrame | None = None) -> go.Figure:
    """Step curves per group of `curves` (group, time, estimate, lower, upper, n_risk: the
    Aalen–Johansen table of analytics.estimates.survival_curves, small groups already absent).
    A curve stops where fewer than `min_group_size` remain at risk, as survival figures do.
    Past MANY_GROUPS groups: small multiples, each group against `pooled` (the whole cohort's
    curve, same columns) in grey."""
    fig = go.Figure()
    groups = dict.fromkeys(curves["group"].astype(str)) if "group" in curves.columns else {}
    if len(groups) > MANY_GROUPS:
        return _small_multiples(curves, list(groups), title=title, caption=caption, min_group_size=min_group_size,
                                pooled=pooled)
    for i, group in enumerate(groups):
        g = curves[curves["group"].astype(str) == group].sort_values("time", kind="stable")
        g = drawn_part(g, min_group_size)
        g = g[g["time"] <= MAX_DAY]
        if g.empty:
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


def _small_multiples(curves: pd.DataFrame, groups: list[str], *, title: str, caption: str, min_group_size: int,
                     pooled: pd.DataFrame | None) -> go.Figure:
    by_group = {g: _drawn(curves[curves["group"].astype(str) == g], min_group_size) for g in groups}
    return small_multiples(
        groups,
        curve=lambda g: by_group[g],
        pooled=_drawn(pooled, min_group_size) if pooled is not None and len(pooled) else None,
        no_curve={g: "No curve: too few at risk" for g in groups if by_group[g].empty},
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
