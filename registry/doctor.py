"""`msreg doctor`: inspect a deployment and say, check by check, whether it is safe to run.

Like REDCap's "configuration check": one line per check, each `pass`, `warn` or `fail`, with
what was found and what to do. A failure means the deployment must not carry patient data as
it is (exit status 1); a warning is something an administrator should look at.

Every check is a function of its inputs returning a `Check`; none changes anything. In
particular the PostgreSQL privilege check reads the catalogue (`pg_tables.tableowner`,
`pg_has_role`, `has_table_privilege`): it never tries a destructive statement to see whether
it is refused. Heavy libraries are imported inside the functions so that `msreg --help` stays
fast.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import pwd
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Status = Literal["pass", "warn", "fail"]
STATUSES: tuple[Status, ...] = ("pass", "warn", "fail")

DASHBOARD_CONFIG = Path(__file__).resolve().parent.parent / "dashboard" / ".streamlit" / "config.toml"
NO_LOGIN_ENV = "MSREG_DASHBOARD_NO_LOGIN"  # the same name as dashboard.login.NO_LOGIN_ENV
BACKUP_DIR_ENV = "MSREG_BACKUP_DIR"
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
# Privileges on audit_log that would let the connected role rewrite or silence the trail.
# (ALTER TABLE … DISABLE TRIGGER needs ownership, checked separately; TRIGGER lets a role add
# triggers of its own to the table.)
FORBIDDEN_AUDIT_PRIVILEGES = ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES")


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the doctor's report."""

    status: Status
    name: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"status": self.status, "name": self.name, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class DoctorSettings:
    """What the doctor looks at, and its thresholds (the defaults suit a nightly backup)."""

    url: str
    backup_dir: Path | None = None
    allow_demo: bool = False
    service_user: str | None = None  # None: the user running the doctor
    secret_files: tuple[Path, ...] = ()
    dashboard_config: Path = DASHBOARD_CONFIG
    environment: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    max_backup_age_hours: float = 26.0
    min_free_bytes: int = 2 * 1024**3
    warn_free_bytes: int = 10 * 1024**3


def exit_code(checks: Iterable[Check]) -> int:
    """1 when any check failed, else 0 (warnings do not fail the run)."""
    return 1 if any(c.status == "fail" for c in checks) else 0


# --------------------------------------------------------------------------------------------
# Database checks.
# --------------------------------------------------------------------------------------------


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The SQLite registry's file, or None for PostgreSQL or an in-memory database."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    return Path(u.database)


def _is_postgresql(url: str) -> bool:
    from sqlalchemy.engine import make_url

    return make_url(url).get_backend_name() == "postgresql"


def open_reader(url: str):  # type: ignore[no-untyped-def]
    """A read-only engine, refusing to create a missing SQLite file (connecting would)."""
    from registry.db import make_engine

    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"{path}: no such SQLite registry")
    return make_engine(url, read_only=True)


def check_database(url: str) -> Check:
    """The registry answers at all (every other database check needs it)."""
    try:
        engine = open_reader(url)
        try:
            with engine.connect() as conn:
                from sqlalchemy import text

                conn.execute(text("SELECT 1")).scalar_one()
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001 - the report names what went wrong
        return Check("fail", "database", f"cannot connect to {_safe(url)}: {_one_line(exc)}")
    return Check("pass", "database", f"{_safe(url)} answers")


def check_schema(url: str) -> Check:
    """The schema is at the newest migration this msreg knows (else `msreg init` must run)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from registry.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    try:
        engine = open_reader(url)
        try:
            with engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001
        return Check("fail", "schema", f"cannot read the schema revision: {_one_line(exc)}")
    if current is None:
        return Check("fail", "schema", "no schema (empty database): run `msreg init`")
    if current != head:
        return Check("fail", "schema", f"at revision {current}, this msreg expects {head}: back up, then run `msreg init`")
    return Check("pass", "schema", f"at head ({head})")


# Tables the application may only read and append to: the audit trail and, where this msreg
# has one, the access log.
APPEND_ONLY_TABLES = ("audit_log", "access_log")


@dataclass(frozen=True, slots=True)
class AuditPrivileges:
    """What the catalogue says the connected role may do to the append-only tables."""

    role: str
    superuser: bool
    owner: str  # audit_log's owner
    member_of_owner: bool
    granted: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # table -> forbidden privileges held
    can_set_replication_role: bool = False  # session_replication_role=replica silences triggers


def audit_privileges(conn) -> AuditPrivileges | None:  # type: ignore[no-untyped-def]
    """Read the connected role's powers over audit_log (and access_log) from the catalogue.

    None when no audit_log is visible. Reads only: has_table_privilege, pg_tables.tableowner,
    pg_has_role; nothing is attempted.
    """
    from sqlalchemy import text

    def table_row(name: str):  # type: ignore[no-untyped-def]
        return conn.execute(
            text(
                "SELECT current_user AS role, r.rolsuper AS superuser, t.tableowner AS owner, "
                "pg_has_role(current_user, t.tableowner, 'MEMBER') AS member_of_owner, "
                "format('%I.%I', t.schemaname, t.tablename) AS qualified "
                "FROM pg_tables t JOIN pg_roles r ON r.rolname = current_user "
                "WHERE t.tablename = :name AND t.schemaname = ANY (current_schemas(false)) "
                "ORDER BY array_position(current_schemas(false), t.schemaname) LIMIT 1"
            ),
            {"name": name},
        ).mappings().first()

    row = table_row("audit_log")
    if row is None:
        return None
    granted: dict[str, tuple[str, ...]] = {}
    for name in APPEND_ONLY_TABLES:
        tr = row if name == "audit_log" else table_row(name)
        if tr is None:
            continue
        held = tuple(
            p
            for p in FORBIDDEN_AUDIT_PRIVILEGES
            if conn.execute(text("SELECT has_table_privilege(:t, :p)"), {"t": tr["qualified"], "p": p}).scalar_one()
        )
        if held:
            granted[name] = held
    can_set = bool(row["superuser"])
    if not can_set:
        # PostgreSQL 15+: SET on a superuser-only parameter can be granted to a role.
        has_fn = conn.execute(text("SELECT to_regproc('pg_catalog.has_parameter_privilege') IS NOT NULL")).scalar_one()
        if has_fn:
            can_set = bool(
                conn.execute(text("SELECT has_parameter_privilege('session_replication_role', 'SET')")).scalar_one()
            )
    return AuditPrivileges(
        role=row["role"],
        superuser=bool(row["superuser"]),
        owner=row["owner"],
        member_of_owner=bool(row["member_of_owner"]),
        granted=granted,
        can_set_replication_role=can_set,
    )


def judge_audit_privileges(p: AuditPrivileges | None) -> Check:
    """Pure rule: the application role must not be able to rewrite or silence the audit trail."""
    name = "database role"
    if p is None:
        return Check("fail", name, "no audit_log table visible to this role: run `msreg init` (as the owner role)")
    problems: list[str] = []
    if p.superuser:
        problems.append("is a superuser")
    if p.role == p.owner:
        problems.append("owns audit_log (may ALTER it and disable its triggers)")
    elif p.member_of_owner:
        problems.append(f"is a member of audit_log's owner {p.owner} (may ALTER it and disable its triggers)")
    for table, held in p.granted.items():
        problems.append(f"holds {', '.join(held)} on {table}")
    if p.can_set_replication_role and not p.superuser:
        problems.append("may SET session_replication_role (silences the triggers)")
    if problems:
        return Check(
            "fail",
            name,
            f"the application connects as {p.role}, which {'; '.join(problems)}: connect the dashboard "
            f"and CLI as the application role (SELECT/INSERT on audit_log only) and keep the owner "
            f"role for `msreg init` (docs/deploy.md)",
        )
    return Check("pass", name, f"{p.role} is not the owner ({p.owner}) and may only read and append the audit trail")


def check_database_role(url: str) -> Check | None:
    """PostgreSQL only (None on SQLite, where the file's permissions are the boundary)."""
    if not _is_postgresql(url):
        return None
    try:
        engine = open_reader(url)
        try:
            with engine.connect() as conn:
                privileges = audit_privileges(conn)
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001
        return Check("fail", "database role", f"cannot read the role's privileges: {_one_line(exc)}")
    return judge_audit_privileges(privileges)


def check_audit_chain(url: str) -> Check:
    """The audit trail verifies: against the key and the witness where this msreg anchors the
    chain outside the database (`registry.security.audit_verify.verify_registry`), else the hash chain
    row by row (`registry.security.audit.verify_chain`)."""
    try:
        from registry.security.audit_verify import verify_registry  # type: ignore[import-not-found]
    except ImportError:
        verify_registry = None
    try:
        engine = open_reader(url)
        try:
            if verify_registry is not None:
                report = verify_registry(engine, url)
                if not report.ok:
                    first = "; ".join(report.problems[:3])
                    return Check("fail", "audit chain", f"{len(report.problems)} problem(s): {first} (run `msreg audit verify`)")
                rows = ", ".join(f"{name} {r.rows} rows" for name, r in report.chains.items())
                return Check("pass", "audit chain", f"{rows}; verified against the key and witness in {report.key_path.parent}")
            return _verify_plain_chain(engine)
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001
        return Check("fail", "audit chain", f"cannot verify: {_one_line(exc)}")


def _verify_plain_chain(engine) -> Check:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from registry.security.audit import verify_chain
    from registry.models import AuditEntry

    with Session(engine) as session:
        rows = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        problems = verify_chain(session)
    if problems:
        first = "; ".join(p.message for p in problems[:3])
        return Check("fail", "audit chain", f"{len(problems)} problem(s) in {rows} rows: {first} (run `msreg audit verify`)")
    return Check("pass", "audit chain", f"{rows} rows, hash chain intact")


def check_demo_flag(url: str, *, allow_demo: bool) -> Check:
    """A registry built by `msreg demo` (registry_settings.synthetic) must not be the production one."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from registry.models import RegistrySetting

    try:
        engine = open_reader(url)
        try:
            with Session(engine) as session:
                value = session.execute(
                    select(RegistrySetting.value).where(RegistrySetting.key == "synthetic")
                ).scalar()
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001
        return Check("fail", "demo flag", f"cannot read registry_settings: {_one_line(exc)}")
    if value is not None and value.strip().lower() == "true":
        if allow_demo:
            return Check("warn", "demo flag", "synthetic demo registry (allowed by --allow-demo): not for patient data")
        return Check(
            "fail",
            "demo flag",
            "this is a synthetic demo registry (registry_settings.synthetic = true), shown with the demo "
            "badge: never enter real patients here; use a new database for production, or --allow-demo",
        )
    return Check("pass", "demo flag", "not a demo registry")


# --------------------------------------------------------------------------------------------
# Files.
# --------------------------------------------------------------------------------------------


def registry_files(url: str) -> list[Path]:
    """The SQLite registry and its WAL/shared-memory files that exist (none for PostgreSQL)."""
    path = sqlite_file(url)
    if path is None:
        return []
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


KEY_DIR_ENV = "MSREG_KEY_DIR"  # where the audit key and witness live (registry.security.anchor.KEY_DIR_ENV)


def audit_secret_files(url: str) -> list[Path]:
    """The audit key and witness files of this registry that exist, where msreg keeps them
    (`registry.security.anchor.key_path_for` / `witness_path_for`); [] for an msreg without them."""
    try:
        from registry import anchor  # type: ignore[attr-defined]
    except ImportError:
        return []
    paths = [anchor.key_path_for(url), anchor.witness_path_for(url)]
    return [p for p in paths if p.exists()]


def judge_file(path: Path, mode: int, owner_uid: int, service_uid: int, service_user: str) -> list[str]:
    """Pure rule: what is wrong with one secret file (empty when nothing)."""
    problems: list[str] = []
    if mode & 0o077:
        problems.append(f"{path} is mode {stat.S_IMODE(mode):04o} (readable by others: chmod 600)")
    if owner_uid != service_uid:
        try:
            owner = pwd.getpwuid(owner_uid).pw_name
        except KeyError:
            owner = str(owner_uid)
        problems.append(f"{path} is owned by {owner}, not the service user {service_user} (chown {service_user})")
    return problems


def check_files(paths: Sequence[Path], *, service_user: str | None) -> Check:
    """Registry, key, witness and newest backup files: mode 0600 and owned by the service user."""
    name = "file permissions"
    if service_user is None:
        uid = os.geteuid()
        service_user = pwd.getpwuid(uid).pw_name
    else:
        try:
            uid = pwd.getpwnam(service_user).pw_uid
        except KeyError:
            return Check("fail", name, f"no such service user {service_user!r}")
    if not paths:
        return Check("pass", name, "no local registry, audit key or witness file found to check")
    problems: list[str] = []
    for p in paths:
        try:
            st = p.stat()
        except OSError as exc:
            problems.append(f"{p}: {exc.strerror}")
            continue
        problems += judge_file(p, st.st_mode, st.st_uid, uid, service_user)
    if problems:
        return Check("fail", name, "; ".join(problems))
    return Check("pass", name, f"{len(paths)} file(s) 0600, owned by {service_user}: {', '.join(str(p) for p in paths)}")


# --------------------------------------------------------------------------------------------
# The dashboard's server settings.
# --------------------------------------------------------------------------------------------


def _streamlit_option(config: Mapping[str, object], env: Mapping[str, str], section: str, key: str) -> object:
    """An option as the running dashboard would see it: environment over config.toml.

    Streamlit reads STREAMLIT_<SECTION>_<KEY_IN_SNAKE_CASE> from the environment.
    """
    snake = "".join(f"_{c}" if c.isupper() else c for c in key).upper()
    env_name = f"STREAMLIT_{section.upper()}_{snake}"
    if env_name in env:
        return env[env_name]
    values = config.get(section, {})
    return values.get(key) if isinstance(values, dict) else None


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def judge_dashboard(config: Mapping[str, object], env: Mapping[str, str]) -> list[Check]:
    """Pure rules on the dashboard's effective settings: bind address, XSRF/CORS, the login."""
    checks: list[Check] = []
    address = _streamlit_option(config, env, "server", "address")
    if address in (None, "", "0.0.0.0", "::", "[::]"):
        checks.append(
            Check(
                "fail",
                "dashboard address",
                f"binds to every interface ({address or 'unset'}): plain HTTP reaches the network; set "
                f"server.address = \"localhost\" and put the TLS proxy in front (docs/deploy.md)",
            )
        )
    elif str(address) in LOOPBACK:
        checks.append(Check("pass", "dashboard address", f"binds to {address} only (behind the TLS proxy)"))
    else:
        checks.append(
            Check(
                "warn",
                "dashboard address",
                f"binds to {address}: Streamlit serves plain HTTP there; make sure only the TLS proxy can reach it",
            )
        )
    xsrf = _streamlit_option(config, env, "server", "enableXsrfProtection")
    cors = _streamlit_option(config, env, "server", "enableCORS")
    off = [n for n, v in (("enableXsrfProtection", xsrf), ("enableCORS", cors)) if v is not None and not _truthy(v)]
    if off:
        checks.append(Check("fail", "dashboard XSRF/CORS", f"server.{' and server.'.join(off)} switched off: switch back on"))
    else:
        checks.append(Check("pass", "dashboard XSRF/CORS", "XSRF protection and CORS checks on"))
    if env.get(NO_LOGIN_ENV) == "1":
        checks.append(
            Check("fail", "dashboard login", f"{NO_LOGIN_ENV}=1 switches the login off (tests only): remove it")
        )
    else:
        checks.append(Check("pass", "dashboard login", f"login required ({NO_LOGIN_ENV} not set)"))
    return checks


def check_dashboard(config_path: Path, env: Mapping[str, str]) -> list[Check]:
    import tomllib

    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        config = {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return [Check("fail", "dashboard config", f"{config_path}: {_one_line(exc)}")]
    return judge_dashboard(config, env)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments and blanks skipped)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip().removeprefix("export ").strip()] = value
    return out


# --------------------------------------------------------------------------------------------
# Backups and disk.
# --------------------------------------------------------------------------------------------


def verify_backup_file(path: Path) -> str | None:
    """None when the backup's payload matches its manifest's SHA-256, else what is wrong.

    Streams the payload out of the tar file into the hash: no copy of the registry on disk.
    """
    from registry.io.backup import MANIFEST_NAME, PAYLOAD_NAME, BackupError, read_manifest

    try:
        manifest = read_manifest(path)
        h = hashlib.sha256()
        with tarfile.open(path, mode="r:") as tar:
            names = tar.getnames()
            if MANIFEST_NAME not in names or PAYLOAD_NAME not in names:
                return f"{path}: incomplete backup (members {names})"
            src = tar.extractfile(tar.getmember(PAYLOAD_NAME))
            if src is None:
                return f"{path}: damaged backup (payload is not a file)"
            while chunk := src.read(1 << 20):
                h.update(chunk)
    except BackupError as exc:
        return str(exc)
    except (tarfile.TarError, OSError, KeyError) as exc:
        return f"{path}: unreadable backup ({_one_line(exc)})"
    if h.hexdigest() != manifest.payload_sha256:
        return f"{path}: payload SHA-256 does not match its manifest (damaged or altered)"
    return None


def newest_backup(backup_dir: Path) -> Path | None:
    """The most recently modified regular file in the folder (temporary `.partial` files skipped)."""
    candidates = [
        p for p in backup_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".partial")
    ]
    return max(candidates, key=lambda p: p.stat().st_mtime, default=None)


def check_backups(backup_dir: Path | None, *, max_age_hours: float, now: dt.datetime | None = None) -> Check:
    """The newest backup is recent and its manifest verifies."""
    name = "backup"
    if backup_dir is None:
        return Check("warn", name, f"no backup folder given (--backup-dir or ${BACKUP_DIR_ENV}): backups not checked")
    if not backup_dir.is_dir():
        return Check("fail", name, f"{backup_dir}: no such backup folder")
    latest = newest_backup(backup_dir)
    if latest is None:
        return Check("fail", name, f"no backup in {backup_dir}: schedule `msreg backup` (docs/deploy.md)")
    problem = verify_backup_file(latest)
    if problem:
        return Check("fail", name, problem)
    from registry.io.backup import read_manifest

    manifest = read_manifest(latest)
    now = now or dt.datetime.now(dt.UTC)
    try:
        created = dt.datetime.fromisoformat(manifest.created_at)
    except ValueError:
        created = dt.datetime.fromtimestamp(latest.stat().st_mtime, dt.UTC)
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    age_h = (now - created).total_seconds() / 3600
    where = f"{latest.name} ({manifest.backend}, revision {manifest.revision}, {manifest.total_rows} rows)"
    if age_h > max_age_hours:
        return Check("fail", name, f"newest backup {where} is {age_h:.1f} h old (limit {max_age_hours:g} h)")
    return Check("pass", name, f"newest backup {where} is {age_h:.1f} h old and verifies")


def _existing_parent(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk_space(paths: Sequence[Path], *, min_free: int, warn_free: int) -> Check:
    """Free space where the registry and its backups are written."""
    name = "disk space"
    seen: dict[int, tuple[Path, int]] = {}
    for p in paths:
        folder = _existing_parent(p)
        dev = folder.stat().st_dev
        if dev not in seen:
            seen[dev] = (folder, shutil.disk_usage(folder).free)
    if not seen:
        return Check("pass", name, "nothing local to check")
    lowest_folder, lowest = min(seen.values(), key=lambda v: v[1])
    gib = lowest / 1024**3
    listing = ", ".join(f"{f}: {free / 1024**3:.1f} GiB free" for f, free in seen.values())
    if lowest < min_free:
        return Check("fail", name, f"{lowest_folder} has {gib:.2f} GiB free (need {min_free / 1024**3:g}): {listing}")
    if lowest < warn_free:
        return Check("warn", name, f"{lowest_folder} has {gib:.1f} GiB free (below {warn_free / 1024**3:g}): {listing}")
    return Check("pass", name, listing)


# --------------------------------------------------------------------------------------------
# All together.
# --------------------------------------------------------------------------------------------


CHECK_GROUPS: tuple[str, ...] = (
    "database", "schema", "database role", "audit chain", "demo flag",
    "file permissions", "dashboard", "backup", "disk space",
)


def run_checks(settings: DoctorSettings, only: Iterable[str] = ()) -> list[Check]:
    """Every check (or those in `only`, names from CHECK_GROUPS), in the order to fix them.

    The database checks other than `database` itself run only when the database answers.
    """
    wanted = set(only) or set(CHECK_GROUPS)
    unknown = wanted - set(CHECK_GROUPS)
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(sorted(unknown))}; choose from {', '.join(CHECK_GROUPS)}")
    url = settings.url
    checks: list[Check] = []
    reachable = check_database(url)
    needs_db = wanted & {"database", "schema", "database role", "audit chain", "demo flag"}
    if needs_db:
        if "database" in wanted or reachable.status != "pass":
            checks.append(reachable)
    if reachable.status == "pass":
        db_checks: dict[str, Callable[[], Check | None]] = {
            "schema": lambda: check_schema(url),
            "database role": lambda: check_database_role(url),
            "audit chain": lambda: check_audit_chain(url),
            "demo flag": lambda: check_demo_flag(url, allow_demo=settings.allow_demo),
        }
        for group, run in db_checks.items():
            if group in wanted and (result := run()) is not None:
                checks.append(result)
    if "file permissions" in wanted:
        files = [*registry_files(url), *audit_secret_files(url), *settings.secret_files]
        if settings.backup_dir is not None and settings.backup_dir.is_dir():
            latest = newest_backup(settings.backup_dir)  # a backup holds every patient too
            files += [latest] if latest is not None else []
        checks.append(check_files(list(dict.fromkeys(files)), service_user=settings.service_user))
    if "dashboard" in wanted:
        checks += check_dashboard(settings.dashboard_config, settings.environment)
    if "backup" in wanted:
        checks.append(check_backups(settings.backup_dir, max_age_hours=settings.max_backup_age_hours))
    if "disk space" in wanted:
        disk = [p.parent for p in registry_files(url)[:1]]
        if settings.backup_dir is not None:
            disk.append(settings.backup_dir)
        checks.append(
            check_disk_space(disk or [Path.cwd()], min_free=settings.min_free_bytes, warn_free=settings.warn_free_bytes)
        )
    return checks


def format_text(checks: Sequence[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{c.status.upper():4}  {c.name:<{width}}  {c.detail}" for c in checks]
    counts = {s: sum(c.status == s for c in checks) for s in STATUSES}
    verdict = "NOT SAFE" if counts["fail"] else "OK"
    lines.append(f"{verdict}: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail")
    return "\n".join(lines)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
