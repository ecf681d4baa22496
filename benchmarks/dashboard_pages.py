"""Render every dashboard page with AppTest against a demo registry and print cold and warm
times, CPU seconds and wall seconds (targets at 100,000 patients: every page warm within 0.5 s,
the first load within 3 s).

    .venv/bin/python benchmarks/dashboard_pages.py [--patients 100000] [--db sqlite:///path.db] [--repeat 3]

The floor, measured in the same run, is AppTest's rerun of a one-line Streamlit page: what any
page costs before it does anything. Each page's warm CPU time is printed as a ratio to it.

Without --db a temporary SQLite registry is created, migrated and filled with the demo cohort
through the bundle importer (as `msreg demo`); pass --db to reuse one between runs. "Warm" is a
rerun with the same data and settings, as when a user clicks between pages: the results come
from the caches keyed by the registry's data version, which is the point being measured.

The first load is measured three times, each in a fresh process: as the benchmark's own first
run (every import included), after the imports `msreg dashboard` does before it serves
(dashboard.serve), and after its start-up warm-up (dashboard.warmup) has finished, which is what
a user logging in a little after the server started waits for. CPU seconds include the SQLite
read worker (a child process).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WARM_TARGET = 0.5  # CPU seconds per warm page at 100,000 patients
FIRST_TARGET = 3.0  # CPU seconds for the first load
PAGES = ("overview", "outcomes", "safety", "quality", "timeline", "entry", "export")


def build(url: str | None, n_patients: int, folder: str) -> str:
    from registry import migrate
    from tests.dashboard.demo_registry import fill_with_demo

    if url:
        return url
    url = f"sqlite:///{Path(folder) / 'bench.db'}"
    migrate.upgrade(url)
    t0 = time.perf_counter()
    fill_with_demo(url, n_patients)
    print(f"demo registry: {n_patients:,} patients imported in {time.perf_counter() - t0:.1f} s")
    return url


def _clock() -> tuple[float, float]:
    from benchmarks.cpu import cpu_seconds

    return time.perf_counter(), cpu_seconds()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    """(wall, CPU) seconds since `start`; CPU counts every thread of the process and the SQLite
    read worker (a child process)."""
    from benchmarks.cpu import cpu_seconds

    return time.perf_counter() - start[0], cpu_seconds() - start[1]


def floor(repeat: int) -> float:
    """Median CPU seconds of AppTest rerunning a one-line page (the framework's own cost)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string("import streamlit as st\nst.write('floor')", default_timeout=60)
    at.run()
    runs = []
    for _ in range(max(repeat, 5)):
        start = _clock()
        at.run()
        runs.append(_since(start)[1])
    return statistics.median(runs)


def measure(url: str, repeat: int) -> tuple[tuple[float, float], list[tuple[str, float, float, float, float]]]:
    from streamlit.testing.v1 import AppTest

    os.environ["MSREG_DATABASE_URL"] = url
    os.environ["MSREG_DASHBOARD_NO_LOGIN"] = "1"
    os.environ["MSREG_DASHBOARD_NO_LOGIN_AS"] = "admin"
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600)
    start = _clock()
    at.run()
    first = _since(start)
    if at.exception:
        raise RuntimeError(f"first run failed: {at.exception}")
    rows = []
    for page in PAGES:
        start = _clock()
        at.switch_page(f"app_pages/{page}.py").run()
        cold = _since(start)
        if at.exception:
            raise RuntimeError(f"page {page} failed: {at.exception}")
        warm = []
        for _ in range(repeat):
            start = _clock()
            at.run()
            warm.append(_since(start))
        rows.append((page, cold[0], cold[1], statistics.median(w for w, _ in warm), statistics.median(c for _, c in warm)))
    return first, rows


PREPARED = {
    "imports": "after the server's start-up imports (dashboard.serve imports them before serving)",
    "warm-up": "after the server's warm-up (imports, snapshot, endpoints, the Overview's curves)",
}


def first_load(url: str, prepare: str) -> dict[str, float]:
    """In this (fresh) process: what the server does before the first user (`prepare`), then
    the first run of the app; CPU and wall seconds of each."""
    from dashboard import warmup
    from streamlit.testing.v1 import AppTest

    os.environ["MSREG_DATABASE_URL"] = url
    os.environ["MSREG_DASHBOARD_NO_LOGIN"] = "1"
    os.environ["MSREG_DASHBOARD_NO_LOGIN_AS"] = "admin"
    start = _clock()
    warmup.import_heavy_modules()
    if prepare == "warm-up":
        warmup.warm_up(url, scopes=[("admin", None)], log=lambda _message: None)
    prepared = _since(start)
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600)
    start = _clock()
    at.run()
    first = _since(start)
    if at.exception:
        raise RuntimeError(f"first run failed: {at.exception}")
    return {"prepare_cpu": prepared[1], "prepare_wall": prepared[0], "first_cpu": first[1], "first_wall": first[0]}


def first_load_in_child(url: str, prepare: str) -> dict[str, float]:
    import json
    import subprocess

    out = subprocess.run([sys.executable, "-m", "benchmarks.dashboard_pages", "--db", url, "--first-load-after", prepare],
                         capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--db", default=None, help="an existing registry to use instead of a new demo one")
    parser.add_argument("--repeat", type=int, default=3, help="warm reruns per page (the median is shown)")
    parser.add_argument("--first-load-after", choices=sorted(PREPARED), default=None,
                        help="(internal) measure one first load in this process after that preparation; prints JSON")
    args = parser.parse_args()
    if args.first_load_after:
        import json

        print(json.dumps(first_load(args.db, args.first_load_after)))
        return
    with tempfile.TemporaryDirectory(prefix="msreg-bench-") as folder:
        url = build(args.db, args.patients, folder)
        base = floor(args.repeat)
        first, rows = measure(url, args.repeat)
        prepared = {name: first_load_in_child(url, name) for name in PREPARED}
    print(f"floor (one-line page rerun): {base:.3f} CPU s")
    flag = "" if first[1] <= FIRST_TARGET else f"  <- over the {FIRST_TARGET:.0f} s target"
    print(f"first run in a fresh process (imports + snapshot + endpoints + Overview): {first[1]:.2f} CPU s, "
          f"{first[0]:.2f} wall s{flag}")
    for name, r in prepared.items():
        flag = "" if r["first_cpu"] <= FIRST_TARGET else f"  <- over the {FIRST_TARGET:.0f} s target"
        print(f"first run {PREPARED[name]}: {r['first_cpu']:.2f} CPU s, {r['first_wall']:.2f} wall s{flag} "
              f"(the server's {name}: {r['prepare_cpu']:.2f} CPU s before)")
    print(f"{'page':<10} {'cold CPU':>9} {'cold wall':>10} {'warm CPU':>9} {'warm wall':>10} {'warm/floor':>11}")
    for page, cold_wall, cold_cpu, warm_wall, warm_cpu in rows:
        flag = "" if warm_cpu <= WARM_TARGET else f"  <- over the {WARM_TARGET} s target"
        print(f"{page:<10} {cold_cpu:>9.2f} {cold_wall:>10.2f} {warm_cpu:>9.3f} {warm_wall:>10.3f} {warm_cpu / base:>10.1f}x{flag}")


if __name__ == "__main__":
    main()
