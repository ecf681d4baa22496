"""`generate_cohort`: a realistic synthetic multi-centre AHSCT-in-MS registry, as bundle rows.

The cohort is drawn in stages, each a pure function of a numpy Generator and the stage before:
baseline (who, where, when) → course (death, loss, relapses, worsening) → records (visits,
scans, relapses, adverse events, deaths, second transplants) → bundle rows. The same seed and
`today` give the same rows on any machine; nothing reads the clock when `today` is given.

Decisions where the contract leaves room:
- EDSS is written as `registry.validation.format_edss` writes it ('0', '3.5'), so exporting
  the imported demo gives back the generated rows byte for byte; no visit records EDSS 10
  (death from MS is recorded as a death).
- A death after the patient was lost to or stopped attending follow-up is unknown to the
  registry, as in real life; so is anything else after the end of observed follow-up.
- Overdue patients (an alive patient's follow-up lapsed more than 15 months before today) and
  patients lost earlier are distinct mechanisms; the data-quality report sees both as overdue.
- `last_contact_date` is never filled for the dead (their death date is the last contact).
- Second transplants follow renewed activity; endpoints stay anchored on the first.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from registry import codes
from registry.demo import rows
from registry.demo.baseline import MISSING, Baseline, day_number, draw_baseline
from registry.demo.centres import CENTRES
from registry.demo.course import Course, draw_course
from registry.demo.followup import Records, draw_mri, draw_relapses, draw_visits
from registry.demo.parameters import DEFAULT_PARAMETERS, CohortParameters
from registry.demo.safety import DESCRIPTIONS, deaths, draw_adverse_events
from registry.demo.transplants import draw_second_transplants

DEFAULT_SEED = 20261124
DEFAULT_VISIT_INTERVAL_DAYS = (182, 365)
EARLIEST_TODAY = dt.date(2005, 1, 1)

Bundle = dict[str, list[dict[str, str]]]


def generate_cohort(
    n_patients: int = 800,
    seed: int = DEFAULT_SEED,
    today: dt.date | None = None,
    *,
    visit_interval_days: tuple[int, int] = DEFAULT_VISIT_INTERVAL_DAYS,
    parameters: CohortParameters = DEFAULT_PARAMETERS,
) -> Bundle:
    """A synthetic registry of `n_patients` transplanted from 2004 to `today`, in bundle form.

    Returns {entity: rows} for the eight bundle files (centres, patients, transplants, visits,
    relapses, mri, adverse_events, deaths); every value is a string exactly as in a CSV file
    ('' for missing). Every row passes the rules of docs/bundle-format.md.

    `visit_interval_days` is the range of gaps between follow-up visits after month 12: the
    default (182, 365) is the usual 6-12 monthly follow-up; (30, 60) gives about 20 visits per
    patient for load tests. `today` defaults to the real date (the only use of the clock).

    :raises ValueError: for a negative patient count, an interval that is not 1 <= lo <= hi,
        or a `today` before 2005 (transplants start in 2004).
    """
    if n_patients < 0:
        raise ValueError(f"n_patients must be >= 0, got {n_patients}")
    lo, hi = visit_interval_days
    if not 1 <= lo <= hi:
        raise ValueError(f"visit_interval_days must be (lo, hi) with 1 <= lo <= hi, got {visit_interval_days}")
    today = today or dt.date.today()
    if today < EARLIEST_TODAY:
        raise ValueError(f"today must be {EARLIEST_TODAY} or later (transplants start in 2004), got {today}")

    rng = np.random.default_rng(seed)
    t = day_number(today)
    b = draw_baseline(rng, n_patients, t, parameters)
    c = draw_course(rng, b, t, parameters)
    visits = draw_visits(rng, b, c, (lo, hi), parameters)
    relapses = draw_relapses(rng, b, c)
    mri = draw_mri(rng, b, c, parameters)
    adverse = draw_adverse_events(rng, b, c)
    second = draw_second_transplants(rng, b, c, relapses, parameters)
    lc = _last_contact(rng, b, c)
    return _bundle(b, c, t, lc, visits, relapses, mri, adverse, second)


def _last_contact(rng: np.random.Generator, b: Baseline, c: Course) -> np.ndarray:
    """`last_contact_date` (absolute day or MISSING): often filled for patients still followed
    (a telephone contact or letter, up to 200 days before the end of follow-up), sometimes for
    those who stopped attending (their last contact), never for the dead (the death date is
    their last contact)."""
    n = b.n
    u = rng.random(n)
    followed = ~c.death_known & ~c.lost & ~c.overdue
    back = np.floor(rng.random(n) * 201).astype(np.int64)
    end_day = b.day0 + c.end
    return np.where(
        followed & (u < 0.6),
        np.maximum(end_day - back, b.day0),
        np.where((c.lost | c.overdue) & (u < 0.3), end_day, MISSING),
    )


def _bundle(
    b: Baseline, c: Course, today: int, last_contact: np.ndarray,
    visits: Records, relapses: Records, mri: Records, adverse: Records, second: Records,
) -> Bundle:
    history = np.r_[b.onset, b.diagnosis]
    first_day = int(min(history[history != MISSING].min(initial=today), b.day0.min(initial=today) - 1000))
    date = rows.DateStrings(first_day, today)
    centre_code = np.asarray([centre.code for centre in CENTRES], dtype=object)[b.centre]
    width = max(4, len(str(int(b.sequence.max(initial=0)))))
    patient_code = np.asarray([f"P{s:0{width}d}" for s in b.sequence.tolist()], dtype=object)

    def keyed(r: Records) -> dict[str, rows.Column]:
        return {"centre_code": centre_code[r.patient], "patient_code": patient_code[r.patient]}

    def on(r: Records) -> rows.Column:
        return date(b.day0[r.patient] + r.day)

    n = b.n
    first = {
        "centre_code": centre_code,
        "patient_code": patient_code,
        "transplant_number": rows.constant("1", n),
        "transplant_date": date(b.day0),
        "phenotype": rows.codes(b.phenotype, codes.PHENOTYPE),
        "baseline_edss": rows.edss(np.where(b.edss_reported, b.edss, np.nan)),
        "baseline_edss_date": date(b.edss_date),
        "relapses_12m": rows.counts(b.relapses_12m),
        "relapses_24m": rows.counts(b.relapses_24m),
        "gd_lesions_baseline": rows.counts(b.gd_lesions),
        "prior_dmt_count": rows.counts(b.prior_dmt),
        "mobilisation": rows.codes(b.mobilisation, codes.MOBILISATION),
        "conditioning": rows.codes(b.conditioning, codes.CONDITIONING),
        "conditioning_intensity": rows.codes(b.intensity, codes.CONDITIONING_INTENSITY),
        "cd34_selection": rows.booleans(b.cd34_selection),
    }
    s = second.values
    again = {
        **keyed(second),
        "transplant_number": rows.constant("2", len(second)),
        "transplant_date": on(second),
        "phenotype": rows.codes(s["phenotype"], codes.PHENOTYPE),
        "baseline_edss": rows.edss(s["baseline_edss"]),
        "baseline_edss_date": date(b.day0[second.patient] + s["baseline_edss_day"]),
        **{k: rows.counts(s[k]) for k in ("relapses_12m", "relapses_24m", "gd_lesions_baseline", "prior_dmt_count")},
        "mobilisation": rows.codes(s["mobilisation"], codes.MOBILISATION),
        "conditioning": rows.codes(s["conditioning"], codes.CONDITIONING),
        "conditioning_intensity": rows.codes(s["conditioning_intensity"], codes.CONDITIONING_INTENSITY),
        "cd34_selection": rows.booleans(s["cd34_selection"]),
    }
    transplant_order = np.argsort(np.r_[np.arange(n) * 2, second.patient * 2 + 1], kind="stable")
    transplants = {k: np.concatenate([first[k], again[k]])[transplant_order] for k in first}

    dead = deaths(c)
    a, r, m = adverse.values, relapses.values, mri.values
    return {
        "centres": [{"centre_code": x.code, "name": x.name, "country": x.country} for x in CENTRES],
        "patients": rows.to_rows({
            "centre_code": centre_code,
            "patient_code": patient_code,
            "sex": rows.codes(b.sex, codes.SEX),
            "birth_year": rows.counts(b.birth_year),
            "ms_onset_date": date(b.onset),
            "ms_diagnosis_date": date(b.diagnosis),
            "last_contact_date": date(last_contact),
        }),
        "transplants": rows.to_rows(transplants),
        "visits": rows.to_rows({**keyed(visits), "visit_date": on(visits), "edss": rows.edss(visits.values["edss"])}),
        "relapses": rows.to_rows({
            **keyed(relapses),
            "onset_date": on(relapses),
            "severity": rows.codes(r["severity"], codes.RELAPSE_SEVERITY),
            "steroids": rows.booleans(r["steroids"]),
            "recovery": rows.codes(r["recovery"], codes.RELAPSE_RECOVERY),
        }),
        "mri": rows.to_rows({
            **keyed(mri),
            "scan_date": on(mri),
            "new_t2": rows.counts(m["new_t2"]),
            "gd_enhancing": rows.counts(m["gd_enhancing"]),
        }),
        "adverse_events": rows.to_rows({
            **keyed(adverse),
            "onset_date": on(adverse),
            "category": rows.codes(a["category"], codes.AE_CATEGORY),
            "grade": rows.counts(a["grade"]),
            "serious": rows.booleans(a["serious"]),
            "description": rows.codes(a["description"], DESCRIPTIONS),
        }),
        "deaths": rows.to_rows({
            **keyed(dead),
            "death_date": on(dead),
            "cause": rows.codes(dead.values["cause"], codes.DEATH_CAUSE),
        }),
    }
