"""`msreg` commands: user, audit.

The command line acts as `access.cli_actor()`, an administrator of the local registry (whoever
can run `msreg` against the database already holds its credentials), or with `msreg --as NAME`
as that registry account; the OS account is recorded either way. Generated passwords are
printed once and stored only as hashes; `--password-stdin` reads a chosen one instead (so it
never appears in the shell history or the process list).
"""

from __future__ import annotations

import sys

import click


def register(main: click.Group, export: click.Group) -> None:
    """Attach this module's commands to the `msreg` group (and its `export` subgroup)."""
    from registry.security.access import ROLES
    from registry.cli import CliContext, db_option, pass_cli

    @main.group()
    def user() -> None:
        """Manage accounts of the dashboard (admins only)."""

    def _password_from_stdin(enabled: bool) -> str | None:
        if not enabled:
            return None
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise click.UsageError("--password-stdin: no password on standard input")
        return line

    def _run(cli: CliContext, action):  # type: ignore[no-untyped-def]
        """Run `action(session, actor)` in one transaction as the CLI administrator; turn
        refusals and a missing schema into a message and exit status 1."""
        from sqlalchemy.exc import OperationalError, ProgrammingError

        from registry.security.access import AccessDenied
        from registry.security.anchor import AnchorError
        from registry.security.auth import UserError
        from registry.cli import acting_actor
        from registry.db import make_engine, session_scope

        actor = acting_actor(cli.url)
        engine = make_engine(cli.url)
        try:
            with session_scope(engine) as session:
                return action(session, actor)
        except (UserError, AccessDenied, AnchorError) as exc:
            raise click.ClickException(str(exc)) from exc
        except (OperationalError, ProgrammingError) as exc:
            raise click.ClickException(f"database error: {exc.orig} (is the schema created? run `msreg init`)") from exc
        finally:
            engine.dispose()

    @user.command("add")
    @click.argument("name")
    @click.option("--role", required=True, type=click.Choice(ROLES))
    @click.option("--centre", "centre_code", metavar="CODE", help="The centre of a centre user.")
    @click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
    @db_option
    @pass_cli
    def user_add(cli: CliContext, name: str, role: str, centre_code: str | None, password_stdin: bool) -> None:
        """Create account NAME; prints a generated password once unless --password-stdin."""
        from registry.security import auth

        password = _password_from_stdin(password_stdin)
        generated = _run(cli, lambda s, a: auth.add_user(s, a, name, role, centre_code, password))
        click.echo(f"user {name} added (role {role}" + (f", centre {centre_code})" if centre_code else ")"))
        if generated:
            click.echo(f"password (shown once): {generated}")

    @user.command("disable")
    @click.argument("name")
    @click.option("--reason", help="Why, for the audit trail.")
    @db_option
    @pass_cli
    def user_disable(cli: CliContext, name: str, reason: str | None) -> None:
        """Refuse all further logins of NAME."""
        from registry.security import auth

        _run(cli, lambda s, a: auth.disable_user(s, a, name, reason=reason))
        click.echo(f"user {name} disabled")

    @user.command("enable")
    @click.argument("name")
    @click.option("--reason", help="Why, for the audit trail.")
    @db_option
    @pass_cli
    def user_enable(cli: CliContext, name: str, reason: str | None) -> None:
        """Allow NAME to log in again."""
        from registry.security import auth

        _run(cli, lambda s, a: auth.enable_user(s, a, name, reason=reason))
        click.echo(f"user {name} enabled")

    @user.command("reset-password")
    @click.argument("name")
    @click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
    @db_option
    @pass_cli
    def user_reset_password(cli: CliContext, name: str, password_stdin: bool) -> None:
        """Give NAME a new password (and lift a lockout); prints a generated one once."""
        from registry.security import auth

        password = _password_from_stdin(password_stdin)
        generated = _run(cli, lambda s, a: auth.reset_password(s, a, name, password))
        click.echo(f"password of {name} reset")
        if generated:
            click.echo(f"password (shown once): {generated}")

    @user.command("list")
    @db_option
    @pass_cli
    def user_list(cli: CliContext) -> None:
        """Accounts, one a line: username, role, centre, state, last login (UTC)."""
        from registry.security import auth
        from registry.models import utcnow

        users = _run(cli, auth.list_users)
        now = utcnow()
        click.echo("username\trole\tcentre\tstate\tlast_login")
        for u in users:
            state = "disabled" if u.disabled else ("locked" if u.locked_until and u.locked_until > now else "active")
            last = u.last_login_at.strftime("%Y-%m-%dT%H:%M:%SZ") if u.last_login_at else "-"
            click.echo(f"{u.username}\t{u.role}\t{u.centre_code or '-'}\t{state}\t{last}")

    @main.group("audit")
    def audit_group() -> None:
        """Check and read the audit trail."""

    @audit_group.command("show")
    @click.option("--entity", help="Only this entity (table name, e.g. patients, users).")
    @click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Newest N rows.")
    @db_option
    @pass_cli
    def audit_show(cli: CliContext, entity: str | None, limit: int) -> None:
        """The newest audit rows, oldest first, tab-separated."""
        from sqlalchemy import select

        from registry.models import AuditEntry

        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if entity:
            query = query.where(AuditEntry.entity == entity)
        rows = list(reversed(_run(cli, lambda session, _actor: session.execute(query).scalars().all())))
        click.echo("id\toccurred_at\tactor\trole\tcentre\taction\tentity\tkey\told\tnew\treason")
        for r in rows:
            click.echo(
                "\t".join(
                    [
                        str(r.id),
                        r.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        r.actor,
                        r.role,
                        r.centre_code or "-",
                        r.action,
                        r.entity,
                        r.entity_key,
                        r.old_values or "-",
                        r.new_values or "-",
                        (r.reason or "-").replace("\t", " ").replace("\n", " "),
                    ]
                )
            )
