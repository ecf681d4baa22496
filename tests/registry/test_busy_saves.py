"""A dashboard save waits only a few seconds for the write lock (dashboard/forms.write_scope):
when a long import holds it, the save is refused as busy and writes nothing; on both backends."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from dashboard import forms
from registry import services as S
from registry.security.access import Actor
from registry.db import make_engine, session_scope
from registry.models import Centre

ADMIN = Actor("admin", "admin")


def test_a_save_behind_a_held_write_lock_is_refused_as_busy(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forms, "SAVE_LOCK_TIMEOUT_S", 1.0)
    engine = make_engine(db_url)
    holder = make_engine(db_url)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        # what an import holds for its whole transaction: SQLite's write lock, PostgreSQL's audit lock
        with session_scope(holder) as s:
            S.create(s, ADMIN, "centres", {"centre_code": "IMP", "name": "Import in progress"})
            holding.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert holding.wait(30)
        with pytest.raises(forms.RegistryBusy, match="busy with an import; nothing was saved"):
            with forms.write_scope(engine) as s:
                S.create(s, ADMIN, "centres", {"centre_code": "DM1", "name": "Entered meanwhile"})
    finally:
        release.set()
        t.join()
    with session_scope(engine) as s:
        assert s.execute(select(Centre.centre_code).order_by(Centre.centre_code)).scalars().all() == ["IMP"]
        S.create(s, ADMIN, "centres", {"centre_code": "DM1", "name": "Entered afterwards"})  # free again
    if engine.dialect.name == "sqlite":  # the connection's normal busy timeout is back
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    engine.dispose()
    holder.dispose()
