"""Data entry in a real browser: what is saved is exactly what the user typed and sees.

The scenario of the bug report, typed into the real widgets of `msreg dashboard` in headless
Chromium: a rejected attempt, then a future date, then a date before 1900, then a good date;
and two editors correcting one record at the same time. The assertions read the database.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from registry import models
from registry.db import make_engine, session_scope
from tests.dashboard.cohort import build_registry
from tests.dashboard.test_browser import CHROMIUM, launch_chromium, running_dashboard

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)"),
]


@pytest.fixture
def served(tmp_path, sqlite_template) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    db = tmp_path / "entry.db"
    shutil.copyfile(sqlite_template, db)
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    build_registry(engine)
    engine.dispose()
    env = {**os.environ, "MSREG_DASHBOARD_NO_LOGIN": "1", "MSREG_DASHBOARD_NO_LOGIN_AS": "centre:SHF"}
    with running_dashboard(url, env, tmp_path / "server.log") as base:
        yield base, url


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_chromium(pw)
        try:
            yield b
        finally:
            b.close()


def _idle(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


def _open_entry(browser, base: str):  # type: ignore[no-untyped-def]
    page = browser.new_context(viewport={"width": 1400, "height": 1400}).new_page()
    page.goto(f"{base}/entry", wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stForm"]', timeout=60_000)
    _idle(page)
    return page


def _choose(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label(label, exact=True).first.click()
    page.get_by_role("option", name=option, exact=True).click()
    _idle(page)


def _visits(url: str, patient: str) -> list[tuple[dt.date, float | None]]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            rows = s.execute(select(models.Visit.visit_date, models.Visit.edss).join(models.Patient)
                             .where(models.Patient.patient_code == patient).order_by(models.Visit.visit_date)).all()
            return [tuple(r) for r in rows]
    finally:
        engine.dispose()


def _alerts(page) -> str:  # type: ignore[no-untyped-def]
    return " | ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())


def _expect_alert(page, text: str) -> None:  # type: ignore[no-untyped-def]
    page.locator('[data-testid="stAlert"]', has_text=text).first.wait_for(timeout=30_000)


def test_typed_dates_are_saved_as_typed_or_refused_by_name(served, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base, url = served
    before = _visits(url, "SHF-000")
    page = _open_entry(browser, base)
    _choose(page, "Record", "Visit (EDSS)")
    form = page.locator('[data-testid="stForm"]').first
    save = form.get_by_role("button", name="Save")

    # 1. a rejected attempt (unknown patient) with a good date
    form.get_by_role("textbox", name="Patient code *", exact=True).fill("SHF-999")
    form.get_by_role("textbox", name="Visit date *", exact=True).fill("2026-06-03")
    save.click()
    _expect_alert(page, "'SHF-999' of centre 'SHF' is not in the registry")

    # 2. the right patient, a future date: refused by name, the field still shows it
    form.get_by_role("textbox", name="Patient code *", exact=True).fill("SHF-000")
    form.get_by_role("textbox", name="Visit date *", exact=True).fill("2030-01-01")
    save.click()
    _expect_alert(page, "2030-01-01 is in the future")
    assert form.get_by_role("textbox", name="Visit date *", exact=True).input_value() == "2030-01-01"
    assert _visits(url, "SHF-000") == before

    # 3. before 1900: the message names the date typed, no other
    form.get_by_role("textbox", name="Visit date *", exact=True).fill("1899-12-31")
    save.click()
    _expect_alert(page, "1899-12-31 is before 1900")
    assert _visits(url, "SHF-000") == before

    # 4. malformed
    form.get_by_role("textbox", name="Visit date *", exact=True).fill("2026-02-30")
    save.click()
    _expect_alert(page, "'2026-02-30' is not a valid calendar date")
    assert _visits(url, "SHF-000") == before

    # 5. a good date: saved as typed
    form.get_by_role("textbox", name="Visit date *", exact=True).fill("2026-06-04")
    save.click()
    try:
        page.get_by_text("Saved visit (edss) SHF, SHF-000, 2026-06-04.").wait_for(timeout=30_000)
    finally:
        page.screenshot(path=str(tmp_path / "entry-saved.png"), full_page=True)
    page.screenshot(path=str(tmp_path / "entry.png"), full_page=True)
    assert _visits(url, "SHF-000") == sorted([*before, (dt.date(2026, 6, 4), None)])


def _open_patient_correction(browser, base: str):  # type: ignore[no-untyped-def]
    page = _open_entry(browser, base)
    page.get_by_role("tab", name="Correct a record").click()
    page.get_by_role("textbox", name="Patient code", exact=True).fill("SHF-000")
    page.get_by_role("textbox", name="Patient code", exact=True).press("Enter")
    _idle(page)
    page.get_by_role("textbox", name="MS onset date", exact=True).wait_for(timeout=30_000)
    return page


def _onset(url: str) -> dt.date:
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            return s.execute(select(models.Patient.ms_onset_date).where(models.Patient.patient_code == "SHF-000")).scalar_one()
    finally:
        engine.dispose()


def test_two_editors_of_one_record_get_a_conflict_not_a_silent_loss(served, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base, url = served
    original = _onset(url)
    first, second = original - dt.timedelta(days=10), original - dt.timedelta(days=20)
    alice = _open_patient_correction(browser, base)
    bob = _open_patient_correction(browser, base)  # both opened the same version

    alice.get_by_role("textbox", name="MS onset date", exact=True).fill(first.isoformat())
    alice.get_by_role("textbox", name="Reason for the correction *", exact=True).fill("letter from the GP")
    alice.get_by_role("button", name="Save correction").click()
    alice.get_by_text("Corrected patient").wait_for(timeout=30_000)
    assert _onset(url) == first

    bob.get_by_role("textbox", name="MS onset date", exact=True).fill(second.isoformat())
    bob.get_by_role("textbox", name="Reason for the correction *", exact=True).fill("neurologist's notes")
    bob.get_by_role("button", name="Save correction").click()
    bob.get_by_text("Conflict: this record was saved by").wait_for(timeout=30_000)
    # The banner comes first; the comparison table is drawn after it (on a loaded machine, seconds later).
    bob.locator('[data-testid="stMain"] [data-testid="stTable"]').wait_for(timeout=30_000)
    _idle(bob)
    bob.screenshot(path=str(tmp_path / "conflict.png"), full_page=True)
    text = bob.locator('[data-testid="stMain"]').inner_text()
    assert "no-login:centre" in text  # who saved the other version
    for shown in (original.isoformat(), first.isoformat(), second.isoformat()):  # opened, saved since, yours
        assert shown in text
    assert _onset(url) == first  # nothing overwritten

    bob.get_by_role("button", name="Re-apply my change to the saved version").click()
    bob.get_by_text("Corrected patient").wait_for(timeout=30_000)
    assert _onset(url) == second
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            reasons = s.execute(select(models.AuditEntry.reason).where(models.AuditEntry.action == "UPDATE")
                                .order_by(models.AuditEntry.id)).scalars().all()
    finally:
        engine.dispose()
    assert reasons == ["letter from the GP", "neurologist's notes"]
