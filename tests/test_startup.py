"""`msreg --help` and every `msreg COMMAND --help` start light: none of the heavy libraries is
imported (each command imports what it needs inside its function), and the survival commands
load only what they compute with. Checked in a fresh interpreter, by its `sys.modules`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from registry.cli import main

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("scipy", "lifelines", "plotly", "pandas", "numpy", "duckdb", "pyarrow", "streamlit", "sqlalchemy",
         "alembic", "argon2", "psycopg")
NOT_FOR_SURVIVAL = ("scipy", "lifelines", "plotly", "streamlit", "alembic", "argon2")

PROBE = """
import json, sys
sys.argv = ["msreg", *json.loads(sys.argv[1])]
try:
    from registry.cli import main
    main()
except SystemExit:
    pass
print("\\nMODULES=" + json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def loaded(args: list[str]) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    line = next(x for x in out.stdout.splitlines() if x.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES=")))


def _commands(cmd: click.Command, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*prefix, name))


@pytest.mark.parametrize("command", sorted(_commands(main)), ids=lambda c: " ".join(c) or "msreg")
def test_help_imports_nothing_heavy(command: tuple[str, ...]) -> None:
    heavy = loaded([*command, "--help"]) & set(HEAVY)
    assert not heavy, f"`msreg {' '.join(command)} --help` imports {sorted(heavy)}"


@pytest.mark.parametrize(
    "args",
    [["survival", "pfs", "--by", "phenotype"], ["survival", "trm"], ["quality"]],
    ids=lambda a: " ".join(a),
)
def test_survival_commands_load_only_what_they_compute_with(sqlite_url: str, args: list[str]) -> None:
    modules = loaded(["--db", sqlite_url, *args])
    assert {"pandas", "duckdb"} <= modules  # it did compute (and the probe sees heavy imports)
    assert not modules & set(NOT_FOR_SURVIVAL), sorted(modules & set(NOT_FOR_SURVIVAL))


def test_survival_export_of_a_populated_registry_loads_no_statistics_library(sqlite_url: str, tmp_path: Path) -> None:
    """The export describes its cohort with a median follow-up (reverse Kaplan–Meier): that is a
    product-limit estimate, not a reason to import lifelines and scipy (1.5 CPU s)."""
    from registry.db import make_engine
    from tests.analytics.endpoint_cohort import Cohort

    engine = make_engine(sqlite_url)
    cohort = Cohort()
    for i in range(8):
        cohort.add(f"P{i}", centre="C1", visits={100: 3.0, 400: 3.5}, last_contact_days=500 + 50 * i,
                   death=(300, "MS") if i == 0 else None)
    cohort.write(engine)
    engine.dispose()
    out = tmp_path / "survival.csv"
    modules = loaded(["--db", sqlite_url, "export", "survival", str(out)])
    assert out.exists() and "median follow-up" in out.with_suffix(".json").read_text()
    assert not modules & set(NOT_FOR_SURVIVAL), sorted(modules & set(NOT_FOR_SURVIVAL))
