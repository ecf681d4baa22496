"""Small multiples: one panel per group, each group's curve against the pooled curve in grey.

Why small multiples past six groups (MANY_GROUPS): twelve centre curves on one plot are a
tangle where the eye can follow none, colours repeat after eight and dashes do not save it.
One panel per group, all on the same axes, with the whole cohort's curve drawn in grey in
every panel, answers the question a reader asks of each centre ("is this one above or below
the registry?") at a glance, prints in black and white, and needs no interaction, so a saved
SVG or PDF shows every group (a "highlight one group" control would show one per file). Each
panel keeps its number at risk under its own time axis (KMunicate's first row), released
like every count.

Disclosure is the caller's (dashboard/figures/survival.py, engraftment.py): groups too small
to draw, or whose events would be counted by the steps, arrive in `no_curve` with the reason
shown in their panel; their number at risk still shows, as "<5" or released.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from dashboard.figures.style import FONT, OKABE_ITO, add_caption, rgba, wrap

POOLED_COLOUR = "#8C8C8C"
GROUP_COLOUR = OKABE_ITO[0]
# Pixel heights of one row of panels: title, plot, tick labels, number at risk, gap below.
TITLE_PX, PLOT_PX, TICKS_PX, RISK_PX, GAP_PX = 34, 150, 20, 16, 26
TOP_PX = 108  # figure title and the legend under it
H_GAP = 0.045  # between panel columns, as a fraction of the plot width
TITLE_CHARS = 30  # panel titles wrap here (two lines fit TITLE_PX)


def facet_columns(n_groups: int) -> int:
    """Three panels a row up to twelve groups (readable at 1280 px), four beyond."""
    return 3 if n_groups <= 12 else 4


def small_multiples(
    groups: Sequence[str],
    *,
    curve: Callable[[str], pd.DataFrame | None],
    pooled: pd.DataFrame | None,
    no_curve: Mapping[str, str],
    risk: Callable[[str], tuple[list[float], list[str]]] | None,
    title: str,
    caption: str,
    x: Callable[[Sequence[float]], list[float]],
    x_title: str,
    x_range: tuple[float, float],
    dtick: float,
    y_title: str,
    y_range: tuple[float, float],
    start: float,
    hover_time: str,
    pooled_name: str = "All patients (pooled)",
    censor_ticks: Callable[[str], pd.DataFrame | None] | None = None,
    test_text: str = "",
) -> go.Figure:
    """A grid of panels, one per group in `groups` order.

    `curve(group)` gives the drawn part of a group's curve (``time, estimate, lower, upper``,
    time in days; the caller has cut it where too few remain at risk) or None; `pooled` the
    cohort's curve, drawn grey in every panel (None: not drawn). `no_curve` maps a group to
    the reason it has no curve. `risk(group)` gives the number-at-risk row (x in days, released
    texts); `x` turns days into the axis unit.
    """
    n = len(groups)
    cols = facet_columns(n)
    rows = math.ceil(n / cols)
    block = TITLE_PX + PLOT_PX + TICKS_PX + (RISK_PX if risk else 0) + GAP_PX
    grid_px = rows * block + 10
    height = TOP_PX + grid_px
    width = (1 - H_GAP * (cols - 1)) / cols
    fig = go.Figure()
    layout: dict = {}
    annotations: list[dict] = []

    def frac(px: float) -> float:
        return 1 - px / grid_px

    pooled_x = pooled_y = None
    if pooled is not None and len(pooled):
        p = pooled.sort_values("time", kind="stable")
        pooled_x = x([0.0, *p["time"].astype(float)])
        pooled_y = [start, *p["estimate"].astype(float)]
    for i, group in enumerate(groups):
        r, c = divmod(i, cols)
        k = i + 1
        xa, ya = f"x{k if k > 1 else ''}", f"y{k if k > 1 else ''}"
        top = r * block + TITLE_PX
        x_domain = [c * (width + H_GAP), c * (width + H_GAP) + width]
        layout[f"xaxis{k if k > 1 else ''}"] = dict(
            domain=x_domain, anchor=ya, range=list(x_range), dtick=dtick, tick0=0, zeroline=False,
            matches="x" if k > 1 else None, showline=True, ticks="outside", tickfont=dict(size=11),
        )
        layout[f"yaxis{k if k > 1 else ''}"] = dict(
            domain=[frac(top + PLOT_PX), frac(top)], anchor=xa, range=list(y_range), tickformat=".0%",
            matches="y" if k > 1 else None, showticklabels=c == 0, showline=True, ticks="outside",
            tickfont=dict(size=11), showgrid=True, gridcolor="#EEEEEE",
        )
        annotations.append(dict(
            text=wrap(group, TITLE_CHARS), xref="paper", yref="paper", x=x_domain[0], y=frac(top - 2),
            xanchor="left", yanchor="bottom", showarrow=False, align="left", font=dict(size=12, color="#222222"),
            name=f"panel {group}",
        ))
        if pooled_x is not None:
            fig.add_trace(go.Scatter(
                x=pooled_x, y=pooled_y, mode="lines", line=dict(color=POOLED_COLOUR, width=1.5), line_shape="hv",
                name=pooled_name, legendgroup="pooled", showlegend=False, hoverinfo="skip", xaxis=xa, yaxis=ya,
            ))
        g = curve(group)
        if g is not None and len(g):
            t = [0.0, *g["time"].astype(float)]
            xs = x(t)
            est = [start, *g["estimate"].astype(float)]
            lower = [start, *g["lower"].astype(float).fillna(g["estimate"].astype(float))]
            upper = [start, *g["upper"].astype(float).fillna(g["estimate"].astype(float))]
            common = dict(legendgroup="panel", line_shape="hv", hoverinfo="skip", showlegend=False, xaxis=xa, yaxis=ya)
            fig.add_trace(go.Scatter(x=xs, y=lower, mode="lines", line=dict(width=0, color=GROUP_COLOUR),
                                     name=f"{group} 95% CI lower", **common))
            fig.add_trace(go.Scatter(x=xs, y=upper, mode="lines", line=dict(width=0, color=GROUP_COLOUR), fill="tonexty",
                                     fillcolor=rgba(GROUP_COLOUR, 0.18), name=f"{group} 95% CI", **common))
            fig.add_trace(go.Scatter(
                x=xs, y=est, mode="lines", line=dict(color=GROUP_COLOUR, width=2.2), line_shape="hv", name=group,
                legendgroup="panel", showlegend=False, customdata=t, xaxis=xa, yaxis=ya,
                hovertemplate=f"{group}<br>{hover_time}<br>%{{y:.1%}}<extra></extra>",
            ))
            cens = censor_ticks(group) if censor_ticks is not None else None
            if cens is not None and len(cens):
                fig.add_trace(go.Scatter(
                    x=x(cens["time"].astype(float)), y=cens["estimate"].astype(float).tolist(),
                    customdata=cens["time"].astype(float).tolist(), mode="markers",
                    marker=dict(symbol="line-ns-open", size=7, color=GROUP_COLOUR, line=dict(width=1.2, color=GROUP_COLOUR)),
                    name=f"{group} censor ticks", legendgroup="panel", showlegend=False, xaxis=xa, yaxis=ya,
                    hovertemplate=f"{group} censored<br>{hover_time}<extra></extra>",
                ))
        if group in no_curve:
            annotations.append(dict(
                text=wrap(no_curve[group], 32), xref=f"{xa} domain", yref=f"{ya} domain", x=0.5, y=0.5,
                xanchor="center", yanchor="middle", showarrow=False, font=dict(size=11, color="#555555"),
                bgcolor="rgba(255,255,255,0.85)", name=f"no curve {group}",
            ))
        if risk is not None:
            rk = n + k
            ry = f"y{rk}"
            rtop = top + PLOT_PX + TICKS_PX
            layout[f"yaxis{rk}"] = dict(
                domain=[frac(rtop + RISK_PX), frac(rtop)], anchor=xa, type="category", categoryarray=["At risk"],
                range=[-0.5, 0.5], showline=False, ticks="", showgrid=False, showticklabels=c == 0,
                tickfont=dict(size=10, color="#444444"), fixedrange=True,
            )
            times, texts = risk(group)
            if times:
                fig.add_trace(go.Scatter(
                    x=x(times), y=["At risk"] * len(times), mode="text", text=texts,
                    textfont=dict(color="#222222", size=10), name=f"{group} at risk", showlegend=False,
                    hoverinfo="skip", xaxis=xa, yaxis=ry, meta={"msreg_counts": ["text"]},
                ))
    # The legend: one entry for the panels' own curves, one for the grey pooled curve.
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color=GROUP_COLOUR, width=2.2),
                             name="The panel's group (95% CI band)", legendgroup="panel", hoverinfo="skip"))
    if pooled_x is not None:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color=POOLED_COLOUR, width=1.5),
                                 name=pooled_name, legendgroup="pooled", hoverinfo="skip"))
    annotations.append(dict(text=x_title, xref="paper", yref="paper", x=0.5, y=0, yshift=-2, xanchor="center",
                            yanchor="top", showarrow=False, font=dict(size=14, color="#222222"), name="x title"))
    annotations.append(dict(text=y_title, xref="paper", yref="paper", x=0, xshift=-52, y=0.5, xanchor="center",
                            yanchor="middle", textangle=-90, showarrow=False, font=dict(size=14, color="#222222"),
                            name="y title"))
    if test_text:
        # on the legend's line, at the right: paper y = 1 is TOP_PX below the figure's top
        annotations.append(dict(text=test_text, xref="paper", yref="paper", x=1, y=1, yshift=TOP_PX - 60,
                                xanchor="right", yanchor="top", showarrow=False, font=dict(size=12, color="#222222"),
                                name="test"))
    fig.update_layout(
        **layout,
        annotations=annotations,
        title=dict(text=title, x=0, xanchor="left", y=1 - 14 / height, yanchor="top", yref="container",
                   pad=dict(l=8)),
        template="simple_white",
        font=FONT,
        height=height,
        legend=dict(orientation="h", x=0, xanchor="left", y=1 - 60 / height, yanchor="top", yref="container",
                    font=dict(size=12)),
        margin=dict(l=78, r=20, t=TOP_PX, b=30),
        hovermode="closest",
        showlegend=True,
    )
    add_caption(fig, caption, below_px=30, base_margin=10)
    fig.update_layout(height=TOP_PX + grid_px + (fig.layout.margin.b or 30))
    return fig
