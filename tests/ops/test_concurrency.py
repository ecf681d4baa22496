"""Eight processes writing at once through the services lose nothing and duplicate nothing.

Eight spawned processes (separate interpreters, engines and connections, like eight users) each
create visits through `registry.services.create`, one transaction per visit. Half of every
process's keys are its own; the other half are shared by all eight and attempted in the same
order, so the processes race for each shared key at nearly the same moment. Afterwards:

- every create that reported success is in the database, with the value *its* process wrote
  (no lost write), and nothing else is (no phantom);
- each key is stored once, and each shared key has exactly one winner;
- every other attempt at a taken key raised `AlreadyExists`: successes + AlreadyExists ==
  attempts, and no other exception (no "database is locked", no deadlock, no serialisation
  failure) reached a caller;
- there is exactly one audit row per committed visit, and the hash chain verifies.

Writes per process: 500 on both backends, as the issue asks (4,000 attempts, 2,250 committed,
1,750 AlreadyExists per backend): about 12 s on SQLite and 23 s on PostgreSQL on a quiet 2-core
machine. MSREG_OPS_WRITES=N runs a smaller (or larger) test while developing.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict

import pytest
from sqlalchemy import func, select

from benchmarks.write_load import CENTRE, plan_overlapping, run_clients, seed_patients
from registry.security.audit import verify_chain
from registry.db import make_engine, session_scope
from registry.models import AuditEntry, Centre, Patient, Visit

PROCESSES = 8
WRITES = {"sqlite": 500, "postgresql": 500}


def _writes(backend: str) -> int:
    return int(os.environ.get("MSREG_OPS_WRITES", WRITES[backend]))


@pytest.mark.slow
def test_eight_writers_with_overlapping_keys_lose_nothing_and_duplicate_nothing(db_url: str, backend: str) -> None:
    writes = _writes(backend)
    patients = seed_patients(db_url, 25)
    plans = plan_overlapping(patients, PROCESSES, writes)
    attempts = sum(len(p) for p in plans)
    shared_keys = {w.key for w in plans[0]} & {w.key for w in plans[1]}
    assert len(shared_keys) == writes // 2, "the plan must make processes share half their keys"

    reports = run_clients(db_url, plans, timeout_s=300)

    crashes = [r.crash for r in reports if r.crash]
    assert not crashes, crashes[0] if crashes else ""
    outcomes = [(w, o) for r in reports for w, o in r.outcomes]
    assert len(outcomes) == attempts
    errors = Counter(o for _, o in outcomes if o not in ("ok", "exists"))
    assert not errors, f"exceptions other than AlreadyExists reached callers: {errors.most_common(5)}"

    winners: dict[tuple[str, str], list[str]] = defaultdict(list)
    for w, o in outcomes:
        if o == "ok":
            winners[w.key].append(w.edss)
    successes = sum(len(v) for v in winners.values())
    collisions = sum(1 for _, o in outcomes if o == "exists")
    assert successes + collisions == attempts
    assert all(len(v) == 1 for v in winners.values()), "a key was created twice"
    every_key = {w.key for w, _ in outcomes}
    assert set(winners) == every_key, "every key has a winner (an AlreadyExists must mean someone else won)"
    assert collisions == (PROCESSES - 1) * len(shared_keys)

    engine = make_engine(db_url)
    try:
        with session_scope(engine) as s:
            stored = {
                (code, d.isoformat()): edss
                for code, d, edss in s.execute(
                    select(Patient.patient_code, Visit.visit_date, Visit.edss)
                    .join(Patient, Visit.patient_id == Patient.id)
                    .join(Centre, Patient.centre_id == Centre.id)
                    .where(Centre.centre_code == CENTRE)
                )
            }
            assert set(stored) == set(winners), "lost or phantom writes"
            wrong = {k: (stored[k], v[0]) for k, v in winners.items() if float(v[0]) != stored[k]}
            assert not wrong, f"stored value is not the winner's: {list(wrong.items())[:5]}"

            visit_audits = s.execute(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.entity == "visits", AuditEntry.action == "INSERT")
            ).scalar_one()
            assert visit_audits == successes, "one audit row per committed write, none for rolled-back ones"
            assert verify_chain(s) == []
    finally:
        engine.dispose()


def test_a_read_only_engine_is_never_queued_behind_a_writer_and_cannot_write(db_url: str) -> None:
    """The default SQLite engine begins with BEGIN IMMEDIATE, which queues even readers behind a
    writer (an import longer than the 30 s busy timeout makes them fail with "database is
    locked"). `make_engine(read_only=True)` is for pages, reports and snapshots: it reads the
    last committed state at once and refuses to write."""
    import time

    from sqlalchemy import insert
    from sqlalchemy.exc import DBAPIError

    writer = make_engine(db_url)
    reader = make_engine(db_url, read_only=True)
    try:
        with writer.connect() as w:
            w.begin()  # holds the SQLite write lock until rolled back
            w.execute(insert(Centre).values(centre_code="PENDING", name="uncommitted", created_at=func.now(), updated_at=func.now(), version=1))
            t0 = time.monotonic()
            with reader.connect() as r:
                seen = r.execute(select(func.count()).select_from(Centre)).scalar_one()
            assert time.monotonic() - t0 < 5, "the reader waited for the writer"
            assert seen == 0, "a reader sees only committed rows"
            w.rollback()
        with reader.connect() as r, pytest.raises(DBAPIError, match="(?i)read.?only"):
            r.execute(insert(Centre).values(centre_code="NO", name="refused", created_at=func.now(), updated_at=func.now(), version=1))
    finally:
        writer.dispose()
        reader.dispose()
