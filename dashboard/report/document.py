"""A report as data (sections of paragraphs, tables and figures) and its HTML rendering.

Why HTML: the PDF is printed by headless Chromium from HTML with CSS paged media (page size,
running header with the report's date, page numbers), so tables break across pages cleanly and
the figures are the same Plotly figures the pages draw, embedded as vector SVG.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # (caption, table of display strings)
    figures: list[go.Figure] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)  # after the section's own content, as h3


@dataclass
class Report:
    title: str
    subtitle: str
    generated: str  # e.g. "2026-12-01 19:40 UTC": on every page's header
    sections: list[Section]
    footer: str = ""  # on every page, e.g. the disclosure policy or "synthetic demo data"


CSS = """
@page { size: A4; margin: 20mm 16mm 18mm 16mm;
  @top-left { content: "{title}"; font: 9pt Arial, sans-serif; color: #555; }
  @top-right { content: "{generated}"; font: 9pt Arial, sans-serif; color: #555; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font: 9pt Arial, sans-serif; color: #555;
                  white-space: nowrap; }
  @bottom-left { content: "{footer}"; font: 7pt Arial, sans-serif; color: #777; }
}
body { font: 10pt Arial, Helvetica, sans-serif; color: #222; }
h1 { font-size: 18pt; margin: 0 0 4pt 0; }
h2 { font-size: 13pt; margin: 14pt 0 4pt 0; border-bottom: 1px solid #999; break-after: avoid; }
h3 { font-size: 11pt; margin: 10pt 0 3pt 0; break-after: avoid; }
p.subtitle { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 4pt 0 10pt 0; font-size: 9pt; break-inside: auto; }
caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: 2pt; }
th, td { border-bottom: 1px solid #ccc; padding: 2pt 6pt; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
div.figure { break-inside: avoid; margin: 6pt 0; }
div.figure svg { width: 100%; height: auto; }
"""


def _table_html(caption: str, table: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if pd.isna(v) else str(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    return f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _section_html(section: Section, figure_svg, *, level: int) -> list[str]:  # type: ignore[no-untyped-def]
    parts = [f"<h{level}>{html.escape(section.title)}</h{level}>"]
    parts.extend(f"<p>{html.escape(p)}</p>" for p in section.paragraphs)
    for caption, table in section.tables:
        parts.append(_table_html(caption, table))
    for fig in section.figures:
        svg = figure_svg(fig).decode("utf-8")
        parts.append(f"<div class='figure'>{svg}</div>")
    for sub in section.subsections:
        parts.extend(_section_html(sub, figure_svg, level=level + 1))
    return parts


def render_html(report: Report, *, figure_svg) -> str:  # type: ignore[no-untyped-def]
    """The report as one self-contained HTML page; `figure_svg(fig) -> bytes` renders figures."""
    css = CSS.replace("{title}", report.title.replace('"', "'")).replace("{generated}", report.generated).replace(
        "{footer}", report.footer.replace('"', "'"))
    parts = [f"<h1>{html.escape(report.title)}</h1>", f"<p class='subtitle'>{html.escape(report.subtitle)}</p>"]
    for section in report.sections:
        parts.extend(_section_html(section, figure_svg, level=2))
    body = "\n".join(parts)
    return f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(report.title)}</title><style>{css}</style></head><body>{body}</body></html>"
