"""No text drawn over other text, and none cut off, at 1280 and 1920 pixels wide.

In a real browser, on every page, the bounding boxes of every text element of every Plotly
figure (titles, axis titles, tick labels, legend entries, annotations such as captions, the
risk table's cells) are read back; two boxes that overlap, or a box that runs past its figure's
edge, fail the test with the page, the width and both texts. Screenshots of both widths go to
pytest's tmp_path for a person to look at.

Besides each page as it opens, views are opened through their address (the grouping controls
are bound to it): Outcomes and Safety by centre, twelve centres drawn as small multiples
(dashboard/figures/facets.py), with Outcomes' Cox forest plot, and Outcomes by phenotype (long
group names in the risk table); Safety's engraftment is by centre by default.
"""

from __future__ import annotations

import pytest

from tests.dashboard.test_browser import CHROMIUM, DEFAULT_PAGE, PAGES, RENDERED, launch_chromium, served_dashboard  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)"),
]

WIDTHS = (1280, 1920)
SLACK = 1.0  # pixels of overlap tolerated (anti-aliasing of adjacent glyph boxes)
# (page, query, a text the view must draw) opened after the pages themselves: figures with more
# groups than MANY_GROUPS (small multiples), with Outcomes' NEDA-3 Cox forest plot (its terms name
# levels in words: long labels), and groups with long names in the risk table.
VIEWS: tuple[tuple[str, str, str], ...] = (
    ("outcomes", "o_endpoint=NEDA-3%20survival&o_by=Centre", "All patients (pooled)"),
    ("safety", "sf_trm_by=Centre", "All patients (pooled)"),
    ("outcomes", "o_by=Phenotype", "Secondary progressive MS · censored"),
)

# Text boxes of each figure, with a readable name; hover labels and the mode bar are not drawn text.
COLLECT_JS = """
() => Array.from(document.querySelectorAll('.js-plotly-plot')).map((plot, figure) => {
  const svg = plot.querySelector('.main-svg');
  const frame = svg.getBoundingClientRect();
  const texts = Array.from(plot.querySelectorAll('svg text')).filter(t =>
      !t.closest('.hoverlayer') && !t.closest('.modebar') && t.textContent.trim() &&
      getComputedStyle(t).visibility !== 'hidden' && getComputedStyle(t).display !== 'none' &&
      parseFloat(getComputedStyle(t).opacity || '1') > 0);
  return {figure, title: (plot.querySelector('.gtitle') || {}).textContent || '',
          frame: {l: frame.left, r: frame.right, t: frame.top, b: frame.bottom},
          boxes: texts.map(t => { const r = t.getBoundingClientRect();
            const kind = t.closest('.legend') ? 'legend' : t.closest('.infolayer .annotation') ? 'annotation'
              : t.closest('.xtick, .ytick') ? 'tick' : t.closest('.g-xtitle, .g-ytitle, .g-x2title, .g-y2title') ? 'axis title'
              : t.classList.contains('gtitle') ? 'title' : t.closest('.textpoint') ? 'table cell' : 'text';
            return {kind, text: t.textContent.slice(0, 60), l: r.left, r: r.right, t: r.top, b: r.bottom}; })
            .filter(b => b.r - b.l > 0 && b.b - b.t > 0)};
})
"""


def overlaps(a: dict, b: dict) -> bool:
    return min(a["r"], b["r"]) - max(a["l"], b["l"]) > SLACK and min(a["b"], b["b"]) - max(a["t"], b["t"]) > SLACK


def problems(figures: list[dict]) -> list[str]:
    """Every pair of overlapping text boxes, and every box outside its figure."""
    found = []
    for fig in figures:
        boxes, frame = fig["boxes"], fig["frame"]
        for i, a in enumerate(boxes):
            if a["l"] < frame["l"] - SLACK or a["r"] > frame["r"] + SLACK:
                found.append(f"figure {fig['title']!r}: {a['kind']} {a['text']!r} is cut off at the figure's edge")
            for b in boxes[i + 1 :]:
                if overlaps(a, b):
                    found.append(f"figure {fig['title']!r}: {a['kind']} {a['text']!r} overlaps {b['kind']} {b['text']!r}")
    return found


def test_overlap_rule_finds_overlaps_and_cut_off_text() -> None:
    frame = {"l": 0, "r": 100, "t": 0, "b": 100}
    a = {"kind": "axis title", "text": "Year", "l": 10, "r": 40, "t": 80, "b": 90}
    b = {"kind": "annotation", "text": "Cohort", "l": 30, "r": 90, "t": 85, "b": 95}
    c = {"kind": "tick", "text": "2020", "l": 95, "r": 120, "t": 10, "b": 20}
    out = problems([{"title": "t", "frame": frame, "boxes": [a, b, c]}])
    assert out == ["figure 't': axis title 'Year' overlaps annotation 'Cohort'",
                   "figure 't': tick '2020' is cut off at the figure's edge"]


@pytest.mark.parametrize("width", WIDTHS)
def test_no_text_overlaps_or_is_cut_off_on_any_page(served_dashboard, tmp_path, width: int) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    found: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1000})
            views = [(name, "", "") for name in PAGES] + list(VIEWS)
            for i, (name, query, must_show) in enumerate(views):
                path = ("" if name == DEFAULT_PAGE else name) + (f"?{query}" if query else "")
                page.goto(f"{served_dashboard}/{path}", wait_until="domcontentloaded")
                page.wait_for_selector(RENDERED[name], timeout=60_000)
                page.wait_for_function(
                    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
                )
                page.wait_for_timeout(500)  # Plotly lays out once more after the first paint
                figures = page.evaluate(COLLECT_JS)
                if must_show:  # the view is the one meant (its control took the address's value)
                    assert any(b["text"] == must_show for f in figures for b in f["boxes"]), (name, query, must_show)
                page.screenshot(path=str(tmp_path / f"{i:02d}-{name}-{width}.png"),
                                full_page=True)
                found += [f"{path or name} at {width}px: {p}" for p in problems(figures)]
        finally:
            browser.close()
    assert not found, "\n".join(found)
