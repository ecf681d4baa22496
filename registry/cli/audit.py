"""`msreg` commands: audit verify, audit checkpoint, audit rotate-key.

They find the key ring and the witness where `msreg init` put them (registry.security.anchor); no
flags are needed. `verify` exits 1 naming every problem, 2 when it cannot check at all.
"""

from __future__ import annotations

import json
import sys

import click


def register(main: click.Group, export: click.Group) -> None:
    """Attach this module's commands to the `msreg audit` group (made by registry.cli.users)."""
    from registry.cli import CliContext, acting_actor, db_option, pass_cli

    audit_group = main.commands["audit"]
    assert isinstance(audit_group, click.Group)

    def _engine(url: str):  # type: ignore[no-untyped-def]
        from registry.db import make_engine

        return make_engine(url)

    def _db_error(exc: Exception) -> click.ClickException:
        return click.ClickException(f"database error: {getattr(exc, 'orig', exc)} (is the schema created? run `msreg init`)")

    @audit_group.command("verify")
    @click.option(
        "--expect",
        "expected",
        metavar="LINE",
        multiple=True,
        help="A checkpoint line printed earlier by `msreg audit checkpoint` (e.g. from the notary); repeatable.",
    )
    @db_option
    @pass_cli
    def audit_verify(cli: CliContext, expected: tuple[str, ...]) -> None:
        """Check the audit and access chains against the key and the witness: exit 0 with OK,
        or 1 naming each problem (altered, forged, deleted or reordered rows, rows cut from the
        end, an older copy put back, a missing or wrong key)."""
        from sqlalchemy.exc import DBAPIError

        from registry.security.audit_verify import verify_registry

        engine = _engine(cli.url)
        try:
            report = verify_registry(engine, cli.url, expected=expected)
        except DBAPIError as exc:
            raise _db_error(exc) from exc
        finally:
            engine.dispose()
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
        audit, access = report.chains["audit"], report.chains["access"]
        summary = f"{audit.rows} audit rows, {access.rows} access rows, {report.checkpoints} witnessed heads"
        if not report.ok:
            for problem in report.problems:
                click.echo(problem, err=True)
            click.echo(f"audit trail BROKEN: {len(report.problems)} problem(s); {summary}", err=True)
            click.echo(f"key {report.key_path}; witness {report.witness_path}", err=True)
            sys.exit(1)
        head = audit.head.hash if audit.head else "0" * 64
        click.echo(f"audit trail OK: {summary}; keys {', '.join(audit.keys_used + [k for k in access.keys_used if k not in audit.keys_used]) or 'none'}; head {head}")

    @audit_group.command("checkpoint")
    @db_option
    @pass_cli
    def audit_checkpoint(cli: CliContext) -> None:
        """Sign the chains' current heads, add them to the witness, and print them (one JSON line
        per chain). Send the lines to someone outside (a notary, a mailbox, a ticket): later
        `msreg audit verify --expect LINE` proves the trail still holds that state."""
        from sqlalchemy.exc import DBAPIError

        from registry.security import anchor
        from registry.security.access_log import record_access
        from registry.security.audit_verify import checkpoint

        actor = acting_actor(cli.url)
        engine = _engine(cli.url)
        try:
            lines = checkpoint(engine, cli.url)
            record_access(engine, actor, "checkpoint", {"heads": [{k: line[k] for k in ("chain", "last_id", "rows", "hash")} for line in lines]})
        except anchor.AnchorError as exc:
            raise click.ClickException(f"{exc}; run `msreg init` to create the key") from exc
        except DBAPIError as exc:
            raise _db_error(exc) from exc
        finally:
            engine.dispose()
        for line in lines:
            click.echo(json.dumps(line, sort_keys=True, separators=(",", ":")))

    @audit_group.command("rotate-key")
    @db_option
    @pass_cli
    def audit_rotate_key(cli: CliContext) -> None:
        """Start signing with a new key; the old keys stay in the key file to verify older rows.
        The rotation is itself an access-log event. Back the key file up again afterwards."""
        from sqlalchemy.exc import DBAPIError

        from registry.security import anchor
        from registry.security.key_rotation import rotate_key

        actor = acting_actor(cli.url)
        engine = _engine(cli.url)
        try:
            old, new, path = rotate_key(engine, cli.url, actor)
        except anchor.AnchorError as exc:
            raise click.ClickException(str(exc)) from exc
        except DBAPIError as exc:
            raise _db_error(exc) from exc
        finally:
            engine.dispose()
        click.echo(f"audit key rotated: {old} -> {new} in {path}; back this file up again now")
