"""A figure on a page with its "SVG" and "PDF" download buttons.

Why deferred: rendering a vector file takes a second or two in a headless browser, so the file
is made only when someone clicks its button (Streamlit calls `data` then), never on every rerun.
The figure saved is the one drawn, with the same disclosure applied: it is the same object.
"""

from __future__ import annotations

import re

import plotly.graph_objects as go
import streamlit as st

from dashboard.figures.vector import FORMATS, MIME, figure_bytes


def file_stem(title: str) -> str:
    """A safe file name from a figure's title: lower case, words joined by hyphens."""
    stem = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return stem[:80] or "figure"


def show_figure(fig: go.Figure, *, key: str, name: str | None = None) -> None:
    """Draw `fig` full width and offer it as SVG and PDF (rendered on click)."""
    st.plotly_chart(fig, theme=None, width="stretch", key=key)
    title = name or (fig.layout.title.text if fig.layout.title and fig.layout.title.text else key)
    stem = file_stem(re.sub(r"<[^>]+>", " ", title))
    cols = st.columns([1, 1, 8])
    for col, fmt in zip(cols, FORMATS, strict=False):
        col.download_button(
            f"Save {fmt.upper()}",
            data=lambda fmt=fmt: figure_bytes(fig, fmt),
            file_name=f"{stem}.{fmt}",
            mime=MIME[fmt],
            key=f"{key}_{fmt}",
            on_click="ignore",
            help=f"Download this figure as a vector {fmt.upper()} file (for papers and committee packs).",
        )
