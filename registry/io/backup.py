"""Backups and restores of the whole registry database, on SQLite and PostgreSQL.

A backup file is an uncompressed tar archive with two members:

- ``manifest.json``: the format version, the backend that made it (``sqlite`` or
  ``postgresql``), the Alembic revision, the UTC time, the payload's SHA-256, and per-table row
  counts and checksums taken *from the same snapshot as the payload*;
- ``payload``: for SQLite a plain database file made with the online backup API
  (``sqlite3.Connection.backup``: consistent while others keep writing, no downtime); for
  PostgreSQL a ``pg_dump -Fc`` custom-format archive.

Why a container rather than the raw database file or dump: the backup must say which backend
made it (restoring a PostgreSQL dump into SQLite, or the reverse, cannot work and is refused
before anything is touched), and the checksums let `restore` prove that what it wrote is what
was backed up, not merely that the database is internally consistent.

Decisions worth knowing:

- A restore refuses to overwrite a registry that holds any row (in any table other than
  ``alembic_version``) unless ``force=True`` (``msreg restore --force``): a restore replaces
  *everything*, including the audit trail, and that must be a deliberate act.
- SQLite restores copy the backup into the target with the backup API as well, so the target is
  replaced in one locked step (other connections wait on the busy timeout and then see either
  the old or the new registry, never a mixture); then ``PRAGMA integrity_check``,
  ``PRAGMA foreign_key_check`` and the manifest's checksums are verified.
- PostgreSQL backups run ``pg_dump`` on a snapshot exported from a REPEATABLE READ transaction
  (``pg_export_snapshot``); the manifest's checksums are computed in that same transaction, so
  they describe exactly the dumped data even under concurrent writes. Restores run
  ``pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error``: all or
  nothing. A target holding tables that the backup does not have (e.g. a newer schema) is
  refused whatever ``force`` says, because ``--clean`` would leave them behind next to an older
  ``alembic_version``; drop and recreate the database first.
- Every check reads through a read-only engine (``make_engine(read_only=True)``), so neither
  a backup nor a restore's checks queue behind a writer on SQLite.
- Backups are written to a temporary file beside ``OUT`` and renamed into place only when
  complete (after fsync), so a crash never leaves a truncated file under the final name.
  Every temporary file (the payload too) is 0600 in the destination's folder and removed on
  failure or SIGTERM/SIGHUP; backups are recorded in the access log and restores in the
  witness and the access log (registry.io.backup_trail).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, create_engine, func, inspect, select, text
from sqlalchemy.engine import URL, make_url

from registry.security.access import Actor
from registry.io.backup_trail import (
    chain_heads,
    engine_heads,
    private_empty_file,
    record_backup,
    record_restore,
    removed_on_signals,
    temp_dir_beside,
)
from registry.db import is_sqlite, make_engine, resolve_url

FORMAT = "msreg-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
PAYLOAD_NAME = "payload"
_CHUNK = 1 << 20


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says what, where and what to do."""


class RestoreRefused(BackupError):
    """The restore was refused before anything was changed (non-empty target, wrong backend…)."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a backup file says about itself."""

    backend: str
    revision: str | None
    created_at: str
    payload_sha256: str
    row_counts: Mapping[str, int]
    checksums: Mapping[str, str]
    source: str
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        body = {
            "format": self.format,
            "format_version": self.format_version,
            "backend": self.backend,
            "revision": self.revision,
            "created_at": self.created_at,
            "source": self.source,
            "payload_sha256": self.payload_sha256,
            "row_counts": dict(self.row_counts),
            "checksums": dict(self.checksums),
        }
        return json.dumps(body, indent=2, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes, *, path: Path) -> Manifest:
        try:
            body = json.loads(raw.decode("utf-8"))
            if body.get("format") != FORMAT:
                raise BackupError(f"{path}: not an msreg backup (format {body.get('format')!r})")
            if body.get("format_version") != FORMAT_VERSION:
                raise BackupError(
                    f"{path}: backup format version {body.get('format_version')!r} is not supported "
                    f"(this msreg reads version {FORMAT_VERSION})"
                )
            return cls(
                backend=body["backend"],
                revision=body["revision"],
                created_at=body["created_at"],
                payload_sha256=body["payload_sha256"],
                row_counts={str(k): int(v) for k, v in body["row_counts"].items()},
                checksums={str(k): str(v) for k, v in body["checksums"].items()},
                source=body.get("source", ""),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackupError(f"{path}: damaged backup manifest ({exc})") from exc

    @property
    def total_rows(self) -> int:
        return sum(n for t, n in self.row_counts.items() if t not in BOOKKEEPING_TABLES)


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    manifest: Manifest
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RestoreResult:
    url: str
    manifest: Manifest
    replaced_rows: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)


# --------------------------------------------------------------------------------------------
# Fingerprints: row counts and per-table checksums, backend-neutral.
# --------------------------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def table_checksums(conn: Connection, *, meta: MetaData | None = None) -> dict[str, str]:
    """SHA-256 of every table's rows, ordered by primary key (all columns when there is none).

    Reflects the live schema rather than using the models, so it also works at older migration
    revisions and on a restored copy. Equal checksums mean equal rows, column by column. Pass
    an already reflected `meta` to check the same schema many times cheaply.
    """
    if meta is None:
        meta = MetaData()
        meta.reflect(bind=conn)
    out: dict[str, str] = {}
    for name in sorted(meta.tables):
        table = meta.tables[name]
        order = list(table.primary_key.columns) or list(table.columns)
        h = hashlib.sha256()
        h.update(json.dumps([c.name for c in table.columns]).encode("utf-8"))
        for row in conn.execute(select(table).order_by(*order)):
            h.update(b"\n")
            h.update(json.dumps([_canonical(v) for v in row], separators=(",", ":")).encode("utf-8"))
        out[name] = h.hexdigest()
    return out


def row_counts(conn: Connection) -> dict[str, int]:
    """Rows per table of the live schema."""
    meta = MetaData()
    meta.reflect(bind=conn)
    return {
        name: int(conn.execute(select(func.count()).select_from(meta.tables[name])).scalar_one())
        for name in sorted(meta.tables)
    }


BOOKKEEPING_TABLES = ("alembic_version", "data_version")
"""Tables that hold one row about the database, not data: an empty registry has them filled."""


def _data_rows(counts: Mapping[str, int]) -> int:
    return sum(n for t, n in counts.items() if t not in BOOKKEEPING_TABLES)


def _revision(conn: Connection) -> str | None:
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


# --------------------------------------------------------------------------------------------
# The container.
# --------------------------------------------------------------------------------------------


def _write_container(out: Path, manifest: Manifest, payload: Path) -> None:
    """Write manifest + payload to a temporary file beside `out`, fsync, then rename."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
                body = manifest.to_json()
                info = tarfile.TarInfo(MANIFEST_NAME)
                info.size = len(body)
                info.mtime = int(dt.datetime.now(dt.UTC).timestamp())
                tar.addfile(info, io.BytesIO(body))
                tar.add(str(payload), arcname=PAYLOAD_NAME, recursive=False)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(out.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass


def read_manifest(path: str | Path) -> Manifest:
    """The manifest of a backup file, without extracting the payload."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file")
    try:
        with tarfile.open(path, mode="r:") as tar:
            member = tar.getmember(MANIFEST_NAME)
            fh = tar.extractfile(member)
            if fh is None:
                raise BackupError(f"{path}: damaged backup (manifest is not a file)")
            return Manifest.from_json(fh.read(), path=path)
    except (tarfile.TarError, KeyError) as exc:
        raise BackupError(f"{path}: not an msreg backup file ({exc})") from exc


@contextmanager
def _extracted_payload(path: Path, manifest: Manifest, *, near: Path | None = None) -> Iterator[Path]:
    """The payload in a temporary file (0600, in a 0700 folder beside `near`, never /tmp),
    its SHA-256 checked against the manifest."""
    folder = temp_dir_beside(near or path)
    with tempfile.TemporaryDirectory(prefix=f".{(near or path).name}.restore-", suffix=".partial", dir=folder) as tmpdir:
        target = private_empty_file(Path(tmpdir) / PAYLOAD_NAME)
        try:
            with tarfile.open(path, mode="r:") as tar:
                src = tar.extractfile(tar.getmember(PAYLOAD_NAME))
                if src is None:
                    raise BackupError(f"{path}: damaged backup (payload is not a file)")
                with target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
        except (tarfile.TarError, KeyError) as exc:
            raise BackupError(f"{path}: damaged backup, payload unreadable ({exc})") from exc
        actual = _sha256_file(target)
        if actual != manifest.payload_sha256:
            raise BackupError(
                f"{path}: damaged backup: payload SHA-256 is {actual}, the manifest says "
                f"{manifest.payload_sha256}"
            )
        yield target


# --------------------------------------------------------------------------------------------
# Public entry points.
# --------------------------------------------------------------------------------------------


def backup(url: str | None, out: str | Path, *, actor: Actor | None = None) -> BackupResult:
    """Back the registry at `url` up to the file `out` (replaced atomically if it exists), and
    record it in the access log as `actor` (default: the OS account, registry.io.backup_trail).

    :raises BackupError: the database cannot be read, or pg_dump is missing or fails.
    """
    resolved = resolve_url(url)
    out = Path(out)
    heads: dict[str, Any] = {}
    folder = temp_dir_beside(out)
    with removed_on_signals(), tempfile.TemporaryDirectory(prefix=f".{out.name}.", suffix=".partial", dir=folder) as tmpdir:
        payload = private_empty_file(Path(tmpdir) / PAYLOAD_NAME)
        if is_sqlite(resolved):
            manifest = _backup_sqlite(resolved, payload, heads)
        else:
            manifest = _backup_postgresql(resolved, payload, heads)
        _write_container(out, manifest, payload)
    warning = record_backup(resolved, actor, manifest, out.resolve(), heads)
    return BackupResult(path=out, manifest=manifest, warnings=(warning,) if warning else ())


def restore(url: str | None, backup_file: str | Path, *, force: bool = False, actor: Actor | None = None) -> RestoreResult:
    """Replace the registry at `url` with the contents of `backup_file`, verify it, and record
    the restore (witness and access log, registry.io.backup_trail) as `actor`.

    :raises RestoreRefused: the backup was made by the other backend, or the target is not
        empty and `force` is False, or the target has tables the backup lacks; nothing changed.
    :raises BackupError: the backup file is damaged, tools are missing, or verification failed.
    """
    with removed_on_signals():
        return _restore(url, backup_file, force=force, actor=actor)


def _restore(url: str | None, backup_file: str | Path, *, force: bool, actor: Actor | None) -> RestoreResult:
    """Replace the registry at `url` with the contents of `backup_file`, then verify it.

    :raises RestoreRefused: the backup was made by the other backend, or the target is not
        empty and `force` is False, or the target has tables the backup lacks; nothing changed.
    :raises BackupError: the backup file is damaged, tools are missing, or verification failed.
    """
    resolved = resolve_url(url)
    path = Path(backup_file)
    manifest = read_manifest(path)
    target_backend = "sqlite" if is_sqlite(resolved) else "postgresql"
    if manifest.backend != target_backend:
        raise RestoreRefused(
            f"{path} is a {manifest.backend} backup and {_safe_url(resolved)} is a {target_backend} "
            f"database: restoring across backends is not supported. Restore it into a "
            f"{manifest.backend} database, then move data with `msreg export bundle` and "
            f"`msreg import`."
        )
    before: dict[str, Any] = {}
    if target_backend == "sqlite":
        if _sqlite_path(resolved).exists():
            before = _heads_of(resolved)
        result = _restore_sqlite(resolved, path, manifest, force=force)
    else:
        before = _heads_of(resolved)
        result = _restore_postgresql(resolved, path, manifest, force=force)
    warnings = list(result.warnings)
    head = _head_revision()
    if manifest.revision != head:
        warnings.append(
            f"the backup is at schema revision {manifest.revision} and this msreg expects {head}: "
            f"run `msreg init` to upgrade it"
        )
    else:  # an older schema cannot hold the restore event; `msreg init` then records nothing either
        warnings += record_restore(resolved, actor, manifest, path.resolve(), before, result.replaced_rows)
    return RestoreResult(url=result.url, manifest=result.manifest, replaced_rows=result.replaced_rows, warnings=tuple(warnings))


def _heads_of(url: str) -> dict[str, Any]:
    engine = make_engine(url, read_only=True)
    try:
        return engine_heads(engine)
    finally:
        engine.dispose()


def _head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from registry.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _refuse_if_not_empty(url: str, counts: Mapping[str, int], *, force: bool) -> int:
    rows = _data_rows(counts)
    if rows and not force:
        detail = ", ".join(f"{n} {t}" for t, n in counts.items() if n and t not in BOOKKEEPING_TABLES)
        raise RestoreRefused(
            f"the registry at {_safe_url(url)} is not empty ({detail}); a restore replaces all of "
            f"it, audit trail included. Nothing was changed. Use --force to overwrite it."
        )
    return rows


def _verify(url: str, manifest: Manifest, actual: Mapping[str, str]) -> None:
    expected = dict(manifest.checksums)
    if dict(actual) != expected:
        differing = sorted(t for t in set(expected) | set(actual) if expected.get(t) != actual.get(t))
        raise BackupError(
            f"restore into {_safe_url(url)} did not verify: tables {', '.join(differing)} differ from "
            f"the backup's checksums"
        )


# --------------------------------------------------------------------------------------------
# SQLite.
# --------------------------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if database in (None, "", ":memory:"):
        raise BackupError(f"{url}: an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _plain_sqlite_engine(path: Path) -> Engine:
    """A bare engine on a file (no WAL switch, no pragmas): for copies we only read."""
    return create_engine(f"sqlite:///{path}")


def _integrity_problems(con: sqlite3.Connection) -> list[str]:
    problems = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall() if r[0] != "ok"]
    problems += [
        f"foreign key violation: {table} rowid {rowid} -> {parent}"
        for table, rowid, parent, _fk in con.execute("PRAGMA foreign_key_check").fetchall()
    ]
    return problems


def _backup_sqlite(url: str, payload: Path, heads: dict[str, Any]) -> Manifest:
    src_path = _sqlite_path(url)
    if not src_path.is_file():
        raise BackupError(f"{src_path}: no such SQLite registry")
    src = sqlite3.connect(src_path, timeout=30)
    dst = sqlite3.connect(payload)
    try:
        # One step (pages=-1): a single read transaction, so the copy is one consistent
        # snapshot; in WAL mode writers carry on meanwhile.
        src.backup(dst)
        dst.execute("PRAGMA journal_mode = DELETE")  # a self-contained single file
        problems = _integrity_problems(dst)
    finally:
        dst.close()
        src.close()
    if problems:
        raise BackupError(f"{src_path}: the copy failed its integrity check: {'; '.join(problems[:5])}")
    engine = _plain_sqlite_engine(payload)
    try:
        with engine.connect() as conn:
            counts, sums, revision = row_counts(conn), table_checksums(conn), _revision(conn)
            heads.update(chain_heads(conn))
    finally:
        engine.dispose()
    return Manifest(
        backend="sqlite",
        revision=revision,
        created_at=_now(),
        payload_sha256=_sha256_file(payload),
        row_counts=counts,
        checksums=sums,
        source=str(src_path.resolve()),
    )


def _restore_sqlite(url: str, path: Path, manifest: Manifest, *, force: bool) -> RestoreResult:
    target = _sqlite_path(url)
    with _extracted_payload(path, manifest, near=target) as payload:
        check = sqlite3.connect(payload)
        try:
            problems = _integrity_problems(check)
        finally:
            check.close()
        if problems:
            raise BackupError(f"{path}: the backed-up database fails its integrity check: {problems[:5]}")

        replaced = 0
        if target.exists():
            engine = make_engine(url, read_only=True)
            try:
                with engine.connect() as conn:
                    counts = row_counts(conn)
            except Exception as exc:  # noqa: BLE001 - e.g. the target is not a database at all
                raise RestoreRefused(
                    f"{target} cannot be read as an SQLite registry ({type(exc).__name__}: {exc}); "
                    f"nothing was changed. Move it away and restore into a new file."
                ) from exc
            finally:
                engine.dispose()
            replaced = _refuse_if_not_empty(url, counts, force=force)

        if not target.exists():
            private_empty_file(target)  # 0600 from the start; SQLite gives WAL and SHM its mode
        src = sqlite3.connect(payload)
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)  # replaces every page of the target under its write lock
            dst.execute("PRAGMA journal_mode = WAL")
            problems = _integrity_problems(dst)
        finally:
            dst.close()
            src.close()
    if problems:
        raise BackupError(f"{target}: the restored database fails its integrity check: {problems[:5]}")
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            _verify(url, manifest, table_checksums(conn))
    finally:
        engine.dispose()
    return RestoreResult(url=url, manifest=manifest, replaced_rows=replaced)


# --------------------------------------------------------------------------------------------
# PostgreSQL.
# --------------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(
            f"{name} not found on PATH: PostgreSQL backups need the PostgreSQL client tools "
            f"(pg_dump, pg_restore) of the server's major version, e.g. `apt-get install "
            f"postgresql-client`"
        )
    return found


def _libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """`--dbname` conninfo arguments and environment for pg_dump/pg_restore.

    The password goes in PGPASSWORD, never on the command line (visible in `ps`).
    """
    u: URL = make_url(url)
    parts: dict[str, str] = {}
    if u.host:
        parts["host"] = u.host
    if u.port:
        parts["port"] = str(u.port)
    if u.username:
        parts["user"] = u.username
    if u.database:
        parts["dbname"] = u.database
    for key, value in u.query.items():
        parts[key] = value if isinstance(value, str) else value[-1]
    conninfo = " ".join(f"{k}='{_quote(v)}'" for k, v in parts.items())
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return ["--dbname", conninfo], env


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackupError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")


def _backup_postgresql(url: str, payload: Path, heads: dict[str, Any]) -> Manifest:
    pg_dump = _tool("pg_dump")
    dbname_args, env = _libpq(url)
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            with conn.begin():
                # pg_dump reads the snapshot this transaction sees; the checksums below are
                # computed in the same transaction, so they describe exactly the dumped rows.
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                counts, sums, revision = row_counts(conn), table_checksums(conn), _revision(conn)
                heads.update(chain_heads(conn))
                _run(
                    [pg_dump, "-Fc", "--no-owner", "--snapshot", snapshot, "--file", str(payload), *dbname_args],
                    env,
                    f"pg_dump of {_safe_url(url)}",
                )
    except BackupError:
        raise
    except Exception as exc:  # noqa: BLE001 - name the database in whatever went wrong
        raise BackupError(f"backup of {_safe_url(url)} failed: {exc}") from exc
    finally:
        engine.dispose()
    return Manifest(
        backend="postgresql",
        revision=revision,
        created_at=_now(),
        payload_sha256=_sha256_file(payload),
        row_counts=counts,
        checksums=sums,
        source=_safe_url(url),
    )


def _restore_postgresql(url: str, path: Path, manifest: Manifest, *, force: bool) -> RestoreResult:
    pg_restore = _tool("pg_restore")
    dbname_args, env = _libpq(url)
    with _extracted_payload(path, manifest) as payload:
        _run([pg_restore, "--list", str(payload)], env, f"reading {path} with pg_restore")
        engine = make_engine(url, read_only=True)
        try:
            with engine.connect() as conn:
                counts = row_counts(conn)
        except Exception as exc:  # noqa: BLE001
            raise BackupError(
                f"cannot open {_safe_url(url)} ({type(exc).__name__}: {exc}); the target database "
                f"must exist (createdb)"
            ) from exc
        finally:
            engine.dispose()
        extra = sorted(set(counts) - set(manifest.checksums))
        if extra:
            raise RestoreRefused(
                f"{_safe_url(url)} has tables the backup does not have ({', '.join(extra)}; backup at "
                f"revision {manifest.revision}): pg_restore --clean would leave them behind. Drop and "
                f"recreate the database, then restore. Nothing was changed."
            )
        replaced = _refuse_if_not_empty(url, counts, force=force)
        _run(
            [
                pg_restore,
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                *dbname_args,
                str(payload),
            ],
            env,
            f"pg_restore into {_safe_url(url)}",
        )
    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as conn:
            _verify(url, manifest, table_checksums(conn))
    finally:
        engine.dispose()
    return RestoreResult(url=url, manifest=manifest, replaced_rows=replaced)
