"""Time to engraftment: cumulative incidence (death competing) against days since transplant.

Why days, not months like every other time axis: engraftment happens in the second week; on a
months axis the whole curve would sit in the first tick.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analytics.estimates import drawn_part
from dashboard.figures.style import add_caption, base_layout, colour, dash, rgba
from dashboard.figures.survival import drawn_steps
from dashboard.figures.reuse import reused_figure

MAX_DAY = 42


@reused_figure  # pure in its arguments: the figure is built once per content (figures/reuse.py)
def engraftment_figure(curves: pd.DataFrame, *, title: str, caption: str, min_group_size: int = 5) -> go.Figure:
    """Step curves per group of `curves` (group, time, estimate, lower, upper, n_risk: the
    Aalen–Johansen table of analytics.estimates.survival_curves, small groups already absent).
    A curve stops where fewer than `min_group_size` remain at risk, as survival figures do."""
    fig = go.Figure()
    keys = curves["group"].astype(str) if "group" in curves.columns else pd.Series([], dtype=object)
    groups = dict.fromkeys(keys)  # every group keeps its colour, drawn or not
    # the axis ends at MAX_DAY: the curves' later rows (most of them) are not looked at
    if len(keys):
        curves = drawn_part(curves[curves["time"] <= MAX_DAY], min_group_size)
        keys = keys[curves.index]
    for i, group in enumerate(groups):
        g = curves[keys == group].sort_values("time", kind="stable")
        if g.empty:
            continue
        c = colour(i)
        t, est, lower, upper = drawn_steps(g, 0.0)  # arrays of the steps' vertices
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
