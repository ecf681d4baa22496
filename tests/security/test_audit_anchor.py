"""An insider with the database (but not the key directory) cannot rewrite the audit trail
unnoticed: `msreg audit verify` exits 1 naming what it found, on SQLite and PostgreSQL.

The attacks are done the way an owner of the tables would: lift the append-only triggers,
tamper, put them back; forged links are computed exactly as `registry.security.chain` computes them,
only without the secret key (a guessed one, or the unsigned SHA-256 of old rows).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select, text, update

from registry.security import anchor, auth, chain
from registry.security.access import Actor
from registry.security.audit import row_hash
from registry.cli import main
from registry.db import make_engine, session_scope
from registry.models import utcnow

ADMIN = Actor("boss", "admin")


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _write(engine: Engine, *names: str) -> None:
    """One transaction per user: each leaves its own witnessed head."""
    for name in names:
        with session_scope(engine) as s:
            auth.add_user(s, ADMIN, name, "researcher")


def _verify(engine: Engine, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", _url(engine), "audit", "verify", *args])


def _tamper(engine: Engine, *statements: str, **params: object) -> None:
    """What an owner of the tables can do: lift the protection, tamper, put it back."""
    _tamper_with(engine, lambda conn: [conn.execute(text(st), params) for st in statements])


def _tamper_with(engine: Engine, change) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            change(conn)
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
            change(conn)


def _rows(engine: Engine) -> list[dict]:
    table = chain.AUDIT.table
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.id))]


def _rewrite(engine: Engine, rows: list[dict]) -> None:
    """Store the given rows' contents under their ids (row hashes parked first: they are unique)."""
    table = chain.AUDIT.table

    def change(conn) -> None:  # type: ignore[no-untyped-def]
        for r in rows:
            conn.execute(update(table).where(table.c.id == r["id"]).values(row_hash=f"parked-{r['id']}"))
        for r in rows:
            conn.execute(update(table).where(table.c.id == r["id"]).values({k: v for k, v in r.items() if k != "id"}))

    _tamper_with(engine, change)


@pytest.fixture
def trail(engine: Engine) -> Engine:
    """Five users added in five transactions: 5 audit rows, 5 access rows, witnessed."""
    _write(engine, "u1", "u2", "u3", "u4", "u5")
    assert _verify(engine).exit_code == 0
    return engine


def test_an_untouched_trail_verifies(trail: Engine) -> None:
    result = _verify(trail)
    assert result.exit_code == 0, result.output
    assert "audit trail OK: 5 audit rows, 5 access rows" in result.output


def test_deleting_the_newest_rows_is_found(trail: Engine) -> None:
    _tamper(trail, "DELETE FROM audit_log WHERE id > 3")
    result = _verify(trail)
    assert result.exit_code == 1
    assert "recorded 5 rows up to id 5; the table has 3: the newest rows were deleted" in result.output


def test_deleting_every_row_is_found(trail: Engine) -> None:
    _tamper(trail, "TRUNCATE audit_log" if trail.dialect.name == "postgresql" else "DELETE FROM audit_log")
    result = _verify(trail)
    assert result.exit_code == 1
    assert "the table has 0" in result.output and "BROKEN" in result.output


def _forged_row(last: dict, *, secret: bytes | None) -> dict:
    row = {
        "occurred_at": utcnow(),
        "actor": "boss",
        "role": "admin",
        "centre_code": None,
        "door": None,
        "os_account": None,
        "action": "INSERT",
        "entity": "users",
        "entity_key": '{"username":"mallory"}',
        "old_values": None,
        "new_values": '{"centre_code":null,"disabled":false,"role":"admin"}',
        "reason": "add user",
        "prev_hash": last["row_hash"],
    }
    if secret is None:  # the unsigned SHA-256 link of rows older than migration 0004
        row |= {"key_id": None, "seq": None}
        row["row_hash"] = row_hash(row["prev_hash"], row)
    else:  # the code's HMAC link, under a guessed key with the real key's id
        row |= {"key_id": last["key_id"], "seq": last["seq"] + 1}
        row["row_hash"] = chain.link(chain.AUDIT, secret, row["prev_hash"], row["key_id"], row["seq"], row)
    return row


def _insert(engine: Engine, row: dict) -> None:
    cols = ", ".join(row)
    marks = ", ".join(f":{c}" for c in row)
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO audit_log ({cols}) VALUES ({marks})"), {**row, "occurred_at": row["occurred_at"].replace(tzinfo=None)})


@pytest.mark.parametrize("secret", [None, secrets.token_bytes(32)], ids=["sha256-as-before-0004", "hmac-with-guessed-key"])
def test_appending_a_forged_row_is_found(trail: Engine, secret: bytes | None) -> None:
    _insert(trail, _forged_row(_rows(trail)[-1], secret=secret))
    result = _verify(trail)
    assert result.exit_code == 1
    expected = "unsigned row after signed ones" if secret is None else "audit row 6: content does not match its hash"
    assert expected in result.output


@pytest.mark.parametrize("how", ["hmac-with-guessed-key", "sha256-as-before-0004"])
def test_rewriting_a_middle_row_and_recomputing_the_chain_is_found(trail: Engine, how: str) -> None:
    rows = _rows(trail)
    guessed = secrets.token_bytes(32)
    prev = rows[1]["row_hash"]
    for r in rows[2:]:  # make user u3 an admin and re-link every row after it
        if r["id"] == 3:
            r["new_values"] = '{"centre_code":null,"disabled":false,"role":"admin"}'
        r["prev_hash"] = prev
        if how == "sha256-as-before-0004":
            r["key_id"], r["seq"] = None, None
            r["row_hash"] = row_hash(prev, r)
        else:
            r["row_hash"] = chain.link(chain.AUDIT, guessed, prev, r["key_id"], r["seq"], r)
        prev = r["row_hash"]
    _rewrite(trail, rows[2:])
    result = _verify(trail)
    assert result.exit_code == 1
    expected = "audit row 3: content does not match its hash" if how.startswith("hmac") else "audit row 3: unsigned row after signed ones"
    assert expected in result.output


def test_reordering_rows_is_found(trail: Engine) -> None:
    rows = _rows(trail)
    second, fourth = rows[1], rows[3]
    _rewrite(trail, [fourth | {"id": second["id"]}, second | {"id": fourth["id"]}])
    result = _verify(trail)
    assert result.exit_code == 1
    assert "audit row 2: link to the previous row is broken" in result.output
    assert "audit row 2: position 4 where 2 was expected" in result.output


def test_putting_back_an_older_copy_is_found(trail: Engine, backend: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from registry.io.backup import backup

    url = _url(trail)
    old = backup(url, tmp_path / "old.msreg")
    _write(trail, "u6", "u7")
    trail.dispose()
    # An insider puts the old copy back with the database's own tools, not `msreg restore`.
    import tarfile

    with tarfile.open(old.path) as tar:
        tar.extract("payload", tmp_path, filter="data")
    if backend == "sqlite":
        target = trail.url.database
        for suffix in ("-wal", "-shm"):
            Path(target + suffix).unlink(missing_ok=True)
        shutil.copyfile(tmp_path / "payload", target)
    else:
        if not shutil.which("pg_restore"):
            pytest.skip("pg_restore not installed")
        from registry.io.backup import _libpq

        args, env = _libpq(url)
        subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner", *args, str(tmp_path / "payload")], env=env, check=True)
    result = _verify(trail)
    assert result.exit_code == 1
    assert "recorded 7 rows up to id 7; the table has 5" in result.output
    assert "an older copy put back without `msreg restore`" in result.output


def test_a_missing_key_is_reported_with_what_to_do(trail: Engine) -> None:
    key = anchor.key_path_for(_url(trail))
    key.rename(key.with_suffix(".moved"))
    result = _verify(trail)
    assert result.exit_code == 1
    assert f"audit key file {key} is missing" in result.output
    assert "Restore the key file from your key backup" in result.output
    with pytest.raises(anchor.KeyMissing, match="restore the key file from your key backup"):
        _write(trail, "u6")


def test_a_wrong_key_file_is_reported(trail: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = anchor.key_path_for(_url(trail))
    other = anchor.create_ring(tmp_path / "other.audit-key")
    shutil.copyfile(other.path, key)
    result = _verify(trail)
    assert result.exit_code == 1
    assert "which the key file" in result.output and "does not hold" in result.output
    with pytest.raises(anchor.AnchorError, match="wrong key file"):
        _write(trail, "u6")


def test_an_edited_witness_line_is_found(trail: Engine) -> None:
    witness = anchor.witness_path_for(_url(trail))
    lines = witness.read_text().splitlines()
    body = json.loads(lines[-1])
    body["rows"] = 1  # pretend the trail was shorter
    witness.write_text("\n".join([*lines[:-1], json.dumps(body)]) + "\n")
    result = _verify(trail)
    assert result.exit_code == 1
    assert "signature does not verify" in result.output


def test_a_notarised_checkpoint_still_catches_deletion_when_the_witness_is_rewritten(trail: Engine) -> None:
    url = _url(trail)
    printed = CliRunner().invoke(main, ["--db", url, "audit", "checkpoint"])
    assert printed.exit_code == 0, printed.output
    notarised = [line for line in printed.output.splitlines() if '"chain":"audit"' in line]
    assert len(notarised) == 1 and _verify(trail, "--expect", notarised[0]).exit_code == 0
    _tamper(trail, "DELETE FROM audit_log WHERE id > 2")
    anchor.witness_path_for(url).write_text("")  # the insider could write the witness too
    result = _verify(trail, "--expect", notarised[0])
    assert result.exit_code == 1
    assert "notarised checkpoint line 1" in result.output and "the table has 2" in result.output


def test_verification_spans_a_key_rotation(trail: Engine) -> None:
    url = _url(trail)
    first = anchor.read_ring(anchor.key_path_for(url)).current.key_id
    rotated = CliRunner().invoke(main, ["--db", url, "audit", "rotate-key"])
    assert rotated.exit_code == 0, rotated.output
    _write(trail, "u6")
    ring = anchor.read_ring(anchor.key_path_for(url))
    assert len(ring.keys) == 2 and ring.keys[0].key_id == first
    result = _verify(trail)
    assert result.exit_code == 0, result.output
    assert first in result.output and ring.current.key_id in result.output
    with trail.connect() as conn:
        events = conn.execute(text("SELECT event, details FROM access_log WHERE event = 'key.rotate'")).all()
        keys = conn.execute(text("SELECT DISTINCT key_id FROM audit_log")).scalars().all()
    assert len(events) == 1 and json.loads(events[0].details)["previous_key"] == first
    assert set(keys) == {first, ring.current.key_id}


def test_the_access_log_is_checked_the_same_way(trail: Engine) -> None:
    with trail.begin() as conn:
        if trail.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE access_log DISABLE TRIGGER USER"))
            conn.execute(text("DELETE FROM access_log WHERE id > 3"))
            conn.execute(text("ALTER TABLE access_log ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER access_log_no_delete"))
            conn.execute(text("DELETE FROM access_log WHERE id > 3"))
    result = _verify(trail)
    assert result.exit_code == 1
    assert "access: witness" in result.output and "the table has 3" in result.output


@pytest.mark.parametrize("statement", ["UPDATE access_log SET event = 'logout'", "DELETE FROM access_log"])
def test_the_access_log_refuses_update_and_delete(trail: Engine, statement: str) -> None:
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="access_log is append-only"), trail.begin() as conn:
        conn.execute(text(statement))


def test_rows_from_before_the_key_still_verify(databases, backend: str) -> None:  # type: ignore[no-untyped-def]
    """Rows written with the unsigned SHA-256 link (before migration 0004) are accepted before
    the first signed row; the first signed row continues their chain."""
    url = databases.new(backend)
    engine = make_engine(url)
    try:
        prev = chain.GENESIS_HASH
        for i in (1, 2):
            row = _forged_row({"row_hash": prev, "key_id": None, "seq": None}, secret=None)
            row["entity_key"] = json.dumps({"username": f"old{i}"})
            row["row_hash"] = row_hash(prev, row)
            _insert(engine, row)
            prev = row["row_hash"]
        _write(engine, "new1")
        result = _verify(engine)
        assert result.exit_code == 0, result.output
        assert "3 audit rows" in result.output
        assert hashlib.sha256  # the legacy link is plain SHA-256 (registry.security.audit.row_hash)
    finally:
        engine.dispose()


def test_init_refuses_to_make_a_new_key_for_a_signed_trail(trail: Engine) -> None:
    key = anchor.key_path_for(_url(trail))
    key.unlink()
    result = CliRunner().invoke(main, ["--db", _url(trail), "init"])
    assert result.exit_code == 1
    assert "A new key would make the existing trail unverifiable, so none was made" in result.output
    assert not key.exists()
