"""Opening the registry from the command line, and what the user reads when that fails.

Why one module: every `msreg` command reaches the database through `CliContext.url`, which calls
`check_registry` here before the command opens anything. So a mistyped `--db` is caught in one
place, the same way for every command, and told in one or two lines:

- a SQLite file that does not exist: "no registry at PATH; create one with `msreg init`", and
  nothing is created (SQLite would silently create an empty file on connect; only `msreg init`,
  and `msreg restore`, which writes a registry, may create one);
- a path that is a folder, a URL whose scheme is not SQLite or PostgreSQL, a server that
  refuses the connection or the login;
- a schema older than the code ("run `msreg init` to upgrade") or newer than it.

Anything else that goes wrong while a command runs is turned into one line by
`RegistryGroup` (the `msreg` group's class), with a hint to rerun with `--debug` (or
`MSREG_DEBUG=1`), which shows the full traceback instead.

Imports of SQLAlchemy and Alembic stay inside the functions: `msreg --help` loads none of them.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from enum import Enum
from pathlib import Path
from typing import Any

import click

DEBUG_ENV = "MSREG_DEBUG"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
EXPECTED_URLS = "a SQLite file path, sqlite:///PATH, or postgresql://USER@HOST:PORT/DBNAME"
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"  # as registry.migrate


class Need(Enum):
    """What a command needs of the database behind `--db`."""

    CURRENT = "current"  # an existing registry whose schema is the code's (most commands)
    EXISTING = "existing"  # an existing registry, any schema (backup: before an upgrade, too)
    CREATE = "create"  # may not exist yet: the command creates it (init, restore)


class RegistryUnavailable(click.ClickException):
    """The registry behind `--db` cannot be used; the message says why and what to do."""


def debug_enabled() -> bool:
    """`msreg --debug` (which sets $MSREG_DEBUG for the run) or MSREG_DEBUG=1 in the environment."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def shown_url(url: str) -> str:
    """The URL as a user may see it: SQLite as its file path, a password hidden."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def check_registry(url: str, need: Need = Need.CURRENT) -> str:
    """Return `url` once it is known to be usable as `need` says; else raise RegistryUnavailable.

    Checks, cheapest first: the scheme; for SQLite, that the path is a file (or, for CREATE,
    that its folder exists); then, except for CREATE, one connection and the schema revision.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise RegistryUnavailable(f"cannot read the database URL {url!r}; expected {EXPECTED_URLS}") from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise RegistryUnavailable(
            f"unknown database URL scheme {parsed.drivername + '://'!r}; expected {EXPECTED_URLS}"
        )
    if backend == "sqlite":
        _check_sqlite_path(parsed.database, need)
    if need is not Need.CREATE:
        _check_schema(url, need)
    return url


def _check_sqlite_path(database: str | None, need: Need) -> None:
    if not database or database == ":memory:":
        return
    path = Path(database)
    if path.is_dir():
        raise RegistryUnavailable(f"{path} is a folder, not a registry file; give the registry's file, e.g. {path / 'registry.db'}")
    if need is Need.CREATE:
        if not path.parent.is_dir():
            raise RegistryUnavailable(f"cannot create a registry at {path}: the folder {path.parent} does not exist")
        return
    if not path.exists():
        raise RegistryUnavailable(f"no registry at {path}; create one with `msreg init`")


def _check_schema(url: str, need: Need) -> None:
    """One connection: the server answers, the login is accepted, the schema is the code's."""
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.exc import DBAPIError, NoSuchModuleError

    shown = shown_url(url)
    try:
        engine = create_engine(url)
    except NoSuchModuleError as exc:
        raise RegistryUnavailable(f"unknown database URL scheme in {shown}: {exc}; expected {EXPECTED_URLS}") from exc
    except ImportError as exc:
        raise RegistryUnavailable(f"the database driver for {shown} is not installed ({exc})") from exc
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                revision = None
            else:
                revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError as exc:
        raise RegistryUnavailable(_connection_message(shown, exc)) from exc
    finally:
        engine.dispose()
    if revision is None:
        raise RegistryUnavailable(f"{shown} holds no registry schema; create one with `msreg init`")
    if need is Need.CURRENT:
        _check_revision(revision, shown)


_REVISION_LINE = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+?)\s*$""", re.MULTILINE)


def migration_revisions(versions_dir: Path = MIGRATIONS_DIR / "versions") -> tuple[set[str], set[str]]:
    """(every revision, the heads) of the migration scripts, read as text.

    Why not Alembic's ScriptDirectory: importing Alembic costs more CPU than the rest of a
    command's check together, on every command. The scripts' `revision = "…"` and
    `down_revision = …` lines are all this needs; `tests/registry/test_cli_errors.py` checks
    the answer against Alembic's.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions_dir.glob("*.py"):
        for name, value in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            ids = set(re.findall(r"""["']([^"']+)["']""", value))
            (revisions if name == "revision" else parents).update(ids)
    return revisions, revisions - parents


def _check_revision(revision: str, shown: str) -> None:
    known, heads = migration_revisions()
    if revision in heads:
        return
    head = ", ".join(sorted(heads))
    if revision in known:
        raise RegistryUnavailable(
            f"the registry's schema (revision {revision}) is older than this msreg (revision {head}); "
            f"run `msreg init` to upgrade it (`msreg backup` first)"
        )
    raise RegistryUnavailable(
        f"the registry's schema (revision {revision}) is newer than this msreg knows (newest {head}); "
        "upgrade msreg before using this registry"
    )


def _connection_message(shown: str, exc: Any) -> str:
    """The driver's own first line (it names host, port, user or database) plus what to check."""
    detail = str(getattr(exc, "orig", exc)).strip().splitlines()
    first = detail[0] if detail else type(exc).__name__
    if first.startswith("(") and ") " in first:  # SQLAlchemy's "(module.Error) message"
        first = first.split(") ", 1)[1]
    lowered = str(exc).lower()
    if "password" in lowered or "role" in lowered or "authentication" in lowered:
        hint = "check the user name and password in the URL"
    elif "does not exist" in lowered:
        hint = "check the database name in the URL"
    elif "refused" in lowered or "could not" in lowered or "timeout" in lowered or "resolve" in lowered:
        hint = "is the server running, and are host and port right?"
    else:
        hint = "is this a registry database?"
    return f"cannot open the registry at {shown}: {first}\n{hint}"


def one_line(exc: BaseException) -> str:
    """A short description of an unexpected error, without SQL or a traceback."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error: that one says what
    text_ = str(orig if orig is not None else exc).strip().splitlines()
    message = text_[0] if text_ else ""
    name = type(orig if orig is not None else exc).__name__
    return f"{name}: {message}" if message else name


class RegistryGroup(click.Group):
    """The `msreg` group: every command's unexpected error becomes one line, not a traceback.

    `--debug` (or MSREG_DEBUG=1) shows the traceback instead. Subgroups and commands made with
    `@group.command()` / `@group.group()` get the same handling through the group they belong to.
    """

    group_class = type  # subgroups (`export`, `user`, ...) are RegistryGroups too

    def invoke(self, ctx: click.Context) -> Any:
        if ctx.parent is not None:  # only the outermost group translates errors
            return super().invoke(ctx)
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            if debug_enabled() and exc.__cause__ is not None:
                traceback.print_exception(exc.__cause__, file=sys.stderr)
            raise
        except (click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if debug_enabled():
                raise
            raise click.ClickException(f"{one_line(exc)}\n(run `msreg --debug ...` to see the traceback)") from exc
