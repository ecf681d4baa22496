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

# More groups than this and a survival figure becomes small multiples (dashboard/figures/facets.py).
MANY_GROUPS = 6

DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12
TIME_AXIS_TITLE = "Years since transplant"
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


def years(days: Iterable[float]) -> list[float]:
    """Days since transplant → years (365.25 days), the unit of every time axis.

    Why years: follow-up in this registry runs to 20 years; months ticks every 24 or 50 read
    badly, and papers and committees quote 1-, 2- and 5-year estimates. Exact days stay in
    the hover text and in exports, labelled as days.
    """
    return [float(d) / DAYS_PER_YEAR for d in days]


def months(days: Iterable[float]) -> list[float]:
    """Days since transplant → months (365.25/12 days)."""
    return [float(d) / DAYS_PER_MONTH for d in days]


# (tick step in years, longest follow-up it serves): at most about ten ticks at any length.
_YEAR_STEPS: tuple[tuple[float, float], ...] = ((0.25, 1.5), (0.5, 4), (1, 10), (2, 20), (5, 50))


def time_step_years(max_years: float) -> float:
    """Spacing of time ticks and risk-table columns, in years: 3 or 6 months for short
    follow-up, then 1, 2 or 5 years, so a 20-year axis is not a crowd of ticks."""
    for step, limit in _YEAR_STEPS:
        if max_years <= limit:
            return step
    return 10


def suppressed_label(min_group_size: int) -> str:
    """The text shown instead of a count that is too small to show (`<5` by default)."""
    return f"<{min_group_size}"


CAPTION_CHARS = 110  # about 640 px of 11 px Arial: fits a full-width figure at 1280 px


def wrap(text: str, width: int = CAPTION_CHARS) -> str:
    """Plotly annotations do not wrap: break long captions into `<br>`-separated lines."""
    return "<br>".join(textwrap.wrap(text, width)) if text else ""


def add_caption(fig: go.Figure, caption: str, *, below_px: int = 64, base_margin: int = 20,
                chars: int = CAPTION_CHARS) -> None:
    """Write the cohort and settings under the plot, so a screenshot still says what it shows.

    Placed in pixels, not in fractions of the plot: `below_px` under the bottom of the plot
    area, which clears the x tick labels and the axis title at any figure height (a fraction
    of the plot drew the caption over the axis title on short figures). The caption starts at
    the figure's left edge, not the plot's, so it has the whole width to itself.
    """
    if not caption:
        return
    wrapped = wrap(caption, chars)
    left = fig.layout.margin.l if fig.layout.margin.l is not None else 80
    fig.add_annotation(
        text=f"<span style='font-size:11px;color:#555'>{wrapped}</span>",
        xref="paper",
        yref="paper",
        x=0,
        y=0,
        xshift=-(left - 8),
        yshift=-below_px,
        xanchor="left",
        yanchor="top",
        showarrow=False,
        align="left",
        name="caption",
    )
    lines = wrapped.count("<br>") + 1
    fig.update_layout(margin=dict(b=below_px + base_margin + 15 * lines))


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
