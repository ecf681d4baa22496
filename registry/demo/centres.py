"""The demo registry's transplant centres: fictional names, real countries, realistic habits.

Centres differ the way real AHSCT centres do, because the safety and outcome pages compare each
centre with the registry as a whole and need something to show: programmes started in different
years, they are of different sizes, and each favours a conditioning regimen (the Nordic and UK
programmes mostly cyclophosphamide + ATG, the Italian ones BEAM + ATG, a few busulfan-based).
Every name is invented; any resemblance to a real unit is coincidental.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry import codes


@dataclass(frozen=True, slots=True)
class DemoCentre:
    """One centre: its bundle row plus the habits the generator draws from.

    `weight` is its relative share of transplants; `first_year` the year its MS programme
    started (no transplant before it); `conditioning` the probabilities of each regimen of
    `codes.CONDITIONING`, in that order; `follow_up_gaps` multiplies the cohort's rates of
    missed visits, lapsed and lost follow-up (below 1: a tightly run long-term clinic; above
    1: patients referred from far away), so the data-quality page has centres to tell apart.
    """

    code: str
    name: str
    country: str
    weight: float
    first_year: int
    conditioning: tuple[float, float, float, float, float, float]
    follow_up_gaps: float = 1.0


# codes.CONDITIONING order: BEAM_ATG, CY_ATG, CY_ATG_RTX, BU_CY_ATG, FLU_CY_ATG, OTHER
CENTRES: tuple[DemoCentre, ...] = (
    DemoCentre("UK-SHF", "Sheaf Valley Neuro-Haematology Unit, Sheffield", "GB", 0.16, 2004, (0.02, 0.90, 0.03, 0.00, 0.03, 0.02), 0.6),
    DemoCentre("UK-LDN", "Thames Riverside Cell Therapy Centre, London", "GB", 0.10, 2006, (0.05, 0.85, 0.05, 0.00, 0.03, 0.02)),
    DemoCentre("IT-FLO", "Ospedale San Miniato al Monte, Firenze", "IT", 0.12, 2004, (0.85, 0.08, 0.00, 0.04, 0.00, 0.03), 0.8),
    DemoCentre("IT-GEN", "Istituto Clinico Lanterna, Genova", "IT", 0.08, 2004, (0.80, 0.10, 0.00, 0.06, 0.00, 0.04)),
    DemoCentre("SE-UPP", "Fyrisån University Hospital, Uppsala", "SE", 0.11, 2004, (0.05, 0.85, 0.06, 0.00, 0.02, 0.02), 0.6),
    DemoCentre("NO-BGO", "Vestland Neuroimmunology Centre, Bergen", "NO", 0.06, 2015, (0.00, 0.95, 0.03, 0.00, 0.00, 0.02)),
    DemoCentre("DE-HAM", "Elbufer Klinikum Hamburg", "DE", 0.07, 2008, (0.35, 0.50, 0.05, 0.05, 0.03, 0.02)),
    DemoCentre("NL-AMS", "Amstelveld Medisch Centrum, Amsterdam", "NL", 0.05, 2012, (0.20, 0.70, 0.05, 0.00, 0.03, 0.02)),
    DemoCentre("ES-BCN", "Hospital del Turó, Barcelona", "ES", 0.06, 2007, (0.45, 0.45, 0.00, 0.05, 0.03, 0.02), 1.5),
    DemoCentre("US-CHI", "Lakeshore Cellular Therapy Program, Chicago", "US", 0.09, 2004, (0.00, 0.70, 0.25, 0.00, 0.02, 0.03), 1.3),
    DemoCentre("CA-OTT", "Rideau Valley Blood and Marrow Program, Ottawa", "CA", 0.04, 2004, (0.00, 0.10, 0.00, 0.85, 0.00, 0.05)),
    DemoCentre("BR-RAO", "Hospital das Palmeiras, Ribeirão Preto", "BR", 0.06, 2004, (0.02, 0.88, 0.00, 0.00, 0.05, 0.05), 1.8),
)

# Intensity follows the regimen (EBMT 2019 recommendations): BEAM and Cy200 + ATG are
# intermediate-intensity (lymphoablative), busulfan-based regimens high, fludarabine-based low.
# `OTHER` regimens are drawn from this mix instead.
INTENSITY_OF_CONDITIONING: dict[str, str] = {
    "BEAM_ATG": "INTERMEDIATE",
    "CY_ATG": "INTERMEDIATE",
    "CY_ATG_RTX": "INTERMEDIATE",
    "BU_CY_ATG": "HIGH",
    "FLU_CY_ATG": "LOW",
}
OTHER_INTENSITY_MIX: tuple[float, float, float] = (0.3, 0.4, 0.3)  # LOW, INTERMEDIATE, HIGH


def _check() -> None:
    """Fail at import, not at generation, if the table drifts from the code lists."""
    assert all(len(c.conditioning) == len(codes.CONDITIONING) for c in CENTRES)
    assert all(abs(sum(c.conditioning) - 1.0) < 1e-9 for c in CENTRES)
    assert len({c.code for c in CENTRES}) == len(CENTRES)
    assert set(INTENSITY_OF_CONDITIONING) | {"OTHER"} == set(codes.CONDITIONING)


_check()
