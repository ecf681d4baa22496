"""The idle timeout is enforced by the server: in a real browser, after the idle time with no
click at all, the page content is replaced by the login form, and the timeout is logged.

`MSREG_DASHBOARD_IDLE_MINUTES=0.05` (3 s) makes the server re-check every second.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from registry.security import auth
from registry.security.access import Actor
from registry.db import make_engine, make_session_factory, session_scope
from registry.models import AccessEvent
from tests.dashboard.test_browser import CHROMIUM, launch_chromium, running_dashboard

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)"),
]
PASSWORD = "a long enough password"


def test_an_idle_session_is_hidden_without_waiting_for_a_click(sqlite_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        auth.add_user(s, Actor("boss", "admin"), "ann", "admin", None, PASSWORD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSREG_DASHBOARD_NO_LOGIN")}
    env["MSREG_DASHBOARD_IDLE_MINUTES"] = "0.05"
    with running_dashboard(sqlite_url, env) as base:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page()
                page.goto(base, wait_until="domcontentloaded")
                page.get_by_role("textbox", name="Username").fill("ann")
                page.get_by_role("textbox", name="Password").fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                page.get_by_text("The registry has no transplants yet.").wait_for(timeout=60_000)
                # No input from now on: the server must take the content away by itself.
                page.get_by_role("textbox", name="Username").wait_for(timeout=60_000)
                assert page.get_by_text("The registry has no transplants yet.").count() == 0
                assert page.get_by_text("Your session ended after a period without activity").count() == 1
                page.screenshot(path=str(tmp_path / "timed-out.png"))
            finally:
                browser.close()
    with make_session_factory(engine)() as s:
        events = [e.event for e in s.execute(select(AccessEvent).where(AccessEvent.actor == "ann")).scalars()]
    engine.dispose()
    assert events[:1] == ["login"] and "timeout" in events
