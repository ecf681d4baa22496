"""A small, deterministic registry with every kind of row, for the operations tests.

Written through the ORM (plus `registry.security.audit.record` for the trail) rather than the services,
so that backup and migration tests depend only on the schema, not on validation rules that are
still moving. Every clinical table gets rows that reference their patient, so foreign keys,
deletion order and batch-mode table copies are all exercised.
"""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import Engine

from registry import codes

from registry.security import audit
from registry.security.access import Actor
from registry.security.audit import Change
from registry.db import session_scope
from registry.models import AdverseEvent, Centre, Death, MriScan, Patient, Relapse, Transplant, Treatment, User, Visit

ADMIN = Actor(username="ops-test", role="admin")


def populate(engine: Engine, *, n_patients: int = 12, seed: int = 7, prefix: str = "") -> dict[str, int]:
    """Insert centres, patients and all their children, users and audit rows; return counts.

    `prefix` goes before every natural key, so a second call with another prefix adds rows.
    """
    rng = random.Random(seed)
    counts = {"centres": 0, "patients": 0, "audit": 0}
    with session_scope(engine) as s:
        centres = [Centre(centre_code=f"{prefix}C{i}", name=f"Centre {i}", country=("GB", "IT", "SE")[i]) for i in range(3)]
        s.add_all(centres)
        s.flush()
        s.add(User(username=f"{prefix}dm-c0", role="centre", centre_id=centres[0].id, password_hash="x"))
        s.add(User(username=f"{prefix}root", role="admin"))
        changes: list[Change] = []
        for i in range(n_patients):
            centre = centres[i % len(centres)]
            birth = rng.randint(1960, 1995)
            onset = dt.date(birth + 20, rng.randint(1, 12), rng.randint(1, 28))
            tx_date = onset + dt.timedelta(days=rng.randint(1500, 4000))
            p = Patient(
                centre=centre,
                patient_code=f"P{i:04d}",
                study_id=f"{prefix}S{seed:02d}{i:06d}",
                sex=rng.choice(codes.SEX),
                birth_year=birth,
                ms_onset_date=onset,
                ms_diagnosis_date=onset + dt.timedelta(days=90),
                last_contact_date=tx_date + dt.timedelta(days=1500),
            )
            s.add(p)
            s.add(
                Transplant(
                    patient=p,
                    transplant_number=1,
                    transplant_date=tx_date,
                    phenotype=rng.choice(codes.PHENOTYPE),
                    baseline_edss=rng.choice(codes.EDSS_STEPS[2:14]),
                    relapses_12m=rng.randint(0, 3),
                    conditioning=rng.choice(codes.CONDITIONING),
                    cd34_selection=rng.random() < 0.3,
                    neutrophil_engraftment_date=tx_date + dt.timedelta(days=rng.randint(8, 14)),
                    platelet_engraftment_date=tx_date + dt.timedelta(days=rng.randint(9, 20)) if i % 3 else None,
                    hospital_days=rng.randint(14, 40),
                    atg_given=rng.random() < 0.8,
                    cd34_dose=round(rng.uniform(2.0, 9.0), 2),
                )
            )
            s.add(Treatment(patient=p, drug=rng.choice(codes.DMT_DRUG), start_date=onset + dt.timedelta(days=200),
                            stop_date=tx_date - dt.timedelta(days=90), stop_reason="INEFFICACY"))
            if i % 4 == 0:
                s.add(Treatment(patient=p, drug="OCRELIZUMAB", start_date=tx_date + dt.timedelta(days=700)))
            for k in range(1, 5):
                s.add(Visit(patient=p, visit_date=tx_date + dt.timedelta(days=180 * k), edss=rng.choice(codes.EDSS_STEPS)))
            s.add(Relapse(patient=p, onset_date=tx_date + dt.timedelta(days=400), severity="MILD", steroids=True))
            s.add(MriScan(patient=p, scan_date=tx_date + dt.timedelta(days=365), new_t2=rng.randint(0, 2), gd_enhancing=0,
                         t2_lesions_total=rng.randint(5, 60), spinal_cord_involvement=rng.random() < 0.4,
                         brainstem_involvement=None if i % 2 else False))
            s.add(
                AdverseEvent(
                    patient=p,
                    onset_date=tx_date + dt.timedelta(days=10),
                    category=rng.choice(codes.AE_CATEGORY),
                    grade=rng.randint(1, 5),
                    serious=rng.random() < 0.5,
                    description="fever, cultures negative; «naïve» text",
                )
            )
            if i % 5 == 0:
                s.add(Death(patient=p, death_date=tx_date + dt.timedelta(days=1600), cause="OTHER"))
            changes.append(
                Change("INSERT", "patients", {"centre_code": centre.centre_code, "patient_code": p.patient_code}, None, {"sex": p.sex})
            )
        counts["audit"] = audit.record(s, ADMIN, changes, reason="ops test population")
        counts["centres"] = len(centres)
        counts["patients"] = n_patients
    return counts
