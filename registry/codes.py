"""Code lists of the bundle format (docs/bundle-format.md), in one place.

The models turn each list into a named CHECK constraint, validation checks imported values
against the same lists, and the dashboard offers them in its forms: one source of truth, so a
new conditioning regimen is added here and nowhere else.
"""

from __future__ import annotations

from decimal import Decimal

SEX = ("F", "M", "U")
PHENOTYPE = ("RRMS", "SPMS", "PPMS")
MOBILISATION = ("CY_GCSF", "GCSF", "OTHER")
CONDITIONING = ("BEAM_ATG", "CY_ATG", "CY_ATG_RTX", "BU_CY_ATG", "FLU_CY_ATG", "OTHER")
CONDITIONING_INTENSITY = ("LOW", "INTERMEDIATE", "HIGH")
RELAPSE_SEVERITY = ("MILD", "MODERATE", "SEVERE")
RELAPSE_RECOVERY = ("COMPLETE", "PARTIAL", "NONE", "UNKNOWN")
AE_CATEGORY = (
    "INFECTION",
    "VIRAL_REACTIVATION",
    "FEBRILE_NEUTROPENIA",
    "ENGRAFTMENT_SYNDROME",
    "SECONDARY_AUTOIMMUNITY",
    "MALIGNANCY",
    "ORGAN_TOXICITY",
    "OTHER",
)
DEATH_CAUSE = ("TRANSPLANT_RELATED", "MS", "OTHER", "UNKNOWN")
AE_GRADES = (1, 2, 3, 4, 5)

# EDSS is an ordinal scale in half steps from 1.0; 0 is the only value below 1.0 (no 0.5).
EDSS_STEPS: tuple[float, ...] = (0.0,) + tuple(x / 2 for x in range(2, 21))
EDSS_STEP_SET = frozenset(Decimal(str(x)) for x in EDSS_STEPS)

MIN_YEAR = 1900


def is_edss_step(value: float | Decimal) -> bool:
    """True for 0, 1.0, 1.5, … 9.5, 10: the only values a neurologist can record."""
    try:
        return Decimal(str(value)) in EDSS_STEP_SET
    except ArithmeticError:
        return False
