"""`msreg` commands: doctor (is this deployment safe?) and health (does it answer?).

Thin wrappers over `registry.doctor` and `registry.health`; exit status 1 on a failed check or
probe, so that scripts, timers and the process manager can act on them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click


def _db_given() -> bool:
    """Whether `--db` was given on this command or before it."""
    from click.core import ParameterSource

    ctx: click.Context | None = click.get_current_context()
    while ctx is not None:
        if ctx.get_parameter_source("db") not in (None, ParameterSource.DEFAULT):
            return True
        ctx = ctx.parent
    return False


def _raw_url(raw: str | None) -> str:
    """`--db` (else $MSREG_DATABASE_URL, else ./registry.db) resolved but *not* checked.

    Why not `cli.url`: that fails the command with the generic one-line "no registry at ..."
    error (registry.cli.errors) before anything runs. doctor and health must instead report a
    missing, unreachable or empty database as a FAIL line in their own output (text or JSON)
    and exit 1; their checks open SQLite read-only and never create a missing file.
    """
    from registry.cli.errors import RegistryUnavailable
    from registry.db import resolve_url

    try:
        return resolve_url(raw)
    except Exception as exc:  # noqa: BLE001 - a malformed URL: say so, no traceback
        raise RegistryUnavailable(f"cannot read {raw!r} as a database URL or file path ({exc})") from exc


def register(main: click.Group, export: click.Group) -> None:
    """Attach this module's commands to the `msreg` group."""
    from registry.cli import CliContext, db_option, pass_cli

    @main.command("doctor")
    @click.option("--backup-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Folder of the scheduled backups (default: $MSREG_BACKUP_DIR).")
    @click.option("--max-backup-age", "max_backup_age", type=click.FloatRange(min=0), default=26.0, show_default=True,
                  metavar="HOURS", help="The newest backup must be at most this old.")
    @click.option("--service-user", default=None, metavar="NAME",
                  help="The account the dashboard runs as; secret files must be owned by it (default: you).")
    @click.option("--secret", "secrets", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
                  metavar="FILE", help="Another file that must be 0600 and owned by the service user (repeatable).")
    @click.option("--env-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                  help="The services' EnvironmentFile (systemd): its settings are checked as well as yours, and its "
                       "MSREG_DATABASE_URL is used unless --db or $MSREG_DATABASE_URL is set.")
    @click.option("--allow-demo", is_flag=True, help="Accept a synthetic demo registry (a warning, not a failure).")
    @click.option("--min-free-gib", type=click.FloatRange(min=0), default=2.0, show_default=True,
                  help="Less free disk space than this fails.")
    @click.option("--check", "only", multiple=True, metavar="NAME",
                  help="Run only this check (repeatable): database, schema, 'database role', 'audit chain', "
                       "'demo flag', 'file permissions', dashboard, backup, 'disk space'.")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
    @db_option
    @pass_cli
    def doctor_cmd(cli: CliContext, backup_dir: Path | None, max_backup_age: float, service_user: str | None,
                   secrets: tuple[Path, ...], env_file: Path | None, allow_demo: bool, min_free_gib: float,
                   only: tuple[str, ...], fmt: str) -> None:
        """Check a deployment: one pass/warn/fail line per check; exit 1 on any failure.

        Checks: the database answers; the schema is at the newest migration; on PostgreSQL the
        connected role is not the owner of audit_log and cannot alter, disable the triggers of,
        update, delete or truncate it; the audit chain verifies; the registry (SQLite), audit
        key and witness files are 0600 and owned by the service user; the dashboard binds to
        localhost with XSRF protection on and its login on; the newest backup is recent and
        matches its manifest; there is free disk space; the registry is not a synthetic demo.
        Run it as the service user with the application's database URL.
        """
        from registry.doctor import BACKUP_DIR_ENV, KEY_DIR_ENV, DoctorSettings, exit_code, format_text, read_env_file, run_checks

        from registry.db import ENV_VAR, resolve_url

        env = dict(os.environ)
        url = _raw_url(cli.raw_url)  # not cli.url: a bad database is a FAIL line here, not an error
        if env_file is not None:
            service_env = read_env_file(env_file)
            env.update(service_env)
            # The service's database, unless --db or $MSREG_DATABASE_URL names one.
            if service_env.get(ENV_VAR) and ENV_VAR not in os.environ and not _db_given():
                url = resolve_url(service_env[ENV_VAR])
            # Find the audit key and witness where the service finds them.
            if service_env.get(KEY_DIR_ENV) and KEY_DIR_ENV not in os.environ:
                os.environ[KEY_DIR_ENV] = service_env[KEY_DIR_ENV]
        if backup_dir is None and env.get(BACKUP_DIR_ENV):
            backup_dir = Path(env[BACKUP_DIR_ENV])
        warn_free = max(int(min_free_gib * 1024**3) * 5, int(min_free_gib * 1024**3))
        settings = DoctorSettings(
            url=url, backup_dir=backup_dir, allow_demo=allow_demo, service_user=service_user,
            secret_files=secrets, environment=env, max_backup_age_hours=max_backup_age,
            min_free_bytes=int(min_free_gib * 1024**3), warn_free_bytes=warn_free,
        )
        try:
            checks = run_checks(settings, only)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from exc
        if fmt == "json":
            click.echo(json.dumps({"ok": exit_code(checks) == 0, "checks": [c.to_dict() for c in checks]}, indent=2))
        else:
            click.echo(format_text(checks))
        sys.exit(exit_code(checks))

    @main.command("health")
    @click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True,
                  help="The dashboard's port.")
    @click.option("--host", default="127.0.0.1", show_default=True, help="The dashboard's address.")
    @click.option("--no-dashboard", is_flag=True, help="Only ping the database.")
    @click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True, metavar="SECONDS",
                  help="Per probe.")
    @click.option("--wait", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="SECONDS",
                  help="Keep probing until healthy or this long has passed (for start-up).")
    @db_option
    @pass_cli
    def health_cmd(cli: CliContext, port: int, host: str, no_dashboard: bool, timeout: float, wait: float) -> None:
        """Does the registry answer? A database ping and the dashboard's /_stcore/health; exit 0 or 1.

        Cheap enough for a process manager to run every minute (deploy/msreg-health.timer).
        """
        from registry.health import wait_healthy

        probes = wait_healthy(_raw_url(cli.raw_url), host=host, port=port, dashboard=not no_dashboard, timeout_s=timeout, wait_s=wait)
        for p in probes:
            click.echo(f"{'ok  ' if p.ok else 'FAIL'}  {p.name}: {p.detail}", err=not p.ok)
        sys.exit(0 if all(p.ok for p in probes) else 1)
