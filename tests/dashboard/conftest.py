"""Fixtures for the dashboard: a small registry built once per module, and an AppTest factory.

The registry is a SQLite file copied from the migrated template; the app finds it through
$MSREG_DATABASE_URL, as under `msreg dashboard`. Login is bypassed with the documented
development switch MSREG_DASHBOARD_NO_LOGIN=1 (the role is chosen per test).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from registry.db import make_engine
from tests.dashboard.cohort import build_registry

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture(scope="session")
def small_registry_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("dash") / "small.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    build_registry(engine)
    engine.dispose()
    return url


@pytest.fixture
def writable_registry(sqlite_url: str) -> Iterator[tuple[str, Engine]]:
    """A fresh copy of the small registry for tests that write: (url, engine)."""
    engine = make_engine(sqlite_url)
    build_registry(engine)
    yield sqlite_url, engine
    engine.dispose()


@pytest.fixture
def app_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., AppTest]]:
    """`app_factory(url, role="admin")` → a fresh AppTest of the whole app, not yet run."""

    def make(url: str, role: str = "admin") -> AppTest:
        monkeypatch.setenv("MSREG_DATABASE_URL", url)
        monkeypatch.setenv("MSREG_DASHBOARD_NO_LOGIN", "1")
        monkeypatch.setenv("MSREG_DASHBOARD_NO_LOGIN_AS", role)
        return AppTest.from_file(APP, default_timeout=30)

    yield make


@pytest.fixture(autouse=True)
def _fresh_figures() -> Iterator[None]:
    """Each test builds its own figures (dashboard/figures/reuse.py keeps built ones): a test
    that changed a figure it was given cannot hand the change to the next test."""
    from dashboard.figures.reuse import forget_figures

    forget_figures()
    yield
    forget_figures()
