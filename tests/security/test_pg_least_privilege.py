"""On PostgreSQL the application connects as a role that cannot rewrite the trail.

A real server: an owner role (not a superuser; CREATEROLE to make the application role) owns the database and runs `msreg init
--app-role APP`; the application role APP is then refused every statement that could change
or hide audit and access rows (UPDATE, DELETE, TRUNCATE, disabling or dropping the triggers,
altering or dropping the tables, creating tables), while the registry works through it.
Roles and databases are named msreg_i11_* and dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from registry.security import auth
from registry.security.access import Actor
from registry.security.access_log import record_access
from registry.cli import main
from registry.db import make_engine, session_scope
from registry.models import Centre
from tests.conftest import PG_SERVER_URL

pytestmark = pytest.mark.postgres


@dataclass(frozen=True)
class Roles:
    owner_url: str
    app_url: str
    app: str


@pytest.fixture
def roles(pg_admin: Engine) -> Iterator[Roles]:
    tag = uuid.uuid4().hex[:8]
    owner, app, db = f"msreg_i11_owner_{tag}", f"msreg_i11_app_{tag}", f"msreg_i11_db_{tag}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{owner}" LOGIN NOSUPERUSER NOCREATEDB CREATEROLE'))
        conn.execute(text(f'CREATE DATABASE "{db}" OWNER "{owner}"'))
    base = make_url(PG_SERVER_URL).set(database=db)
    owner_url = base.set(username=owner, password=None).render_as_string(hide_password=False)
    app_url = base.set(username=app, password=None).render_as_string(hide_password=False)
    try:
        result = CliRunner().invoke(main, ["--db", owner_url, "init", "--app-role", app])
        assert result.exit_code == 0, result.output
        assert f"application (MSREG_DATABASE_URL): postgresql+psycopg://{app}@" in result.output
        yield Roles(owner_url, app_url, app)
    finally:
        with pg_admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{app}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{owner}"'))


PRIVILEGED = [
    ("UPDATE {t} SET actor = 'someone else'", "permission denied"),
    ("DELETE FROM {t}", "permission denied"),
    ("TRUNCATE {t}", "permission denied"),
    ("ALTER TABLE {t} DISABLE TRIGGER USER", "must be owner"),
    ("ALTER TABLE {t} DISABLE TRIGGER ALL", "must be owner"),
    ("DROP TRIGGER {t}_no_delete ON {t}", "must be owner"),
    ("ALTER TABLE {t} ADD COLUMN x int", "must be owner"),
    ("DROP TABLE {t}", "must be owner"),
    ("CREATE TABLE {t}_copy (id int)", "permission denied for schema public"),
]


@pytest.mark.parametrize("table", ["audit_log", "access_log"])
@pytest.mark.parametrize(("statement", "refusal"), PRIVILEGED, ids=[s.split(" {")[0] for s, _ in PRIVILEGED])
def test_the_application_role_is_refused_each_privileged_statement(roles: Roles, table: str, statement: str, refusal: str) -> None:
    app = make_engine(roles.app_url)
    try:
        with session_scope(app) as s:  # something to protect
            auth.add_user(s, Actor("boss", "admin"), f"u-{table}", "researcher")
        with pytest.raises(DBAPIError, match=refusal), app.begin() as conn:
            conn.execute(text(statement.format(t=table)))
    finally:
        app.dispose()


def test_the_registry_works_through_the_application_role(roles: Roles) -> None:
    app = make_engine(roles.app_url)
    try:
        with session_scope(app) as s:
            s.add(Centre(centre_code="AAA", name="Centre A", country="GB"))
        with session_scope(app) as s:
            auth.add_user(s, Actor("boss", "admin"), "ann", "centre", "AAA", "a long enough password")
        from registry.db import make_session_factory

        with make_session_factory(app)() as s:
            assert auth.authenticate(s, "ann", "a long enough password", client="10.0.0.1").username == "ann"
        record_access(app, Actor("ann", "centre", "AAA"), "download", {"what": "test", "rows": 1})
    finally:
        app.dispose()
    for args in (["audit", "verify"], ["audit", "checkpoint"], ["user", "list"]):
        result = CliRunner().invoke(main, ["--db", roles.app_url, *args])
        assert result.exit_code == 0, (args, result.output)


def test_the_owner_and_the_application_share_one_key_and_witness(roles: Roles) -> None:
    from registry.security import anchor

    assert anchor.key_path_for(roles.owner_url) == anchor.key_path_for(roles.app_url)
    assert anchor.witness_path_for(roles.owner_url) == anchor.witness_path_for(roles.app_url)


def test_app_role_must_not_be_the_owner(roles: Roles) -> None:
    owner = make_url(roles.owner_url).username
    result = CliRunner().invoke(main, ["--db", roles.owner_url, "init", "--app-role", owner])
    assert result.exit_code == 1
    assert "must not be the owner" in result.output


def test_app_role_is_refused_on_sqlite(sqlite_url: str) -> None:
    result = CliRunner().invoke(main, ["--db", sqlite_url, "init", "--app-role", "msreg_i11_x"])
    assert result.exit_code == 1
    assert "--app-role is for PostgreSQL" in result.output
