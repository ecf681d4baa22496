"""`msreg health`: exit 0 while the database and the running dashboard answer, 1 (naming which)
when either does not. Runs the real command against a real `msreg dashboard` server, started
the way the systemd unit starts it (ExecStart=, then ExecStartPost= `msreg health --wait`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

MSREG = str(Path(sys.executable).with_name("msreg"))

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MSREG_DATABASE_URL"}
    return subprocess.run([MSREG, "health", *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory, sqlite_template) -> Iterator[tuple[str, int]]:
    """A running `msreg dashboard` on a free loopback port; health --wait is its start-up check."""
    import shutil

    db = tmp_path_factory.mktemp("health") / "registry.db"
    shutil.copyfile(sqlite_template, db)
    url = f"sqlite:///{db}"
    port = _free_port()
    proc = subprocess.Popen([MSREG, "dashboard", "--address", "127.0.0.1", "--port", str(port), "--db", url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = _health("--db", url, "--port", str(port), "--wait", "90")
        assert started.returncode == 0, started.stdout + started.stderr
        yield url, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_running_registry_is_healthy(dashboard) -> None:
    url, port = dashboard
    result = _health("--db", url, "--port", str(port))
    assert result.returncode == 0, result.stderr
    assert "ok    database:" in result.stdout and "revision" in result.stdout
    assert f"ok    dashboard: http://127.0.0.1:{port}/_stcore/health: 200 ok" in result.stdout


def test_a_missing_sqlite_registry_is_unhealthy_and_not_created(dashboard, tmp_path) -> None:
    _url, port = dashboard
    gone = tmp_path / "gone.db"
    result = _health("--db", f"sqlite:///{gone}", "--port", str(port))
    assert result.returncode == 1
    assert "FAIL  database:" in result.stderr and "no such SQLite registry" in result.stderr
    assert "ok    dashboard:" in result.stdout  # the other probe still reports
    assert not gone.exists()


def test_a_stopped_dashboard_is_unhealthy(dashboard) -> None:
    url, _port = dashboard
    result = _health("--db", url, "--port", str(_free_port()), "--timeout", "2")
    assert result.returncode == 1
    assert "FAIL  dashboard:" in result.stderr and "refused" in result.stderr


def test_an_empty_database_without_schema_is_unhealthy(tmp_path) -> None:
    empty = tmp_path / "empty.db"
    import sqlite3

    sqlite3.connect(empty).close()
    result = _health("--db", f"sqlite:///{empty}", "--no-dashboard")
    assert result.returncode == 1
    assert "FAIL  database:" in result.stderr


@pytest.mark.postgres
def test_a_postgresql_registry_that_is_dropped_becomes_unhealthy(pg_admin, pg_template) -> None:
    from tests.conftest import PG_SERVER_URL

    name = f"msreg_i17_{uuid.uuid4().hex[:8]}"
    url = make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    try:
        assert _health("--db", url, "--no-dashboard").returncode == 0
    finally:
        with pg_admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    result = _health("--db", url, "--no-dashboard", "--timeout", "3")
    assert result.returncode == 1
    assert "FAIL  database:" in result.stderr and name in result.stderr
    assert "Traceback" not in result.stderr
