"""Figures that compare: hazard ratios (forest plot) and centres against the registry (funnel).

Why a funnel plot rather than a league table: a centre with 8 transplants and one death has a
rate of 12 % that means little; the funnel draws how far a centre of that size may stray from the
registry rate by chance alone (binomial 95 % and 99.8 % limits, Spiegelhalter 2005), so only
centres outside the funnel call for a look.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.style import OKABE_ITO, add_caption, base_layout, wrap
from registry.security.disclosure import Release, release_for


# 1-2-5 ticks read naturally on a log axis (plotly's default labels the minor ticks 2…9).
LOG_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
TERM_CHARS = 44  # a model term's label wraps here


def forest_figure(hr: pd.DataFrame, *, title: str, caption: str) -> go.Figure:
    """Hazard ratios with 95 % CI whiskers on a log axis and the line of no effect at 1.

    ``hr``: ``term, hr, lower, upper`` and optionally ``p``; one row per model term, drawn top to
    bottom in the given order.
    """
    fig = go.Figure()
    terms = [str(t) for t in hr["term"]]
    values = hr["hr"].astype(float).to_numpy()
    lower = hr["lower"].astype(float).to_numpy()
    upper = hr["upper"].astype(float).to_numpy()
    p = hr["p"].astype(float).to_numpy() if "p" in hr.columns else np.full(len(hr), np.nan)
    labels = [
        f"{h:.2f} ({lo:.2f}–{up:.2f})" + (f", p={_fmt_p(pv)}" if not math.isnan(pv) else "")
        for h, lo, up, pv in zip(values, lower, upper, p, strict=True)
    ]
    fig.add_trace(
        go.Scatter(
            x=values.tolist(),
            y=terms,
            mode="markers",
            marker=dict(symbol="square", size=10, color=OKABE_ITO[0]),
            error_x=dict(type="data", symmetric=False, array=(upper - values).tolist(), arrayminus=(values - lower).tolist(),
                         color=OKABE_ITO[0], thickness=1.8, width=6),
            name="Hazard ratio (95% CI)",
            text=labels,
            hovertemplate="%{y}<br>HR %{text}<extra></extra>",
        )
    )
    # Numbers beside the plot: a forest plot is read for its numbers as much as its shape.
    fig.add_trace(
        go.Scatter(
            x=[1] * len(terms), y=terms, mode="text", text=labels, textposition="middle right",
            xaxis="x2", showlegend=False, hoverinfo="skip", name="estimates",
        )
    )
    finite = np.concatenate([lower[np.isfinite(lower) & (lower > 0)], upper[np.isfinite(upper) & (upper > 0)], [1.0]])
    lo, hi = float(finite.min()), float(finite.max())
    # The axis runs from the 1-2-5 tick below the lowest limit to the one above the highest.
    lo_tick = max([v for v in LOG_TICKS if v <= lo], default=LOG_TICKS[0])
    hi_tick = min([v for v in LOG_TICKS if v >= hi], default=LOG_TICKS[-1])
    # Long terms ("Phenotype: Secondary progressive MS vs Relapsing-remitting MS") wrap onto two
    # lines; the margin is sized to the longest line (about 7 px a character at 13 px).
    shown_terms = [wrap(t, TERM_CHARS) for t in terms]
    longest = max((len(line) for t in shown_terms for line in t.split("<br>")), default=10)
    two_lines = any("<br>" in t for t in shown_terms)
    base_layout(fig, title=title, height=int(220 + (44 if two_lines else 34) * max(len(terms), 1)))
    fig.update_layout(
        xaxis=dict(type="log", domain=[0, 0.68], range=[math.log10(lo_tick) - 0.05, math.log10(hi_tick) + 0.05],
                   tickvals=[v for v in LOG_TICKS if lo_tick <= v <= hi_tick],
                   title_text="Hazard ratio (log scale)"),
        xaxis2=dict(domain=[0.7, 1], range=[0, 10], visible=False),
        yaxis=dict(categoryorder="array", categoryarray=list(reversed(terms)), type="category",
                   tickmode="array", tickvals=terms, ticktext=shown_terms),
        showlegend=False,
        margin=dict(l=min(320, 20 + 7 * longest)),
    )
    fig.add_shape(type="line", x0=1, x1=1, xref="x", y0=0, y1=1, yref="paper",
                  line=dict(color="#555", dash="dash", width=1), name="no effect")
    add_caption(fig, caption)
    return fig


def _fmt_p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def funnel_limits(rate: float, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided binomial control limits for a proportion at sample sizes ``n``.

    Uses the interpolated exact binomial quantiles of Spiegelhalter (Stat Med 2005), which make
    smooth funnels instead of staircases. ``level`` is the coverage (0.95, 0.998).
    """
    from scipy.stats import binom  # here: only the Safety page's funnels need scipy (a second of CPU to import)

    n = np.asarray(n, dtype=float)
    out = []
    for q in ((1 - level) / 2, 1 - (1 - level) / 2):
        r = binom.ppf(q, n, rate)
        pmf = binom.cdf(r, n, rate) - binom.cdf(r - 1, n, rate)
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha = np.where(pmf > 0, (binom.cdf(r, n, rate) - q) / pmf, 0.0)
            out.append(np.clip((r - alpha) / n, 0, 1))
    return out[0], out[1]


def funnel_figure(
    centres: pd.DataFrame,
    *,
    title: str,
    caption: str,
    rate_label: str,
    min_group_size: int = 5,
    release: Release | None = None,
) -> go.Figure:
    """Each centre's event rate against its number of transplants, inside binomial limits.

    ``centres``: ``centre_code, n, events``. Centres with fewer than ``min_group_size``
    transplants are counted in the registry rate but not drawn (a rate of 1 in 3 identifies).
    For a role bound by the disclosure policy (``release``), centres whose events (or
    non-events) are 1..k-1 are not drawn either, since the rate times the number of patients
    is the count; the numbers in the hover text are released (rounded), and the caption names
    the centres left out.
    """
    release = release or release_for("admin")
    total_n = int(centres["n"].sum())
    total_e = int(centres["events"].sum())
    rate = total_e / total_n if total_n else 0.0
    fig = go.Figure()
    drawable = centres["n"] >= min_group_size
    few = pd.Series(False, index=centres.index)
    if not release.exact:
        few = centres["events"].map(release.is_small) | (centres["n"] - centres["events"]).map(release.is_small)
    shown = centres[drawable & ~few]
    hidden = centres[~drawable]
    few_events = centres[drawable & few]
    n_max = max(int(centres["n"].max()) if len(centres) else 10, 10)
    grid = np.unique(np.linspace(1, n_max * 1.1, 300).round().astype(int))
    # A registry rate resting on 1..k-1 events (e.g. the sidebar filtered to one small centre)
    # would give the count away through the line's height: not drawn for bound roles.
    rate_hidden = not release.exact and (release.is_small(total_e) or release.is_small(total_n - total_e))
    levels = () if rate_hidden else ((0.998, dict(dash="dash", color="#777")), (0.95, dict(dash="dot", color="#777")))
    if rate_hidden:
        shown = shown.iloc[0:0]
        few_events = centres[drawable]
    for level, style in levels:
        lo, hi = funnel_limits(rate, grid, level)
        name = f"{level:.1%} limits".replace(".0%", "%")
        fig.add_trace(go.Scatter(x=grid.tolist(), y=lo.tolist(), mode="lines", line=style, name=name, legendgroup=name,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=grid.tolist(), y=hi.tolist(), mode="lines", line=style, name=name, legendgroup=name,
                                 showlegend=False, hoverinfo="skip"))
    if not rate_hidden:
        fig.add_trace(go.Scatter(x=[int(grid[0]), int(grid[-1])], y=[rate, rate], mode="lines",
                                 line=dict(color="#222", width=1.5), name=f"Registry rate {release.proportion(total_e, total_n)}",
                                 hoverinfo="skip"))
    if not shown.empty:
        lo95, hi95 = funnel_limits(rate, shown["n"].to_numpy(), 0.95)
        lo998, hi998 = funnel_limits(rate, shown["n"].to_numpy(), 0.998)
        rates = shown["events"] / shown["n"]
        flag = np.where((rates > hi998) | (rates < lo998), "outside 99.8%",
                        np.where((rates > hi95) | (rates < lo95), "outside 95%", "within limits"))
        colours = {"within limits": OKABE_ITO[0], "outside 95%": OKABE_ITO[4], "outside 99.8%": OKABE_ITO[1]}
        events_shown = release.counts(shown["events"])
        n_shown = release.counts(shown["n"])
        fig.add_trace(release.mark_counts(
            go.Scatter(
                x=shown["n"].astype(int).tolist() if release.exact else [r.value for r in n_shown],
                y=rates.astype(float).tolist(),
                mode="markers+text",
                text=shown["centre_code"].astype(str).tolist(),
                textposition="top center",
                marker=dict(size=11, color=[colours[f] for f in flag], line=dict(color="white", width=1)),
                customdata=[[e.text, str(f), n.text] for e, n, f in zip(events_shown, n_shown, flag, strict=True)],
                name="Centres",
                hovertemplate="%{text}: %{customdata[0]} of %{customdata[2]} (%{y:.1%})<br>%{customdata[1]}<extra></extra>",
            ), "x", "customdata.0", "customdata.2"),
        )
    base_layout(fig, title=title, height=520)
    y_hi = max((0.0 if rate_hidden else rate) * 3, float((shown["events"] / shown["n"]).max()) * 1.15 if len(shown) else 0, 0.05)
    fig.update_layout(xaxis_title="Number of transplants", yaxis_title=rate_label, yaxis_tickformat=".0%",
                      yaxis_range=[0, min(1.0, y_hi)], margin=dict(l=80))
    note = ""
    if len(hidden):
        note = (f" {len(hidden)} centre(s) with fewer than {min_group_size} transplants are in the registry "
                f"rate but not drawn.")
    if rate_hidden:
        note += f" No registry rate or limits: fewer than {release.k} events (or survivors) in this cohort."
    elif len(few_events):
        note += (f" Not drawn, fewer than {release.k} events or survivors (the rate would give the count away): "
                 f"{', '.join(few_events['centre_code'].astype(str))}.")
    if not release.exact:
        note += " " + release.footnote()
    add_caption(fig, caption + note)
    return fig
