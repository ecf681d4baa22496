"""One real-browser test: `msreg dashboard` serves a small demo registry, and headless Chromium
opens every page without an error element. Screenshots go to pytest's tmp_path (not committed).

Why in a real browser as well as AppTest: AppTest runs the script, not the front end; only a
browser shows that the Plotly figures, the navigation and the server configuration work
together.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.dashboard.demo_registry import fill_with_demo

CHROMIUM = Path("/usr/bin/chromium")
PAGES: tuple[str, ...] = ("overview", "outcomes", "safety", "quality", "timeline", "patient", "entry", "export")
DEFAULT_PAGE = "overview"
# What each page shows once its script has run: waiting for it (not only for the status
# widget, which may not have appeared yet right after navigation) makes the check meaningful.
PLOTLY = ".js-plotly-plot .main-svg"
RENDERED = {
    "overview": PLOTLY,
    "outcomes": PLOTLY,
    "safety": PLOTLY,
    "quality": '[data-testid="stDataFrame"]',
    "timeline": PLOTLY,
    "patient": '[data-testid="stSelectbox"]',
    "entry": '[data-testid="stForm"]',
    "export": '[data-testid="stDownloadButton"]',
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"msreg dashboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"dashboard not healthy at {url} after {timeout} s")


@contextlib.contextmanager
def running_dashboard(url: str, env: Mapping[str, str], log: Path | None = None) -> Iterator[str]:
    """`msreg dashboard` on a free port for `url` with `env`, healthy; its base address. The
    server's output goes to `log` (else nowhere); it is stopped (killed if it hangs) on exit."""
    port = _free_port()
    msreg = Path(sys.executable).with_name("msreg")
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(log, "w")) if log is not None else subprocess.DEVNULL
        proc = subprocess.Popen([str(msreg), "dashboard", "--port", str(port), "--db", url], env=dict(env),
                                stdout=out, stderr=subprocess.STDOUT)
        base = f"http://localhost:{port}"
        try:
            _wait_healthy(base, proc)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def launch_chromium(pw):  # type: ignore[no-untyped-def]
    """Debian's headless Chromium through Playwright, with the flags this machine needs."""
    return pw.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


def _mark_synthetic(url: str) -> None:
    from registry.security.access import cli_actor
    from registry.db import make_engine, session_scope
    from registry.synthetic import mark_synthetic

    engine = make_engine(url)
    with session_scope(engine) as session:
        mark_synthetic(session, cli_actor())
    engine.dispose()


@pytest.fixture(scope="module")
def served_dashboard(tmp_path_factory, sqlite_template):  # type: ignore[no-untyped-def]
    import shutil

    db = tmp_path_factory.mktemp("browser") / "demo.db"
    shutil.copyfile(sqlite_template, db)
    url = f"sqlite:///{db}"
    fill_with_demo(url, 300)
    _mark_synthetic(url)  # as `msreg demo` does: every page must then say so
    env = {**os.environ, "MSREG_DASHBOARD_NO_LOGIN": "1", "MSREG_DASHBOARD_NO_LOGIN_AS": "admin"}
    with running_dashboard(url, env) as base:
        yield base


def test_every_page_renders_in_headless_chromium_without_errors(served_dashboard, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for name in PAGES:
                path = "" if name == DEFAULT_PAGE else name  # the default page lives at the root URL
                page.goto(f"{served_dashboard}/{path}", wait_until="domcontentloaded")
                page.wait_for_selector("h1", timeout=60_000)
                page.wait_for_selector(RENDERED[name], timeout=60_000)
                page.wait_for_function(
                    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
                )
                page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
                assert page.locator('[data-testid="stException"]').count() == 0, f"error element on page {name}"
                assert page.get_by_text("Page not found").count() == 0, f"no page at /{path}"
                assert page.locator("h1").first.inner_text().strip(), f"no title on page {name}"
                assert page.get_by_text("synthetic demo data").first.is_visible(), f"no synthetic-data badge on {name}"
        finally:
            browser.close()
