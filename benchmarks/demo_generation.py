"""How fast the synthetic cohort is generated (registry.demo.generate_cohort).

    .venv/bin/python -m benchmarks.demo_generation                   # 100,000 patients, usual and dense follow-up
    .venv/bin/python -m benchmarks.demo_generation --patients 20000 --repeat 3
    .venv/bin/python -m benchmarks.demo_generation --frames         # also time bundle_frames (rows → DataFrames)

Reports wall time, rows per entity and rows per second. Target: 100,000 patients in well under
60 s (outcome benchmarks use them at about 1-2 M rows). `today` is fixed so that runs compare.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

TODAY = dt.date(2026, 11, 24)
FOLLOW_UP = {"usual": (182, 365), "dense": (60, 120)}  # dense: about 20 visits per patient


def run(n_patients: int, repeat: int, frames: bool) -> None:
    from registry.demo import generate_cohort
    from registry.demo.frames import bundle_frames

    for label, interval in FOLLOW_UP.items():
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            bundle = generate_cohort(n_patients, seed=1, today=TODAY, visit_interval_days=interval)
            times.append(time.perf_counter() - start)
        rows = sum(len(r) for r in bundle.values())
        best = min(times)
        print(f"{label:<6} follow-up {interval}: {n_patients:,} patients, {rows:,} rows "
              f"({len(bundle['visits']) / max(n_patients, 1):.1f} visits/patient) in {best:.2f} s "
              f"(best of {repeat}; {rows / best:,.0f} rows/s)")
        if frames:
            start = time.perf_counter()
            bundle_frames(bundle)
            print(f"       bundle_frames: {time.perf_counter() - start:.2f} s")
        del bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--frames", action="store_true")
    args = parser.parse_args()
    run(args.patients, args.repeat, args.frames)


if __name__ == "__main__":
    main()
