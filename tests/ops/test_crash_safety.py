"""An import killed half-way (SIGKILL: no cleanup, no rollback by the client) leaves the
registry exactly as it was, on SQLite and PostgreSQL, and a later import succeeds.

The import runs as a real `msreg import` process. It is killed once its progress bar shows it
is writing (some rows written, not all), so the kill lands inside the write transaction; then
every table's rows (audit trail included) and the exported bundle are compared with what they
were before, and the same bundle is imported again, completely.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from registry.security.access import Actor
from registry.io.backup import table_checksums
from registry.io.bundle import export_bundle, import_bundle, write_bundle
from registry.db import make_engine
from tests.ops.bundles import make_bundle, row_count

ADMIN = Actor(username="crash-test", role="admin")
PATIENTS = 3000  # ~48,000 rows: the write phase lasts long enough to be interrupted
PROGRESS = re.compile(rb"importing:\s+(\d+)%")


def _msreg(*args: str) -> list[str]:
    return [sys.executable, "-c", "from registry.cli import main; main()", *args]


def _snapshot(url: str, out: Path) -> tuple[dict[str, str], dict[str, bytes]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            sums = table_checksums(conn)
        export_bundle(engine, out)
    finally:
        engine.dispose()
    return sums, {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _kill_while_writing(cmd: list[str], timeout: float = 240) -> tuple[int, bytes]:
    """Run `cmd`, SIGKILL it once its progress shows 1..99 %; return (percent, stderr so far)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=os.getcwd())
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 0.05)
            if ready:
                chunk = os.read(proc.stderr.fileno(), 65536)
                if not chunk:
                    break  # the import ended on its own
                seen += chunk
                started = [int(m) for m in PROGRESS.findall(seen) if 0 < int(m) < 100]
                if started:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=30)
                    assert proc.returncode == -signal.SIGKILL
                    return started[0], seen
        pytest.fail(f"the import was not caught writing (exit {proc.poll()}); stderr: {seen[-2000:]!r}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.mark.slow
def test_sigkilled_import_leaves_the_registry_as_it_was_and_a_later_import_succeeds(db_url: str, backend: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    small = tmp_path / "small"
    write_bundle(make_bundle(20, seed=5, prefix="Z"), small)
    assert import_bundle(engine, small, ADMIN).ok
    engine.dispose()
    before = _snapshot(db_url, tmp_path / "before")

    big_rows = make_bundle(PATIENTS, seed=11)
    big = tmp_path / "big"
    write_bundle(big_rows, big)
    percent, _ = _kill_while_writing(_msreg("--db", db_url, "import", "--progress", str(big)))
    assert 0 < percent < 100

    after = _snapshot(db_url, tmp_path / "after")
    assert after[0] == before[0], "tables changed by a killed import: " + ", ".join(
        t for t in before[0] if before[0][t] != after[0].get(t)
    )
    assert after[1] == before[1], "the exported bundle changed after a killed import"
    if backend == "sqlite":
        engine = make_engine(db_url)
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        engine.dispose()

    done = subprocess.run(_msreg("--db", db_url, "import", "--no-progress", str(big)), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            patients = conn.execute(text("SELECT count(*) FROM patients")).scalar()
            audit = conn.execute(text("SELECT count(*) FROM audit_log")).scalar()
    finally:
        engine.dispose()
    assert patients == 20 + PATIENTS
    small_rows = row_count(make_bundle(20, seed=5, prefix="Z"))
    assert audit == small_rows + row_count(big_rows), "one audit row per imported row, none from the killed attempt"
