"""Benchmark: `msreg export survival` against a bare aggregate over the visits table.

    .venv/bin/python benchmarks/cli_export.py [--patients 10000] [--db sqlite:///path.db] [--repeat 3]

Both are run as fresh processes, start-up included, and measured in CPU seconds (user +
system of the child, steadier than wall time on a shared machine):
- the floor: a Python process that opens the SQLite registry with the standard library and
  runs one GROUP BY over the visits (count, first and last visit, worst EDSS per patient);
- the command: `msreg export survival OUT.csv --db URL` (snapshot, every endpoint, the CSV and
  its sidecar).
Target: the export costs at most a few times the floor (printed as a ratio).

Without --db a SQLite registry of --patients synthetic patients is built first (not timed);
`--keep DIR` keeps it for the next run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLOOR_CODE = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
rows = con.execute(
    "SELECT patient_id, count(*), min(visit_date), max(visit_date), max(edss) FROM visits GROUP BY patient_id"
).fetchall()
print(len(rows))
"""
TARGET_RATIO = 5.0


def child_cpu(argv: list[str]) -> float:
    """CPU seconds (user + system) of one child process run to completion."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.stderr.close() if proc.stderr else None
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {err}")
    return usage.ru_utime + usage.ru_stime


def registry(args: argparse.Namespace, tmp: Path) -> Path:
    if args.db:
        return Path(args.db.removeprefix("sqlite:///"))
    from benchmarks.endpoints import TODAY, VISIT_INTERVAL, fill_sqlite
    from registry.demo import generate_cohort
    from registry.demo.frames import bundle_frames

    folder = args.keep or tmp
    path = folder / f"registry-{args.patients}-{args.seed}.db"
    if not path.exists():
        frames = bundle_frames(generate_cohort(args.patients, args.seed, TODAY, visit_interval_days=VISIT_INTERVAL))
        fill_sqlite(f"sqlite:///{path}", frames)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--db", default=None, help="an existing SQLite registry (sqlite:///path or a path)")
    parser.add_argument("--keep", type=Path, default=None, help="folder in which to keep (and reuse) the registry")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    msreg = str(Path(sys.executable).with_name("msreg"))
    with tempfile.TemporaryDirectory(prefix="msreg-cli-bench-") as tmp:
        path = registry(args, Path(tmp))
        out = Path(tmp) / "survival.csv"
        runs: dict[str, list[float]] = {"floor: python + sqlite3 GROUP BY over visits": [], "msreg --help": [],
                                        "msreg export survival": []}
        for _ in range(args.repeat):
            runs["floor: python + sqlite3 GROUP BY over visits"].append(child_cpu([sys.executable, "-c", FLOOR_CODE, str(path)]))
            runs["msreg --help"].append(child_cpu([msreg, "--help"]))
            runs["msreg export survival"].append(child_cpu([msreg, "export", "survival", str(out), "--db", f"sqlite:///{path}"]))
    medians = {label: statistics.median(v) for label, v in runs.items()}
    floor = medians["floor: python + sqlite3 GROUP BY over visits"]
    print(f"registry: {path.name}; median of {args.repeat} runs, CPU seconds (user + system), start-up included")
    for label, seconds in medians.items():
        print(f"  {label:<48} {seconds:7.2f} s  {seconds / floor:6.1f} x floor")
    ratio = medians["msreg export survival"] / floor
    print(f"target: export <= {TARGET_RATIO:.0f}x the floor: {'met' if ratio <= TARGET_RATIO else 'MISSED'} ({ratio:.1f}x)")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
