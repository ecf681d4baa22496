"""Second transplants: a few patients are transplanted again after renewed activity.

A second transplant follows a post-transplant relapse or the onset of worsening by 4-18 months,
and only while the patient is still followed (at least 30 days before the end of follow-up).
Its baseline EDSS is the patient's disability on that day; relapse counts are taken from the
relapses the registry holds. Endpoints stay anchored on the first transplant (docs/endpoints.md).
"""

from __future__ import annotations

import numpy as np

from registry.demo.baseline import MISSING, Baseline, uniform_days
from registry.demo.course import NEVER, Course, first_activity_day, latent_edss
from registry.demo.edss import snap
from registry.demo.followup import Records
from registry.demo.parameters import CohortParameters


def draw_second_transplants(
    rng: np.random.Generator, b: Baseline, c: Course, relapses: Records, p: CohortParameters
) -> Records:
    activity = first_activity_day(c)
    day = activity + uniform_days(rng, 120, 540, b.n)
    eligible = (activity < NEVER) & (day <= c.end - 30) & (rng.random(b.n) < p.second_transplant_share)
    patient = np.flatnonzero(eligible)
    day = day[patient]
    m = len(patient)
    edss = snap(latent_edss(b, c, patient, day), round_up=False)
    return Records(
        patient=patient,
        day=day,
        values={
            "phenotype": b.phenotype[patient],
            "baseline_edss": edss,
            "baseline_edss_day": day - uniform_days(rng, 0, 30, m),
            "relapses_12m": _relapses_before(relapses, patient, day, 365),
            "relapses_24m": _relapses_before(relapses, patient, day, 730),
            "gd_lesions_baseline": np.full(m, MISSING),
            "prior_dmt_count": np.where(b.prior_dmt[patient] == MISSING, MISSING, b.prior_dmt[patient]),
            "mobilisation": b.mobilisation[patient],
            "conditioning": b.conditioning[patient],
            "conditioning_intensity": b.intensity[patient],
            "cd34_selection": b.cd34_selection[patient],
        },
    )


def _relapses_before(relapses: Records, patient: np.ndarray, day: np.ndarray, window: int) -> np.ndarray:
    """Number of recorded relapses with onset in the `window` days before `day` (per patient)."""
    counts = np.zeros(len(patient), dtype=np.int64)
    for i, (p, d) in enumerate(zip(patient.tolist(), day.tolist(), strict=True)):
        lo, hi = np.searchsorted(relapses.patient, [p, p + 1])
        onsets = relapses.day[lo:hi]
        counts[i] = int(((onsets < d) & (onsets >= d - window)).sum())
    return counts
