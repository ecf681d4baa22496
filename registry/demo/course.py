"""What happens after day 0: death, loss to follow-up, relapses, worsening, improvement.

Times are whole days since the patient's first transplant. The course is latent: it becomes
registry data only through visits, scans and reports (followup.py, safety.py), within the
observed follow-up `end`. Deaths after a patient was lost or stopped attending are unknown to
the registry, as in real life.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from registry import codes
from registry.demo.baseline import YEAR_DAYS, Baseline, uniform_days, year_of
from registry.demo.centres import CENTRES
from registry.demo.edss import MAX_RECORDED, worsening_step
from registry.demo.parameters import CohortParameters

NEVER = 10**7  # a day beyond any follow-up
MAX_RELAPSES = 4


@dataclass(frozen=True, slots=True)
class Course:
    end: np.ndarray  # last day of observed follow-up (the death day when the death is known)
    death_known: np.ndarray  # bool
    death_cause: np.ndarray  # index into codes.DEATH_CAUSE (meaningful where death_known)
    overdue: np.ndarray  # bool: attendance lapsed > 15 months before today, alive
    lost: np.ndarray  # bool: lost to follow-up earlier
    worsening_day: np.ndarray  # onset of sustained worsening (NEVER if none)
    worsened_level: np.ndarray  # EDSS level reached at worsening_day
    drift_days: np.ndarray  # after worsening, a further 0.5 step every drift_days
    improvement_day: np.ndarray
    improvement: np.ndarray  # EDSS points gained at improvement_day (0 if none)
    relapse_days: np.ndarray  # (n × MAX_RELAPSES) onset days; NEVER where none or unobserved


TRM = codes.DEATH_CAUSE.index("TRANSPLANT_RELATED")


def draw_course(rng: np.random.Generator, b: Baseline, today: int, p: CohortParameters) -> Course:
    n = b.n
    ph = b.phenotype
    admin_end = today - b.day0

    # Transplant-related deaths: mostly in the first 100 days (aplasia, infections, toxicity).
    risk = np.array(p.trm_probability)[ph]
    risk = risk * np.where(year_of(b.day0) < 2010, p.trm_early_era_factor, 1.0)
    risk = risk * np.where(b.intensity == codes.CONDITIONING_INTENSITY.index("HIGH"), p.trm_high_intensity_factor, 1.0)
    trm = rng.random(n) < risk
    early_day = np.clip(np.ceil(rng.gamma(2.0, 18.0, n)), 1, 100)
    late_day = uniform_days(rng, 101, 365, n)
    trm_day = np.where(rng.random(n) < p.trm_within_100_days_share, early_day, late_day).astype(np.int64)
    other_day = np.ceil(rng.exponential(1.0, n) / np.array(p.other_death_per_year)[ph] * YEAR_DAYS).astype(np.int64)
    death_day = np.where(trm, trm_day, np.maximum(other_day, 1))
    later_cause = rng.choice(
        [codes.DEATH_CAUSE.index(c) for c in ("MS", "OTHER", "UNKNOWN")], size=n, p=[0.4, 0.4, 0.2]
    )
    cause = np.where(trm, TRM, later_cause)

    # Loss to follow-up (rarely before day 100: patients are still under the transplant team),
    # and a lapse of attendance more than 15 months before today (the overdue list).
    gaps = np.array([centre.follow_up_gaps for centre in CENTRES])[b.centre]
    lost_day = 100 + np.ceil(rng.exponential(1.0, n) / (p.lost_per_year * gaps) * YEAR_DAYS).astype(np.int64)
    can_lapse = admin_end > 600
    lapsed = can_lapse & (rng.random(n) < p.overdue_share * gaps)
    lapse_day = np.where(lapsed, admin_end - uniform_days(rng, 470, np.minimum(1100, admin_end - 130), n), NEVER)
    follow_end = np.minimum(np.minimum(admin_end, lost_day), lapse_day)
    death_known = death_day <= follow_end
    end = np.where(death_known, death_day, follow_end)
    overdue = ~death_known & (lapse_day < np.minimum(admin_end, lost_day))
    lost = ~death_known & ~overdue & (lost_day < admin_end)

    # Sustained worsening: onset, the level reached (at least b + δ(b)), slow drift after.
    worsening_day = np.ceil(rng.exponential(1.0, n) / np.array(p.worsening_per_year)[ph] * YEAR_DAYS).astype(np.int64)
    extra = rng.choice([0.0, 0.5, 1.0], size=n, p=[0.6, 0.3, 0.1])
    worsened_level = np.minimum(b.edss + worsening_step(b.edss) + extra, MAX_RECORDED)
    drift_days = uniform_days(rng, int(1.5 * YEAR_DAYS), int(6 * YEAR_DAYS), n)

    # Improvement after the inflammatory activity stops (mostly relapsing patients).
    improves = (rng.random(n) < np.array(p.improvement_share)[ph]) & (b.edss >= 1.5)
    full = rng.random(n) < p.improvement_full_step_share
    amount = np.where(full & (b.edss >= 2.0), worsening_step(b.edss), 0.5)
    improvement = np.where(improves, np.minimum(amount, b.edss - 1.0), 0.0)
    improvement_day = np.where(improves, uniform_days(rng, 90, 900, n), NEVER)

    relapse_days = _draw_relapses(rng, ph, end, p)

    return Course(
        end=end, death_known=death_known, death_cause=cause, overdue=overdue, lost=lost,
        worsening_day=worsening_day, worsened_level=worsened_level, drift_days=drift_days,
        improvement_day=improvement_day, improvement=improvement, relapse_days=relapse_days,
    )


def _draw_relapses(rng: np.random.Generator, phenotype: np.ndarray, end: np.ndarray, p: CohortParameters) -> np.ndarray:
    """Onset days of post-transplant relapses: a Weibull first relapse, then a few more."""
    n = len(phenotype)
    scale = np.array(p.relapse_weibull_scale_years)[phenotype] * YEAR_DAYS
    first = np.ceil(scale * rng.weibull(p.relapse_weibull_shape, n)).astype(np.int64)
    days = np.full((n, MAX_RELAPSES), NEVER, dtype=np.int64)
    days[:, 0] = np.maximum(first, 1)
    for k in range(1, MAX_RELAPSES):
        another = rng.random(n) < p.further_relapse_probability
        gap = 30 + np.ceil(rng.exponential(p.further_relapse_mean_years * YEAR_DAYS, n)).astype(np.int64)
        days[:, k] = np.where(another & (days[:, k - 1] < NEVER), days[:, k - 1] + gap, NEVER)
    return np.where(days <= end[:, None], days, NEVER)


def latent_edss(b: Baseline, c: Course, patient: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The true disability of `patient` on `day` (days since day 0), before measurement noise."""
    base = b.edss[patient]
    level = np.where(day >= c.improvement_day[patient], base - c.improvement[patient], base)
    since = day - c.worsening_day[patient]
    worsened = since >= 0
    drift = 0.5 * np.floor(np.maximum(since, 0) / c.drift_days[patient])
    level = np.where(worsened, c.worsened_level[patient] + drift, level)
    return np.minimum(level, MAX_RECORDED)


def first_activity_day(c: Course) -> np.ndarray:
    """The first post-transplant relapse or worsening onset within follow-up (NEVER if none)."""
    worsening = np.where(c.worsening_day <= c.end, c.worsening_day, NEVER)
    return np.minimum(c.relapse_days[:, 0], worsening)


__all__ = ["Course", "NEVER", "draw_course", "latent_edss", "first_activity_day"]
