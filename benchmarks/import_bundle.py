"""How fast a large bundle imports through the real path (`registry.io.bundle.import_bundle`).

    .venv/bin/python -m benchmarks.import_bundle                      # 100,000 patients (~1 M rows)
    .venv/bin/python -m benchmarks.import_bundle --patients 20000
    .venv/bin/python -m benchmarks.import_bundle --phases             # the exact (in-memory) path's phases apart
    .venv/bin/python -m benchmarks.import_bundle --profile out.prof   # cProfile of the import
    .venv/bin/python -m benchmarks.import_bundle --patients 10000 --floor   # ratio to a bare load, peak memory
    .venv/bin/python -m benchmarks.import_bundle --patients 100000 --floor --backend postgresql --bundle /tmp/b100k

With `--floor`, the import and a floor each run in a fresh process and a fresh migrated
registry, so that their CPU seconds and peak memory (the process's maximum resident set) are
their own. The floor is a bare SQL load of the same rows into the same schema, in one
transaction, the rows already typed and keyed (no CSV reading, no validation, no audit): the
least any import of these rows must cost. On SQLite it is sqlite3's `executemany`; on
PostgreSQL (`--backend postgresql`) a COPY of ready text, as psql's `\\copy`, and the CPU
seconds are the client's plus its server backend's (read from /proc: the server runs on this
machine), for the import and the floor alike. The ratio import / floor is printed in CPU
seconds (steadier than wall time on a shared machine); `--repeat N` prints the median of N.
`--bundle DIR` builds the bundle there once and reuses it (a hidden `.cohort.json` says which).

The bundle is the synthetic cohort of `registry.demo.generate_cohort` (fixed seed and `today`),
written as CSV files with `write_bundle`; it is imported into a fresh, migrated SQLite file as
the CLI user (an administrator), with validation, access check and one audit row per record,
exactly as `msreg import` does. Generating and writing the bundle is not timed. Target: under
60 s for 100,000 patients on a 2-core machine.

Measured 2026-12-01 on the shared 2-core machine (load average 1-2), the streaming import
(`--floor`, CPU seconds, ratio to the floor of the same run): 10,000 patients (206,602 rows)
SQLite 4.5 s, 3.3x, peak 243 MB; PostgreSQL 4.7-6.1 s (most of it the server), 3.0x, peak
251 MB. 100,000 patients (2,049,817 rows) SQLite 73.8 s, 3.9x, peak 270 MB; PostgreSQL 60.1 s,
4.3x, peak 272 MB. Before (the whole bundle in memory): 7-10x, 2.9 GB at 100,000. Most of the
rest is the database writing one audit row per record (README, "Speed at registry scale").
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


def _server_cpu(url: str) -> float:
    """CPU seconds so far of the PostgreSQL client backends connected to `url`'s database (the
    server runs on this machine: /proc/PID/stat). 0 for SQLite, which runs in the process."""
    if not url.startswith("postgresql"):
        return 0.0
    import os

    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")).scalars().all()
    eng.dispose()
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _fresh_database(backend: str, where: Path, pg_url: str, name: str) -> str:
    """A new, migrated registry: an SQLite file under `where`, or a PostgreSQL database `name`."""
    from registry import migrate

    if backend == "sqlite":
        url = f"sqlite:///{where / (name + '.db')}"
    else:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url


def import_in_child(folder: str, url: str) -> dict[str, float]:
    """The real import (as `msreg import`) in this fresh process: CPU seconds (with the
    PostgreSQL backend's) and peak memory."""
    from registry.security.access import cli_actor
    from registry.io.bundle import import_bundle
    from registry.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:  # the pool's one connection: its backend is counted below
        conn.exec_driver_sql("SELECT 1")
    baseline = _peak_mb()
    server = _server_cpu(url)
    cpu = time.process_time()
    result = import_bundle(engine, Path(folder), cli_actor(), today=TODAY)
    cpu = time.process_time() - cpu
    server = _server_cpu(url) - server
    engine.dispose()
    assert result.ok, [str(e) for e in result.errors[:10]]
    assert result.path == "streaming", result.path
    return {"cpu": cpu + server, "server": server, "peak_mb": _peak_mb(), "baseline_mb": baseline,
            "rows": float(sum(result.inserted.values()))}


def _floor_tables(n_patients: int) -> dict[str, tuple[list[str], list[tuple[object, ...]]]]:
    """The cohort's rows per table, typed and keyed as the database stores them."""
    import pandas as pd

    from registry import models
    from registry.demo import generate_cohort
    from registry.demo.frames import bundle_frames

    frames = bundle_frames(generate_cohort(n_patients, seed=1, today=TODAY))
    now = models.utcnow().replace(tzinfo=None)
    tables: dict[str, tuple[list[str], list[tuple[object, ...]]]] = {}
    for name, frame in frames.items():
        table = models.Base.metadata.tables.get(name)
        if table is None:
            continue
        cols = [c for c in frame.columns if c in table.c]
        data = frame[cols].astype(object).where(frame[cols].notna(), None)
        for col in cols:
            if pd.api.types.is_datetime64_any_dtype(frame[col]):
                data[col] = [None if v is None else v.date() for v in data[col]]
        rows = [(*r, now, now, 1) for r in data.itertuples(index=False, name=None)]
        tables[name] = ([*cols, "created_at", "updated_at", "version"], rows)
    return tables


def floor_in_child(n_patients: int, url: str) -> dict[str, float]:
    """The floor: the same cohort's rows, typed and keyed, loaded into the same migrated schema
    in one transaction: sqlite3 `executemany` on SQLite, COPY of ready text on PostgreSQL (as
    psql's \\copy; see the module docstring)."""
    tables = _floor_tables(n_patients)
    rows = float(sum(len(r) for _, r in tables.values()))
    if url.startswith("sqlite"):
        import sqlite3

        db = url.removeprefix("sqlite:///")
        prepared = []
        for name, (names, data) in tables.items():
            sql = f"INSERT INTO {name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            prepared.append((sql, [tuple(v.isoformat() if hasattr(v, "isoformat") and not isinstance(v, str) else v for v in r)
                                   for r in data]))
        con = sqlite3.connect(db, isolation_level=None)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = NORMAL")
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("PRAGMA cache_size = -262144")  # a generous page cache (the import's is 64 MiB)
        cpu = time.process_time()
        con.execute("BEGIN IMMEDIATE")
        for sql, data in prepared:
            con.executemany(sql, data)
        con.execute("COMMIT")
        cpu = time.process_time() - cpu
        con.close()
        return {"cpu": cpu, "server": 0.0, "peak_mb": _peak_mb(), "rows": rows}
    import psycopg

    from registry import models
    from sqlalchemy.engine import make_url

    def cell(v: object, kind: str) -> str:
        if v is None:
            return "\\N"
        if kind == "bool":
            return "t" if v else "f"
        if kind == "int":
            return str(int(v))  # type: ignore[call-overload]
        if kind == "float":
            return repr(float(v))  # type: ignore[arg-type]
        if hasattr(v, "isoformat"):
            return v.isoformat(sep=" ") if hasattr(v, "hour") else v.isoformat()  # type: ignore[attr-defined]
        return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")

    from sqlalchemy import Boolean, Float, Integer

    payload = []
    for name, (names, data) in tables.items():
        types = models.Base.metadata.tables[name].c
        kinds = ["bool" if isinstance(types[n].type, Boolean) else "int" if isinstance(types[n].type, Integer)
                 else "float" if isinstance(types[n].type, Float) else "text" for n in names]
        text = "".join("\t".join(cell(v, k) for v, k in zip(r, kinds, strict=True)) + "\n" for r in data)
        payload.append((f"COPY {name} ({', '.join(names)}) FROM STDIN", text.encode()))
    u = make_url(url)
    con = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, dbname=u.database, password=u.password)
    pid = con.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
    import os

    def backend() -> float:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    server, cpu = backend(), time.process_time()
    with con.transaction(), con.cursor() as cur:
        for sql, data in payload:
            with cur.copy(sql) as copy:
                copy.write(data)
    cpu, server = time.process_time() - cpu, backend() - server
    con.close()
    return {"cpu": cpu + server, "server": server, "peak_mb": _peak_mb(), "rows": rows}


def floor_comparison(n_patients: int, folder: Path, tmp: Path, *, backend: str = "sqlite", pg_url: str = "",
                     import_too: bool = True) -> dict[str, dict[str, float]]:
    """Import and floor, each in a fresh process and a fresh registry; print CPU seconds
    (PostgreSQL: the client's plus its server backend's), ratio and peak memory."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    spawn = multiprocessing.get_context("spawn")
    floor_url = _fresh_database(backend, tmp, pg_url, f"msreg_bench_floor_{n_patients}")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        floor = pool.submit(floor_in_child, n_patients, floor_url).result()
    if backend == "sqlite":
        Path(floor_url.removeprefix("sqlite:///")).unlink()
    rows = int(floor["rows"])
    how = "sqlite3 executemany" if backend == "sqlite" else "COPY of ready text"
    server = f" (server {floor['server']:.1f})" if backend != "sqlite" else ""
    print(f"  {f'floor ({how}, {rows:,} rows)':<46} {floor['cpu']:7.1f} CPU s{server}   peak {floor['peak_mb']:6.0f} MB")
    out = {"floor": floor}
    if not import_too:
        return out
    import_url = _fresh_database(backend, tmp, pg_url, f"msreg_bench_import_{n_patients}")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        real = pool.submit(import_in_child, str(folder), import_url).result()
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(import_url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    assert int(real["rows"]) == rows, (real["rows"], rows)
    server = f" (server {real['server']:.1f})" if backend != "sqlite" else ""
    print(f"  {'import (the msreg import path)':<46} {real['cpu']:7.1f} CPU s{server}   peak {real['peak_mb']:6.0f} MB "
          f"(after start-up {real['baseline_mb']:.0f} MB)")
    print(f"  {'import / floor':<46} {real['cpu'] / floor['cpu']:7.1f} x   (target 3x; peak target 300 MB)")
    out["import"] = real
    if backend != "sqlite":
        from sqlalchemy import create_engine, text

        admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in (f"msreg_bench_floor_{n_patients}", f"msreg_bench_import_{n_patients}"):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return out


def bundle_at(n_patients: int, folder: Path) -> int:
    """The cohort's bundle in `folder`, built there once and reused (a hidden marker names it)."""
    import json

    marker = folder / ".cohort.json"
    wanted = {"patients": n_patients, "seed": 1, "today": TODAY.isoformat()}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return int(json.loads((folder / ".rows").read_text()))
    rows = build_bundle(n_patients, folder)
    (folder / ".rows").write_text(str(rows))
    marker.write_text(json.dumps(wanted))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--floor", action="store_true", help="compare with a bare load of the same rows; report peak memory")
    parser.add_argument("--floor-only", action="store_true", help="with --floor: measure the floor alone")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite", help="with --floor")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server to create the benchmark databases on")
    parser.add_argument("--bundle", metavar="DIR", help="build the bundle here once and reuse it (a 100k bundle takes minutes)")
    parser.add_argument("--repeat", type=int, default=1, help="with --floor: floor and import this many times (the machine is shared)")
    parser.add_argument("--phases", action="store_true", help="time reading, parsing, checking and writing apart")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the import to FILE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="msreg-bench-") as tmp:
        folder = Path(args.bundle) if args.bundle else Path(tmp) / "bundle"
        t0 = time.perf_counter()
        rows = bundle_at(args.patients, folder)
        size = sum(p.stat().st_size for p in folder.iterdir() if not p.name.startswith("."))
        print(f"bundle: {args.patients:,} patients, {rows:,} rows, {size / 1e6:.0f} MB (ready in {time.perf_counter() - t0:.1f} s, not timed)")
        if args.floor:
            runs = []
            for i in range(args.repeat):
                if args.repeat > 1:
                    print(f"run {i + 1} of {args.repeat}")
                runs.append(floor_comparison(args.patients, folder, Path(tmp), backend=args.backend, pg_url=args.pg_url,
                                             import_too=not args.floor_only))
            if args.repeat > 1 and not args.floor_only:
                ratios = sorted(r["import"]["cpu"] / r["floor"]["cpu"] for r in runs)
                peaks = [r["import"]["peak_mb"] for r in runs]
                print(f"  median import / floor over {len(runs)} runs: {ratios[len(ratios) // 2]:.1f} x "
                      f"(range {ratios[0]:.1f}-{ratios[-1]:.1f}); import peak {max(peaks):.0f} MB at most")
            return
        elapsed = import_once(folder, Path(tmp) / "registry.db", phases=args.phases, profile=args.profile)
        db_size = (Path(tmp) / "registry.db").stat().st_size
        print(f"import: {elapsed:.1f} s total, {rows / elapsed:,.0f} rows/s (SQLite file {db_size / 1e6:.0f} MB, incl. {rows:,} audit rows)")


if __name__ == "__main__":
    main()
