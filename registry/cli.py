"""`msreg`: the registry's command line (contract in DESIGN.md).

Every command takes `--db URL`; without it $MSREG_DATABASE_URL; without that ./registry.db.
Commands live beside the code they drive (registry, analytics, …) and are attached here, so this
module stays a table of contents.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from registry.db import ENV_VAR, resolve_url


@dataclass(frozen=True, slots=True)
class CliContext:
    url: str


pass_cli = click.make_pass_decorator(CliContext)


def db_option(f):  # type: ignore[no-untyped-def]
    """`--db URL` on every command (DESIGN.md), also accepted before the command name."""

    def _store(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value is not None or ctx.obj is None:
            ctx.obj = CliContext(url=resolve_url(value or (ctx.obj.url if ctx.obj else None)))

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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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

    upgrade(cli.url)
    click.echo(f"schema at revision {current_revision(cli.url)} ({_safe(cli.url)})")


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
    "dashboard.report.cli",  # report safety
]

_attach_commands()
