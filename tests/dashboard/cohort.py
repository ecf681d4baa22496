"""A small, deterministic multi-centre registry for the dashboard tests, written with the ORM.

Why not the demo generator: these tests must describe the dashboard's behaviour on data whose
shape they control (a centre with three patients, deaths early and late, missing baselines),
and must not change when the demo's realism is tuned.
"""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import Engine

from registry import models
from registry.db import session_scope

CENTRES = (("OSL", "Oslo", "NO", 30), ("SHF", "Sheffield", "GB", 25), ("UPP", "Uppsala", "SE", 20), ("TNY", "Tiny", "IT", 3))
TODAY = dt.date(2026, 6, 30)


def build_registry(engine: Engine, *, seed: int = 7) -> dict[str, int]:
    """Insert the cohort; returns counts per table."""
    rng = random.Random(seed)
    counts = dict.fromkeys(("patients", "visits", "relapses", "mri", "aes", "deaths"), 0)
    with session_scope(engine) as s:
        for code, name, country, n in CENTRES:
            centre = models.Centre(centre_code=code, name=name, country=country)
            s.add(centre)
            for i in range(n):
                day0 = dt.date(2012, 1, 1) + dt.timedelta(days=rng.randrange(0, 12 * 365))
                phenotype = rng.choice(("RRMS", "RRMS", "RRMS", "SPMS", "PPMS"))
                p = models.Patient(
                    centre=centre, patient_code=f"{code}-{i:03d}", study_id=f"S{code}{i:04d}{rng.randrange(10**6):06d}",
                    sex=rng.choice("FFM"), birth_year=day0.year - rng.randrange(20, 56),
                    ms_onset_date=day0 - dt.timedelta(days=rng.randrange(400, 6000)),
                    last_contact_date=None,
                )
                b = rng.choice((2.0, 3.0, 3.5, 4.0, 5.5, 6.0, 6.5)) if rng.random() > 0.1 else None
                s.add(models.Transplant(
                    patient=p, transplant_number=1, transplant_date=day0, phenotype=phenotype, baseline_edss=b,
                    relapses_12m=rng.choice((0, 1, 1, 2, 3)), gd_lesions_baseline=rng.choice((0, 0, 1, 4)),
                    conditioning=rng.choice(("BEAM_ATG", "CY_ATG", "CY_ATG")),
                    conditioning_intensity=rng.choice(("INTERMEDIATE", "HIGH", "LOW")),
                ))
                counts["patients"] += 1
                end = min(TODAY, day0 + dt.timedelta(days=rng.randrange(200, 3000)))
                died = rng.random() < 0.08
                death_day = None
                if died:
                    death_day = day0 + dt.timedelta(days=rng.choice((20, 60, 90, 400, 1500)))
                    death_day = min(death_day, TODAY)
                    end = death_day
                edss = b if b is not None else 3.0
                if b is None:  # baseline from a pre-transplant visit for some, none for others
                    if rng.random() < 0.5:
                        s.add(models.Visit(patient=p, visit_date=day0 - dt.timedelta(days=30), edss=3.0))
                        counts["visits"] += 1
                d = day0 + dt.timedelta(days=182)
                while d < end:
                    edss = min(9.5, max(0.0, edss + rng.choice((-0.5, 0, 0, 0, 0.5, 1.0))))
                    if edss == 0.5:
                        edss = 1.0
                    s.add(models.Visit(patient=p, visit_date=d, edss=edss))
                    counts["visits"] += 1
                    if rng.random() < 0.08:
                        s.add(models.Relapse(patient=p, onset_date=d - dt.timedelta(days=40), severity="MILD"))
                        counts["relapses"] += 1
                    if rng.random() < 0.5:
                        s.add(models.MriScan(patient=p, scan_date=d + dt.timedelta(days=3), new_t2=rng.choice((0, 0, 0, 1)),
                                             gd_enhancing=rng.choice((0, 0, 0, 0, 1))))
                        counts["mri"] += 1
                    d += dt.timedelta(days=182)
                if rng.random() < 0.5:
                    s.add(models.AdverseEvent(patient=p, onset_date=day0 + dt.timedelta(days=rng.choice((5, 12, 40))),
                                              category=rng.choice(("INFECTION", "FEBRILE_NEUTROPENIA", "VIRAL_REACTIVATION")),
                                              grade=rng.choice((2, 3, 3, 4)), serious=rng.random() < 0.6))
                    counts["aes"] += 1
                if died:
                    cause = "TRANSPLANT_RELATED" if (death_day - day0).days < 200 else rng.choice(("MS", "OTHER"))
                    s.add(models.Death(patient=p, death_date=death_day, cause=cause))
                    counts["deaths"] += 1
                else:
                    p.last_contact_date = end
    return counts
