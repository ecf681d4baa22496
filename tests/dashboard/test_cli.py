"""`msreg dashboard`: how Streamlit is started, on which port, and that stopping the command
stops the server (a real process: no server may outlive `msreg dashboard`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dashboard import cli as dashboard_cli
from registry.cli import main


@pytest.fixture
def started(monkeypatch):  # type: ignore[no-untyped-def]
    """Records how Streamlit would be started instead of starting it."""
    calls: list[tuple[list[str], Path, dict[str, str]]] = []

    def fake_run(cmd, cwd, env):  # type: ignore[no-untyped-def]
        calls.append((list(cmd), cwd, dict(env)))
        return 0

    monkeypatch.setattr(dashboard_cli, "run_streamlit", fake_run)
    monkeypatch.delenv("STREAMLIT_SERVER_PORT", raising=False)
    return calls


def _port_of(cmd: list[str]) -> str:
    return cmd[cmd.index("--server.port") + 1]


def test_dashboard_command_runs_streamlit_in_the_package_folder_with_the_db_url(started, sqlite_url):
    db = sqlite_url.removeprefix("sqlite:///")
    result = CliRunner().invoke(main, ["dashboard", "--port", "8765", "--db", db, "--", "--client.showErrorDetails=full"])
    assert result.exit_code == 0, result.output
    ((cmd, cwd, env),) = started
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(dashboard_cli.APP_PATH)]
    assert _port_of(cmd) == "8765"
    assert cmd[cmd.index("--server.headless") + 1] == "true"
    assert cmd[-1] == "--client.showErrorDetails=full"
    assert cwd == dashboard_cli.DASHBOARD_DIR and (cwd / ".streamlit" / "config.toml").is_file()
    assert env["MSREG_DATABASE_URL"] == f"sqlite:///{Path(db).resolve()}"
    assert "http://localhost:8765" in result.output


def test_dashboard_command_passes_a_non_zero_exit_status_on(monkeypatch, sqlite_url):
    monkeypatch.setattr(dashboard_cli, "run_streamlit", lambda cmd, cwd, env: 3)
    assert CliRunner().invoke(main, ["--db", sqlite_url, "dashboard"]).exit_code == 3


@pytest.mark.parametrize(
    ("option", "env", "port"),
    [(None, None, "8501"), (None, "8502", "8502"), ("8600", "8502", "8600"), ("8600", None, "8600")],
)
def test_the_port_is_the_option_else_streamlit_server_port_else_8501(started, monkeypatch, sqlite_url, option, env, port):
    if env is not None:
        monkeypatch.setenv("STREAMLIT_SERVER_PORT", env)
    args = ["--db", sqlite_url, "dashboard", *(["--port", option] if option else [])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert _port_of(started[0][0]) == port
    assert f"http://localhost:{port}" in result.output


@pytest.mark.parametrize("value", ["abc", "0", "70000", "85.01"])
def test_a_bad_streamlit_server_port_is_named(value: str) -> None:
    with pytest.raises(click.BadParameter, match="STREAMLIT_SERVER_PORT"):
        dashboard_cli.resolve_port(None, {"STREAMLIT_SERVER_PORT": value})


def test_make_demo_passes_port_to_the_dashboard() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    out = subprocess.run(["make", "-n", "-f", "-", "demo", "PORT=8502", "DEMO_DB=/nonexistent/x.db"],
                         input=makefile.replace("demo: install", "demo:"), capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=30)
    assert out.returncode == 0, out.stderr
    assert "dashboard --port 8502" in out.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _port_is_free(port: int) -> bool:
    """Nothing listens on the port (closed connections in TIME_WAIT do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_msreg_dashboard_stops_the_streamlit_server(sqlite_url, sig) -> None:
    port = _free_port()
    msreg = Path(sys.executable).with_name("msreg")
    env = {**os.environ, "STREAMLIT_SERVER_PORT": str(port)}  # the port comes from the environment
    proc = subprocess.Popen([str(msreg), "--db", sqlite_url, "dashboard"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while not _healthy(port):
            assert proc.poll() is None, f"msreg dashboard exited with {proc.returncode}"
            assert time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.3)
        child = _children(proc.pid)
        assert child, "msreg dashboard runs Streamlit as its child"
        proc.send_signal(sig)  # to the command only, as a service manager does
        assert proc.wait(timeout=30) == 0
        deadline = time.monotonic() + 15
        while any(_alive(c) for c in child) or not _port_is_free(port):
            assert time.monotonic() < deadline, "Streamlit still serving after msreg dashboard stopped"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for c in child:
            if _alive(c):
                os.kill(c, signal.SIGKILL)
