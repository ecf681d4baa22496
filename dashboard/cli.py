"""`msreg` commands: dashboard.

Why a subprocess: Streamlit cannot be started from inside a console script's function, so the
command runs `python -m streamlit run dashboard/app.py` with the same interpreter. It runs in the
dashboard package folder so that dashboard/.streamlit/config.toml (server security settings)
applies, and passes the database to the app in $MSREG_DATABASE_URL, resolved exactly as every
other command resolves `--db`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import click

DASHBOARD_DIR = Path(__file__).resolve().parent
APP_PATH = DASHBOARD_DIR / "app.py"


def streamlit_command(port: int, address: str | None = None, extra: Sequence[str] = ()) -> list[str]:
    """The command line that starts the dashboard (headless: never tries to open a browser)."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP_PATH), "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    if address:
        cmd += ["--server.address", address]
    return [*cmd, *extra]


def dashboard_env(url: str) -> dict[str, str]:
    """The child's environment: ours plus the resolved database URL."""
    from registry.db import ENV_VAR

    return {**os.environ, ENV_VAR: url}


def register(main: click.Group, export: click.Group) -> None:
    """Attach this module's commands to the `msreg` group (and its `export` subgroup)."""
    from registry.cli import CliContext, db_option, pass_cli

    @main.command("dashboard", context_settings={"ignore_unknown_options": True})
    @click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="Port to listen on.")
    @click.option("--address", default=None, metavar="HOST",
                  help="Interface to bind (default from dashboard/.streamlit/config.toml: localhost only).")
    @click.argument("streamlit_args", nargs=-1, type=click.UNPROCESSED)
    @db_option
    @pass_cli
    def dashboard(cli: CliContext, port: int, address: str | None, streamlit_args: tuple[str, ...]) -> None:
        """Start the dashboard on http://localhost:PORT (Ctrl+C stops it).

        Arguments after `--` go to `streamlit run`, e.g.
        `msreg dashboard -- --client.showErrorDetails=full` while developing.
        """
        from sqlalchemy.engine import make_url

        shown = make_url(cli.url).render_as_string(hide_password=True)
        click.echo(f"registry: {shown}\ndashboard: http://{address or 'localhost'}:{port}  (Ctrl+C to stop)")
        try:
            code = subprocess.call(streamlit_command(port, address, streamlit_args), cwd=DASHBOARD_DIR,
                                   env=dashboard_env(cli.url))
        except KeyboardInterrupt:
            code = 0
        sys.exit(code)
