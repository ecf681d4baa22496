"""Adverse events and deaths.

Early toxicity follows the aplasia (febrile neutropenia, engraftment syndrome, organ toxicity
in the first weeks; infections and viral reactivation, CMV and EBV above all, in the first
months); secondary autoimmunity (thyroid disease, immune thrombocytopenia) comes months to years
later, malignancy rarely and late. Grades are CTCAE 1-5 and `serious` agrees with grade >= 3
(missing for a few). Every transplant-related death has its fatal (grade 5) event on the day of
death, which is how safety committees see it. A patient has at most one event per day (the
first drawn wins, the fatal one before all): stricter than the bundle key (patient, onset,
category), and simpler to keep unique.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from registry import codes
from registry.demo.baseline import MISSING, Baseline, uniform_days
from registry.demo.course import TRM, Course
from registry.demo.followup import Records, _unique_sorted


@dataclass(frozen=True, slots=True)
class EventKind:
    category: str
    probability: float
    first_day: int
    last_day: int
    grades: tuple[float, float, float, float]  # probabilities of grades 1-4
    descriptions: tuple[str, ...]


EVENT_KINDS: tuple[EventKind, ...] = (
    EventKind("FEBRILE_NEUTROPENIA", 0.55, 3, 14, (0.0, 0.0, 0.8, 0.2), ("Febrile neutropenia during aplasia",)),
    EventKind("ENGRAFTMENT_SYNDROME", 0.07, 7, 16, (0.0, 0.55, 0.4, 0.05), ("Engraftment syndrome: fever and rash",)),
    EventKind("ORGAN_TOXICITY", 0.12, 1, 30, (0.2, 0.45, 0.3, 0.05),
              ("Oral mucositis", "Hepatotoxicity", "Cardiotoxicity", "Acute kidney injury")),
    EventKind("INFECTION", 0.22, 1, 100, (0.05, 0.5, 0.35, 0.1),
              ("Pneumonia", "Urinary tract infection", "Central line infection", "Bacteraemia",
               "Clostridioides difficile colitis")),
    EventKind("INFECTION", 0.10, 101, 730, (0.1, 0.6, 0.25, 0.05),
              ("Pneumonia", "Urinary tract infection", "Cellulitis", "Sinusitis")),
    EventKind("VIRAL_REACTIVATION", 0.20, 14, 120, (0.3, 0.45, 0.2, 0.05),
              ("CMV reactivation", "EBV reactivation", "Herpes zoster", "HHV-6 reactivation", "BK virus cystitis")),
    EventKind("SECONDARY_AUTOIMMUNITY", 0.08, 180, 1800, (0.05, 0.7, 0.22, 0.03),
              ("Autoimmune thyroiditis", "Graves disease", "Immune thrombocytopenia",
               "Autoimmune haemolytic anaemia", "Psoriasis")),
    EventKind("MALIGNANCY", 0.012, 365, 3650, (0.0, 0.2, 0.6, 0.2),
              ("Myelodysplastic syndrome", "Basal cell carcinoma", "Breast cancer", "Thyroid cancer")),
    EventKind("OTHER", 0.06, 1, 365, (0.3, 0.5, 0.2, 0.0),
              ("Serum sickness after ATG", "Alopecia", "Fatigue", "Amenorrhoea")),
)
FATAL: tuple[tuple[str, float, str], ...] = (
    ("INFECTION", 0.55, "Fatal sepsis"),
    ("ORGAN_TOXICITY", 0.2, "Multi-organ failure"),
    ("VIRAL_REACTIVATION", 0.1, "EBV-associated lymphoproliferative disorder"),
    ("OTHER", 0.15, "Fatal complication of transplant"),
)
DESCRIPTIONS: tuple[str, ...] = tuple(dict.fromkeys(
    [d for kind in EVENT_KINDS for d in kind.descriptions] + [f[2] for f in FATAL]
))


def draw_adverse_events(rng: np.random.Generator, b: Baseline, c: Course) -> Records:
    n = b.n
    parts = [_fatal_events(rng, c)]
    for kind in EVENT_KINDS:
        patient = np.flatnonzero(rng.random(n) < kind.probability)
        m = len(patient)
        day = uniform_days(rng, kind.first_day, kind.last_day, m)
        keep = day <= c.end[patient]
        patient, day = patient[keep], day[keep]
        m = len(patient)
        grade = 1 + rng.choice(4, size=m, p=kind.grades)
        described = [DESCRIPTIONS.index(d) for d in kind.descriptions]
        description = np.asarray(described)[rng.integers(0, len(described), m)]
        parts.append((patient, day, _columns(rng, kind.category, grade, description)))
    return _unique_sorted(parts)


def _fatal_events(rng: np.random.Generator, c: Course) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    patient = np.flatnonzero(c.death_known & (c.death_cause == TRM))
    m = len(patient)
    which = rng.choice(len(FATAL), size=m, p=[f[1] for f in FATAL])
    category = np.array([codes.AE_CATEGORY.index(f[0]) for f in FATAL])[which]
    description = np.array([DESCRIPTIONS.index(f[2]) for f in FATAL])[which]
    return patient, c.end[patient], {
        "category": category,
        "grade": np.full(m, 5),
        "serious": np.ones(m, dtype=np.int64),
        "description": description,
    }


def _columns(rng: np.random.Generator, category: str, grade: np.ndarray, description: np.ndarray) -> dict[str, np.ndarray]:
    m = len(grade)
    serious = np.where(rng.random(m) < 0.04, MISSING, (grade >= 3).astype(np.int64))
    return {
        "category": np.full(m, codes.AE_CATEGORY.index(category)),
        "grade": grade,
        "serious": serious,
        "description": np.where(rng.random(m) < 0.25, MISSING, description),
    }


def deaths(c: Course) -> Records:
    patient = np.flatnonzero(c.death_known)
    return Records(patient=patient, day=c.end[patient], values={"cause": c.death_cause[patient]})
