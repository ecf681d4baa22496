"""`msreg`: the registry's command line (contract in docs/architecture.md).

Every command takes `--db URL`; without it $MSREG_DATABASE_URL; without that ./registry.db.
Commands live beside the code they drive (registry, analytics, …) and are attached here, so this
module stays a table of contents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import click

from registry.cli.errors import DEBUG_ENV, Need, RegistryGroup, RegistryUnavailable, check_registry

# registry.db.ENV_VAR, repeated so that `msreg --help` does not import SQLAlchemy (a test checks
# that they agree).
ENV_VAR = "MSREG_DATABASE_URL"


@dataclass(frozen=True, slots=True)
class CliContext:
    """The `--db` URL as given (None: $MSREG_DATABASE_URL, else ./registry.db), resolved and
    checked only when a command opens the registry.

    Why lazily: `msreg COMMAND --help` and commands that need no registry must work without one,
    and without importing SQLAlchemy. A command reads `cli.url` (an existing registry with the code's schema),
    `cli.existing_url` (any schema: backups) or `cli.new_url` (may be created: init, restore);
    each fails with a one- or two-line message (registry.cli.errors) instead of creating an
    empty file or printing a traceback.
    """

    raw_url: str | None
    _checked: dict[Need, str] = field(default_factory=dict, compare=False, repr=False)

    def _checked_url(self, need: Need) -> str:
        if need not in self._checked:
            from registry.db import resolve_url

            try:
                url = resolve_url(self.raw_url)
            except Exception as exc:  # noqa: BLE001 - a malformed URL: say so, no traceback
                raise RegistryUnavailable(f"cannot read {self.raw_url!r} as a database URL or file path ({exc})") from exc
            self._checked[need] = check_registry(url, need)
        return self._checked[need]

    @property
    def url(self) -> str:
        """An existing registry whose schema is the code's."""
        return self._checked_url(Need.CURRENT)

    @property
    def existing_url(self) -> str:
        """An existing registry, whatever its schema revision."""
        return self._checked_url(Need.EXISTING)

    @property
    def new_url(self) -> str:
        """A registry that may not exist yet (its folder must)."""
        return self._checked_url(Need.CREATE)


pass_cli = click.make_pass_decorator(CliContext)
AS_USER_META = "msreg_as_user"


def acting_actor(url: str):  # type: ignore[no-untyped-def]
    """Who this `msreg` run acts as: the OS account as CLI administrator, or with `msreg --as
    NAME` that registry account (checked to exist and be enabled). Errors end the command."""
    from registry.security.access import cli_actor

    ctx = click.get_current_context(silent=True)
    name = ctx.meta.get(AS_USER_META) if ctx else None
    if not name:
        return cli_actor()
    from registry.security.auth import UserError, cli_actor_as
    from registry.db import make_engine, make_session_factory

    engine = make_engine(url, read_only=True)
    try:
        with make_session_factory(engine)() as session:
            return cli_actor_as(session, name)
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()


def db_option(f):  # type: ignore[no-untyped-def]
    """`--db URL` on every command (docs/architecture.md), also accepted before the command name."""

    def _store(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None or ctx.obj is None:
            ctx.obj = CliContext(raw_url=value or (ctx.obj.raw_url if ctx.obj else None))

    return click.option(
        "--db",
        "db",
        metavar="URL",
        default=None,
        expose_value=False,
        callback=_store,
        is_eager=True,
        help=f"Database URL or SQLite file (default: ${ENV_VAR}, else ./registry.db).",
    )(f)


def record_cli_access(url: str, event: str, details: dict, actor=None) -> None:  # type: ignore[no-untyped-def]
    """Record an export, report or other access of this `msreg` run in the access log
    (registry.security.access_log.record_access); a failure ends the command with the reason."""
    from sqlalchemy.exc import DBAPIError

    from registry.security.access_log import record_access
    from registry.security.anchor import AnchorError
    from registry.db import make_engine

    engine = make_engine(url)
    try:
        record_access(engine, actor or acting_actor(url), event, details)
    except (AnchorError, DBAPIError) as exc:
        reason = getattr(exc, "orig", None) or exc
        raise click.ClickException(f"this {event} could not be recorded in the access log ({reason})") from exc
    finally:
        engine.dispose()


def _store_as(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta[AS_USER_META] = value


def _set_debug(_ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:  # read by registry.cli.errors (and by child processes such as the dashboard)
        os.environ[DEBUG_ENV] = "1"


@click.group(cls=RegistryGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, expose_value=False, callback=_set_debug, is_eager=True,
              help=f"Show the full traceback of an error (also ${DEBUG_ENV}=1).")
@db_option
@click.option(
    "--as",
    "as_user",
    metavar="NAME",
    default=None,
    expose_value=False,
    callback=_store_as,
    is_eager=True,
    help="Act as the registry account NAME (it must exist and be enabled); the OS account is recorded too.",
)
def main() -> None:
    """AHSCT-in-MS outcomes registry.

    Centres enter transplants and follow-up; committees review safety; researchers export
    de-identified survival data. Run `msreg COMMAND --help` for each command.
    """


@main.group()
def export() -> None:
    """Write the registry out: a bundle (`export bundle`) or the survival dataset."""


@main.command()
@click.option(
    "--app-role",
    metavar="NAME",
    help="PostgreSQL: create or update the application's login role NAME with least privilege "
    "(SELECT/INSERT only on the audit and access logs). Run init as the owner role.",
)
@click.option("--app-password-stdin", is_flag=True, help="Read the application role's password from standard input.")
@db_option
@pass_cli
def init(cli: CliContext, app_role: str | None, app_password_stdin: bool) -> None:
    """Create the schema, or upgrade it to the newest migration; create the audit key and witness.

    The key and the witness (both 0600) go beside an SQLite registry, or into $MSREG_KEY_DIR,
    or for PostgreSQL into ~/.config/msreg/keys. Back them up apart from the database.
    """
    import sys

    from registry.security import anchor
    from registry.db import make_engine
    from registry.migrate import current_revision, upgrade
    from registry.security.provision import ensure_anchor, ensure_app_role

    url = cli.new_url
    upgrade(url)
    click.echo(f"schema at revision {current_revision(url)} ({_safe(url)})")
    engine = make_engine(url)
    try:
        try:
            setup = ensure_anchor(engine, url)
        except anchor.AnchorError as exc:
            raise click.ClickException(str(exc)) from exc
        made = "created" if setup.created_key else "found"
        click.echo(f"audit key {made}: {setup.key_path} (0600; back it up apart from the database)")
        click.echo(f"audit witness: {setup.witness_path}")
        if app_role:
            password = None
            if app_password_stdin:
                password = sys.stdin.readline().rstrip("\r\n") or None
                if password is None:
                    raise click.UsageError("--app-password-stdin: no password on standard input")
            try:
                ensure_app_role(engine, app_role, password)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from exc
            from sqlalchemy.engine import make_url

            app_url = make_url(url).set(username=app_role, password=None).render_as_string(hide_password=True)
            click.echo(f"application role {app_role}: SELECT/INSERT on audit_log and access_log, no owner rights")
            click.echo(f"  migrations (msreg init): {_safe(url)}")
            click.echo(f"  application (MSREG_DATABASE_URL): {app_url}")
    finally:
        engine.dispose()


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _attach_commands() -> None:
    """Attach the commands defined next to the code they drive."""
    from importlib import import_module

    for module_name in COMMAND_MODULES:
        module = import_module(module_name)
        module.register(main, export)


# Each module has `register(main, export)`; a module missing from this list has no commands.
COMMAND_MODULES: list[str] = [
    "registry.cli.data",  # import, export bundle
    "registry.cli.demo",  # demo
    "analytics.cli",  # export survival, survival, quality
    "analytics.cli_stats",  # compare, cox, benchmark
    "registry.cli.users",  # user, audit
    "registry.cli.audit",  # audit verify, audit checkpoint, audit rotate-key
    "registry.cli.ops",  # backup, restore
    "registry.cli.doctor",  # doctor, health
    "dashboard.cli",  # dashboard
    "registry.cli.dictionary",  # dictionary
    "registry.cli.queries",  # query
    "dashboard.report.cli",  # report safety
]

_attach_commands()
