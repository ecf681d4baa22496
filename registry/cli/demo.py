"""`msreg demo`: fill an empty registry with the synthetic cohort and demo users.

The cohort goes in through the bundle importer, the registry's ordinary door for bulk data, so
it passes exactly the validation, access check and audit trail that a centre's upload does.
A registry that already holds patients is refused: mixing invented patients into real data is
the one mistake this command must make impossible.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine

# registry.demo.DEFAULT_SEED, repeated so that `msreg --help` does not import numpy (a test
# checks that they agree).
DEFAULT_SEED = 20261124

Bundle = Mapping[str, Sequence[Mapping[str, str]]]


def summary_lines(bundle: Bundle, seed: int) -> list[str]:
    """A few lines describing the cohort: what the user now has to look at."""
    first = [t for t in bundle["transplants"] if t["transplant_number"] == "1"]
    years = sorted(t["transplant_date"][:4] for t in first)
    phenotypes = Counter(t["phenotype"] for t in first)
    countries = {c["country"] for c in bundle["centres"] if c["country"]}
    span = f" ({years[0]}-{years[-1]})" if years else ""
    mix = ", ".join(f"{p} {n:,}" for p, n in sorted(phenotypes.items()))
    return [
        f"demo registry (synthetic patients, seed {seed}):",
        f"  {len(bundle['centres'])} centres in {len(countries)} countries",
        f"  {len(bundle['patients']):,} patients{span}" + (f": {mix}" if mix else ""),
        f"  {len(bundle['transplants']):,} transplants, {len(bundle['visits']):,} visits, "
        f"{len(bundle['relapses']):,} relapses, {len(bundle['mri']):,} MRI scans",
        f"  {len(bundle['adverse_events']):,} adverse events, {len(bundle['deaths']):,} deaths",
    ]


def register(main: click.Group, export: click.Group) -> None:
    """Attach this module's commands to the `msreg` group (and its `export` subgroup)."""
    from registry.cli import CliContext, db_option, pass_cli

    @main.command("demo")
    @click.option("--patients", "n_patients", type=click.IntRange(min=1), default=800, show_default=True,
                  help="Number of synthetic patients.")
    @click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
                  help="Random seed: the same seed on the same day gives the same registry.")
    @click.option("--progress/--no-progress", default=True, show_default=True,
                  help="Progress bar on stderr for large cohorts.")
    @click.option("--logins-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Also keep the demo logins in this file (readable by you only), e.g. for `make demo`.")
    @db_option
    @pass_cli
    def demo(cli: CliContext, n_patients: int, seed: int, progress: bool, logins_file: Path | None) -> None:
        """Fill an EMPTY registry with a realistic synthetic multi-centre cohort and demo users.

        About 12 fictional centres, transplants from 2004 to today, follow-up calibrated to
        published AHSCT-in-MS outcomes. Refused when the registry already holds patients. The
        registry records that it is synthetic, and the dashboard then says so on every page.
        """
        from registry.security.access import cli_actor
        from registry.io.bundle import import_bundle, write_bundle
        from registry.db import make_engine
        from registry.demo import generate_cohort

        today = dt.date.today()
        engine = make_engine(cli.url)
        try:
            _require_empty(engine)
            bundle = generate_cohort(n_patients, seed=seed, today=today)
            with tempfile.TemporaryDirectory(prefix="msreg-demo-") as folder:
                write_bundle(bundle, folder)
                result = import_bundle(engine, folder, cli_actor(), progress=progress, today=today)
            if not result.ok:
                for error in result.errors[:20]:
                    click.echo(str(error), err=True)
                raise click.ClickException(
                    f"the demo cohort was rejected by the importer ({len(result.errors)} error(s)); "
                    "nothing was imported. This is a bug in registry.demo: please report it with the seed."
                )
            _mark_synthetic(engine)
            logins = _demo_users(engine, [c["centre_code"] for c in bundle["centres"]], logins_file)
        finally:
            engine.dispose()
        for line in summary_lines(bundle, seed):
            click.echo(line)
        click.echo(logins)


def _require_empty(engine: Engine) -> None:
    """Refuse (exit 1 with the reason) unless the schema exists and holds no patients."""
    from sqlalchemy import func, inspect, select

    from registry.models import Patient

    if not inspect(engine).has_table(Patient.__tablename__):
        raise click.ClickException("the database has no registry schema: run `msreg init` first")
    with engine.connect() as conn:
        patients = conn.execute(select(func.count()).select_from(Patient)).scalar_one()
    if patients:
        raise click.ClickException(
            f"the registry already holds {patients:,} patient(s): `msreg demo` fills only an empty registry, "
            "so that synthetic patients never mix with real ones. Use a new database (--db) for the demo."
        )


def _mark_synthetic(engine: Engine) -> None:
    """Record in the registry itself that its patients are invented (registry.synthetic)."""
    from registry.security.access import cli_actor
    from registry.db import session_scope
    from registry.synthetic import mark_synthetic

    with session_scope(engine) as session:
        mark_synthetic(session, cli_actor())


def _demo_users(engine: Engine, centre_codes: list[str], logins_file: Path | None = None) -> str:
    """Create the demo accounts and say how to log in, and truthfully where the logins are kept:
    only in this output, or also in `logins_file` (owner-only permissions)."""
    from registry.security.auth import create_demo_users
    from registry.db import session_scope

    try:
        with session_scope(engine) as session:
            logins = create_demo_users(session, centre_codes)
    except Exception as exc:  # noqa: BLE001 - the cohort is in; users are a convenience
        return f"demo users not created ({exc}); add accounts with `msreg user add`"
    rows = []
    for login in logins:
        role = login.role + (f" {login.centre_code}" if login.centre_code else "")
        rows.append(f"  {login.username:<24} {login.password:<28} {role}")
    if logins_file is None:
        kept = ("passwords shown only now and stored nowhere else (the registry keeps only their hashes; "
                "`msreg user reset-password NAME` sets a new one)")
    else:
        _write_private(logins_file, "\n".join(["demo logins of this synthetic registry:", *rows]) + "\n")
        kept = (f"these logins are also kept in {logins_file} (readable by you only; "
                "the registry keeps only the passwords' hashes)")
    return "\n".join([f"log in to the dashboard (`msreg dashboard`) as ({kept}):", *rows])


def _write_private(path: Path, text: str) -> None:
    """Write `text` to a file only its owner can read (it holds passwords)."""
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
