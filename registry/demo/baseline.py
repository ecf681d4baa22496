"""Who is transplanted, where and when: the per-patient state at day 0.

Everything is drawn as numpy arrays, one element per patient, so that 100,000 patients take
well under a second. Days are integer day numbers since 1970-01-01 (numpy's datetime64[D]).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from registry import codes
from registry.demo.edss import snap
from registry.demo.centres import CENTRES, INTENSITY_OF_CONDITIONING, OTHER_INTENSITY_MIX
from registry.demo.parameters import CohortParameters

MISSING = -1
YEAR_DAYS = 365.25

# Baseline EDSS at transplant (median 3.5-4 in RRMS, 6.0 in progressive MS; Muraro 2017).
RRMS_BASELINE_EDSS = {0.0: 0.005, 1.0: 0.01, 1.5: 0.03, 2.0: 0.075, 2.5: 0.10, 3.0: 0.13, 3.5: 0.16,
                      4.0: 0.15, 4.5: 0.11, 5.0: 0.08, 5.5: 0.07, 6.0: 0.055, 6.5: 0.035}
PROGRESSIVE_BASELINE_EDSS = {3.5: 0.03, 4.0: 0.06, 4.5: 0.08, 5.0: 0.10, 5.5: 0.13, 6.0: 0.22,
                             6.5: 0.22, 7.0: 0.10, 7.5: 0.06}


def day_number(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


def year_of(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def jan_first(years: np.ndarray) -> np.ndarray:
    return (np.asarray(years) - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)


def choose(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One category per row of a (rows × categories) probability matrix."""
    cumulative = np.cumsum(probabilities, axis=1)
    u = rng.random(len(probabilities))[:, None] * cumulative[:, -1:]
    return np.minimum((u >= cumulative).sum(axis=1), probabilities.shape[1] - 1)


def uniform_days(rng: np.random.Generator, low: int, high: np.ndarray | int, size: int) -> np.ndarray:
    """Whole days in [low, high], inclusive."""
    return np.floor(low + rng.random(size) * (np.asarray(high) - low + 1)).astype(np.int64)


def with_missing(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    return np.where(rng.random(len(values)) < share, MISSING, values)


@dataclass(frozen=True, slots=True)
class Baseline:
    """The patients and their first transplants (arrays of length n)."""

    centre: np.ndarray  # index into CENTRES
    sequence: np.ndarray  # the patient's registration number within the centre (1, 2, …)
    sex: np.ndarray  # index into codes.SEX
    phenotype: np.ndarray  # index into codes.PHENOTYPE
    day0: np.ndarray
    birth_year: np.ndarray
    onset: np.ndarray  # day; MISSING when not recorded
    diagnosis: np.ndarray
    edss: np.ndarray  # the true baseline EDSS
    edss_reported: np.ndarray  # bool: baseline_edss filled in
    edss_date: np.ndarray  # day of the baseline assessment; MISSING when not recorded
    screening: np.ndarray  # day of a pre-transplant visit; MISSING when none
    screening_edss: np.ndarray
    relapses_12m: np.ndarray
    relapses_24m: np.ndarray
    gd_lesions: np.ndarray
    prior_dmt: np.ndarray
    mobilisation: np.ndarray  # indices into the code lists, MISSING when not recorded
    conditioning: np.ndarray
    intensity: np.ndarray
    cd34_selection: np.ndarray  # 1 true, 0 false, MISSING

    @property
    def n(self) -> int:
        return len(self.day0)


def draw_transplant_days(rng: np.random.Generator, centre: np.ndarray, today: int, p: CohortParameters) -> np.ndarray:
    """Transplant dates from each centre's first year to today, activity growing yearly.

    Inverse-CDF sampling of a density ∝ exp(g t) on [start, today], per patient.
    """
    first_years = np.array([max(c.first_year, p.first_year) for c in CENTRES])
    start = np.minimum(jan_first(first_years[centre]), today - 365)
    length = (today - start).astype(float)
    g = p.yearly_growth / YEAR_DAYS
    u = rng.random(len(centre))
    offset = np.log1p(u * np.expm1(g * length)) / g
    return np.minimum(start + np.floor(offset).astype(np.int64), today)


def draw_baseline(rng: np.random.Generator, n: int, today: int, p: CohortParameters) -> Baseline:
    weights = np.array([c.weight for c in CENTRES])
    centre = rng.choice(len(CENTRES), size=n, p=weights / weights.sum())
    day0 = draw_transplant_days(rng, centre, today, p)
    order = np.lexsort((day0, centre))  # rows in registration order: by centre, then date
    centre, day0 = centre[order], day0[order]
    phenotype = rng.choice(3, size=n, p=np.array(p.phenotype_mix) / sum(p.phenotype_mix))
    progressive = phenotype > 0

    u = rng.random(n)
    sex = np.where(u < p.unknown_sex_share, 2, np.where(u < p.unknown_sex_share + p.female_share, 0, 1))

    age = np.clip(np.round(rng.normal(np.array(p.age_mean)[phenotype], p.age_sd)), 18, 65).astype(np.int64)
    birth_year = year_of(day0) - age

    # Disease duration: a median of 6 years in RRMS, 12 in progressive MS; onset after age 12.
    median = np.where(progressive, 12.0, 6.0)
    duration = np.clip(median * np.exp(rng.normal(0, 0.5, n)), 1.0, 40.0)
    latest_onset_span = (day0 - jan_first(birth_year + 12)) / YEAR_DAYS
    too_long = duration > latest_onset_span
    duration = np.where(too_long, latest_onset_span * rng.uniform(0.4, 0.9, n), duration)
    onset = day0 - np.floor(duration * YEAR_DAYS).astype(np.int64)
    lag = np.minimum(rng.exponential(1.0, n), duration - 0.1)
    diagnosis = onset + np.floor(lag * YEAR_DAYS).astype(np.int64)
    onset = with_missing(rng, onset, 0.05)
    diagnosis = with_missing(rng, diagnosis, 0.03)

    edss = _draw_baseline_edss(rng, progressive)
    reported = rng.random(n) >= p.missing_baseline_edss_share
    screening, screening_edss, edss_date = _draw_screening(rng, day0, edss, reported, p)

    rate12 = np.array([1.6, 0.4, 0.05])[phenotype]
    relapses_12m = rng.poisson(rate12)
    relapses_24m = relapses_12m + rng.poisson(rate12 * 0.7)
    no_counts = rng.random(n) < 0.08
    relapses_12m = np.where(no_counts, MISSING, relapses_12m)
    relapses_24m = np.where(no_counts, MISSING, relapses_24m)
    gd_active = rng.random(n) < np.where(progressive, 0.2, 0.45)
    gd_lesions = with_missing(rng, np.where(gd_active, rng.geometric(0.35, n), 0), 0.15)
    at_least_one = (~progressive).astype(np.int64)  # relapsing patients come to AHSCT after failing a DMT
    prior_dmt = with_missing(rng, np.minimum(rng.poisson(np.where(progressive, 1.5, 2.2)) + at_least_one, 9), 0.06)

    mobilisation = with_missing(rng, rng.choice(3, size=n, p=[0.82, 0.13, 0.05]), 0.03)
    conditioning = choose(rng, np.array([c.conditioning for c in CENTRES])[centre])
    intensity = _intensity(rng, conditioning)
    conditioning = with_missing(rng, conditioning, 0.02)
    intensity = with_missing(rng, intensity, 0.04)
    cd34 = rng.random(n)
    cd34_selection = np.where(cd34 < 0.12, 1, np.where(cd34 < 0.90, 0, MISSING))

    return Baseline(
        centre=centre, sequence=_sequence_within_centre(centre, day0), sex=sex, phenotype=phenotype,
        day0=day0, birth_year=birth_year, onset=onset, diagnosis=diagnosis, edss=edss,
        edss_reported=reported, edss_date=edss_date, screening=screening, screening_edss=screening_edss,
        relapses_12m=relapses_12m, relapses_24m=relapses_24m, gd_lesions=gd_lesions, prior_dmt=prior_dmt,
        mobilisation=mobilisation, conditioning=conditioning, intensity=intensity, cd34_selection=cd34_selection,
    )


def _draw_baseline_edss(rng: np.random.Generator, progressive: np.ndarray) -> np.ndarray:
    out = np.empty(len(progressive))
    for mask, table in ((~progressive, RRMS_BASELINE_EDSS), (progressive, PROGRESSIVE_BASELINE_EDSS)):
        values = np.array(list(table))
        probs = np.array(list(table.values()))
        out[mask] = rng.choice(values, size=int(mask.sum()), p=probs / probs.sum())
    return out


def _draw_screening(
    rng: np.random.Generator, day0: np.ndarray, edss: np.ndarray, reported: np.ndarray, p: CohortParameters
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pre-transplant visit, and the date of the baseline assessment.

    With a recorded baseline EDSS, most patients have a screening visit (its date is the
    baseline date); others only a baseline date, or not even that. Without one, half have a
    visit in the 365 days before day 0 (docs/endpoints.md falls back on it), a quarter an older
    visit outside that window (the fallback must not use it), a quarter no visit at all.
    """
    n = len(day0)
    u = rng.random(n)
    recent = day0 - uniform_days(rng, 7, 90, n)
    within_year = day0 - uniform_days(rng, 7, 330, n)
    older = day0 - uniform_days(rng, 400, 800, n)
    screening = np.where(
        reported,
        np.where(u < p.screening_visit_share, recent, MISSING),
        np.where(u < 0.5, within_year, np.where(u < 0.75, older, MISSING)),
    )
    # An older visit shows the lower disability of the year(s) before.
    is_older = ~reported & (u >= 0.5) & (u < 0.75)
    screening_edss = np.where(is_older, snap(edss - 0.5, round_up=False), edss)
    own_date = np.where(rng.random(n) < 0.8, day0 - uniform_days(rng, 0, 45, n), MISSING)
    edss_date = np.where(reported, np.where(screening != MISSING, screening, own_date), MISSING)
    return screening, screening_edss, edss_date


def _intensity(rng: np.random.Generator, conditioning: np.ndarray) -> np.ndarray:
    by_regimen = np.array(
        [codes.CONDITIONING_INTENSITY.index(INTENSITY_OF_CONDITIONING.get(c, "LOW")) for c in codes.CONDITIONING]
    )
    other = rng.choice(3, size=len(conditioning), p=OTHER_INTENSITY_MIX)
    return np.where(conditioning == codes.CONDITIONING.index("OTHER"), other, by_regimen[conditioning])


def _sequence_within_centre(centre: np.ndarray, day0: np.ndarray) -> np.ndarray:
    """Registration numbers 1, 2, … within each centre, in order of transplant."""
    order = np.lexsort((day0, centre))
    sorted_centre = centre[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_centre)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    sequence = np.empty(len(order), dtype=np.int64)
    sequence[order] = np.arange(len(order)) - run_start + 1
    return sequence
