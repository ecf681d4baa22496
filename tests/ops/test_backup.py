"""`msreg backup` / `msreg restore`: round trips give the same registry on both backends; a
restore never silently overwrites data, never crosses backends, never accepts a damaged file."""

from __future__ import annotations

import shutil
import sqlite3
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from registry.io import backup as bk
from registry.cli import main
from registry.db import make_engine
from tests.ops.population import populate

WRITE_SECONDS = 6.0  # how long the writers of the online-backup test keep committing


@pytest.fixture(autouse=True)
def _pg_client_tools(request: pytest.FixtureRequest) -> None:
    """PostgreSQL backups need pg_dump/pg_restore; without them those tests skip with the reason
    (except the one about the error message when they are missing)."""
    callspec = getattr(request.node, "callspec", None)
    uses_pg = (callspec is not None and callspec.params.get("backend") == "postgresql") or "pg_admin" in request.fixturenames
    if uses_pg and "without_client_tools" not in request.node.name:
        missing = [t for t in ("pg_dump", "pg_restore") if shutil.which(t) is None]
        if missing:
            pytest.skip(f"{', '.join(missing)} not installed (PostgreSQL client tools)")


def _checksums(url: str) -> dict[str, str]:
    """Every table's checksum but the access log's: a backup and a restore are themselves
    recorded there (tests/ops/test_backup_trail.py), so it grows by design."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t: c for t, c in bk.table_checksums(conn).items() if t != "access_log"}
    finally:
        engine.dispose()


def _bundle_files(url: str, out: Path) -> dict[str, bytes]:
    """The registry as a bundle (export_bundle), or every table's rows until export exists."""
    try:
        from registry.io.bundle import export_bundle
    except ImportError:
        return {k: v.encode() for k, v in _checksums(url).items()}
    engine = make_engine(url)
    try:
        export_bundle(engine, out)
    finally:
        engine.dispose()
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _populated(databases, backend: str) -> str:
    url = databases.new(backend)
    engine: Engine = make_engine(url)
    try:
        populate(engine)
    finally:
        engine.dispose()
    return url


def test_round_trip_into_an_empty_registry_gives_identical_tables_and_export(databases, backend, tmp_path) -> None:
    source = _populated(databases, backend)
    target = databases.new(backend, migrated=True)
    result = bk.backup(source, tmp_path / "registry.bak")

    assert result.manifest.backend == backend
    assert result.manifest.row_counts["patients"] == 12
    restored = bk.restore(target, result.path)

    assert restored.replaced_rows == 0
    assert _checksums(target) == _checksums(source)
    assert _bundle_files(target, tmp_path / "b") == _bundle_files(source, tmp_path / "a")


def test_round_trip_into_a_database_without_schema(databases, backend, tmp_path) -> None:
    source = _populated(databases, backend)
    target = databases.new(backend, migrated=False)
    bk.restore(target, bk.backup(source, tmp_path / "r.bak").path)
    assert _checksums(target) == _checksums(source)


def test_restore_refuses_a_non_empty_registry_unless_forced(databases, backend, tmp_path) -> None:
    source = _populated(databases, backend)
    other = databases.new(backend)
    engine = make_engine(other)
    populate(engine, n_patients=3, seed=99)
    engine.dispose()
    before = _checksums(other)
    backup_file = bk.backup(source, tmp_path / "r.bak").path

    with pytest.raises(bk.RestoreRefused, match=r"not empty .*--force"):
        bk.restore(other, backup_file)
    assert _checksums(other) == before, "a refused restore must not change anything"

    result = bk.restore(other, backup_file, force=True)
    assert result.replaced_rows > 0
    assert _checksums(other) == _checksums(source)


def test_restore_across_backends_is_refused_before_touching_the_target(databases, tmp_path, pg_admin) -> None:
    sqlite_src = _populated(databases, "sqlite")
    pg_src = _populated(databases, "postgresql")
    sqlite_bak = bk.backup(sqlite_src, tmp_path / "s.bak").path
    pg_bak = bk.backup(pg_src, tmp_path / "p.bak").path
    pg_target, sqlite_target = databases.new("postgresql"), databases.new("sqlite")
    before = (_checksums(pg_target), _checksums(sqlite_target))

    with pytest.raises(bk.RestoreRefused, match="sqlite backup .* postgresql database"):
        bk.restore(pg_target, sqlite_bak)
    with pytest.raises(bk.RestoreRefused, match="postgresql backup .* sqlite database"):
        bk.restore(sqlite_target, pg_bak)
    assert (_checksums(pg_target), _checksums(sqlite_target)) == before


def test_a_damaged_backup_is_rejected_and_the_target_left_alone(databases, backend, tmp_path) -> None:
    source = _populated(databases, backend)
    backup_file = bk.backup(source, tmp_path / "r.bak").path
    with tarfile.open(backup_file) as tar:
        payload = tar.getmember(bk.PAYLOAD_NAME)
    data = bytearray(backup_file.read_bytes())
    data[payload.offset_data + payload.size // 2] ^= 0xFF  # one flipped bit-pattern mid-payload
    damaged = tmp_path / "damaged.bak"
    damaged.write_bytes(bytes(data))
    target = databases.new(backend)
    before = _checksums(target)

    with pytest.raises(bk.BackupError, match="SHA-256"):
        bk.restore(target, damaged)
    assert _checksums(target) == before

    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    with pytest.raises(bk.BackupError, match="not an msreg backup"):
        bk.restore(target, not_a_backup)


def test_sqlite_backup_is_a_consistent_snapshot_while_a_writer_holds_a_transaction(databases, tmp_path) -> None:
    source = _populated(databases, "sqlite")
    writer = sqlite3.connect(source.removeprefix("sqlite:///"), timeout=30, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute(
        "INSERT INTO centres (centre_code, name, created_at, updated_at, version) "
        "VALUES ('UNCOMMITTED', 'x', '2026-01-01', '2026-01-01', 1)"
    )
    try:
        result = bk.backup(source, tmp_path / "r.bak")  # must not wait for, nor see, the writer
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.manifest.row_counts["centres"] == 3
    assert {t: c for t, c in result.manifest.checksums.items() if t != "access_log"} == _checksums(source)


def test_the_backup_file_is_self_describing(databases, backend, tmp_path) -> None:
    source = _populated(databases, backend)
    path = bk.backup(source, tmp_path / "r.bak").path
    manifest = bk.read_manifest(path)
    assert manifest.backend == backend
    assert manifest.revision is not None
    assert {t: c for t, c in manifest.checksums.items() if t != "access_log"} == _checksums(source)
    assert not list(tmp_path.glob("*.partial")), "no temporary file is left behind"


def test_postgresql_backup_without_client_tools_says_what_to_install(databases, tmp_path, monkeypatch, pg_admin) -> None:
    source = databases.new("postgresql")
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without pg_dump
    with pytest.raises(bk.BackupError, match="pg_dump not found on PATH.*client tools"):
        bk.backup(source, tmp_path / "r.bak")
    assert not (tmp_path / "r.bak").exists()


def test_cli_backup_and_restore(databases, backend, tmp_path) -> None:
    source = _populated(databases, backend)
    target = databases.new(backend)
    engine = make_engine(target)
    populate(engine, n_patients=2, seed=3)
    engine.dispose()
    runner = CliRunner()
    out = tmp_path / "cli.bak"

    made = runner.invoke(main, ["backup", str(out), "--db", source])
    assert made.exit_code == 0, made.output
    assert f"backed up {backend} registry" in made.output

    refused = runner.invoke(main, ["restore", str(out), "--db", target])
    assert refused.exit_code == 1
    assert "not empty" in refused.output and "--force" in refused.output

    forced = runner.invoke(main, ["restore", str(out), "--force", "--db", target])
    assert forced.exit_code == 0, forced.output
    assert "verified every table" in forced.output
    assert _checksums(target) == _checksums(source)


def test_restore_will_not_overwrite_a_file_that_is_not_a_registry(databases, tmp_path) -> None:
    source = _populated(databases, "sqlite")
    backup_file = bk.backup(source, tmp_path / "r.bak").path
    precious = tmp_path / "thesis.db"
    precious.write_bytes(b"not a database, but somebody's file " * 200)
    with pytest.raises(bk.RestoreRefused, match="cannot be read as an SQLite registry"):
        bk.restore(f"sqlite:///{precious}", backup_file, force=True)
    assert precious.read_bytes().startswith(b"not a database")


@pytest.mark.slow
def test_an_online_backup_taken_while_clients_write_is_one_consistent_moment(databases, backend, tmp_path) -> None:
    """Writers keep committing visits (each with its audit row) while the backup runs: the
    backup must be one snapshot, so in the restored registry every visit has its audit row,
    the chain verifies, and the manifest's checksums (taken in the same snapshot) verify."""
    import threading
    import time

    from sqlalchemy import func, select

    from benchmarks.write_load import plan_disjoint, run_clients, seed_patients
    from registry.security.audit import verify_chain
    from registry.db import session_scope
    from registry.models import AuditEntry, Visit

    source = databases.new(backend)
    patients = seed_patients(source, 10)
    reports: list = []
    # The writers keep going for WRITE_SECONDS (their plan is longer than that), so on a loaded
    # machine too the backup starts, and ends, while they still commit.
    writers = threading.Thread(
        target=lambda: reports.extend(run_clients(source, plan_disjoint(patients, 2, 3000), deadline_s=WRITE_SECONDS))
    )
    writers.start()
    engine = make_engine(source)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(select(func.count()).select_from(Visit)).scalar_one() >= 20:
                    break
            time.sleep(0.05)
        made = bk.backup(source, tmp_path / "online.bak")
    finally:
        writers.join()
        engine.dispose()
    total = sum(1 for r in reports for _, o in r.outcomes if o == "ok")
    assert 20 <= made.manifest.row_counts["visits"] < total, "the backup must land mid-load"

    target = databases.new(backend)
    bk.restore(target, made.path)  # verifies the manifest's checksums
    restored = make_engine(target)
    try:
        with session_scope(restored) as s:
            visits = s.execute(select(func.count()).select_from(Visit)).scalar_one()
            audited = s.execute(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.entity == "visits")
            ).scalar_one()
            assert visits == audited == made.manifest.row_counts["visits"]
            assert verify_chain(s) == []
    finally:
        restored.dispose()
