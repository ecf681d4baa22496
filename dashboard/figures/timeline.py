"""One patient's course: EDSS over time with the lines that decide worsening, and the events
that decide RFS and NEDA-3.

Why draw the baseline b and the threshold b + δ(b): a data manager checking a CDW date (or its
absence) needs to see which assessments were "worsened" under docs/endpoints.md, not recompute them.
Time is in months since day 0, not calendar dates, so the same figure is safe for roles that
must not see dates that identify a person.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.style import OKABE_ITO, add_caption, base_layout, months

LANES = ("Relapse", "MRI", "Adverse event")
MARKER_STYLES = {
    "Day 0": dict(color="#222222", dash="solid"),
    "CDW": dict(color=OKABE_ITO[1], dash="dash"),
    "End of NEDA-3": dict(color=OKABE_ITO[3], dash="dot"),
    "Death": dict(color="#000000", dash="dashdot"),
}


def patient_timeline_figure(
    *,
    visits: pd.DataFrame,
    relapses: pd.DataFrame,
    mri: pd.DataFrame,
    adverse_events: pd.DataFrame,
    baseline_edss: float | None,
    delta: float | None,
    markers: Mapping[str, float | None],
    title: str,
    caption: str,
) -> go.Figure:
    """EDSS (top) and event lanes (bottom) against months since transplant.

    All inputs are in days since day 0: ``visits`` (``day, edss``), ``relapses`` (``day``,
    optional ``severity``), ``mri`` (``day, new_t2, gd_enhancing, counts`` where ``counts`` is
    True when the scan is late enough to count for NEDA-3), ``adverse_events`` (``day, category,
    grade``). ``markers`` maps "CDW", "End of NEDA-3", "Death" to a day or None; day 0 is always
    drawn.
    """
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.06)
    v = visits.dropna(subset=["edss"]).sort_values("day")
    fig.add_trace(
        go.Scatter(
            x=months(v["day"]),
            y=v["edss"].astype(float).tolist(),
            mode="lines+markers",
            line=dict(color=OKABE_ITO[0], width=2),
            marker=dict(size=7),
            name="EDSS",
            customdata=v["day"].tolist(),
            hovertemplate="day %{customdata}: EDSS %{y}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    all_days = [0.0, *v["day"], *relapses.get("day", []), *mri.get("day", []), *adverse_events.get("day", [])]
    all_days += [d for d in markers.values() if d is not None]
    x_lo, x_hi = min(months(all_days)), max(months(all_days))
    span = [x_lo - 1, x_hi + 1]
    if baseline_edss is not None:
        fig.add_trace(go.Scatter(x=span, y=[baseline_edss] * 2, mode="lines", line=dict(color="#555", dash="dash", width=1.2),
                                 name=f"Baseline b = {baseline_edss:g}", hoverinfo="skip"), row=1, col=1)
        if delta is not None:
            thr = baseline_edss + delta
            fig.add_trace(go.Scatter(x=span, y=[thr] * 2, mode="lines", line=dict(color=OKABE_ITO[1], dash="dot", width=1.5),
                                     name=f"Worsening threshold b + δ(b) = {thr:g}", hoverinfo="skip"), row=1, col=1)
    if len(relapses):
        fig.add_trace(go.Scatter(x=months(relapses["day"]), y=["Relapse"] * len(relapses), mode="markers",
                                 marker=dict(symbol="triangle-down", size=12, color=OKABE_ITO[1]), name="Relapse",
                                 customdata=relapses["day"].tolist(), hovertemplate="relapse onset day %{customdata}<extra></extra>"),
                      row=2, col=1)
    if len(mri):
        active = (mri["new_t2"].fillna(0) > 0) | (mri["gd_enhancing"].fillna(0) > 0)
        counts = mri["counts"].astype(bool) if "counts" in mri.columns else pd.Series(True, index=mri.index)
        for label, mask, symbol, c in (
            ("MRI active (counts for NEDA-3)", active & counts, "diamond", OKABE_ITO[3]),
            ("MRI active (before re-baseline)", active & ~counts, "diamond-open", OKABE_ITO[3]),
            ("MRI no activity", ~active, "circle-open", "#777777"),
        ):
            m = mri[mask]
            if m.empty:
                continue
            fig.add_trace(go.Scatter(x=months(m["day"]), y=["MRI"] * len(m), mode="markers",
                                     marker=dict(symbol=symbol, size=11, color=c), name=label,
                                     customdata=m[["day", "new_t2", "gd_enhancing"]].astype(object).values.tolist(),
                                     hovertemplate="MRI day %{customdata[0]}: new T2 %{customdata[1]}, Gd+ %{customdata[2]}<extra></extra>"),
                          row=2, col=1)
    if len(adverse_events):
        fig.add_trace(go.Scatter(x=months(adverse_events["day"]), y=["Adverse event"] * len(adverse_events), mode="markers",
                                 marker=dict(symbol="x", size=10, color=OKABE_ITO[4]), name="Adverse event",
                                 customdata=adverse_events[["day", "category", "grade"]].astype(object).values.tolist(),
                                 hovertemplate="day %{customdata[0]}: %{customdata[1]} grade %{customdata[2]}<extra></extra>"),
                      row=2, col=1)
    for name, day in {"Day 0": 0.0, **markers}.items():
        if day is None:
            continue
        style = MARKER_STYLES.get(name, dict(color="#444", dash="dot"))
        x = float(day) / (365.25 / 12)
        # A vertical line as a trace (not a shape) so it has a legend entry and a name in tests.
        for row, ys in ((1, [0, 10]), (2, [LANES[0], LANES[-1]])):
            fig.add_trace(go.Scatter(x=[x, x], y=ys, mode="lines", line=dict(width=1.5, **style), name=name,
                                     legendgroup=name, showlegend=row == 1, hovertemplate=f"{name}: day {day:.0f}<extra></extra>"),
                          row=row, col=1)
    base_layout(fig, title=title, height=560)
    fig.update_yaxes(range=[-0.2, 10.2], dtick=1, title_text="EDSS", row=1, col=1)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=list(reversed(LANES)), row=2, col=1)
    fig.update_xaxes(title_text="Months since transplant", row=2, col=1)
    fig.update_layout(margin=dict(l=110))
    add_caption(fig, caption, y=-0.14)
    return fig
