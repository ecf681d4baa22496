"""Shared figure style: palette, time axis, captions, small-count suppression.

Why here: every figure of the dashboard follows the same rules (the project's figure conventions), and a rule
written once cannot drift between the Outcomes and the Safety page.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

import plotly.graph_objects as go

# Okabe–Ito, reordered so that the first colours are the most distinct on white and yellow
# (hard to read as a thin line) comes last. Safe for the common colour-vision deficiencies.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
# Past eight groups colours repeat; the dash pattern keeps curves apart.
DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot")
# Past eight groups bars repeat colours too; a fill pattern keeps them apart.
PATTERNS: tuple[str, ...] = ("", "/", ".", "x")

DAYS_PER_MONTH = 365.25 / 12
SUPPRESSED = "<5"
FONT = dict(family="Arial, Helvetica, sans-serif", size=13, color="#222222")


def colour(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def dash(i: int) -> str:
    return DASHES[(i // len(OKABE_ITO)) % len(DASHES)]


def pattern(i: int) -> str:
    return PATTERNS[(i // len(OKABE_ITO)) % len(PATTERNS)]


def rgba(hex_colour: str, alpha: float) -> str:
    """`#RRGGBB` → `rgba(r,g,b,a)`, for translucent confidence bands in the group's colour."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def months(days: Iterable[float]) -> list[float]:
    """Days since transplant → months (365.25/12 days), the unit of every time axis."""
    return [float(d) / DAYS_PER_MONTH for d in days]


def time_step_months(max_months: float) -> int:
    """Spacing of time ticks and risk-table columns: readable (at most ~12) at any follow-up."""
    for step, limit in ((3, 12), (6, 36), (12, 132), (24, 300)):
        if max_months <= limit:
            return step
    return 60


def suppressed_label(min_group_size: int) -> str:
    """The text shown instead of a count that is too small to show (`<5` by default)."""
    return f"<{min_group_size}"


def wrap(text: str, width: int = 120) -> str:
    """Plotly annotations do not wrap: break long captions into `<br>`-separated lines."""
    return "<br>".join(textwrap.wrap(text, width)) if text else ""


def add_caption(fig: go.Figure, caption: str, *, y: float = -0.12, base_margin: int = 70) -> None:
    """Write the cohort and settings under the plot, so a screenshot still says what it shows."""
    if not caption:
        return
    wrapped = wrap(caption)
    fig.add_annotation(
        text=f"<span style='font-size:11px;color:#555'>{wrapped}</span>",
        xref="paper",
        yref="paper",
        x=0,
        y=y,
        xanchor="left",
        yanchor="top",
        showarrow=False,
        align="left",
        name="caption",
    )
    lines = wrapped.count("<br>") + 1
    fig.update_layout(margin=dict(b=base_margin + 16 * lines))


def base_layout(fig: go.Figure, *, title: str, height: int) -> None:
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left"),
        template="simple_white",
        font=FONT,
        height=height,
        # Legend on the right: above the plot it collides with the title once it wraps.
        legend=dict(orientation="v", yanchor="top", y=1, xanchor="left", x=1.02),
        margin=dict(l=150, r=30, t=80),
        hovermode="closest",
    )
