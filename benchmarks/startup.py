"""CPU cost of starting `msreg`, as ratios against floors measured in the same run.

    .venv/bin/python -m benchmarks.startup [--patients 800] [--repeat 5] [--db PATH]

Targets (docs and README): `msreg --help` at most 4x the CPU of `python -c "import click"`;
`msreg survival pfs --by phenotype` and `msreg export survival` on the demo registry pay only
for what they compute: their CPU is compared with `python -c "import pandas, duckdb, pyarrow,
sqlalchemy.orm"` (the libraries they need), and the libraries they must NOT load (scipy,
lifelines, plotly, streamlit, alembic) are listed if they are loaded.

CPU seconds (user + system of the child, from getrusage) rather than wall time: the machine is
shared, and wall time there measures the neighbours. Each figure is the minimum of --repeat runs
(the least disturbed one).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MSREG = str(Path(sys.executable).with_name("msreg"))
NOT_NEEDED = ("scipy", "lifelines", "plotly", "streamlit", "alembic", "argon2")

PROBE = """
import runpy, sys
sys.argv = {argv!r}
try:
    from registry.cli import main
    main()
except SystemExit:
    pass
finally:
    loaded = sorted(m for m in {not_needed!r} if m in sys.modules)
    print("LOADED:" + ",".join(loaded), file=sys.stderr)
"""


def cpu_seconds(cmd: list[str], repeat: int) -> float:
    """Least CPU (user + system) of `repeat` runs of `cmd`."""
    best = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return best


def loaded_modules(args: list[str]) -> list[str]:
    """Which of NOT_NEEDED the command (run in-process, as the console script runs it) loads."""
    code = PROBE.format(argv=["msreg", *args], not_needed=NOT_NEEDED)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    line = next((x for x in out.stderr.splitlines() if x.startswith("LOADED:")), "LOADED:")
    return [m for m in line.removeprefix("LOADED:").split(",") if m]


def demo_registry(folder: Path, n_patients: int) -> str:
    db = folder / "demo.db"
    subprocess.run([MSREG, "--db", str(db), "init"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([MSREG, "--db", str(db), "demo", "--patients", str(n_patients), "--no-progress"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return str(db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=800)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", help="an existing demo registry (else one is built in a temporary folder)")
    args = parser.parse_args()

    python = [sys.executable, "-c"]
    floor_click = cpu_seconds([*python, "import click"], args.repeat)
    print(f"floor  python -c 'import click'                     {floor_click:6.3f} s CPU")
    for label, cmd in [("msreg --help", ["--help"]), ("msreg survival --help", ["survival", "--help"]),
                       ("msreg export survival --help", ["export", "survival", "--help"]),
                       ("msreg dashboard --help", ["dashboard", "--help"])]:
        cpu = cpu_seconds([MSREG, *cmd], args.repeat)
        extra = loaded_modules(cmd)
        print(f"{label:<50} {cpu:6.3f} s CPU  {cpu / floor_click:4.1f}x click (target <= 4x)"
              + (f"  loads {', '.join(extra)}!" if extra else ""))

    with tempfile.TemporaryDirectory(prefix="msreg-startup-") as tmp:
        db = args.db or demo_registry(Path(tmp), args.patients)
        floor_libs = cpu_seconds([*python, "import pandas, duckdb, pyarrow, sqlalchemy.orm"], args.repeat)
        print(f"floor  python -c 'import pandas, duckdb, pyarrow, sqlalchemy.orm' {floor_libs:6.3f} s CPU")
        out = str(Path(tmp) / "pfs.csv")
        for label, cmd in [
            ("msreg survival pfs --by phenotype", ["--db", db, "survival", "pfs", "--by", "phenotype"]),
            ("msreg survival trm", ["--db", db, "survival", "trm"]),
            ("msreg export survival OUT.csv", ["--db", db, "export", "survival", out]),
        ]:
            cpu = cpu_seconds([MSREG, *cmd], args.repeat)
            extra = loaded_modules(cmd)
            print(f"{label:<50} {cpu:6.3f} s CPU  {cpu / floor_libs:4.1f}x its libraries' import"
                  + (f"  loads {', '.join(extra)} it does not need!" if extra else "  (nothing it does not need)"))
    print(f"({args.patients} demo patients; minimum of {args.repeat} runs; CPU = user + system of the child)")


if __name__ == "__main__":
    main()
