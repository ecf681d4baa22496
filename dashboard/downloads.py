"""A figure on a page with its "SVG" and "PDF" download buttons.

Why deferred: rendering a vector file takes a second or two in a headless browser, so the file
is made only when someone clicks its button (Streamlit calls `data` then), never on every rerun.
The figure saved is the one drawn, with the same disclosure applied: it is the same object
(`FigureFile.figure`, which tests/dashboard/test_released_payload.py reads back for every
button and scans like the chart sent to the browser).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import plotly.graph_objects as go
import streamlit as st

from dashboard.figures.vector import FORMATS, MIME, VectorFormat, figure_bytes


def file_stem(title: str) -> str:
    """A safe file name from a figure's title: lower case, words joined by hyphens."""
    stem = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return stem[:80] or "figure"


@dataclass(frozen=True, eq=False)
class FigureFile:
    """The bytes of one download button, made when it is clicked: `figure` as `fmt`."""

    figure: go.Figure
    fmt: VectorFormat

    def __call__(self) -> bytes:
        return figure_bytes(self.figure, self.fmt)


def show_figure(fig: go.Figure, *, key: str, name: str | None = None) -> None:
    """Draw `fig` full width (of its column) and offer it as SVG and PDF (rendered on click).

    `key` must be stable and unique on the page: the chart is `key`, its buttons `key_svg` and
    `key_pdf` (tests and the browser find them by it).
    """
    st.plotly_chart(fig, theme=None, width="stretch", key=key)
    title = name or (fig.layout.title.text if fig.layout.title and fig.layout.title.text else key)
    stem = file_stem(re.sub(r"<[^>]+>", " ", title))
    # A row sized to the buttons (not columns): it fits a figure in a narrow column as well.
    with st.container(horizontal=True, gap="small"):
        for fmt in FORMATS:
            st.download_button(
                f"Save {fmt.upper()}",
                data=FigureFile(fig, fmt),
                file_name=f"{stem}.{fmt}",
                mime=MIME[fmt],
                key=f"{key}_{fmt}",
                on_click="ignore",
                help=f"Download this figure as a vector {fmt.upper()} file (for papers and committee packs).",
            )
