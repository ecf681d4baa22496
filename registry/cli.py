"""`msreg`: the registry's command line (contract in docs/architecture.md).

Every command takes `--db URL`; without it $MSREG_DATABASE_URL; without that ./registry.db.
Commands live beside the code they drive (registry, analytics, …) and are attached here, so this
module stays a table of contents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import click

from registry.cli_errors import DEBUG_ENV, Need, RegistryGroup, RegistryUnavailable, check_registry

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
    each fails with a one- or two-line message (registry.cli_errors) instead of creating an
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


def _set_debug(_ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:  # read by registry.cli_errors (and by child processes such as the dashboard)
        os.environ[DEBUG_ENV] = "1"


@click.group(cls=RegistryGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, expose_value=False, callback=_set_debug, is_eager=True,
              help=f"Show the full traceback of an error (also ${DEBUG_ENV}=1).")
@db_option
def main() -> None:
    """AHSCT-in-MS outcomes registry.

    Centres enter transplants and follow-up; committees review safety; researchers export
    de-identified survival data. Run `msreg COMMAND --help` for each command.
    """


@main.group()
def export() -> None:
    """Write the registry out: a bundle (`export bundle`) or the survival dataset."""


@main.command()
@db_option
@pass_cli
def init(cli: CliContext) -> None:
    """Create the schema, or upgrade it to the newest migration."""
    from registry.migrate import current_revision, upgrade

    url = cli.new_url
    upgrade(url)
    click.echo(f"schema at revision {current_revision(url)} ({_safe(url)})")


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
    "registry.cli_data",  # import, export bundle
    "registry.cli_demo",  # demo
    "analytics.cli",  # export survival, survival, quality
    "registry.cli_users",  # user, audit
    "registry.cli_ops",  # backup, restore
    "dashboard.cli",  # dashboard
]

_attach_commands()
