"""The knobs of the synthetic cohort, with the published figures they are calibrated to.

Targets (AHSCT in MS: EBMT long-term series, Muraro et al. JAMA Neurol 2017; Boffa et al.
Neurology 2021; Sormani et al. Neurology 2017 meta-analysis; Burt et al. JAMA 2019):
- transplant-related mortality about 1-3 %, mostly within 100 days, higher in older,
  progressive patients, with high-intensity regimens and in the early era;
- 5-year progression-free survival about 70 % in relapsing-remitting MS and 45-55 % in
  progressive MS; relapse-free survival about 80 % at 5 years; new MRI activity rare after the
  six-month re-baseline scan; EDSS mostly stable or improving in relapsing patients.

The hazards below are not the targets themselves: progression is only *seen* at the next visit
and confirmed six months later, deaths add to PFS, and follow-up is censored. They were tuned
until the registry's own endpoint rules (docs/endpoints.md) give the targets on a generated cohort;
tests/registry/test_demo.py checks that they still do.
"""

from __future__ import annotations

from dataclasses import dataclass

# Index of each phenotype in per-phenotype tuples: codes.PHENOTYPE order (RRMS, SPMS, PPMS).


@dataclass(frozen=True, slots=True)
class CohortParameters:
    """Every rate and share the generator uses. Per-phenotype tuples are (RRMS, SPMS, PPMS)."""

    # Case mix
    phenotype_mix: tuple[float, float, float] = (0.70, 0.22, 0.08)
    female_share: float = 0.66
    unknown_sex_share: float = 0.003
    age_mean: tuple[float, float, float] = (34.0, 42.0, 43.0)
    age_sd: float = 8.0
    first_year: int = 2004
    yearly_growth: float = 0.11  # AHSCT activity for MS grew roughly 10 % a year (EBMT activity survey)

    # Transplant-related mortality: probability per patient, by phenotype, then multiplied
    trm_probability: tuple[float, float, float] = (0.009, 0.028, 0.030)
    trm_early_era_factor: float = 1.8  # transplants before 2010
    trm_high_intensity_factor: float = 1.5
    trm_within_100_days_share: float = 0.85
    # Other deaths: a constant yearly hazard, by phenotype
    other_death_per_year: tuple[float, float, float] = (0.0015, 0.006, 0.008)

    # Confirmed disability worsening: yearly hazard of the onset of sustained worsening
    worsening_per_year: tuple[float, float, float] = (0.083, 0.132, 0.138)
    # Improvement after transplant: share improving, and the share of those improving by the
    # full confirmed-improvement step δ(b) (the rest improve by 0.5)
    improvement_share: tuple[float, float, float] = (0.45, 0.12, 0.08)
    improvement_full_step_share: float = 0.7

    # Relapses after transplant: Weibull time to first relapse (shape < 1: most come early)
    relapse_weibull_shape: float = 0.8
    relapse_weibull_scale_years: tuple[float, float, float] = (40.0, 110.0, 200.0)
    further_relapse_probability: float = 0.35
    further_relapse_mean_years: float = 1.5
    relapse_visit_share: float = 0.6  # relapses seen at an unscheduled visit with an EDSS bump

    # Follow-up
    lost_per_year: float = 0.015
    overdue_share: float = 0.06  # alive patients whose follow-up lapsed more than 15 months ago
    missed_visit_share: float = 0.07
    missing_visit_edss_share: float = 0.04
    screening_visit_share: float = 0.7
    missing_baseline_edss_share: float = 0.07
    second_transplant_share: float = 0.06  # of patients with relapse or worsening before it

    # MRI
    mri_month6_share: float = 0.85
    mri_activity_per_scan: float = 0.015
    mri_activity_early: float = 0.10  # scans up to day 180 (inflammation still settling)
    mri_activity_after_relapse: float = 0.5
    missing_gd_share: float = 0.2


DEFAULT_PARAMETERS = CohortParameters()
