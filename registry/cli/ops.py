"""`msreg` commands: backup, restore.

Thin wrappers over `registry.io.backup`: the command decides *where* (the `--db` URL and the
file), the module decides *how*. Errors become one clear line and exit status 1.
"""

from __future__ import annotations

import click


def register(main: click.Group, export: click.Group) -> None:
    """Attach this module's commands to the `msreg` group (and its `export` subgroup)."""
    from registry.cli import CliContext, db_option, pass_cli

    @main.command("backup")
    @click.argument("out", type=click.Path(dir_okay=False, writable=True))
    @db_option
    @pass_cli
    def backup_cmd(cli: CliContext, out: str) -> None:
        """Back the whole registry up to the file OUT (replaced atomically if it exists).

        SQLite: online backup API (others may keep writing). PostgreSQL: pg_dump -Fc (needs the
        PostgreSQL client tools). The file records which backend made it and checksums of every
        table, which `msreg restore` verifies.
        """
        from registry.io.backup import BackupError, backup
        from registry.cli import acting_actor

        from registry.io.backup_trail import Interrupted

        url = cli.existing_url  # any schema: back up before an upgrade
        actor = acting_actor(url)
        try:
            result = backup(url, out, actor=actor)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from exc
        except Interrupted as exc:
            raise click.ClickException(f"backup {exc}; its temporary files were removed and {out} was not changed") from exc
        m = result.manifest
        click.echo(
            f"backed up {m.backend} registry at revision {m.revision} "
            f"({m.total_rows} rows in {len(m.row_counts)} tables) to {result.path}"
        )
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)

    @main.command("restore")
    @click.argument("backup_file", metavar="IN", type=click.Path(exists=True, dir_okay=False))
    @click.option(
        "--force",
        is_flag=True,
        help="Overwrite a registry that already holds data (all of it is replaced, audit trail included; "
        "the restore and the heads it replaced are recorded in the witness and the access log).",
    )
    @db_option
    @pass_cli
    def restore_cmd(cli: CliContext, backup_file: str, force: bool) -> None:
        """Replace the registry with the backup file IN, then verify it.

        Refuses to overwrite a registry that holds any data unless --force is given, and refuses
        a backup made by the other backend (SQLite vs PostgreSQL). After restoring, the integrity
        check (SQLite) and every table's checksum are verified against the backup.
        """
        from registry.io.backup import BackupError, restore
        from registry.cli import acting_actor

        from registry.io.backup_trail import Interrupted

        url = cli.new_url  # may create the registry
        actor = acting_actor(url)
        try:
            result = restore(url, backup_file, force=force, actor=actor)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from exc
        except Interrupted as exc:
            raise click.ClickException(
                f"restore {exc}; its temporary files were removed. Run `msreg audit verify` and restore again"
            ) from exc
        m = result.manifest
        replaced = f"; replaced {result.replaced_rows} existing rows" if result.replaced_rows else ""
        click.echo(
            f"restored {m.backend} backup of {m.created_at} (revision {m.revision}, "
            f"{m.total_rows} rows) and verified every table{replaced}"
        )
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
