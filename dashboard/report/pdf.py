"""HTML → PDF with the machine's headless Chromium (offline; it downloads nothing).

Why Chromium's own printer: it implements CSS paged media (page margins, running headers, page
counters), which a committee pack needs, and it is already required for vector figures.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from dashboard.figures.vector import chromium_path

TIMEOUT_SECONDS = 120


class ReportError(RuntimeError):
    """The report could not be written; the message says why and what to do."""


def html_to_pdf(html: str, out: Path) -> None:
    """Print `html` to the PDF file `out` (written next to its final name, then renamed)."""
    browser = chromium_path()
    if browser is None:
        raise ReportError("no Chromium found to print the report (install Debian's `chromium`, or set BROWSER_PATH)")
    out = Path(out)
    if not out.parent.is_dir():
        raise ReportError(f"cannot write {out}: folder {out.parent} does not exist")
    with tempfile.TemporaryDirectory(prefix=".msreg-report-", dir=out.parent) as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        pdf = Path(tmp) / "report.pdf"
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--no-first-run", "--no-pdf-header-footer", f"--user-data-dir={tmp}/profile",
               f"--print-to-pdf={pdf}", page.as_uri()]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise ReportError(f"Chromium did not finish printing the report within {TIMEOUT_SECONDS} s") from None
        if done.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
            tail = (done.stderr or "").strip().splitlines()[-3:]
            raise ReportError("Chromium could not print the report: " + (" / ".join(tail) or f"exit {done.returncode}"))
        os.replace(pdf, out)
