"""Pages read through a read-only engine, so a long write (an import) never queues them."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from registry.db import make_engine


def test_page_reads_do_not_wait_for_a_writer_holding_the_sqlite_lock(sqlite_url: str) -> None:
    from dashboard import data

    writer = make_engine(sqlite_url)
    holding = threading.Event()
    release = threading.Event()

    def hold_write_lock() -> None:
        with writer.begin() as conn:  # BEGIN IMMEDIATE: takes SQLite's write lock
            conn.execute(text("INSERT INTO centres (centre_code, name, created_at, updated_at, version) "
                              "VALUES ('XX-LCK', 'Lock holder', '2026-01-01', '2026-01-01', 1)"))
            holding.set()
            release.wait(20)

    t = threading.Thread(target=hold_write_lock)
    t.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        version = data.data_version.__wrapped__(sqlite_url)  # the uncached function
        elapsed = time.monotonic() - started
    finally:
        release.set()
        t.join()
        writer.dispose()
    assert version
    assert elapsed < 5, f"a page read waited {elapsed:.1f} s for the writer's lock"


def test_the_page_engine_cannot_write(sqlite_url: str) -> None:
    from dashboard import data

    with pytest.raises(Exception, match="readonly|read-only|query_only|attempt to write"):
        with data.reader_for.__wrapped__(sqlite_url).begin() as conn:
            conn.execute(text("DELETE FROM centres"))
