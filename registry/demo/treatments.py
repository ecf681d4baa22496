"""DMT histories, transplant haematology and MRI lesion sites of the synthetic cohort.

Drawn after everything else, from a generator of their own (seeded from the cohort's seed), so
that adding them left every earlier row of a given seed unchanged, and the calibration of the
existing outcomes with it.

What is drawn, and the published experience it follows (docs/demo-cohort.md gives the sources):
- Before transplant: `prior_dmt_count` periods where the count is recorded (0-3 otherwise), in
  sequence between diagnosis and a wash-out of 1-6 months before day 0: platform drugs first,
  high-efficacy drugs last (the usual escalation before AHSCT). Earlier periods stop mostly for
  inefficacy or intolerance; the last one for inefficacy or with the decision to transplant
  (`AHSCT`).
- After transplant: a DMT is restarted mainly after renewed disease activity (a relapse, or an
  active scan after the six-month re-baseline): 65 % of such patients start one 2 weeks to 6
  months later; 2 % of the others start one without recorded activity.
- Haematology: neutrophil engraftment around day 9-12 (later after BEAM than after
  cyclophosphamide), platelets a day or two later or not recorded, 2-4 weeks in hospital, ATG
  with the ATG regimens, a CD34+ dose of about 5 x 10^6/kg. Nothing after a death or after the
  end of observed follow-up.
- Pre-transplant scans: total T2 lesion count and spinal cord / brainstem involvement for most.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from registry import codes
from registry.demo.baseline import MISSING, Baseline, uniform_days
from registry.demo.course import Course
from registry.demo.followup import Records

PLATFORM = ("INTERFERON_BETA", "GLATIRAMER", "TERIFLUNOMIDE", "DIMETHYL_FUMARATE", "FINGOLIMOD")
HIGH_EFFICACY = ("NATALIZUMAB", "OCRELIZUMAB", "ALEMTUZUMAB", "CLADRIBINE", "RITUXIMAB", "OFATUMUMAB", "MITOXANTRONE")
# Year from which each drug is used for MS in Europe (approval; rituximab off-label): a period
# never uses a drug before it existed.
FIRST_YEAR = {
    "INTERFERON_BETA": 1993, "GLATIRAMER": 1996, "MITOXANTRONE": 1998, "NATALIZUMAB": 2006, "RITUXIMAB": 2008,
    "FINGOLIMOD": 2011, "TERIFLUNOMIDE": 2013, "DIMETHYL_FUMARATE": 2014, "ALEMTUZUMAB": 2013,
    "OCRELIZUMAB": 2018, "CLADRIBINE": 2017, "OFATUMUMAB": 2021,
}
EPOCH_YEAR = 1970  # day numbers count from 1970-01-01


def _available(pool: tuple[str, ...], day_number: int) -> list[str]:
    year = EPOCH_YEAR + int(day_number / 365.25)
    return [d for d in pool if FIRST_YEAR[d] <= year]
AFTER_TRANSPLANT = ("OCRELIZUMAB", "RITUXIMAB", "NATALIZUMAB", "OFATUMUMAB", "CLADRIBINE")
EARLIER_STOP = ("INEFFICACY", "INTOLERANCE", "SAFETY", "PATIENT_CHOICE", "PREGNANCY", "OTHER")
EARLIER_STOP_P = (0.55, 0.25, 0.08, 0.05, 0.05, 0.02)
LAST_STOP = ("AHSCT", "INEFFICACY", "SAFETY", "INTOLERANCE")
LAST_STOP_P = (0.5, 0.4, 0.05, 0.05)
RESTART_AFTER_ACTIVITY = 0.65
RESTART_WITHOUT_ACTIVITY = 0.02
ATG_REGIMENS = frozenset(i for i, c in enumerate(codes.CONDITIONING) if c.endswith("ATG") or "_ATG_" in c)
BEAM = codes.CONDITIONING.index("BEAM_ATG")


@dataclass(frozen=True, slots=True)
class TreatmentRows:
    """Treatment periods: patient index, drug code, start and stop as days since day 0."""

    patient: list[int]
    drug: list[str]
    start: list[int]
    stop: list[int]  # MISSING: ongoing
    reason: list[str]  # "" when not recorded


def draw_treatments(rng: np.random.Generator, b: Baseline, c: Course, relapses: Records, mri: Records) -> TreatmentRows:
    n = b.n
    count = np.where(b.prior_dmt == MISSING, rng.integers(0, 4, n), b.prior_dmt)
    washout = uniform_days(rng, 30, 180, n)
    first_day = np.where(b.diagnosis != MISSING, b.diagnosis, np.where(b.onset != MISSING, b.onset + 180, b.day0 - 2200))
    window = (b.day0 - washout) - first_day  # days available before transplant
    count = np.minimum(count, np.maximum(window // 120, 0))

    activity = np.full(n, np.iinfo(np.int64).max)
    post = relapses.day > 0
    np.minimum.at(activity, relapses.patient[post], relapses.day[post])
    active_scan = (mri.day > 180) & ((mri.values["new_t2"] > 0) | (mri.values["gd_enhancing"] > 0))
    np.minimum.at(activity, mri.patient[active_scan], mri.day[active_scan])

    # Random numbers drawn in bulk (one row per patient, one column per period): the loop below
    # only looks them up, so 100,000 patients take a second, not many.
    width = int(count.max(initial=0))
    u = rng.random((n, max(width, 1), 5))  # start jitter, stop jitter, drug, reason, reason missing
    escalate = rng.random((n, 2))
    day0 = b.day0.tolist()
    earlier_cum = np.cumsum(EARLIER_STOP_P).tolist()
    last_cum = np.cumsum(LAST_STOP_P).tolist()
    out = TreatmentRows([], [], [], [], [])
    for i in np.flatnonzero(count > 0).tolist():
        k = int(count[i])
        start0 = int(first_day[i]) - day0[i]
        length = int(window[i]) / k
        high = min(k, 1 + int(escalate[i, 1] < 0.5)) if escalate[i, 0] < 0.8 else 0
        used: set[str] = set()
        for j in range(k):
            r = u[i, j]
            start = start0 + int(j * length + r[0] * length * 0.1)
            when = day0[i] + start
            pool = [d for d in _available(HIGH_EFFICACY if j >= k - high else PLATFORM, when) if d not in used]
            pool = pool or [d for d in _available(PLATFORM + HIGH_EFFICACY, when) if d not in used] or ["OTHER"]
            drug = pool[min(int(r[2] * len(pool)), len(pool) - 1)]
            used.add(drug)
            last = j == k - 1
            stop = -int(washout[i]) if last else start0 + int((j + 1) * length - r[1] * length * 0.15) - 1
            names, cum = (LAST_STOP, last_cum) if last else (EARLIER_STOP, earlier_cum)
            reason = names[min(bisect.bisect_right(cum, r[3] * cum[-1]), len(names) - 1)]
            out.patient.append(i)
            out.drug.append(drug)
            out.start.append(start)
            out.stop.append(max(stop, start))
            out.reason.append(reason if r[4] > 0.05 else "")

    # After transplant: restarts after renewed activity, and a few without it (vectorised).
    end = c.end.astype(np.int64)
    active = activity <= end
    restart = np.where(active, rng.random(n) < RESTART_AFTER_ACTIVITY, (end > 365) & (rng.random(n) < RESTART_WITHOUT_ACTIVITY))
    day = np.where(active, np.where(active, activity, 0) + rng.integers(14, 183, n),
                   365 + np.floor(rng.random(n) * np.maximum(end - 364, 1)).astype(np.int64))
    restart &= (day > 0) & (day <= end)
    stopped = (rng.random(n) < 0.3) & (day + 90 <= end)
    stop_day = day + 90 + np.floor(rng.random(n) * np.maximum(end - day - 89, 1)).astype(np.int64)
    drug_u, reason_u = rng.random(n), rng.integers(0, 3, n)
    for i in np.flatnonzero(restart).tolist():
        pool = _available(AFTER_TRANSPLANT, day0[i] + int(day[i])) or ["MITOXANTRONE"]
        out.patient.append(i)
        out.drug.append(pool[min(int(drug_u[i] * len(pool)), len(pool) - 1)])
        out.start.append(int(day[i]))
        out.stop.append(int(stop_day[i]) if stopped[i] else MISSING)
        out.reason.append(("INEFFICACY", "INTOLERANCE", "PATIENT_CHOICE")[int(reason_u[i])] if stopped[i] else "")
    return out


@dataclass(frozen=True, slots=True)
class Haematology:
    neutrophil_day: np.ndarray  # days since day 0, MISSING when not recorded or not reached
    platelet_day: np.ndarray
    hospital_days: np.ndarray
    atg: np.ndarray  # 1/0/MISSING
    cd34_dose: np.ndarray  # float, NaN when not recorded


def draw_haematology(rng: np.random.Generator, b: Baseline, c: Course) -> Haematology:
    n = b.n
    beam = b.conditioning == BEAM
    neutrophil = np.clip(np.round(rng.normal(np.where(beam, 11.5, 10.0), 1.2, n)), 7, 18).astype(np.int64)
    platelet = np.clip(neutrophil + np.round(rng.normal(1.5, 2.0, n)), 5, 30).astype(np.int64)
    reached = neutrophil <= c.end  # not after a death or after observed follow-up
    neutrophil_day = np.where(reached & (rng.random(n) > 0.08), neutrophil, MISSING)
    platelet_day = np.where((platelet <= c.end) & (rng.random(n) > 0.2), platelet, MISSING)
    stay = np.clip(np.round(neutrophil + rng.normal(np.where(beam, 12, 8), 4, n)), 10, 60).astype(np.int64)
    hospital = np.where((rng.random(n) > 0.1) & (stay <= c.end), stay, MISSING)
    with_atg = np.isin(b.conditioning, list(ATG_REGIMENS))
    atg = np.where(b.conditioning == MISSING, np.where(rng.random(n) < 0.5, MISSING, 1), np.where(with_atg, 1, (rng.random(n) < 0.3).astype(np.int64)))
    dose = np.round(np.exp(rng.normal(np.log(5.0), 0.35, n)), 2)
    dose = np.where(rng.random(n) < 0.1, np.nan, dose)
    return Haematology(neutrophil_day, platelet_day, hospital, atg.astype(np.int64), dose)


def draw_lesion_sites(rng: np.random.Generator, mri: Records) -> dict[str, np.ndarray]:
    """T2 lesion total and spinal cord / brainstem involvement, recorded for most scans before
    transplant (the work-up scan) and for a few after."""
    m = len(mri)
    pre = mri.day <= 0
    recorded = np.where(pre, rng.random(m) < 0.8, rng.random(m) < 0.15)
    t2 = np.where(recorded, np.round(np.exp(rng.normal(np.log(25), 0.6, m))).astype(np.int64), MISSING)
    spinal = np.where(recorded, (rng.random(m) < 0.4).astype(np.int64), MISSING)
    brainstem = np.where(recorded & (rng.random(m) < 0.9), (rng.random(m) < 0.3).astype(np.int64), MISSING)
    return {"t2_lesions_total": t2, "spinal_cord_involvement": spinal, "brainstem_involvement": brainstem}


def draw_relapse_history(rng: np.random.Generator, b: Baseline, relapses: Records) -> Records:
    """One more recorded pre-transplant relapse (60-700 days before day 0, after onset) for half
    of the patients whose relapse counts say they had one and who have no relapse record before
    day 0 yet, with its recovery: incomplete recovery (F2) is then seen as often as work-up
    letters report it, about one relapse in three."""
    has_pre = np.zeros(b.n, dtype=bool)
    has_pre[relapses.patient[relapses.day <= 0]] = True
    candidates = np.flatnonzero((b.relapses_24m > 0) & ~has_pre & (rng.random(b.n) < 0.5))
    day = -uniform_days(rng, 60, 700, len(candidates))
    after_onset = (b.onset[candidates] == MISSING) | (b.day0[candidates] + day > b.onset[candidates])
    candidates, day = candidates[after_onset], day[after_onset]
    m = len(candidates)
    recovery = rng.choice(4, size=m, p=[0.5, 0.35, 0.07, 0.08])
    return Records(
        patient=candidates,
        day=day,
        values={
            "severity": rng.choice(3, size=m, p=[0.25, 0.5, 0.25]),
            "steroids": np.where(rng.random(m) < 0.7, 1, 0),
            "recovery": np.where(rng.random(m) < 0.05, MISSING, recovery),
        },
    )


def merge(a: Records, extra: Records) -> Records:
    """Two record sets of one kind, sorted by patient then day (no (patient, day) in both)."""
    patient = np.concatenate([a.patient, extra.patient]).astype(np.int64)
    day = np.concatenate([a.day, extra.day]).astype(np.int64)
    order = np.lexsort((day, patient))
    values = {k: np.concatenate([a.values[k], extra.values[k]])[order] for k in a.values}
    return Records(patient=patient[order], day=day[order], values=values)
