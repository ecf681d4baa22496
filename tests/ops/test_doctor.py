"""`msreg doctor`: a good deployment passes; each deliberate fault fails the check named for it.

The rules are pure functions, tested case by case; the whole command runs through the CLI
against a real set-up on SQLite (file modes, backups, the dashboard's settings) and on
PostgreSQL with the owner and application roles made by the guide's own SQL
(deploy/postgres/*.sql), so the guide is what is tested.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry import doctor
from registry.security.access import Actor
from registry.io.backup import backup
from registry.cli import main
from registry.db import make_engine, session_scope
from registry.doctor import AuditPrivileges, Check, judge_audit_privileges, judge_dashboard, judge_file
from registry.services import create

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
ADMIN = Actor(username="doctor-test", role="admin")
UID = os.geteuid()


def _run_doctor(url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Check]]:
    result = CliRunner().invoke(
        main, ["doctor", "--db", url, "--format", "json", "--min-free-gib", "0.01", *args], env=env or {}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    body = json.loads(result.output)
    return result.exit_code, {c["name"]: Check(**c) for c in body["checks"]}


def _failing(checks: dict[str, Check]) -> set[str]:
    return {name for name, c in checks.items() if c.status == "fail"}


def _add_centre(url: str, code: str = "C01") -> None:
    engine = make_engine(url)
    try:
        with session_scope(engine) as s:
            create(s, ADMIN, "centres", {"centre_code": code, "name": f"Centre {code}", "country": "GB"})
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# The rules.
# --------------------------------------------------------------------------------------------


def _privileges(**kw: object) -> AuditPrivileges:
    base: dict[str, object] = dict(role="app", superuser=False, owner="owner", member_of_owner=False, granted={},
                                   can_set_replication_role=False)
    return AuditPrivileges(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("privileges", "expected", "says"),
    [
        (_privileges(), "pass", "not the owner"),
        (_privileges(superuser=True), "fail", "superuser"),
        (_privileges(role="owner"), "fail", "owns audit_log"),
        (_privileges(member_of_owner=True), "fail", "member of audit_log's owner"),
        (_privileges(granted={"audit_log": ("UPDATE",)}), "fail", "holds UPDATE on audit_log"),
        (_privileges(granted={"audit_log": ("DELETE", "TRUNCATE")}), "fail", "DELETE, TRUNCATE on audit_log"),
        (_privileges(granted={"audit_log": ("TRIGGER",)}), "fail", "TRIGGER"),
        (_privileges(granted={"access_log": ("DELETE",)}), "fail", "holds DELETE on access_log"),
        (_privileges(can_set_replication_role=True), "fail", "session_replication_role"),
        (None, "fail", "no audit_log"),
    ],
)
def test_the_application_role_may_only_read_and_append_the_audit_trail(privileges, expected, says) -> None:
    check = judge_audit_privileges(privileges)
    assert (check.status, check.name) == (expected, "database role")
    assert says in check.detail


@pytest.mark.parametrize(
    ("config", "env", "name", "expected"),
    [
        ({"server": {"address": "localhost"}}, {}, "dashboard address", "pass"),
        ({"server": {"address": "127.0.0.1"}}, {}, "dashboard address", "pass"),
        ({"server": {}}, {}, "dashboard address", "fail"),  # Streamlit's default: every interface
        ({"server": {"address": "0.0.0.0"}}, {}, "dashboard address", "fail"),
        ({"server": {"address": "localhost"}}, {"STREAMLIT_SERVER_ADDRESS": "0.0.0.0"}, "dashboard address", "fail"),
        ({"server": {"address": "10.1.2.3"}}, {}, "dashboard address", "warn"),
        ({"server": {"enableXsrfProtection": True}}, {}, "dashboard XSRF/CORS", "pass"),
        ({"server": {"enableXsrfProtection": False}}, {}, "dashboard XSRF/CORS", "fail"),
        ({"server": {"enableXsrfProtection": True}}, {"STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION": "false"},
         "dashboard XSRF/CORS", "fail"),
        ({"server": {"enableCORS": False}}, {}, "dashboard XSRF/CORS", "fail"),
        ({}, {}, "dashboard login", "pass"),
        ({}, {"MSREG_DASHBOARD_NO_LOGIN": "0"}, "dashboard login", "pass"),
        ({}, {"MSREG_DASHBOARD_NO_LOGIN": "1"}, "dashboard login", "fail"),
    ],
)
def test_dashboard_settings_as_the_server_would_see_them(config, env, name, expected) -> None:
    checks = {c.name: c for c in judge_dashboard(config, env)}
    assert checks[name].status == expected, checks[name].detail


def test_the_repository_dashboard_config_passes() -> None:
    assert {c.status for c in doctor.check_dashboard(doctor.DASHBOARD_CONFIG, {})} == {"pass"}


@pytest.mark.parametrize(
    ("mode", "owner", "problems"),
    [
        (0o100600, UID, 0),
        (0o100400, UID, 0),
        (0o100640, UID, 1),
        (0o100644, UID, 1),
        (0o100606, UID, 1),
        (0o100600, UID + 1, 1),
        (0o100666, UID + 1, 2),
    ],
)
def test_secret_files_must_be_private_to_the_service_user(mode, owner, problems) -> None:
    assert len(judge_file(Path("/x/registry.db"), mode, owner, UID, "svc")) == problems


def test_env_file_is_read_as_systemd_reads_it(tmp_path) -> None:
    f = tmp_path / "msreg.env"
    f.write_text("# comment\n\nMSREG_DASHBOARD_NO_LOGIN=1\nA=\"quoted value\"\n; also a comment\nB='x=y'\n")
    assert doctor.read_env_file(f) == {"MSREG_DASHBOARD_NO_LOGIN": "1", "A": "quoted value", "B": "x=y"}


@pytest.mark.parametrize(("free", "expected"), [(1, "fail"), (5, "warn"), (50, "pass")])
def test_disk_space_thresholds(tmp_path, monkeypatch, free, expected) -> None:
    monkeypatch.setattr(doctor.shutil, "disk_usage", lambda _p: shutil._ntuple_diskusage(100, 100 - free, free))
    check = doctor.check_disk_space([tmp_path], min_free=2, warn_free=10)
    assert check.status == expected


# --------------------------------------------------------------------------------------------
# Backups.
# --------------------------------------------------------------------------------------------


@pytest.fixture
def backed_up(sqlite_url, tmp_path) -> tuple[str, Path]:
    _add_centre(sqlite_url)
    folder = tmp_path / "backups"
    backup(sqlite_url, folder / "registry-1.msreg-backup")
    return sqlite_url, folder


def test_a_fresh_backup_that_verifies_passes(backed_up) -> None:
    _url, folder = backed_up
    check = doctor.check_backups(folder, max_age_hours=26)
    assert check.status == "pass", check.detail


def test_the_newest_backup_is_the_one_judged(backed_up) -> None:
    url, folder = backed_up
    newer = folder / "registry-2.msreg-backup"
    backup(url, newer)
    os.utime(newer, (newer.stat().st_atime + 60, newer.stat().st_mtime + 60))
    assert doctor.newest_backup(folder) == newer


def test_an_old_backup_fails_with_its_age(backed_up) -> None:
    _url, folder = backed_up
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=30)
    check = doctor.check_backups(folder, max_age_hours=26, now=later)
    assert check.status == "fail"
    assert "h old (limit 26 h)" in check.detail


def test_a_backup_whose_payload_no_longer_matches_its_manifest_fails(backed_up, tmp_path) -> None:
    _url, folder = backed_up
    original = folder / "registry-1.msreg-backup"
    with tarfile.open(original) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    payload = tmp_path / "x" / "payload"
    data = bytearray(payload.read_bytes())
    data[-100] ^= 0xFF
    payload.write_bytes(bytes(data))
    with tarfile.open(original, "w") as tar:
        tar.add(tmp_path / "x" / "manifest.json", arcname="manifest.json")
        tar.add(payload, arcname="payload")
    check = doctor.check_backups(folder, max_age_hours=26)
    assert check.status == "fail"
    assert "does not match its manifest" in check.detail


@pytest.mark.parametrize("content", [b"", b"not a tar file at all"])
def test_a_file_that_is_not_a_backup_fails(tmp_path, content) -> None:
    (tmp_path / "registry-x.msreg-backup").write_bytes(content)
    check = doctor.check_backups(tmp_path, max_age_hours=26)
    assert check.status == "fail"


def test_no_backup_at_all_fails_and_no_folder_given_warns(tmp_path) -> None:
    assert doctor.check_backups(tmp_path, max_age_hours=26).status == "fail"
    assert doctor.check_backups(tmp_path / "missing", max_age_hours=26).status == "fail"
    assert doctor.check_backups(None, max_age_hours=26).status == "warn"


# --------------------------------------------------------------------------------------------
# The whole command on SQLite: a good set-up, then one fault at a time.
# --------------------------------------------------------------------------------------------


@pytest.fixture
def good_sqlite(backed_up) -> tuple[str, Path]:
    url, folder = backed_up
    db = Path(make_url(url).database)
    for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), *folder.iterdir()):
        if f.exists():
            f.chmod(0o600)
    return url, folder


def test_a_good_sqlite_deployment_passes_every_check(good_sqlite) -> None:
    url, folder = good_sqlite
    code, checks = _run_doctor(url, "--backup-dir", str(folder))
    assert code == 0, checks
    assert {c.status for c in checks.values()} == {"pass"}, checks
    assert set(checks) >= {"database", "schema", "audit chain", "demo flag", "file permissions", "dashboard address",
                           "dashboard XSRF/CORS", "dashboard login", "backup", "disk space"}
    assert "database role" not in checks  # PostgreSQL only


def _world_readable(url: str, _folder: Path) -> dict[str, str]:
    Path(make_url(url).database).chmod(0o644)
    return {}


def _backup_world_readable(_url: str, folder: Path) -> dict[str, str]:
    for f in folder.iterdir():
        f.chmod(0o644)
    return {}


def _demo_registry(url: str, _folder: Path) -> dict[str, str]:
    from registry.models import RegistrySetting

    engine = make_engine(url)
    with session_scope(engine) as s:
        s.add(RegistrySetting(key="synthetic", value="true"))
    engine.dispose()
    return {}


def _altered_audit_row(url: str, _folder: Path) -> dict[str, str]:
    engine = make_engine(url)
    with engine.begin() as conn:  # an insider with the file: drop the trigger, rewrite a row
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE id = 1"))
    engine.dispose()
    return {}


def _schema_behind(url: str, _folder: Path) -> dict[str, str]:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    engine.dispose()
    return {}


def _no_login(_url: str, _folder: Path) -> dict[str, str]:
    return {"MSREG_DASHBOARD_NO_LOGIN": "1"}


def _open_to_the_network(_url: str, _folder: Path) -> dict[str, str]:
    return {"STREAMLIT_SERVER_ADDRESS": "0.0.0.0"}


def _xsrf_off(_url: str, _folder: Path) -> dict[str, str]:
    return {"STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION": "false"}


def _backups_gone(_url: str, folder: Path) -> dict[str, str]:
    for f in folder.iterdir():
        f.unlink()
    return {}


def _database_gone(url: str, _folder: Path) -> dict[str, str]:
    Path(make_url(url).database).unlink()
    return {}


@pytest.mark.parametrize(
    ("fault", "fails"),
    [
        (_world_readable, {"file permissions"}),
        (_backup_world_readable, {"file permissions"}),
        (_demo_registry, {"demo flag"}),
        (_altered_audit_row, {"audit chain"}),
        (_schema_behind, {"schema"}),
        (_no_login, {"dashboard login"}),
        (_open_to_the_network, {"dashboard address"}),
        (_xsrf_off, {"dashboard XSRF/CORS"}),
        (_backups_gone, {"backup"}),
        (_database_gone, {"database"}),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_each_fault_fails_exactly_its_check_and_the_exit_status(good_sqlite, fault, fails) -> None:
    url, folder = good_sqlite
    env = fault(url, folder)
    code, checks = _run_doctor(url, "--backup-dir", str(folder), env=env)
    assert code == 1
    assert _failing(checks) == fails, checks


def test_a_demo_registry_is_only_a_warning_with_allow_demo(good_sqlite) -> None:
    url, folder = good_sqlite
    _demo_registry(url, folder)
    code, checks = _run_doctor(url, "--backup-dir", str(folder), "--allow-demo")
    assert code == 0
    assert checks["demo flag"].status == "warn"


def test_the_env_file_of_the_service_is_checked(good_sqlite, tmp_path) -> None:
    url, folder = good_sqlite
    env_file = tmp_path / "msreg.env"
    env_file.write_text(f"MSREG_BACKUP_DIR={folder}\nMSREG_DASHBOARD_NO_LOGIN=1\n")
    code, checks = _run_doctor(url, "--env-file", str(env_file))
    assert code == 1
    assert _failing(checks) == {"dashboard login"}
    assert checks["backup"].status == "pass"  # the backup folder came from the env file


def test_only_the_named_checks_run(good_sqlite) -> None:
    url, folder = good_sqlite
    code, checks = _run_doctor(url, "--check", "backup", "--backup-dir", str(folder))
    assert (code, list(checks)) == (0, ["backup"])
    result = CliRunner().invoke(main, ["doctor", "--db", url, "--check", "nonsense"])
    assert result.exit_code == 2
    assert "unknown check(s) nonsense" in result.output


def test_text_report_has_one_line_per_check_and_a_verdict(good_sqlite) -> None:
    url, folder = good_sqlite
    result = CliRunner().invoke(main, ["doctor", "--db", url, "--backup-dir", str(folder), "--min-free-gib", "0.01"],
                                env={"MSREG_DASHBOARD_NO_LOGIN": "1"})
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1
    assert any(line.startswith("FAIL  dashboard login") for line in lines)
    assert lines[-1].startswith("NOT SAFE: ") and lines[-1].endswith("1 fail")


def test_doctor_never_creates_a_missing_sqlite_registry(tmp_path) -> None:
    missing = tmp_path / "nowhere.db"
    code, checks = _run_doctor(f"sqlite:///{missing}")
    assert code == 1 and checks["database"].status == "fail"
    assert not missing.exists()


# --------------------------------------------------------------------------------------------
# PostgreSQL: the owner and application roles of docs/deploy.md, made by its SQL.
# --------------------------------------------------------------------------------------------


def _psql(url: str, *args: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql not on PATH (apt-get install postgresql-client)")
    u = make_url(url)
    conninfo = f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"
    subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", conninfo, *args], check=True, capture_output=True, text=True)


class PgDeployment:
    def __init__(self, server_url: str, suffix: str) -> None:
        self.server_url = server_url
        self.owner = f"msreg_i17_owner_{suffix}"
        self.app = f"msreg_i17_app_{suffix}"
        self.db = f"msreg_i17_{suffix}"

    def url(self, role: str) -> str:
        return make_url(self.server_url).set(username=role, password=None, database=self.db).render_as_string(
            hide_password=False
        )


@pytest.fixture(scope="module")
def pg_deployment(pg_admin) -> Iterator[PgDeployment]:
    """A registry database set up exactly as docs/deploy.md says: roles.sql, init as owner, grants.sql."""
    from registry import migrate
    from tests.conftest import PG_SERVER_URL

    dep = PgDeployment(PG_SERVER_URL, uuid.uuid4().hex[:8])
    try:
        _psql(PG_SERVER_URL, "-v", f"owner={dep.owner}", "-v", f"app={dep.app}", "-v", f"db={dep.db}",
              "-f", str(DEPLOY / "postgres" / "roles.sql"))
        migrate.upgrade(dep.url(dep.owner))
        _psql(dep.url(dep.owner), "-v", f"app={dep.app}", "-f", str(DEPLOY / "postgres" / "grants.sql"))
        _add_centre(dep.url(dep.app))  # the app role writes records and appends audit rows
        yield dep
    finally:
        with pg_admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{dep.db}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{dep.app}"'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{dep.owner}"'))


DB_CHECKS = ("--check", "database", "--check", "schema", "--check", "database role", "--check", "audit chain",
             "--check", "demo flag")

pg = pytest.mark.postgres


@pg
def test_the_application_role_of_the_guide_passes(pg_deployment) -> None:
    code, checks = _run_doctor(pg_deployment.url(pg_deployment.app), *DB_CHECKS)
    assert code == 0, checks
    assert checks["database role"].status == "pass"
    assert pg_deployment.app in checks["database role"].detail


@pg
def test_the_catalogue_reading_agrees_with_what_the_server_refuses(pg_deployment) -> None:
    engine = create_engine(pg_deployment.url(pg_deployment.app))
    try:
        for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log",
                          "ALTER TABLE audit_log DISABLE TRIGGER USER", "SET session_replication_role = replica"):
            with engine.connect() as conn, pytest.raises(Exception, match="permission denied|must be owner"):
                conn.execute(text(statement))
    finally:
        engine.dispose()


@pg
@pytest.mark.parametrize("who", ["owner", "superuser"])
def test_connecting_as_the_owner_or_a_superuser_fails(pg_deployment, who) -> None:
    from tests.conftest import PG_SERVER_URL

    url = pg_deployment.url(pg_deployment.owner) if who == "owner" else (
        make_url(PG_SERVER_URL).set(database=pg_deployment.db).render_as_string(hide_password=False))
    code, checks = _run_doctor(url, *DB_CHECKS)
    assert code == 1
    assert _failing(checks) == {"database role"}
    assert ("owns audit_log" if who == "owner" else "superuser") in checks["database role"].detail


@pg
@pytest.mark.parametrize(
    ("grant", "says"),
    [
        ("GRANT UPDATE ON audit_log TO {app}", "UPDATE"),
        ("GRANT DELETE, TRUNCATE ON audit_log TO {app}", "DELETE, TRUNCATE"),
        ("GRANT TRIGGER ON audit_log TO {app}", "TRIGGER"),
        ("GRANT {owner} TO {app}", "member of audit_log's owner"),
    ],
)
def test_a_privilege_too_many_fails_naming_it(pg_deployment, pg_admin, grant, says) -> None:
    sql = grant.format(app=f'"{pg_deployment.app}"', owner=f'"{pg_deployment.owner}"')
    revoke = sql.replace("GRANT", "REVOKE", 1).replace(" TO ", " FROM ")
    engine = create_engine(make_url(pg_admin.url).set(database=pg_deployment.db), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
        try:
            code, checks = _run_doctor(pg_deployment.url(pg_deployment.app), *DB_CHECKS)
        finally:
            with engine.connect() as conn:
                conn.execute(text(revoke))
    finally:
        engine.dispose()
    assert code == 1
    assert _failing(checks) == {"database role"}
    assert says in checks["database role"].detail


@pg
def test_a_postgresql_backup_made_by_the_application_role_verifies(pg_deployment, tmp_path) -> None:
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump not on PATH")
    url = pg_deployment.url(pg_deployment.app)
    result = CliRunner().invoke(main, ["backup", "--db", url, str(tmp_path / "b" / "registry-1.msreg-backup")])
    assert result.exit_code == 0, result.output
    code, checks = _run_doctor(url, "--check", "backup", "--backup-dir", str(tmp_path / "b"))
    assert code == 0, checks


def test_the_env_file_names_the_database_unless_db_is_given(good_sqlite, tmp_path) -> None:
    url, folder = good_sqlite
    env_file = tmp_path / "msreg.env"
    env_file.write_text(f"MSREG_DATABASE_URL={url}\nMSREG_BACKUP_DIR={folder}\n")
    result = CliRunner().invoke(main, ["doctor", "--env-file", str(env_file), "--format", "json", "--min-free-gib", "0.01"],
                                env={"MSREG_DATABASE_URL": None})
    checks = {c["name"]: c for c in json.loads(result.output)["checks"]}
    assert result.exit_code == 0, result.output
    assert make_url(url).database in checks["database"]["detail"]
    other = tmp_path / "other.db"
    result = CliRunner().invoke(main, ["doctor", "--db", str(other), "--env-file", str(env_file), "--format", "json"],
                                env={"MSREG_DATABASE_URL": None})
    assert result.exit_code == 1
    assert str(other) in json.loads(result.output)["checks"][0]["detail"]
