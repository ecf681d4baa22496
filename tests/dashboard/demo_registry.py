"""A registry filled with the demo cohort through the ordinary bundle import (as `msreg demo`),
for the browser test and the benchmark: realistic size and shape, built the way users build it."""

from __future__ import annotations

import datetime as dt
import tempfile

from registry.security.access import cli_actor
from registry.io.bundle import import_bundle, write_bundle
from registry.db import make_engine
from registry.demo import generate_cohort


def fill_with_demo(url: str, n_patients: int, *, seed: int = 20261124, today: dt.date | None = None) -> None:
    """Import a generated demo cohort of `n_patients` into the (migrated, empty) registry at `url`."""
    today = today or dt.date.today()
    bundle = generate_cohort(n_patients, seed=seed, today=today)
    engine = make_engine(url)
    try:
        with tempfile.TemporaryDirectory(prefix="msreg-dash-demo-") as folder:
            write_bundle(bundle, folder)
            result = import_bundle(engine, folder, cli_actor(), today=today)
        if not result.ok:
            raise RuntimeError(f"demo cohort rejected: {result.errors[:3]}")
    finally:
        engine.dispose()
