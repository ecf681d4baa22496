"""Render every dashboard page with AppTest against a demo registry and print cold and warm
times (target: under 1 s warm per page at 20,000 patients).

    .venv/bin/python benchmarks/dashboard_pages.py [--patients 20000] [--db sqlite:///path.db] [--repeat 3]

Without --db a temporary SQLite registry is created, migrated and filled with the demo cohort
through the bundle importer (as `msreg demo`); pass --db to reuse one between runs. "Warm" is a
rerun with the same data and settings, as when a user clicks between pages: the results come
from the caches keyed by the registry's data version, which is the point being measured.
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


def measure(url: str, repeat: int) -> list[tuple[str, float, float]]:
    from streamlit.testing.v1 import AppTest

    os.environ["MSREG_DATABASE_URL"] = url
    os.environ["MSREG_DASHBOARD_NO_LOGIN"] = "1"
    os.environ["MSREG_DASHBOARD_NO_LOGIN_AS"] = "admin"
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=600)
    t0 = time.perf_counter()
    at.run()
    print(f"first run (snapshot + endpoints, start page Overview): {time.perf_counter() - t0:.2f} s")
    rows = []
    for page in PAGES:
        t0 = time.perf_counter()
        at.switch_page(f"app_pages/{page}.py").run()
        cold = time.perf_counter() - t0
        if at.exception:
            raise RuntimeError(f"page {page} failed: {at.exception}")
        warm = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t0)
        rows.append((page, cold, statistics.median(warm)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--db", default=None, help="an existing registry to use instead of a new demo one")
    parser.add_argument("--repeat", type=int, default=3, help="warm reruns per page (the median is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="msreg-bench-") as folder:
        url = build(args.db, args.patients, folder)
        rows = measure(url, args.repeat)
    print(f"{'page':<10} {'cold (s)':>9} {'warm (s)':>9}")
    for page, cold, warm in rows:
        flag = "" if warm < 1.0 else "  <- over the 1 s target"
        print(f"{page:<10} {cold:>9.2f} {warm:>9.2f}{flag}")


if __name__ == "__main__":
    main()
