"""`msreg` commands: import, export bundle.

`msreg import BUNDLE` prints every error as `FILE:LINE: COLUMN: message` on stderr and exits 1
when the bundle is rejected (nothing is written); on success it prints inserted/updated/unchanged
per file. The CLI acts as the operating-system user, an administrator of the local registry.
"""

from __future__ import annotations

from pathlib import Path

import click


def register(main: click.Group, export: click.Group) -> None:
    """Attach this module's commands to the `msreg` group (and its `export` subgroup)."""
    from registry.cli import CliContext, acting_actor, db_option, pass_cli, record_cli_access

    @main.command("import")
    @click.argument("bundle", type=click.Path(path_type=Path))
    @click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr for large bundles.")
    @db_option
    @pass_cli
    def import_cmd(cli: CliContext, bundle: Path, progress: bool) -> None:
        """Import a bundle (folder or .zip of CSV files): all or nothing.

        The files, columns, codes and rejection rules are described in docs/bundle-format.md.
        """
        from sqlalchemy.exc import DBAPIError

        from dataclasses import replace

        from registry.security.access import AccessDenied
        from registry.security.anchor import AnchorError
        from registry.io.bundle import import_bundle
        from registry.db import make_engine
        from registry.services import ServiceError

        actor = replace(acting_actor(cli.url), door="cli:import")
        engine = make_engine(cli.url)
        try:
            result = import_bundle(engine, bundle, actor, progress=progress)
        except AnchorError as exc:
            raise click.ClickException(str(exc)) from exc
        except (AccessDenied, ServiceError) as exc:
            raise click.ClickException(str(exc)) from exc
        except DBAPIError as exc:
            raise click.ClickException(f"database error: {exc.orig} (is the schema created? run `msreg init`)") from exc
        finally:
            engine.dispose()
        if not result.ok:
            for error in result.errors:
                click.echo(str(error), err=True)
            click.echo(f"bundle rejected: {len(result.errors)} error(s); nothing was imported", err=True)
            raise SystemExit(1)
        for line in result.summary_lines():
            click.echo(line)
        click.echo(f"imported {bundle} ({result.reason})")

    @export.command("bundle")
    @click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
    @db_option
    @pass_cli
    def export_bundle_cmd(cli: CliContext, out_dir: Path) -> None:
        """Write the whole registry as a bundle folder (every file, rows in key order)."""
        from registry.io.bundle import export_bundle
        from registry.db import make_engine
        from registry.validation import ENTITIES

        engine = make_engine(cli.url, read_only=True)  # a reader: never queued behind an import
        try:
            counts = export_bundle(engine, out_dir)
        finally:
            engine.dispose()
        record_cli_access(
            cli.url, "export", {"what": "bundle", "folder": str(out_dir.resolve()), "rows": dict(counts), "total_rows": sum(counts.values())}
        )
        for entity, n in counts.items():
            click.echo(f"{ENTITIES[entity].file:<20} {n:>9}")
        click.echo(f"wrote {out_dir}")
