"""A figure saved from the page, in a real browser: log in, click Save SVG and Save PDF under
the Outcomes page's survival figure, then the Safety page's committee report button, and read
the downloaded files.

One server (`msreg dashboard` on the small test registry) and one login, as a governance user,
so the files must carry the released counts of the page (registry.security.disclosure): the risk
table's numbers in the SVG are "<5", 0 or rounded to 5. The SVG is parsed as XML and must have
the figure's title and axis text; the PDF must start with %PDF and its text (pypdfium2) must
have the title. The report is a paginated PDF with the report's title, and the download is in
the access log under the governance user's name.
"""

from __future__ import annotations

import os
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from registry.security import auth
from registry.security.access import Actor
from registry.db import make_engine, session_scope
from tests.dashboard.cohort import build_registry
from tests.dashboard.test_browser import CHROMIUM, launch_chromium, running_dashboard

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)"),
]
PASSWORD = "a long enough password"
TITLE = "Relapse-free survival"
SVG = "{http://www.w3.org/2000/svg}"


def test_save_svg_and_pdf_from_the_outcomes_page(sqlite_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    engine = make_engine(sqlite_url)
    build_registry(engine)
    with session_scope(engine) as s:
        auth.add_user(s, Actor("boss", "admin"), "gina", "governance", None, PASSWORD)
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSREG_DASHBOARD_NO_LOGIN")}
    files: dict[str, bytes] = {}
    seconds: dict[str, float] = {}
    with running_dashboard(sqlite_url, env) as base:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
                page.goto(base, wait_until="domcontentloaded")
                page.get_by_role("textbox", name="Username").fill("gina")
                page.get_by_role("textbox", name="Password").fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=60_000)  # the Overview, logged in
                # through the navigation (a new address would be a new session, logged out)
                page.get_by_role("link", name="Outcomes").first.click()
                page.locator(".js-plotly-plot .gtitle", has_text=TITLE).first.wait_for(timeout=60_000)
                page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                       timeout=60_000)
                for fmt in ("svg", "pdf"):
                    # the first figure's buttons: Outcomes' survival figure
                    button = page.locator('[data-testid="stDownloadButton"]').filter(has_text=f"Save {fmt.upper()}").first
                    started = time.monotonic()
                    with page.expect_download(timeout=90_000) as download:
                        button.click()
                    seconds[fmt] = time.monotonic() - started
                    assert download.value.suggested_filename == f"relapse-free-survival.{fmt}"
                    files[fmt] = Path(download.value.path()).read_bytes()
                page.screenshot(path=str(tmp_path / "outcomes.png"))
                page.get_by_role("link", name="Safety").first.click()
                report_button = page.locator('[data-testid="stDownloadButton"]').filter(has_text="Committee safety report")
                report_button.wait_for(timeout=90_000)
                page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                       timeout=90_000)
                with page.expect_download(timeout=120_000) as download:
                    report_button.click()
                assert download.value.suggested_filename == "committee-safety-report.pdf"
                files["report"] = Path(download.value.path()).read_bytes()
            finally:
                browser.close()

    root = ET.fromstring(files["svg"])  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    texts = [" ".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]
    assert {TITLE, "Years since transplant", "Relapse-free (%)", "At risk"} <= set(texts), texts
    assert b"<image" not in files["svg"], "vector, not a picture of the plot"
    cells = [" ".join(g.itertext()).strip() for g in root.iter(f"{SVG}g") if "textpoint" in (g.get("class") or "")]
    counts = [c for c in cells if re.fullmatch(r"\d+|<5", c)]
    assert counts, "the risk table is in the file"
    assert all(c == "<5" or int(c) % 5 == 0 for c in counts), f"counts not released for governance: {counts}"

    import pypdfium2 as pdfium

    assert files["pdf"].startswith(b"%PDF")
    pdf = pdfium.PdfDocument(files["pdf"])
    assert TITLE in pdf[0].get_textpage().get_text_range()
    report = pdfium.PdfDocument(files["report"])
    assert len(report) > 1, "paginated"
    first = report[0].get_textpage().get_text_range()
    assert "committee safety report" in first
    downloads = _access_events(sqlite_url, "download")
    assert any(actor == "gina" and "committee safety report" in details for actor, details in downloads), downloads
    print(f"click to file: SVG {seconds['svg']:.1f} s, PDF {seconds['pdf']:.1f} s")


def _access_events(url: str, event: str) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from registry.models import AccessEvent

    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            return [(a, d) for a, d in s.execute(select(AccessEvent.actor, AccessEvent.details).where(AccessEvent.event == event))]
    finally:
        engine.dispose()
