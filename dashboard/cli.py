"""`msreg` commands: dashboard.

Why a subprocess: Streamlit cannot be started from inside a console script's function, so the
command runs `python -m dashboard.serve dashboard/app.py` (that is `streamlit run` plus a
start-up warm-up of the caches, dashboard/serve.py) with the same interpreter. It runs in the
dashboard package folder so that dashboard/.streamlit/config.toml (server security settings)
applies, and passes the database to the app in $MSREG_DATABASE_URL, resolved exactly as every
other command resolves `--db`.

The port is `--port`, else $STREAMLIT_SERVER_PORT (Streamlit's own variable, so `make demo
PORT=8502` and container set-ups work), else 8501. SIGINT and SIGTERM to `msreg dashboard` stop
the Streamlit child too (a service manager stops the command, not its child): the signal is
passed on, and the child is killed if it has not exited within `STOP_TIMEOUT_S`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

import click

DASHBOARD_DIR = Path(__file__).resolve().parent
APP_PATH = DASHBOARD_DIR / "app.py"
DEFAULT_PORT = 8501
PORT_ENV = "STREAMLIT_SERVER_PORT"
STOP_TIMEOUT_S = 10.0


def resolve_port(port: int | None, environ: Mapping[str, str] = os.environ) -> int:
    """`--port`, else $STREAMLIT_SERVER_PORT, else 8501.

    :raises click.BadParameter: when the variable is not a port number (named in the message).
    """
    if port is not None:
        return port
    raw = environ.get(PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise click.BadParameter(f"${PORT_ENV} is {raw!r}, not a port number (1-65535)", param_hint="--port")
    return int(raw)


def run_streamlit(cmd: Sequence[str], cwd: Path, env: Mapping[str, str]) -> int:
    """Run Streamlit until it exits or we are asked to stop; return the exit status (0 when stopped).

    SIGINT/SIGTERM are passed on to the child as SIGTERM (Streamlit shuts down cleanly on it); a
    child that is still running STOP_TIMEOUT_S later is killed, so no server outlives the command.
    """
    child = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env))
    stopping: list[int] = []

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                code = child.wait(timeout=STOP_TIMEOUT_S if stopping else None)
                break
            except subprocess.TimeoutExpired:
                child.kill()
    finally:
        if child.poll() is None:  # an exception on our side: never leave the server behind
            child.kill()
            child.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stopping else code


def streamlit_command(port: int, address: str | None = None, extra: Sequence[str] = ()) -> list[str]:
    """The command line that starts the dashboard (headless: never tries to open a browser).

    `dashboard.serve` is `streamlit run` plus the start-up warm-up (dashboard/warmup.py).
    """
    cmd = [sys.executable, "-m", "dashboard.serve", str(APP_PATH), "--server.port", str(port),
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
    @click.option("--port", type=click.IntRange(1, 65535), default=None,
                  help=f"Port to listen on [default: ${PORT_ENV}, else {DEFAULT_PORT}].")
    @click.option("--address", default=None, metavar="HOST",
                  help="Interface to bind (default from dashboard/.streamlit/config.toml: localhost only).")
    @click.argument("streamlit_args", nargs=-1, type=click.UNPROCESSED)
    @db_option
    @pass_cli
    def dashboard(cli: CliContext, port: int | None, address: str | None, streamlit_args: tuple[str, ...]) -> None:
        """Start the dashboard on http://localhost:PORT (Ctrl+C stops it).

        Arguments after `--` go to `streamlit run`, e.g.
        `msreg dashboard -- --client.showErrorDetails=full` while developing.
        """
        from registry.cli.errors import shown_url

        url = cli.url  # checked: an existing registry with the current schema
        port = resolve_port(port)
        click.echo(f"registry: {shown_url(url)}\ndashboard: http://{address or 'localhost'}:{port}  (Ctrl+C to stop)")
        sys.exit(run_streamlit(streamlit_command(port, address, streamlit_args), DASHBOARD_DIR, dashboard_env(url)))
