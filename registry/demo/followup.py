"""Visits with EDSS and MRI scans: how the latent course becomes follow-up records.

Visits follow the usual AHSCT schedule (about day 100, month 6, month 12, then every 6-12
months, or denser when asked). EDSS is the latent level plus small measurement noise chosen so
that the confirmation rule of docs/endpoints.md sees exactly the worsening the course contains:
- before worsening, noise never reaches b + δ(b) (above EDSS 5.5, where δ is 0.5, it only goes
  down), so stable patients do not drift into spurious confirmed worsening;
- from the onset of worsening on, every assessment is worsened (noise only adds), so the
  worsening is confirmed at the first visit six months later;
- a relapse is often seen at an unscheduled visit 3-25 days after onset with a transient EDSS
  bump: relapse-affected (< 30 days), so it is never a worsening candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from registry.demo.baseline import MISSING, Baseline, uniform_days
from registry.demo.centres import CENTRES
from registry.demo.course import NEVER, Course, latent_edss
from registry.demo.edss import snap
from registry.demo.parameters import CohortParameters

MILESTONES = ((100, 14), (182, 21), (365, 30))  # (day, ± days)


@dataclass(frozen=True, slots=True)
class Records:
    """Rows of one kind: the patient index, the day since day 0, and value columns."""

    patient: np.ndarray
    day: np.ndarray
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.patient)


def schedule(
    rng: np.random.Generator, end: np.ndarray, first: list[tuple[int, int]], interval: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(patient, day) of planned contacts: fixed milestones, then gaps drawn from `interval`,
    up to each patient's `end`. One matrix of cumulative gaps, masked: no per-patient loop."""
    n = len(end)
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    lo, hi = interval
    horizon = int(max(end.max(), 0))
    last_milestone = first[-1][0] if first else 0
    k_more = max(0, int(np.ceil((horizon - last_milestone) / lo)) + 1)
    days = np.empty((n, len(first) + k_more), dtype=np.int64)
    for k, (day, jitter) in enumerate(first):
        days[:, k] = day + uniform_days(rng, -jitter, jitter, n)
    if k_more:
        start = days[:, len(first) - 1] if first else np.zeros(n, np.int64)
        gaps = np.floor(lo + rng.random((n, k_more)) * (hi - lo + 1)).astype(np.int64)
        days[:, len(first):] = start[:, None] + np.cumsum(gaps, axis=1)
    keep = days <= end[:, None]
    patient = np.broadcast_to(np.arange(n)[:, None], days.shape)[keep]
    return patient, days[keep]


def draw_visits(
    rng: np.random.Generator, b: Baseline, c: Course, interval: tuple[int, int], p: CohortParameters
) -> Records:
    # Scheduled visits, some missed.
    patient, day = schedule(rng, c.end, list(MILESTONES), interval)
    gaps = np.array([centre.follow_up_gaps for centre in CENTRES])[b.centre[patient]]
    attended = rng.random(len(day)) >= p.missed_visit_share * gaps
    patient, day = patient[attended], day[attended]
    edss = _measured(rng, b, c, patient, day)
    edss = np.where(rng.random(len(day)) < p.missing_visit_edss_share, np.nan, edss)

    # Unscheduled visits at relapses, with a transient bump.
    r_patient, r_index = np.nonzero(c.relapse_days < NEVER)
    onset = c.relapse_days[r_patient, r_index]
    r_day = onset + uniform_days(rng, 3, 25, len(onset))
    seen = (rng.random(len(onset)) < p.relapse_visit_share) & (r_day <= c.end[r_patient])
    r_patient, r_day = r_patient[seen], r_day[seen]
    bump = rng.choice([0.5, 1.0, 1.5], size=len(r_day), p=[0.3, 0.55, 0.15])
    r_edss = snap(latent_edss(b, c, r_patient, r_day) + bump, round_up=True)

    # Pre-transplant visits (screening; for some, an older one outside the baseline window).
    s_patient = np.flatnonzero(b.screening != MISSING)
    s_day = b.screening[s_patient] - b.day0[s_patient]
    s_edss = b.screening_edss[s_patient]

    return _unique_sorted(
        [(s_patient, s_day, {"edss": s_edss}), (r_patient, r_day, {"edss": r_edss}), (patient, day, {"edss": edss})]
    )


def _measured(rng: np.random.Generator, b: Baseline, c: Course, patient: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Latent EDSS plus noise in half steps, shaped so that only real worsening is confirmed."""
    level = latent_edss(b, c, patient, day)
    worsened = day >= c.worsening_day[patient]
    u = rng.random(len(day))
    noise = np.where(
        worsened,
        np.where(u < 0.25, 0.5, 0.0),
        np.where(u < 0.10, -0.5, np.where((u < 0.22) & (level <= 5.5), 0.5, 0.0)),
    )
    return snap(level + noise, round_up=noise > 0)


def draw_mri(rng: np.random.Generator, b: Baseline, c: Course, p: CohortParameters) -> Records:
    """Scans: pre-transplant for some, the month-6 re-baseline, then every 10-24 months, plus
    scans prompted by relapses. New activity is rare after month 6 except around relapses."""
    n = b.n
    with_month6 = rng.random(n) < p.mri_month6_share
    idx = np.flatnonzero(with_month6)
    patient, day = schedule(rng, c.end[idx], [(175, 25)], (300, 730))
    patient = idx[patient]
    active = rng.random(len(day)) < np.where(day <= 180, p.mri_activity_early, p.mri_activity_per_scan)

    r_patient, r_index = np.nonzero(c.relapse_days < NEVER)
    r_day = c.relapse_days[r_patient, r_index] + uniform_days(rng, 2, 30, len(r_patient))
    scanned = (rng.random(len(r_day)) < 0.5) & (r_day <= c.end[r_patient])
    r_patient, r_day = r_patient[scanned], r_day[scanned]
    r_active = rng.random(len(r_day)) < p.mri_activity_after_relapse

    pre = np.flatnonzero(rng.random(n) < 0.6)
    pre_day = -uniform_days(rng, 10, 120, len(pre))
    pre_gd = b.gd_lesions[pre]

    def counts(active: np.ndarray) -> dict[str, np.ndarray]:
        m = len(active)
        new_t2 = np.where(active, 1 + rng.poisson(1.0, m), 0)
        gd = np.where(active & (rng.random(m) < 0.6), 1 + rng.poisson(0.5, m), 0)
        return {
            "new_t2": np.where(rng.random(m) < 0.03, MISSING, new_t2),
            "gd_enhancing": np.where(rng.random(m) < p.missing_gd_share, MISSING, gd),
        }

    return _unique_sorted(
        [
            (r_patient, r_day, counts(r_active)),
            (patient, day, counts(active)),
            (pre, pre_day, {"new_t2": np.full(len(pre), MISSING), "gd_enhancing": pre_gd}),
        ]
    )


def _unique_sorted(parts: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]) -> Records:
    """Concatenate record sources, keep the first per (patient, day) (sources are given in order
    of priority), sort by patient then day."""
    patient = np.concatenate([part[0] for part in parts]).astype(np.int64)
    day = np.concatenate([part[1] for part in parts]).astype(np.int64)
    names = parts[0][2].keys()
    values = {k: np.concatenate([part[2][k] for part in parts]) for k in names}
    key = patient * (1 << 24) + (day + (1 << 12))
    _, first = np.unique(key, return_index=True)  # np.unique sorts by key: patient, then day
    return Records(patient=patient[first], day=day[first], values={k: v[first] for k, v in values.items()})


def draw_relapses(rng: np.random.Generator, b: Baseline, c: Course) -> Records:
    """Post-transplant relapses of the course, and for some relapsing patients the last relapse
    before transplant (the registry records relapse history where centres send it)."""
    patient, index = np.nonzero(c.relapse_days < NEVER)
    day = c.relapse_days[patient, index]
    had_recent = (b.relapses_12m > 0) & (rng.random(b.n) < 0.4)
    pre = np.flatnonzero(had_recent)
    pre_day = -uniform_days(rng, 30, 365, len(pre))
    after_onset = (b.onset[pre] == MISSING) | (b.day0[pre] + pre_day >= b.onset[pre])
    pre, pre_day = pre[after_onset], pre_day[after_onset]

    def details(m: int) -> dict[str, np.ndarray]:
        severity = rng.choice(3, size=m, p=[0.3, 0.5, 0.2])
        steroids = np.where(rng.random(m) < 0.65, 1, 0)
        recovery = rng.choice(4, size=m, p=[0.55, 0.3, 0.05, 0.1])
        return {
            "severity": np.where(rng.random(m) < 0.1, MISSING, severity),
            "steroids": np.where(rng.random(m) < 0.1, MISSING, steroids),
            "recovery": np.where(rng.random(m) < 0.05, MISSING, recovery),
        }

    return _unique_sorted([(patient, day, details(len(day))), (pre, pre_day, details(len(pre)))])
