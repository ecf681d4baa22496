"""A registry built by `msreg demo` says it is synthetic, and the dashboard shows a
"synthetic demo data" badge on the login form and on every page; a real registry shows none."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from dashboard import login
from registry.security import auth
from registry.security.access import cli_actor
from registry.cli import main
from registry.db import make_engine, session_scope
from registry.synthetic import BADGE_TEXT, is_synthetic, mark_synthetic
from tests.security.hashing import CHEAP_HASHER

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
PAGES = ("overview", "outcomes", "safety", "quality", "timeline", "entry", "export")


def _badges(at: AppTest) -> list[str]:
    """Badge texts in the main area (st.badge renders as a markdown badge directive)."""
    return [m.value for m in at.main.markdown if "badge[" in m.value]


@pytest.fixture(scope="module")
def synthetic_url(small_registry_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("synthetic") / "demo.db"
    shutil.copyfile(small_registry_url.removeprefix("sqlite:///"), path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with session_scope(engine) as session:
        mark_synthetic(session, cli_actor())
    engine.dispose()
    return url


def test_msreg_demo_marks_the_registry_synthetic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    with auth.use_hasher(CHEAP_HASHER):
        assert CliRunner().invoke(main, ["--db", url, "init"]).exit_code == 0
        result = CliRunner().invoke(main, ["--db", url, "demo", "--patients", "20", "--no-progress"])
    assert result.exit_code == 0, result.output
    engine = make_engine(url)
    try:
        assert is_synthetic(engine)
    finally:
        engine.dispose()


def test_a_registry_not_made_by_demo_is_not_synthetic(small_registry_url: str) -> None:
    engine = make_engine(small_registry_url)
    try:
        assert not is_synthetic(engine)
    finally:
        engine.dispose()


def test_marking_twice_writes_one_audit_row(sqlite_url: str) -> None:
    from sqlalchemy import func, select

    from registry.models import AuditEntry

    engine = make_engine(sqlite_url)
    try:
        for _ in range(2):
            with session_scope(engine) as session:
                mark_synthetic(session, cli_actor())
        with session_scope(engine) as session:
            n = session.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity == "registry_settings")).scalar()
        assert n == 1
    finally:
        engine.dispose()


def test_the_login_form_shows_the_badge(synthetic_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSREG_DATABASE_URL", synthetic_url)
    monkeypatch.delenv(login.NO_LOGIN_ENV, raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.text_input(key="msreg_login_username")  # the login form is what is shown
    assert any(BADGE_TEXT in b for b in _badges(at))


def test_a_real_registry_shows_no_badge(small_registry_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSREG_DATABASE_URL", small_registry_url)
    monkeypatch.delenv(login.NO_LOGIN_ENV, raising=False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert not any(BADGE_TEXT in b for b in _badges(at))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_the_badge(app_factory: Callable[..., AppTest], synthetic_url: str, page: str) -> None:
    at = app_factory(synthetic_url)
    at.run()
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    assert any(BADGE_TEXT in b for b in _badges(at)), page
