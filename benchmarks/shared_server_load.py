"""The shared server under load: 12 centres' users browsing while 3 data managers save.

    .venv/bin/python -m benchmarks.shared_server_load                    # 20 s, 1,200 demo patients
    .venv/bin/python -m benchmarks.shared_server_load --seconds 10 --patients 600
    .venv/bin/python -m benchmarks.shared_server_load --think 0        # saturate: no reading time

Set-up, as docs/deploy.md deploys it: a throw-away PostgreSQL database on the loopback server
with the guide's owner and application roles (deploy/postgres/roles.sql, `msreg init` as the
owner, deploy/postgres/grants.sql); the demo cohort (12 centres) imported through the
application role, which every client then uses.

- **Browsers**: 12 processes, one centre user each (Actor role "centre", their own centre),
  viewing pages in turn through the functions the pages call (dashboard/data.py without its
  cache: every save moves the data version, so under writes a page view is a cache miss):
  the data version, the centre's snapshot and endpoint derivation, then either the PFS
  Kaplan-Meier curves (outcomes), the data-quality report (quality) or one patient's records
  (timeline).
- **Data managers**: 3 processes at 3 centres, each saving in a loop through
  `registry.services.create` in its own transaction (validation, access check, audit row), as
  the entry page does: a new patient, their transplant, a first visit.
- **Think time**: a user reads each page for `--think` seconds (default 2) before the next
  click; `--think 0` saturates the server instead.
- **Floor**: first one user alone, no writers, the snapshot re-read for every view (as under
  writes), in the same run: the page p95 under load is
  also printed as a ratio to that user's p50 (the machine's speed divides out).
- **No lost write**: afterwards every save a manager was told succeeded is in the database,
  nothing else is, the audit trail has exactly one new row per save, and its chain verifies.

Bounded: each client stops after `--seconds` (default 20) or its `--max-views` / `--max-saves`;
the whole run is killed after `--seconds` + 300 s. Loopback only (refuses another host). The
database and both roles are dropped afterwards, also on failure.

Prints page-view p50/p95 (per page and overall), save p50/p95, counts, and the lost-write check.
The figures depend on the machine (2 cores shared here): 15 clients on 2 cores measure queueing
as much as work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PG_SERVER_URL = os.environ.get("MSREG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PAGES = ("outcomes", "quality", "timeline")
BROWSERS = 12
MANAGERS = 3


@dataclass(slots=True)
class Report:
    kind: str  # "browser" or "manager"
    client: int
    centre: str
    latencies: dict[str, list[float]] = field(default_factory=dict)
    saved: list[tuple[str, str]] = field(default_factory=list)  # (entity, patient_code) told "ok"
    errors: list[str] = field(default_factory=list)
    crash: str | None = None


# --------------------------------------------------------------------------------------------
# Clients.
# --------------------------------------------------------------------------------------------


def _browser(url: str, client: int, centre: str, seconds: float, max_views: int, think: float, fresh: bool, barrier, queue) -> None:  # type: ignore[no-untyped-def]
    report = Report("browser", client, centre)
    try:
        from analytics.endpoints import derive_endpoints
        from analytics.quality import quality_report
        from analytics.settings import EndpointSettings
        from analytics.snapshot import clear_snapshot_cache, data_version, load_snapshot
        from dashboard import analysis
        from registry.security.access import Actor
        from registry.db import make_engine

        actor = Actor(username=f"user-{centre}", role="centre", centre_code=centre)
        settings = EndpointSettings()
        engine = make_engine(url, read_only=True)
        with engine.connect():
            pass

        def view(page: str) -> None:
            if fresh:  # as after a save: the snapshot is re-read
                clear_snapshot_cache()
            data_version(engine)
            snap = load_snapshot(engine, actor)
            if page == "quality":
                quality_report(snap, settings)
            else:
                df = derive_endpoints(snap, settings)
                if page == "outcomes":
                    analysis.survival_curves(df, "pfs", min_group_size=settings.min_group_size)
                else:
                    con = snap.cursor()
                    pid = con.execute("SELECT min(id) FROM patients").fetchone()[0]
                    for name in ("visits", "relapses", "mri_scans", "adverse_events"):
                        con.execute(f"SELECT * FROM {name} WHERE patient_id = ?", [pid]).df()

        for page in PAGES:  # warm up (imports, first connection) before the start line
            view(page)
        barrier.wait()
        start = time.perf_counter()
        views = 0
        while time.perf_counter() - start < seconds and views < max_views:
            page = PAGES[(views + client) % len(PAGES)]
            t0 = time.perf_counter()
            view(page)
            report.latencies.setdefault(page, []).append(time.perf_counter() - t0)
            views += 1
            if think:
                time.sleep(think)  # reading the page before the next click
        engine.dispose()
    except BaseException:  # noqa: BLE001 - report, never hang the parent
        report.crash = traceback.format_exc()
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass
    queue.put(report)


def _manager(url: str, client: int, centre: str, seconds: float, max_saves: int, barrier, queue) -> None:  # type: ignore[no-untyped-def]
    report = Report("manager", client, centre)
    try:
        from registry.security.access import Actor
        from registry.db import make_engine, session_scope
        from registry.services import create

        actor = Actor(username=f"manager-{centre}", role="centre", centre_code=centre)
        engine = make_engine(url)
        with engine.connect():
            pass
        barrier.wait()
        start = time.perf_counter()
        saves = 0
        i = 0
        while time.perf_counter() - start < seconds and saves < max_saves:
            code = f"LOAD-{client}-{i:05d}"
            forms = [
                ("patients", {"centre_code": centre, "patient_code": code, "sex": "F", "birth_year": "1978"}),
                ("transplants", {"centre_code": centre, "patient_code": code, "transplant_number": "1",
                                 "transplant_date": "2015-06-01", "phenotype": "RRMS"}),
                ("visits", {"centre_code": centre, "patient_code": code, "visit_date": "2016-06-01", "edss": "2.5"}),
            ]
            for entity, values in forms:
                t0 = time.perf_counter()
                try:
                    with session_scope(engine) as s:
                        create(s, actor, entity, values)
                    report.saved.append((entity, code))
                except Exception as exc:  # noqa: BLE001 - a failed save is a finding
                    report.errors.append(f"{entity} {code}: {type(exc).__name__}: {exc}")
                report.latencies.setdefault("save", []).append(time.perf_counter() - t0)
                saves += 1
            i += 1
        engine.dispose()
    except BaseException:  # noqa: BLE001
        report.crash = traceback.format_exc()
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass
    queue.put(report)


# --------------------------------------------------------------------------------------------
# The deployment: roles and database as docs/deploy.md makes them.
# --------------------------------------------------------------------------------------------


class Deployment:
    def __init__(self, server_url: str) -> None:
        from sqlalchemy.engine import make_url

        u = make_url(server_url)
        if u.host not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"refusing a non-loopback PostgreSQL server ({u.host}): this benchmark runs on loopback only")
        suffix = uuid.uuid4().hex[:8]
        self.server = u
        self.owner, self.app, self.db = f"msreg_i17_bench_owner_{suffix}", f"msreg_i17_bench_app_{suffix}", f"msreg_i17_bench_{suffix}"

    def url(self, role: str) -> str:
        return self.server.set(username=role, password=None, database=self.db).render_as_string(hide_password=False)

    def _psql(self, url: str, *args: str) -> None:
        from sqlalchemy.engine import make_url

        u = make_url(url)
        psql = shutil.which("psql")
        if psql is None:
            raise SystemExit("psql not found: install the PostgreSQL client tools")
        conninfo = f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"
        subprocess.run([psql, "-X", "-q", conninfo, *args], check=True, capture_output=True, text=True)

    def create(self) -> None:
        from registry import migrate

        self._psql(self.server.render_as_string(hide_password=False), "-v", f"owner={self.owner}", "-v", f"app={self.app}",
                   "-v", f"db={self.db}", "-f", str(REPO / "deploy" / "postgres" / "roles.sql"))
        migrate.upgrade(self.url(self.owner))
        self._psql(self.url(self.owner), "-v", f"app={self.app}", "-f", str(REPO / "deploy" / "postgres" / "grants.sql"))

    def drop(self) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)'))
                conn.execute(text(f'DROP ROLE IF EXISTS "{self.app}"'))
                conn.execute(text(f'DROP ROLE IF EXISTS "{self.owner}"'))
        finally:
            engine.dispose()


def _fill(url: str, patients: int) -> list[str]:
    """The demo cohort through the importer, as the application role; its centre codes."""
    import tempfile

    from registry.security.access import Actor
    from registry.io.bundle import import_bundle, write_bundle
    from registry.db import make_engine
    from registry.demo import generate_cohort

    today = dt.date.today()
    bundle = generate_cohort(patients, seed=17, today=today)
    engine = make_engine(url)
    try:
        with tempfile.TemporaryDirectory(prefix="msreg-load-") as folder:
            write_bundle(bundle, folder)
            result = import_bundle(engine, folder, Actor(username="load-setup", role="admin"), today=today)
        if not result.ok:
            raise SystemExit(f"demo import rejected: {result.errors[:3]}")
    finally:
        engine.dispose()
    return sorted(c["centre_code"] for c in bundle["centres"])


def _counts(url: str) -> tuple[int, dict[str, set[str]], list[str]]:
    """Audit rows, the LOAD-* codes per table, and the audit chain's problems."""
    from sqlalchemy import func, select, text
    from sqlalchemy.orm import Session

    from registry.security.audit import verify_chain
    from registry.db import make_engine
    from registry.models import AuditEntry

    engine = make_engine(url, read_only=True)
    try:
        with Session(engine) as s:
            audit = s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
            codes: dict[str, set[str]] = {}
            for table in ("patients", "transplants", "visits"):
                join = "" if table == "patients" else " JOIN patients p ON p.id = t.patient_id"
                col = "t.patient_code" if table == "patients" else "p.patient_code"
                rows = s.execute(text(f"SELECT {col} FROM {table} t{join} WHERE {col} LIKE 'LOAD-%'")).scalars()
                codes[table] = set(rows)
            problems = [p.message for p in verify_chain(s)]
    finally:
        engine.dispose()
    return audit, codes, problems


def _pct(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _run_phase(url: str, centres: list[str], *, browsers: int, managers: int, seconds: float, max_views: int,
               max_saves: int, think: float, fresh: bool = False) -> list[Report]:
    """Start the clients together (spawned processes, a barrier), collect their reports."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(browsers + managers)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_browser, args=(url, i, centres[i % len(centres)], seconds, max_views, think, fresh, barrier, queue))
        for i in range(browsers)
    ] + [
        ctx.Process(target=_manager, args=(url, i, centres[i % len(centres)], seconds, max_saves, barrier, queue))
        for i in range(managers)
    ]
    for p in procs:
        p.start()
    reports: list[Report] = []
    give_up = time.monotonic() + seconds + 300
    try:
        while len(reports) < len(procs):
            if time.monotonic() > give_up:
                raise TimeoutError(f"only {len(reports)} of {len(procs)} clients reported")
            try:
                reports.append(queue.get(timeout=5))
            except Exception:  # noqa: BLE001 - queue.Empty
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"client processes died: {[(p.pid, p.exitcode) for p in dead]}") from None
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    return reports


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=1200, help="demo cohort size (12 centres)")
    ap.add_argument("--seconds", type=float, default=20.0, help="each client stops after this long")
    ap.add_argument("--max-views", type=int, default=200, help="page views per browser at most")
    ap.add_argument("--max-saves", type=int, default=600, help="saves per data manager at most")
    ap.add_argument("--think", type=float, default=2.0, help="seconds a user reads a page before the next (0: saturate)")
    args = ap.parse_args(argv)

    dep = Deployment(PG_SERVER_URL)
    print(f"PostgreSQL {dep.server.host}:{dep.server.port or 5432}, database {dep.db}, application role {dep.app}")
    try:
        t0 = time.perf_counter()
        dep.create()
        app_url = dep.url(dep.app)
        centres = _fill(app_url, args.patients)
        print(f"set-up: roles, schema, {args.patients} demo patients in {len(centres)} centres in {time.perf_counter() - t0:.1f} s")
        audit_before, _codes, _ = _counts(app_url)

        floor = _run_phase(app_url, centres, browsers=1, managers=0, seconds=min(args.seconds, 10.0),
                           max_views=args.max_views, max_saves=0, think=0.0, fresh=True)
        floor_views = [x for r in floor for lat in r.latencies.values() for x in lat]
        floor_p50 = _pct(floor_views, 50) if floor_views else float("nan")
        print(f"floor: one user alone, snapshot re-read each view, {len(floor_views)} page views, p50 {floor_p50 * 1000:.0f} ms")
        reports = _run_phase(app_url, centres, browsers=BROWSERS, managers=MANAGERS, seconds=args.seconds,
                             max_views=args.max_views, max_saves=args.max_saves, think=args.think)
        crashes = [r for r in reports if r.crash]
        for r in crashes:
            print(f"{r.kind} {r.client} crashed:\n{r.crash}", file=sys.stderr)

        browsers = [r for r in reports if r.kind == "browser"]
        managers = [r for r in reports if r.kind == "manager"]
        print(f"\n{BROWSERS} centre users browsing ({args.think:g} s between pages), {MANAGERS} data managers saving, {args.seconds:g} s")
        all_views: list[float] = []
        for page in PAGES:
            lat = [x for r in browsers for x in r.latencies.get(page, [])]
            all_views += lat
            if lat:
                print(f"  page {page:<9} {len(lat):5d} views   p50 {_pct(lat, 50) * 1000:7.0f} ms   p95 {_pct(lat, 95) * 1000:7.0f} ms")
        if all_views:
            print(f"  page (all)      {len(all_views):5d} views   p50 {_pct(all_views, 50) * 1000:7.0f} ms   p95 {_pct(all_views, 95) * 1000:7.0f} ms"
                  f"   (p95 = {_pct(all_views, 95) / floor_p50:.1f}x the one-user p50)")
        saves = [x for r in managers for x in r.latencies.get("save", [])]
        if saves:
            print(f"  save            {len(saves):5d} saves   p50 {_pct(saves, 50) * 1000:7.0f} ms   p95 {_pct(saves, 95) * 1000:7.0f} ms")

        errors = [e for r in managers for e in r.errors]
        told_ok = [s for r in managers for s in r.saved]
        audit_after, codes, problems = _counts(app_url)
        expected = {t: {c for e, c in told_ok if e == t} for t in ("patients", "transplants", "visits")}
        lost = {t: sorted(expected[t] - codes[t]) for t in expected if expected[t] - codes[t]}
        phantom = {t: sorted(codes[t] - expected[t]) for t in expected if codes[t] - expected[t]}
        new_audit = audit_after - audit_before
        ok = not lost and not phantom and new_audit == len(told_ok) and not problems and not errors and not crashes
        print(f"  saves told ok {len(told_ok)}, failed {len(errors)}; rows found {sum(len(v) for v in codes.values())}; "
              f"new audit rows {new_audit}; audit chain {'intact' if not problems else f'BROKEN ({len(problems)})'}")
        for e in errors[:5]:
            print(f"    failed save: {e}")
        if lost:
            print(f"    LOST: {lost}")
        if phantom:
            print(f"    PHANTOM: {phantom}")
        print(f"no lost write: {'yes' if ok else 'NO'}")
        return 0 if ok else 1
    finally:
        dep.drop()


if __name__ == "__main__":
    sys.exit(main())
