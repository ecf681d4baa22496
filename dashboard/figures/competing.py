"""Stacked cumulative incidence of competing causes: transplant-related mortality and death
from other causes, one above the other, so the top edge is all-cause mortality.

Why stacked: the two Aalen–Johansen curves add up to 1 − overall survival, so the figure shows
at once how much of the mortality is transplant-related; drawn side by side, a reader would add
them by eye. Curves stop at the last time with at least ``min_at_risk`` patients at risk, as
every curve of the dashboard does.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.style import DAYS_PER_YEAR, OKABE_ITO, TIME_AXIS_TITLE, add_caption, base_layout, rgba
from dashboard.figures.reuse import reused_figure


@reused_figure  # pure in its arguments: the figure is built once per content (figures/reuse.py)
def stacked_incidence_figure(curves: pd.DataFrame, *, title: str, caption: str, labels: tuple[str, str]) -> go.Figure:
    """``curves``: ``time`` (days), ``first`` and ``second`` cumulative incidences (probabilities)."""
    fig = go.Figure()
    # arrays, not lists: Plotly validates and serialises them without a Python object per point
    days = curves["time"].to_numpy(dtype=float)
    x = days / DAYS_PER_YEAR
    first = curves["first"].astype(float)
    total = first + curves["second"].astype(float)
    fig.add_trace(go.Scatter(x=x, y=(100 * first).round(3).to_numpy(), mode="lines", line=dict(shape="hv", color=OKABE_ITO[1]),
                             fill="tozeroy", fillcolor=rgba(OKABE_ITO[1], 0.45), name=labels[0], customdata=days,
                             hovertemplate="%{x:.1f} years (day %{customdata:.0f}): %{y:.1f}%<extra>" + labels[0] + "</extra>"))
    fig.add_trace(go.Scatter(x=x, y=(100 * total).round(3).to_numpy(), mode="lines", line=dict(shape="hv", color=OKABE_ITO[0]),
                             fill="tonexty", fillcolor=rgba(OKABE_ITO[0], 0.3), name=f"+ {labels[1]}", customdata=days,
                             hovertemplate="%{x:.1f} years (day %{customdata:.0f}): %{y:.1f}% (all deaths)<extra>" + labels[1] + "</extra>"))
    base_layout(fig, title=title, height=440)
    top = float(total.max()) if len(total) else 0.0
    fig.update_layout(xaxis_title=TIME_AXIS_TITLE, yaxis_title="Cumulative incidence (%)",
                      yaxis_range=[0, max(5.0, 100 * top * 1.2)])
    add_caption(fig, caption)
    return fig
