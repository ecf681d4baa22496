"""The centre-benchmarking funnel: observed/expected against the expected number, with the
limits of the signal rule itself (analytics.benchmarking), so the plot shows what is tested.

Why O/E against E rather than a rate against centre size: the expected number already carries
the centre's size, follow-up and (adjusted) case mix, and the exact Poisson rule depends on E
only. The limits are the smallest O/E that signals at each E — a staircase, because counts are
whole numbers; a smooth interpolated funnel would flag centres the test does not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analytics.benchmarking import signal_threshold
from dashboard.figures.style import OKABE_ITO, add_caption, base_layout


def signal_limits(expected: np.ndarray, level: float, *, mid_p: bool = False) -> np.ndarray:
    """The smallest O/E that signals at each expected number (the funnel's upper edge)."""
    return np.array([signal_threshold(float(e), level, mid_p=mid_p) / e for e in expected])


def benchmark_funnel_figure(
    table: pd.DataFrame,
    *,
    level: float,
    title: str,
    caption: str,
    hidden: frozenset[str] = frozenset(),
    mid_p: bool = False,
) -> go.Figure:
    """``table``: analytics.benchmarking's table (``centre_code, expected, o_e, signal, tested``).

    Centres in ``hidden`` (counts that may not be shown to this viewer) are not drawn: their
    O/E times the expected number would give the count away. Untested centres are not drawn.
    """
    tested = table[table["tested"] & table["expected"].gt(0)]
    drawn = tested[~tested["centre_code"].isin(hidden)]
    e_max = max(float(tested["expected"].max()) * 1.15 if len(tested) else 1.0, 1.0)
    grid = np.unique(np.concatenate([np.linspace(0.2, e_max, 240), tested["expected"].to_numpy(dtype=float)]))
    fig = go.Figure()
    for lvl, style, name in ((level, dict(dash="dot", color="#777"), f"Signal limit (p < {level:g})"),
                             (0.001, dict(dash="dash", color="#777"), "p < 0.001")):
        fig.add_trace(go.Scatter(x=grid.tolist(), y=signal_limits(grid, lvl, mid_p=mid_p).tolist(), mode="lines",
                                 line=dict(shape="hv", **style), name=name, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[0, float(grid[-1])], y=[1, 1], mode="lines", line=dict(color="#222", width=1.5),
                             name="As expected (O/E = 1)", hoverinfo="skip"))
    if not drawn.empty:
        flag = np.where(drawn["signal"], "signal", "no signal")
        colours = {"signal": OKABE_ITO[1], "no signal": OKABE_ITO[0]}
        fig.add_trace(go.Scatter(
            x=drawn["expected"].astype(float).round(2).tolist(),
            y=drawn["o_e"].astype(float).round(2).tolist(),
            mode="markers+text",
            # Only signals are labelled (twelve labels pile up on one another); every centre is
            # named in its hover text and in the table below.
            text=[c if s else "" for c, s in zip(drawn["centre_code"].astype(str), drawn["signal"], strict=True)],
            textposition="top center",
            marker=dict(size=11, color=[colours[f] for f in flag], line=dict(color="white", width=1)),
            customdata=[[f, f"{p:.3f}", c] for f, p, c in zip(flag, drawn["p_value"], drawn["centre_code"].astype(str), strict=True)],
            name="Centres",
            hovertemplate="%{customdata[2]}: O/E %{y:.2f}, expected %{x:.1f}<br>%{customdata[0]} (p %{customdata[1]})<extra></extra>",
        ))
    base_layout(fig, title=title, height=520)
    # high enough for every drawn centre and for the signal limit at the smallest tested centre
    limit_small = float(signal_limits(np.array([tested["expected"].min()]), level, mid_p=mid_p)[0]) if len(tested) else 3.0
    y_hi = min(max(3.0, float(drawn["o_e"].max()) * 1.15 if len(drawn) else 0.0, limit_small * 1.1), 12.0)
    fig.update_layout(xaxis_title="Expected number of events", yaxis_title="Observed / expected",
                      yaxis_range=[0, y_hi], xaxis_range=[0, float(grid[-1])], margin=dict(l=80))
    note = ""
    not_drawn = len(tested) - len(drawn)
    if not_drawn:
        note = f" {not_drawn} centre(s) with 1–4 events not drawn (small counts are not shown); their result is in the table."
    add_caption(fig, caption + note)
    return fig
