"""Sustained concurrent writes through `registry.services`: throughput and latency.

    .venv/bin/python -m benchmarks.write_load                       # PostgreSQL and SQLite, N = 1 2 4 8
    .venv/bin/python -m benchmarks.write_load --backend postgresql --clients 8 --writes 500
    .venv/bin/python -m benchmarks.write_load --seconds 10          # bounded by time instead

Each client is a separate process (multiprocessing *spawn*, as separate users' sessions would
be) with its own engine; every write is one `services.create(session, actor, "visits", …)` in
its own transaction (`session_scope`), so a write includes validation, the access check and the
audit row, exactly as from the dashboard or CLI. Clients start together on a barrier. The
database is a fresh, migrated, throw-away one (a temporary SQLite file; a temporary database on
the local PostgreSQL server, loopback only), dropped afterwards.

The same writer (`run_clients`) drives tests/ops/test_concurrency.py, where clients
deliberately share keys; here, by default, keys do not collide.

Why writes are (nearly) serial on both backends: every audited write appends to one hash chain,
which PostgreSQL serialises with an advisory lock and SQLite with BEGIN IMMEDIATE. Throughput
therefore does not grow with clients; what the benchmark shows is that it does not collapse
either, and how latency grows with queueing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

CENTRE = "LOAD"
BIRTH_YEAR = 1975
TRANSPLANT_DATE = dt.date(2012, 3, 1)
FIRST_VISIT = dt.date(2012, 3, 2)
EDSS_STEPS = ("1.0", "1.5", "2.0", "2.5", "3.0", "3.5", "4.0", "4.5", "5.0", "5.5", "6.0", "6.5")


@dataclass(frozen=True, slots=True)
class Write:
    """One visit to create: its key and the EDSS this client writes (to identify the winner)."""

    patient_code: str
    visit_date: str
    edss: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.patient_code, self.visit_date)


@dataclass(slots=True)
class ClientReport:
    """What one client saw: per write its outcome ("ok", "exists" or "error: …") and latency."""

    client: int
    outcomes: list[tuple[Write, str]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    crash: str | None = None


# --------------------------------------------------------------------------------------------
# Setting up a registry to write into.
# --------------------------------------------------------------------------------------------


def seed_patients(url: str, n_patients: int) -> list[str]:
    """One centre and `n_patients` transplanted patients, through the services; their codes."""
    from registry.security.access import Actor
    from registry.db import make_engine, session_scope
    from registry.services import create

    admin = Actor(username="bench-setup", role="admin")
    engine = make_engine(url)
    codes = [f"L{i:04d}" for i in range(n_patients)]
    try:
        with session_scope(engine) as s:
            create(s, admin, "centres", {"centre_code": CENTRE, "name": "Load test centre", "country": "GB"})
        with session_scope(engine) as s:
            for code in codes:
                create(s, admin, "patients", {"centre_code": CENTRE, "patient_code": code, "sex": "F", "birth_year": str(BIRTH_YEAR)})
                create(
                    s,
                    admin,
                    "transplants",
                    {
                        "centre_code": CENTRE,
                        "patient_code": code,
                        "transplant_number": "1",
                        "transplant_date": TRANSPLANT_DATE.isoformat(),
                        "phenotype": "RRMS",
                    },
                )
    finally:
        engine.dispose()
    return codes


def key_space(patients: Sequence[str], n: int, *, offset: int = 0) -> list[tuple[str, str]]:
    """`n` distinct (patient, visit_date) keys spread across patients, from `offset` on."""
    last = FIRST_VISIT + dt.timedelta(days=(offset + n) // len(patients))
    if last > dt.date.today():
        raise ValueError(f"{n} keys over {len(patients)} patients reach {last}, in the future: seed more patients or write less")
    out: list[tuple[str, str]] = []
    for i in range(offset, offset + n):
        patient = patients[i % len(patients)]
        out.append((patient, (FIRST_VISIT + dt.timedelta(days=i // len(patients))).isoformat()))
    return out


def plan_disjoint(patients: Sequence[str], clients: int, writes: int) -> list[list[Write]]:
    """Every client writes its own keys: no collisions, pure throughput."""
    keys = key_space(patients, clients * writes)
    return [
        [Write(p, d, EDSS_STEPS[c % len(EDSS_STEPS)]) for p, d in keys[c * writes : (c + 1) * writes]]
        for c in range(clients)
    ]


def plan_overlapping(patients: Sequence[str], clients: int, writes: int) -> list[list[Write]]:
    """Half of each client's keys are its own, half are shared by *all* clients.

    Shared keys come in the same order for everyone, interleaved with private ones, so clients
    race for the same key at nearly the same moment. Each client writes its own EDSS value,
    so the stored value tells which client won a key.
    """
    shared_n = writes // 2
    private_n = writes - shared_n
    shared = key_space(patients, shared_n)
    plans = []
    for c in range(clients):
        private = key_space(patients, private_n, offset=shared_n + c * private_n)
        edss = EDSS_STEPS[c % len(EDSS_STEPS)]
        plan: list[Write] = []
        for i in range(max(shared_n, private_n)):
            if i < private_n:
                plan.append(Write(*private[i], edss))
            if i < shared_n:
                plan.append(Write(*shared[i], edss))
        plans.append(plan)
    return plans


# --------------------------------------------------------------------------------------------
# The clients.
# --------------------------------------------------------------------------------------------


def _client(url: str, client: int, plan: list[Write], deadline_s: float | None, barrier, queue) -> None:  # type: ignore[no-untyped-def]
    """One client process: write the plan, one transaction per write, and report everything."""
    report = ClientReport(client=client)
    try:
        from registry.security.access import Actor
        from registry.db import make_engine, session_scope
        from registry.services import AlreadyExists, create

        actor = Actor(username=f"load-client-{client}", role="centre", centre_code=CENTRE)
        engine = make_engine(url)
        with engine.connect():  # connect before the start line, not inside the first latency
            pass
        barrier.wait()
        start = time.perf_counter()
        for w in plan:
            if deadline_s is not None and time.perf_counter() - start > deadline_s:
                break
            t0 = time.perf_counter()
            try:
                with session_scope(engine) as s:
                    create(s, actor, "visits", {"centre_code": CENTRE, "patient_code": w.patient_code, "visit_date": w.visit_date, "edss": w.edss})
                outcome = "ok"
            except AlreadyExists:
                outcome = "exists"
            except Exception as exc:  # noqa: BLE001 - every other failure is a finding, reported
                outcome = f"error: {type(exc).__module__}.{type(exc).__name__}: {exc}"
            report.latencies.append(time.perf_counter() - t0)
            report.outcomes.append((w, outcome))
        report.elapsed = time.perf_counter() - start
        engine.dispose()
    except BaseException:  # noqa: BLE001 - a crashed client must still report, never hang the parent
        report.crash = traceback.format_exc()
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass
    queue.put(report)


def run_clients(url: str, plans: Sequence[list[Write]], *, deadline_s: float | None = None, timeout_s: float = 600) -> list[ClientReport]:
    """Start one spawned process per plan, release them together, collect their reports."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(plans))
    queue = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(url, i, plan, deadline_s, barrier, queue), daemon=True) for i, plan in enumerate(plans)]
    for p in procs:
        p.start()
    reports: list[ClientReport] = []
    give_up = time.monotonic() + timeout_s
    try:
        while len(reports) < len(procs):
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"only {len(reports)} of {len(procs)} clients reported within {timeout_s} s")
            try:
                reports.append(queue.get(timeout=min(remaining, 5)))
            except Exception:  # noqa: BLE001 - queue.Empty: check for clients that died silently
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"client processes died: {[(p.pid, p.exitcode) for p in dead]}") from None
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    return sorted(reports, key=lambda r: r.client)


# --------------------------------------------------------------------------------------------
# Throw-away databases for the benchmark.
# --------------------------------------------------------------------------------------------


PG_SERVER_URL = os.environ.get("MSREG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


class Scratch:
    """A fresh migrated database on `backend`, removed on exit."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._pg_name: str | None = None
        self.url = ""

    def __enter__(self) -> str:
        from sqlalchemy.engine import make_url

        from registry import migrate

        if self.backend == "sqlite":
            self._tmp = tempfile.TemporaryDirectory(prefix="msreg-bench-")
            self.url = f"sqlite:///{Path(self._tmp.name) / 'bench.db'}"
        else:
            self._pg_name = f"msreg_bench_{uuid.uuid4().hex[:10]}"
            self._admin(f'CREATE DATABASE "{self._pg_name}"')
            self.url = make_url(PG_SERVER_URL).set(database=self._pg_name).render_as_string(hide_password=False)
        migrate.upgrade(self.url)
        return self.url

    def _admin(self, sql: str) -> None:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_SERVER_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(sql))
        finally:
            admin.dispose()

    def __exit__(self, *exc: object) -> None:
        if self._pg_name:
            self._admin(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')
        if self._tmp:
            self._tmp.cleanup()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Result:
    backend: str
    clients: int
    writes: int
    errors: int
    seconds: float
    writes_per_s: float
    p50_ms: float
    p95_ms: float
    max_ms: float


def measure(backend: str, clients: int, writes: int, seconds: float | None) -> Result:
    with Scratch(backend) as url:
        patients = seed_patients(url, 40)
        reports = run_clients(url, plan_disjoint(patients, clients, writes), deadline_s=seconds)
    crashes = [r.crash for r in reports if r.crash]
    if crashes:
        raise RuntimeError(f"a client crashed:\n{crashes[0]}")
    latencies = [x for r in reports for x in r.latencies]
    ok = sum(1 for r in reports for _, o in r.outcomes if o == "ok")
    errors = sum(1 for r in reports for _, o in r.outcomes if o.startswith("error"))
    wall = max(r.elapsed for r in reports)
    return Result(
        backend,
        clients,
        ok,
        errors,
        wall,
        ok / wall if wall else 0.0,
        1000 * statistics.median(latencies),
        1000 * percentile(latencies, 95),
        1000 * max(latencies),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--writes", type=int, default=500, help="writes per client (default 500)")
    parser.add_argument("--seconds", type=float, default=None, help="stop each client after this long")
    args = parser.parse_args(argv)
    backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
    print(f"{'backend':<11} {'clients':>7} {'writes':>7} {'errors':>6} {'seconds':>8} {'writes/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    for backend in backends:
        for n in args.clients:
            r = measure(backend, n, args.writes, args.seconds)
            print(
                f"{r.backend:<11} {r.clients:>7} {r.writes:>7} {r.errors:>6} {r.seconds:>8.1f} "
                f"{r.writes_per_s:>9.1f} {r.p50_ms:>7.1f} {r.p95_ms:>7.1f} {r.max_ms:>7.1f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
