"""The dashboard during a long import on SQLite: another process holds the write lock (as a
25,000-patient import does for about 90 s). A logged-in user's clicks still work (the identity
check and the page reads use the read-only engine), and a save says the registry is busy,
keeps the form filled and writes nothing; once the lock is free the same save goes through."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest

from dashboard import forms, login
from registry import models
from registry.security import auth
from registry.security.access import Actor
from registry.db import session_scope
from tests.security.hashing import cheap_argon2  # noqa: F401 - autouse

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("UPDATE centres SET name = name")
print("holding", flush=True)
sys.stdin.read()  # until the test closes our stdin
conn.execute("ROLLBACK")
"""
ACTOR = Actor("dm-shf", "centre", "SHF")


@pytest.fixture
def lock_holder(writable_registry) -> Iterator[subprocess.Popen]:  # type: ignore[no-untyped-def]
    url, _engine = writable_registry
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, make_url(url).database], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    yield proc
    if proc.poll() is None:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=10)


def _release(proc: subprocess.Popen) -> None:
    proc.stdin.close()  # type: ignore[union-attr]
    proc.wait(timeout=10)


@pytest.fixture
def logged_in_app(writable_registry, monkeypatch: pytest.MonkeyPatch) -> AppTest:  # type: ignore[no-untyped-def]
    url, engine = writable_registry
    with session_scope(engine) as s:
        auth.add_user(s, auth.SYSTEM_ACTOR, ACTOR.username, "centre", "SHF", password="a long test password 1")
    monkeypatch.setenv("MSREG_DATABASE_URL", url)
    monkeypatch.delenv(login.NO_LOGIN_ENV, raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[login.ACTOR_KEY] = ACTOR  # logged in (the account exists, see add_user)
    return at


def _visits_on(engine, day: str) -> list[float | None]:  # type: ignore[no-untyped-def]
    import datetime as dt

    with session_scope(engine) as s:
        return list(s.execute(select(models.Visit.edss).where(models.Visit.visit_date == dt.date.fromisoformat(day))).scalars())


def test_a_save_during_an_import_says_busy_keeps_the_form_and_saves_once_the_lock_is_free(
    writable_registry, logged_in_app, lock_holder
) -> None:  # type: ignore[no-untyped-def]
    _url, engine = writable_registry
    at = logged_in_app
    at.run()  # the identity check and the overview's reads, while the lock is held
    assert not at.exception, at.exception
    assert login.ACTOR_KEY in at.session_state and at.session_state[login.ACTOR_KEY] == ACTOR
    at.switch_page("app_pages/entry.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="entry_entity").set_value("visits").run()
    at.text_input(key="new_visits_patient_code").set_value("SHF-000")
    at.text_input(key="new_visits_visit_date").set_value("2026-06-01")
    at.selectbox(key="new_visits_edss").set_value(3.5)
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [forms.BUSY_MESSAGE]
    assert at.text_input(key="new_visits_visit_date").value == "2026-06-01"  # the form keeps what was typed
    assert at.text_input(key="new_visits_patient_code").value == "SHF-000"
    _release(lock_holder)
    assert _visits_on(engine, "2026-06-01") == []  # nothing was saved while busy

    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception, at.exception
    assert any("Saved visit" in s.value for s in at.success)
    assert _visits_on(engine, "2026-06-01") == [3.5]
