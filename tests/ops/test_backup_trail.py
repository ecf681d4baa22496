"""Backups and restores leave their mark, and their files stay private.

- a backup is an access event with its manifest and the chain heads it holds;
- `msreg restore --force` of an older backup is recorded (access event with the heads before
  and after, signed restore lines in the witness), so `msreg audit verify` accepts the shorter
  trail and says what was discarded, instead of either passing silently or failing for ever;
- registry, WAL, backups, key and witness are created 0600; temporary files live beside the
  destination, 0600, and are removed on failure and on SIGTERM; nothing goes to /tmp.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from registry.security import anchor, auth
from registry.io import backup as bk
from registry.security.access import Actor
from registry.cli import main
from registry.db import make_engine, session_scope
from tests.security.hashing import cheap_argon2  # noqa: F401 - autouse

ADMIN = Actor("boss", "admin")


def _users(url: str, *names: str) -> None:
    engine = make_engine(url)
    try:
        for name in names:
            with session_scope(engine) as s:
                auth.add_user(s, ADMIN, name, "researcher")
    finally:
        engine.dispose()


def _events(url: str, event: str) -> list[dict]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT actor, door, os_account, details FROM access_log WHERE event = :e ORDER BY id"), {"e": event}).all()
    finally:
        engine.dispose()
    return [{"actor": r.actor, "door": r.door, "os_account": r.os_account, **json.loads(r.details)} for r in rows]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def no_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder standing in for /tmp: nothing may be written there."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_a_backup_is_an_access_event_with_its_manifest_and_heads(db_url: str, tmp_path: Path, no_tmp: Path) -> None:
    _users(db_url, "u1", "u2")
    made = CliRunner().invoke(main, ["--db", db_url, "backup", str(tmp_path / "b.msreg")])
    assert made.exit_code == 0, made.output
    (event,) = _events(db_url, "backup")
    manifest = bk.read_manifest(tmp_path / "b.msreg")
    assert event["payload_sha256"] == manifest.payload_sha256 and event["file"] == str(tmp_path / "b.msreg")
    assert event["heads"]["audit"]["rows"] == 2 and event["door"] == "cli" and event["os_account"]
    assert list(no_tmp.iterdir()) == []


def test_restoring_an_older_backup_is_recorded_and_verify_says_what_was_discarded(db_url: str, tmp_path: Path, no_tmp: Path) -> None:
    _users(db_url, "u1", "u2", "u3")
    old = bk.backup(db_url, tmp_path / "old.msreg")
    _users(db_url, "u4", "u5")
    restored = CliRunner().invoke(main, ["--db", db_url, "restore", "--force", str(old.path)])
    assert restored.exit_code == 0, restored.output
    assert "warning" not in restored.output

    (event,) = _events(db_url, "restore")
    assert event["heads_before"]["audit"]["rows"] == 5 and event["heads_after"]["audit"]["rows"] == 3
    assert event["payload_sha256"] == old.manifest.payload_sha256 and event["replaced_rows"] > 0
    verify = CliRunner().invoke(main, ["--db", db_url, "audit", "verify"])
    assert verify.exit_code == 0, verify.output
    assert "put back a state of 3 rows; the 2 newer row(s) witnessed before it were discarded" in verify.output
    assert list(no_tmp.iterdir()) == []


def test_restoring_into_a_new_registry_file_brings_the_key_along(databases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = databases.new("sqlite")
    _users(source, "u1")
    made = bk.backup(source, tmp_path / "b.msreg")
    target = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    result = bk.restore(target, made.path)
    assert result.warnings == ()
    assert _mode(anchor.key_path_for(target)) == 0o600
    assert CliRunner().invoke(main, ["--db", target, "audit", "verify"]).exit_code == 0
    _users(target, "u2")  # and the restored registry can be written to


def test_a_backup_interrupted_by_sigterm_leaves_no_temporary_file(databases, tmp_path: Path, monkeypatch, no_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    source = databases.new("sqlite")
    _users(source, "u1")
    real = bk._write_container

    def killed_midway(out: Path, manifest: bk.Manifest, payload: Path) -> None:
        assert payload.parent.parent == tmp_path / "out" and _mode(payload) == 0o600
        os.kill(os.getpid(), signal.SIGTERM)
        real(out, manifest, payload)

    monkeypatch.setattr(bk, "_write_container", killed_midway)
    (tmp_path / "out").mkdir()
    with pytest.raises(BaseException, match="SIGTERM"):
        bk.backup(source, tmp_path / "out" / "b.msreg")
    assert list((tmp_path / "out").iterdir()) == []
    assert list(no_tmp.iterdir()) == []


def test_init_creates_registry_wal_key_and_witness_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(anchor.KEY_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    previous = os.umask(0o022)  # the usual umask, which would make files 0644
    request.addfinalizer(lambda: os.umask(previous))
    result = CliRunner().invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    _users(f"sqlite:///{tmp_path / 'registry.db'}", "u1")
    made = CliRunner().invoke(main, ["backup", "b.msreg"])
    assert made.exit_code == 0, made.output
    files = ["registry.db", "registry.db.audit-key", "registry.db.audit-witness", "b.msreg"]
    assert {f: _mode(tmp_path / f) for f in files} == dict.fromkeys(files, 0o600)
    for extra in ("registry.db-wal", "registry.db-shm"):
        if (tmp_path / extra).exists():
            assert _mode(tmp_path / extra) == 0o600, extra
    assert f"audit key created: {tmp_path / 'registry.db.audit-key'}" in result.output
    assert CliRunner().invoke(main, ["audit", "verify"]).exit_code == 0


def test_init_with_a_configured_key_folder_and_verify_finds_it_without_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = tmp_path / "keys"
    monkeypatch.setenv(anchor.KEY_DIR_ENV, str(keys))
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert CliRunner().invoke(main, ["--db", url, "init"]).exit_code == 0
    assert _mode(keys) == 0o700 and _mode(keys / "r.db.audit-key") == 0o600
    _users(url, "u1")
    assert CliRunner().invoke(main, ["--db", url, "audit", "verify"]).exit_code == 0


def test_a_readable_key_file_is_named_with_the_fix(tmp_path: Path) -> None:
    ring = anchor.create_ring(tmp_path / "r.db.audit-key")
    assert anchor.private_file_problems(ring.path) == []
    ring.path.chmod(0o644)
    assert anchor.private_file_problems(ring.path) == [f"{ring.path} has mode 0644: others can read it; run `chmod 600 {ring.path}`"]
