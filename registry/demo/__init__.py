"""The synthetic demo cohort: `generate_cohort(...)` gives a whole registry in bundle form.

Used by `msreg demo` (through the bundle importer, so the demo data passes the same validation
as real uploads), by tests that need a realistic registry and by benchmarks that need a large
one. See cohort.py for the entry point and parameters.py for the calibration targets.
"""

from registry.demo.cohort import DEFAULT_SEED, generate_cohort
from registry.demo.parameters import DEFAULT_PARAMETERS, CohortParameters

__all__ = ["generate_cohort", "DEFAULT_SEED", "CohortParameters", "DEFAULT_PARAMETERS"]
