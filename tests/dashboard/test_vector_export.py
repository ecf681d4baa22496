"""Every figure can be saved as SVG and PDF, rendered offline by the same renderer the pages use.

These render real files through kaleido and Debian's headless Chromium and read them back: the
SVG is XML whose text includes the figure's title and risk-table labels, the PDF is a real PDF
whose extracted text has the same words.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from dashboard.downloads import file_stem
from dashboard.figures import km_figure
from dashboard.figures.vector import VectorExportError, chromium_path, figure_bytes

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None, reason="no headless Chromium (apt-get install chromium)"),
]


def _figure():  # type: ignore[no-untyped-def]
    curves = pd.DataFrame({"group": ["A", "A"], "time": [100, 400], "estimate": [0.9, 0.8],
                           "lower": [0.8, 0.65], "upper": [0.97, 0.9], "n_censor": [0, 1]})
    risk = pd.DataFrame({"group": ["A", "A"], "time": [0, 365], "n_risk": [10, 8],
                         "n_event": [0, 1], "n_censor": [0, 1]})
    return km_figure(curves, risk, title="Relapse-free survival", caption="Synthetic cohort; settings default")


def _svg_text(svg: bytes) -> str:
    root = ET.fromstring(svg)
    return " ".join(t for el in root.iter() for t in (el.text,) if t)


def test_svg_is_vector_xml_with_the_figures_words() -> None:
    svg = figure_bytes(_figure(), "svg")
    text = _svg_text(svg)
    assert svg.lstrip().startswith(b"<svg")
    assert "Relapse-free survival" in text
    assert "At risk" in text or "at risk" in text.lower()
    assert b"<image" not in svg, "a vector file must not embed a raster picture of the plot"


def test_pdf_is_a_real_pdf_with_the_figures_words() -> None:
    import pypdfium2 as pdfium

    pdf = figure_bytes(_figure(), "pdf")
    assert pdf.startswith(b"%PDF")
    doc = pdfium.PdfDocument(pdf)
    text = doc[0].get_textpage().get_text_range()
    assert "Relapse-free survival" in text


def test_an_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(VectorExportError, match="unknown figure format 'png'"):
        figure_bytes(_figure(), "png")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("title", "stem"),
    [("Relapse-free survival", "relapse-free-survival"), ("TRM (1 year) / centre", "trm-1-year-centre"), ("", "figure")],
)
def test_file_names_come_from_the_title(title: str, stem: str) -> None:
    assert file_stem(title) == stem
