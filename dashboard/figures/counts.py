"""Count figures: transplant activity by year and centre; serious adverse events.

Why serious AEs are shown by time since transplant as well as by category: early events
(febrile neutropenia, engraftment syndrome) belong to the procedure, late ones (secondary
autoimmunity, malignancy) to long-term follow-up, and a committee reads them differently.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.style import add_caption, base_layout, colour, pattern
from registry.disclosure import suppress_counts

# Ordinal grades get an ordered, colour-blind-safe sequence (viridis samples), light to dark.
GRADE_COLOURS = {1: "#D9E86C", 2: "#5EC962", 3: "#21918C", 4: "#3B528B", 5: "#440154"}
TIME_WINDOWS: tuple[tuple[str, int, int | None], ...] = (
    ("Day 0–30", 0, 30),
    ("Day 31–100", 31, 100),
    ("Day 101–365", 101, 365),
    ("Year 1–2", 366, 730),
    ("After year 2", 731, None),
    ("Before day 0", -10**9, -1),
)


def time_window(days: pd.Series) -> pd.Series:
    """Label each AE onset (days since transplant) with its window of TIME_WINDOWS."""
    out = pd.Series(pd.NA, index=days.index, dtype="object")
    for label, lo, hi in TIME_WINDOWS:
        mask = days >= lo if hi is None else (days >= lo) & (days <= hi)
        out[mask & out.isna()] = label
    return out


def transplants_per_year_figure(counts: pd.DataFrame, *, title: str, caption: str) -> go.Figure:
    """Stacked bars of transplants per calendar year, one colour per centre.

    ``counts``: ``transplant_year, centre_code, n``.
    """
    fig = go.Figure()
    centres = sorted(counts["centre_code"].astype(str).unique())
    for i, centre in enumerate(centres):
        c = counts[counts["centre_code"].astype(str) == centre].sort_values("transplant_year")
        fig.add_trace(
            go.Bar(
                x=c["transplant_year"].astype(int).tolist(),
                y=c["n"].astype(int).tolist(),
                name=centre,
                marker=dict(color=colour(i), pattern_shape=pattern(i)),
                hovertemplate=f"{centre} %{{x}}: %{{y}} transplants<extra></extra>",
            )
        )
    base_layout(fig, title=title, height=420)
    fig.update_layout(barmode="stack", xaxis_title="Year of transplant", yaxis_title="Transplants",
                      xaxis=dict(dtick=1 if counts["transplant_year"].nunique() <= 15 else 2), margin=dict(l=70))
    add_caption(fig, caption)
    return fig


def serious_ae_figure(
    events: pd.DataFrame, *, title: str, caption: str, min_cell: int | None = None
) -> go.Figure:
    """Serious AEs counted by category (left) and by time since transplant (right), by grade.

    ``events``: one row per serious adverse event with ``category, grade, days`` (onset minus
    day 0). With ``min_cell`` (roles that see only aggregates), both count tables go through
    `registry.disclosure.suppress_counts`: counts of 1 to min_cell-1, and the complementary
    cells that would reveal them, are not drawn, so neither a bar segment, its hover text nor a
    stacked total shows a small count.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("By category", "By time since transplant"),
                        horizontal_spacing=0.18)
    windows = [label for label, *_ in TIME_WINDOWS if label != "Before day 0"]
    ev = events.assign(window=time_window(events["days"].astype(int))) if len(events) else events.assign(window=[])
    if len(ev) and (ev["window"] == "Before day 0").any():
        windows.insert(0, "Before day 0")
    categories = sorted(ev["category"].astype(str).unique()) if len(ev) else []
    grades = sorted(GRADE_COLOURS)
    by_cat = _grade_counts(ev, "category", categories, grades, min_cell)
    by_time = _grade_counts(ev, "window", windows, grades, min_cell)
    for grade in grades:
        common = dict(marker_color=GRADE_COLOURS[grade], legendgroup=f"grade {grade}")
        fig.add_trace(go.Bar(y=categories, x=by_cat[grade].to_list(), orientation="h", name=f"Grade {grade}",
                             hovertemplate="%{y}: %{x}<extra>grade " + str(grade) + "</extra>", **common), row=1, col=1)
        fig.add_trace(go.Bar(x=windows, y=by_time[grade].to_list(), name=f"Grade {grade}", showlegend=False,
                             hovertemplate="%{x}: %{y}<extra>grade " + str(grade) + "</extra>", **common), row=1, col=2)
    base_layout(fig, title=title, height=460)
    fig.update_layout(barmode="stack", margin=dict(l=190), legend_title_text="CTCAE grade")
    fig.update_xaxes(title_text="Events", row=1, col=1)
    fig.update_yaxes(title_text="Events", row=1, col=2)
    add_caption(fig, caption, below_px=70)
    return fig


def _grade_counts(
    events: pd.DataFrame, by: str, labels: list[str], grades: list[int], min_cell: int | None
) -> pd.DataFrame:
    """Events per `by` label (rows) and grade (columns); suppressed cells become None (not drawn)."""
    counts = pd.DataFrame(0, index=labels, columns=grades, dtype=int)
    if len(events):
        seen = events.groupby([by, events["grade"].astype(int)]).size().unstack(fill_value=0)
        counts = seen.reindex(index=labels, columns=grades, fill_value=0).astype(int)
    if min_cell is None or counts.empty:
        return counts.astype(object)
    shown = suppress_counts(counts, min_cell, with_totals=False)
    return shown.astype(object).where(shown.notna(), None)
