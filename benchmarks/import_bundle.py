"""How fast a large bundle imports through the real path (`registry.io.bundle.import_bundle`).

    .venv/bin/python -m benchmarks.import_bundle                      # 100,000 patients (~1 M rows)
    .venv/bin/python -m benchmarks.import_bundle --patients 20000
    .venv/bin/python -m benchmarks.import_bundle --phases             # time read/parse/check/write apart
    .venv/bin/python -m benchmarks.import_bundle --profile out.prof   # cProfile of the import
    .venv/bin/python -m benchmarks.import_bundle --patients 10000 --floor   # ratio to a bare load, peak memory

With `--floor`, the import and a floor each run in a fresh process, so that their CPU seconds
and peak memory (the process's maximum resident set) are their own: the floor is a bare SQL
load of the same rows into the same migrated schema, performed here with the driver's
`executemany` (sqlite3, one transaction, the rows already typed and keyed: no CSV reading,
no validation, no audit), the least any import of these rows must cost. The ratio import /
floor is printed in CPU seconds (steadier than wall time on a shared machine).

The bundle is the synthetic cohort of `registry.demo.generate_cohort` (fixed seed and `today`),
written as CSV files with `write_bundle`; it is imported into a fresh, migrated SQLite file as
the CLI user (an administrator), with validation, access check and one audit row per record,
exactly as `msreg import` does. Generating and writing the bundle is not timed. Target: under
60 s for 100,000 patients on a 2-core machine.

Measured 2026-11-24 on the shared 2-core machine (load average 6-9 from other work): the demo
cohort of 100,000 patients is 1,761,339 rows; import 100 s wall, 83 s CPU (17,600 rows/s):
read 5.5 s, parse 7.3 s, validate and diff 17.0 s, write with audit rows 49.1 s, commit 4.2 s
(CPU). About half of the write is SQLite itself inserting the rows and their hash-chained audit
rows (about 10 us per audit row with its unique hash index); the target is met for about
1 million rows, not for the 1.76 million of this cohort.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import tempfile
import time
from pathlib import Path

TODAY = dt.date(2026, 11, 24)


def build_bundle(n_patients: int, folder: Path) -> int:
    from registry.io.bundle import write_bundle
    from registry.demo import generate_cohort

    bundle = generate_cohort(n_patients, seed=1, today=TODAY)
    write_bundle(bundle, folder)
    return sum(len(rows) for rows in bundle.values())


def import_once(folder: Path, db: Path, *, phases: bool, profile: str | None) -> float:
    from registry import migrate
    from registry.security.access import cli_actor
    from registry.io.bundle import import_bundle, load_bundle, parse_bundle
    from registry.db import make_engine, session_scope
    from registry.services import apply_bulk, plan_bulk

    url = f"sqlite:///{db}"
    migrate.upgrade(url)
    engine = make_engine(url)
    actor = cli_actor()
    try:
        if phases:
            marks = [("start", time.perf_counter(), time.process_time())]
            loaded = load_bundle(folder)
            marks.append(("read CSV", time.perf_counter(), time.process_time()))
            records, errors = parse_bundle(loaded)
            assert not errors and not loaded.errors
            marks.append(("parse", time.perf_counter(), time.process_time()))
            with session_scope(engine) as session:
                plan = plan_bulk(session, actor, records, today=TODAY)
                marks.append(("validate and diff", time.perf_counter(), time.process_time()))
                apply_bulk(session, actor, plan, reason=f"bundle sha256:{loaded.sha256}")
                marks.append(("write and audit", time.perf_counter(), time.process_time()))
            marks.append(("commit", time.perf_counter(), time.process_time()))
            for (_, t0, c0), (label, t1, c1) in zip(marks, marks[1:], strict=False):
                print(f"  {label:<18} {t1 - t0:6.1f} s  (CPU {c1 - c0:5.1f} s)")
            return marks[-1][1] - marks[0][1]
        profiler = cProfile.Profile() if profile else None
        start, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        result = import_bundle(engine, folder, actor, today=TODAY)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        elapsed = time.perf_counter() - start
        print(f"  CPU time of this process: {time.process_time() - cpu:.1f} s (wall time includes waiting for a busy machine)")
        assert result.ok, [str(e) for e in result.errors[:10]]
        return elapsed
    finally:
        engine.dispose()


def _peak_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM, which starts afresh at exec (the
    rusage maximum keeps the parent's peak across fork + exec), else the rusage maximum."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def import_in_child(folder: str, db: str) -> dict[str, float]:
    """The real import (as `msreg import`) in this fresh process: CPU seconds and peak memory."""
    from registry import migrate
    from registry.security.access import cli_actor
    from registry.io.bundle import import_bundle
    from registry.db import make_engine

    url = f"sqlite:///{db}"
    migrate.upgrade(url)
    engine = make_engine(url)
    baseline = _peak_mb()
    cpu = time.process_time()
    result = import_bundle(engine, Path(folder), cli_actor(), today=TODAY)
    cpu = time.process_time() - cpu
    engine.dispose()
    assert result.ok, [str(e) for e in result.errors[:10]]
    return {"cpu": cpu, "peak_mb": _peak_mb(), "baseline_mb": baseline}


def floor_in_child(n_patients: int, db: str) -> dict[str, float]:
    """The floor: the same cohort's rows, typed and keyed, loaded with sqlite3 `executemany`
    into the same migrated schema in one transaction (see the module docstring)."""
    import sqlite3

    import pandas as pd

    from registry import migrate, models
    from registry.demo import generate_cohort
    from registry.demo.frames import bundle_frames

    url = f"sqlite:///{db}"
    migrate.upgrade(url)
    frames = bundle_frames(generate_cohort(n_patients, seed=1, today=TODAY))
    now = models.utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")
    tables: dict[str, tuple[str, list[tuple[object, ...]]]] = {}
    for name, frame in frames.items():
        table = models.Base.metadata.tables.get(name)
        if table is None:
            continue
        cols = [c for c in frame.columns if c in table.c]
        data = frame[cols].astype(object).where(frame[cols].notna(), None)
        for col in cols:
            if pd.api.types.is_datetime64_any_dtype(frame[col]):
                data[col] = [None if v is None else v.date().isoformat() for v in data[col]]
        rows = [(*r, now, now, 1) for r in data.itertuples(index=False, name=None)]
        names = [*cols, "created_at", "updated_at", "version"]
        sql = f"INSERT INTO {name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        tables[name] = (sql, rows)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("PRAGMA cache_size = -262144")  # the page cache the import gives itself (services._big_page_cache)
    cpu = time.process_time()
    con.execute("BEGIN IMMEDIATE")
    for sql, rows in tables.values():
        con.executemany(sql, rows)
    con.execute("COMMIT")
    cpu = time.process_time() - cpu
    con.close()
    return {"cpu": cpu, "peak_mb": _peak_mb(), "rows": float(sum(len(r) for _, r in tables.values()))}


def floor_comparison(n_patients: int, folder: Path, tmp: Path, *, import_too: bool = True) -> None:
    """Import and floor, each in a fresh process; print CPU seconds, ratio and peak memory."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        floor = pool.submit(floor_in_child, n_patients, str(tmp / "floor.db")).result()
    rows = int(floor["rows"])
    print(f"  {f'floor (sqlite3 executemany, {rows:,} rows)':<44} {floor['cpu']:7.1f} CPU s   peak {floor['peak_mb']:6.0f} MB")
    if not import_too:
        return
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        real = pool.submit(import_in_child, str(folder), str(tmp / "import.db")).result()
    print(f"  {'import (the msreg import path)':<44} {real['cpu']:7.1f} CPU s   peak {real['peak_mb']:6.0f} MB "
          f"(after start-up {real['baseline_mb']:.0f} MB)")
    print(f"  {'import / floor':<44} {real['cpu'] / floor['cpu']:7.1f} x   (target 3x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--floor", action="store_true", help="compare with a bare executemany load; report peak memory")
    parser.add_argument("--floor-only", action="store_true", help="with --floor: measure the floor alone")
    parser.add_argument("--phases", action="store_true", help="time reading, parsing, checking and writing apart")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the import to FILE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="msreg-bench-") as tmp:
        folder = Path(tmp) / "bundle"
        t0 = time.perf_counter()
        rows = build_bundle(args.patients, folder)
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"bundle: {args.patients:,} patients, {rows:,} rows, {size / 1e6:.0f} MB (built in {time.perf_counter() - t0:.1f} s, not timed)")
        if args.floor:
            floor_comparison(args.patients, folder, Path(tmp), import_too=not args.floor_only)
            return
        elapsed = import_once(folder, Path(tmp) / "registry.db", phases=args.phases, profile=args.profile)
        db_size = (Path(tmp) / "registry.db").stat().st_size
        print(f"import: {elapsed:.1f} s total, {rows / elapsed:,.0f} rows/s (SQLite file {db_size / 1e6:.0f} MB, incl. {rows:,} audit rows)")


if __name__ == "__main__":
    main()
