"""Shared fixtures: a fresh, migrated registry database per test, on SQLite and PostgreSQL.

PostgreSQL tests use a throw-away database per test, cloned from a template migrated once per
session, so parallel runs (and developers) never share state. Where no server answers they skip
with the reason, unless MSREG_REQUIRE_POSTGRES=1 (set by .ci/run), when they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from registry import migrate
from registry.db import make_engine

# CI explores the same examples on every run (a submission fails for its own change, not for a
# new random draw); developers' runs stay random and keep exploring. A failure found locally
# becomes an @example in the test.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

# Audit keys and witnesses (registry.security.anchor): an SQLite test registry keeps them beside its file
# (each in its own tmp folder); PostgreSQL ones go to $XDG_CONFIG_HOME/msreg/keys, here a
# throw-away folder, never the developer's ~/.config. Set before any test and inherited by the
# processes tests start; a configured MSREG_KEY_DIR would make same-named files collide.
# With pytest-xdist each worker inherits the controller's environment: the owner check gives every
# worker its own folder (one worker's clean-up must not remove another's keys).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
if "MSREG_TEST_CONFIG_HOME" not in os.environ or os.environ.get("MSREG_TEST_CONFIG_OWNER") != _WORKER:
    os.environ["MSREG_TEST_CONFIG_HOME"] = tempfile.mkdtemp(prefix=f"msreg-test-config-{_WORKER}-")
    os.environ["MSREG_TEST_CONFIG_OWNER"] = _WORKER
_KEY_DIR = os.environ["MSREG_TEST_CONFIG_HOME"]
os.environ.pop("MSREG_KEY_DIR", None)
os.environ["XDG_CONFIG_HOME"] = _KEY_DIR


@pytest.fixture(scope="session", autouse=True)
def _remove_test_keys() -> Iterator[None]:
    yield
    shutil.rmtree(_KEY_DIR, ignore_errors=True)


PG_SERVER_URL = os.environ.get("MSREG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("sqlite", "postgresql")


_REAL_MAIN = sys.modules.get("__main__")  # the process's own, before any AppTest ran


@pytest.fixture(autouse=True)
def _restore_main_module() -> Iterator[None]:
    """Streamlit's AppTest runs the app as `__main__` and leaves it there; multiprocessing's
    spawn start method re-imports `__main__` in every child, so a later multi-process test
    would start the dashboard in each worker. Put the real `__main__` back before and after
    each test (before too: a module-scoped fixture may have run AppTest during set-up, as
    happens when pytest-xdist gives one worker a different order of files)."""
    if _REAL_MAIN is not None:
        sys.modules["__main__"] = _REAL_MAIN
    yield
    if _REAL_MAIN is not None:
        sys.modules["__main__"] = _REAL_MAIN


def _dashboard_servers() -> list[int]:
    """PIDs of Streamlit servers started (directly or through `msreg dashboard`) by this run."""
    from pathlib import Path as _Path

    parents: dict[int, int] = {}
    for stat in _Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    mine, frontier = [], [os.getpid()]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        mine += frontier
    servers = []
    for pid in mine:
        try:
            cmdline = _Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"dashboard.serve" in cmdline or b"streamlit run" in cmdline or (b"/msreg " in cmdline and b" dashboard" in cmdline):
            servers.append(pid)
    return servers


@pytest.fixture(scope="session", autouse=True)
def _no_dashboard_server_outlives_the_suite() -> Iterator[None]:
    """The test suite leaves no server running: any dashboard still up at the end is stopped and
    reported as an error of the test run."""
    yield
    if not Path("/proc").is_dir():
        return
    import signal
    import time

    deadline = time.monotonic() + 10
    while (left := _dashboard_servers()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"dashboard server(s) still running after the tests: PIDs {left}"


def _pg_admin_engine() -> Engine:
    return create_engine(PG_SERVER_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    engine = _pg_admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        engine.dispose()
        reason = f"PostgreSQL not reachable at {make_url(PG_SERVER_URL).render_as_string(hide_password=True)} ({type(exc).__name__}); set MSREG_TEST_PG_URL"
        if os.environ.get("MSREG_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    yield engine
    engine.dispose()


def _pg_url(dbname: str) -> str:
    return make_url(PG_SERVER_URL).set(database=dbname).render_as_string(hide_password=False)


def _drop_pg(admin: Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_template(pg_admin: Engine) -> Iterator[str]:
    """A database migrated to head, cloned for each test (CREATE DATABASE … TEMPLATE)."""
    name = f"msreg_tpl_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    migrate.upgrade(_pg_url(name))
    # Connections to a template block CREATE DATABASE … TEMPLATE; make sure none linger.
    with pg_admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"),
            {"n": name},
        )
    yield name
    _drop_pg(pg_admin, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


class DatabaseFactory:
    """Makes fresh databases: `new(backend, migrated=True)` returns a URL; all dropped at teardown."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self._request = request
        self._tmp = tmp_path
        self._pg_names: list[str] = []

    def new(self, backend: str, *, migrated: bool = True) -> str:
        if backend == "sqlite":
            path = self._tmp / f"registry-{uuid.uuid4().hex[:8]}.db"
            if migrated:
                shutil.copyfile(self._request.getfixturevalue("sqlite_template"), path)
            return f"sqlite:///{path}"
        if backend == "postgresql":
            admin: Engine = self._request.getfixturevalue("pg_admin")
            name = f"msreg_t_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:
                if migrated:
                    template = self._request.getfixturevalue("pg_template")
                    conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
                else:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
            self._pg_names.append(name)
            return _pg_url(name)
        raise ValueError(f"unknown backend {backend!r}")

    def cleanup(self) -> None:
        if self._pg_names:
            admin: Engine = self._request.getfixturevalue("pg_admin")
            for name in self._pg_names:
                _drop_pg(admin, name)


@pytest.fixture
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(request, tmp_path)
    yield factory
    factory.cleanup()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.getfixturevalue("pg_admin")
    return request.param


@pytest.fixture
def db_url(backend: str, databases: DatabaseFactory) -> str:
    """A fresh registry database migrated to head, on each backend in turn."""
    return databases.new(backend)


@pytest.fixture
def sqlite_url(databases: DatabaseFactory) -> str:
    """A fresh migrated SQLite registry, for tests that are about logic rather than the backend."""
    return databases.new("sqlite")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    eng = make_engine(sqlite_url)
    yield eng
    eng.dispose()


REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


@pytest.fixture
def reference_dir() -> Path:
    """Reference values from R survival, cmprsk and msprog, kept in the repository with their
    provenance (tests/reference/README.md): the suite reads nothing outside the repository."""
    return REFERENCE_DIR
