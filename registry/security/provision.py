"""What `msreg init` sets up besides the schema: the audit key ring and witness, and on
PostgreSQL the application's least-privilege role.

Least privilege, and why: the role that owns the tables can `ALTER TABLE audit_log DISABLE
TRIGGER`, delete rows and switch the trigger back on. So migrations run as the owner (the URL
given to `msreg init`), and the application (dashboard, imports, CLI) connects as a separate
role that may only SELECT and INSERT the two chained tables (`audit_log`, `access_log`) and
SELECT, INSERT, UPDATE, DELETE the registry's data tables: no TRUNCATE, no ALTER, no trigger
control (only an owner can), no CREATE in the schema. `app_role_grants` is the one list of
those rights; run `msreg init --app-role NAME` again after an upgrade that adds tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from registry.security import anchor, chain

APPEND_ONLY_TABLES = ("audit_log", "access_log")
READ_ONLY_TABLES = ("alembic_version",)
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class AnchorSetup:
    key_path: Path
    witness_path: Path
    created_key: bool


def ensure_anchor(engine: Engine, url: str) -> AnchorSetup:
    """Create the key ring (0600) if there is none and write a checkpoint of both chains.

    :raises anchor.KeyMissing: the trail is already signed but the key file is gone (a new key
        would hide that; the administrator must restore the old key file).
    """
    from registry.db import make_session_factory

    key_path = anchor.key_path_for(url)
    created = False
    if anchor.cached_ring(key_path) is None:
        with make_session_factory(engine)() as session:
            used = chain._any_keyed_row(session)
        if used:
            raise anchor.KeyMissing(
                f"the audit trail is signed with key {used}, but there is no key file at {key_path}: restore it from "
                f"your key backup (README, 'Audit trail'), or set {anchor.KEY_DIR_ENV} to the folder that holds it. "
                "A new key would make the existing trail unverifiable, so none was made."
            )
        anchor.create_ring(key_path)
        created = True
    from registry.security.audit_verify import checkpoint

    checkpoint(engine, url)
    return AnchorSetup(key_path, anchor.witness_path_for(url), created)


def app_role_grants(role: str, tables: list[str], sequences: list[str]) -> list[str]:
    """The GRANT/REVOKE statements giving `role` exactly the application's rights. Pure."""
    q = f'"{role}"'
    out = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {q}",
        f"REVOKE CREATE ON SCHEMA public FROM {q}",
        f"GRANT USAGE ON SCHEMA public TO {q}",
    ]
    for t in sorted(tables):
        if t in APPEND_ONLY_TABLES:
            out.append(f'GRANT SELECT, INSERT ON "{t}" TO {q}')
        elif t in READ_ONLY_TABLES:
            out.append(f'GRANT SELECT ON "{t}" TO {q}')
        else:
            out.append(f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{t}" TO {q}')
    out += [f'GRANT USAGE, SELECT ON SEQUENCE "{s}" TO {q}' for s in sorted(sequences)]
    return out


def ensure_app_role(engine: Engine, role: str, password: str | None) -> list[str]:
    """Create (or update) the application role on PostgreSQL and grant it its rights.

    :raises ValueError: not PostgreSQL, or a role name that is not a plain identifier, or a
        role that owns the tables (it would keep every right).
    """
    if engine.dialect.name != "postgresql":
        raise ValueError("--app-role is for PostgreSQL: an SQLite registry has no roles (protect the file: 0600)")
    if not _ROLE_NAME.match(role):
        raise ValueError(f"role name {role!r} refused: lower-case letters, digits and _, starting with a letter")
    with engine.begin() as conn:
        owner = conn.execute(text("SELECT current_user")).scalar_one()
        if owner == role:
            raise ValueError(f"the application role {role!r} must not be the owner that runs the migrations")
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is not None
        verb = "ALTER" if exists else "CREATE"
        # DDL takes no bind parameters: the password is quoted as an SQL literal (standard strings).
        secret = "" if password is None else " PASSWORD '" + password.replace("'", "''") + "'"
        if not exists or password is not None:
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql(f'{verb} ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT{secret}')
            except DBAPIError as exc:
                raise ValueError(
                    f"cannot {verb.lower()} role {role!r} as {owner!r} ({exc.orig}): give the owner role CREATEROLE, "
                    f"or have a superuser run CREATE ROLE {role} LOGIN PASSWORD '...' and run init again"
                ) from exc
        database = conn.execute(text("SELECT current_database()")).scalar_one()
        conn.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
        insp = inspect(conn)
        tables = insp.get_table_names(schema="public")
        sequences = insp.get_sequence_names(schema="public")
        statements = app_role_grants(role, tables, sequences)
        for statement in statements:
            conn.exec_driver_sql(statement)
    return statements
