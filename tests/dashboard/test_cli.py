"""`msreg dashboard`: how Streamlit is started (the process itself is run by the browser test)."""

from __future__ import annotations

import sys

from click.testing import CliRunner

from dashboard import cli as dashboard_cli
from registry.cli import main


def test_dashboard_command_runs_streamlit_in_the_package_folder_with_the_db_url(monkeypatch, tmp_path):
    calls = []

    def fake_call(cmd, cwd, env):  # type: ignore[no-untyped-def]
        calls.append((cmd, cwd, env))
        return 0

    monkeypatch.setattr(dashboard_cli.subprocess, "call", fake_call)
    db = tmp_path / "reg.db"
    result = CliRunner().invoke(main, ["dashboard", "--port", "8765", "--db", str(db), "--", "--client.showErrorDetails=full"])
    assert result.exit_code == 0, result.output
    ((cmd, cwd, env),) = calls
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(dashboard_cli.APP_PATH)]
    assert cmd[cmd.index("--server.port") + 1] == "8765"
    assert cmd[cmd.index("--server.headless") + 1] == "true"
    assert cmd[-1] == "--client.showErrorDetails=full"
    assert cwd == dashboard_cli.DASHBOARD_DIR and (cwd / ".streamlit" / "config.toml").is_file()
    assert env["MSREG_DATABASE_URL"] == f"sqlite:///{db.resolve()}"
    assert "http://localhost:8765" in result.output


def test_dashboard_command_passes_a_non_zero_exit_status_on(monkeypatch):
    monkeypatch.setattr(dashboard_cli.subprocess, "call", lambda cmd, cwd, env: 3)
    assert CliRunner().invoke(main, ["dashboard"]).exit_code == 3
