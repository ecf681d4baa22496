"""Hand-built patients for endpoint tests, described in days since day 0.

A test states only what it is about (`visits={0: 3.0, 200: 4.0}`, `death=(30, "MS")`); the
builder fills the rest with plausible values. The same description becomes either DuckDB
tables (`snapshot()`, fast: logic tests) or registry rows through the ORM (`write(engine)`:
snapshot and CLI tests), so both paths are exercised by the same specifications.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from analytics.snapshot import Snapshot

DAY0 = dt.date(2020, 1, 15)


@dataclass
class PatientSpec:
    code: str
    centre: str = "C1"
    sex: str = "F"
    birth_year: int = 1985
    onset_days: int | None = -3650  # MS onset relative to day 0
    last_contact_days: int | None = None
    day0: dt.date = DAY0
    first_transplant: bool = True  # False: only a later transplant is recorded
    phenotype: str = "RRMS"
    baseline_edss: float | None = 3.0
    relapses_12m: int | None = 2
    gd_lesions_baseline: int | None = 1
    conditioning: str | None = "BEAM_ATG"
    conditioning_intensity: str | None = "INTERMEDIATE"
    visits: Mapping[int, float | None] = field(default_factory=dict)
    relapses: Sequence[int] = ()
    mri: Sequence[tuple[int, int | None, int | None]] = ()  # (day, new_t2, gd_enhancing)
    adverse_events: Sequence[int] = ()
    second_transplant_days: int | None = None
    relapses_24m: int | None = None
    baseline_edss_date_days: int | None = None  # the transplant's baseline_edss_date, days since day 0
    recovery: Mapping[int, str | None] = field(default_factory=dict)  # relapse day -> recovery code
    mri_sites: Mapping[int, tuple[bool | None, bool | None]] = field(default_factory=dict)  # scan day -> (spinal cord, brainstem)
    treatments: Sequence[tuple[str, int, int | None]] = ()  # (drug, start day, stop day or None)
    death: tuple[int, str] | None = None  # (day, cause)
    followup: tuple[int, str] | None = None  # (day, follow-up status: LOST, TRANSFERRED, CONSENT_WITHDRAWN)
    study_id: str = field(default_factory=lambda: secrets.token_hex(8))  # random, as the registry's

    def date(self, days: int) -> dt.date:
        return self.day0 + dt.timedelta(days=days)


class Cohort:
    """A list of `PatientSpec`s, turned into snapshot tables or registry rows."""

    def __init__(self) -> None:
        self.patients: list[PatientSpec] = []

    def add(self, code: str, **kwargs: Any) -> Cohort:
        self.patients.append(PatientSpec(code=code, **kwargs))
        return self

    # -- rows, as plain dicts keyed like the snapshot schema ---------------------------------
    def rows(self) -> dict[str, list[dict[str, Any]]]:
        centres: dict[str, int] = {}
        out: dict[str, list[dict[str, Any]]] = {k: [] for k in (
            "centres", "patients", "transplants", "visits", "relapses", "mri_scans", "adverse_events", "deaths", "treatments")}
        for pid, p in enumerate(self.patients, start=1):
            if p.centre not in centres:
                centres[p.centre] = len(centres) + 1
                out["centres"].append({"id": centres[p.centre], "centre_code": p.centre, "name": f"Centre {p.centre}", "country": "GB"})
            out["patients"].append({
                "id": pid, "centre_id": centres[p.centre], "patient_code": p.code,
                "study_id": p.study_id,
                "sex": p.sex, "birth_year": p.birth_year,
                "ms_onset_date": None if p.onset_days is None else p.date(p.onset_days),
                "ms_diagnosis_date": None if p.onset_days is None else p.date(p.onset_days + 100),
                "last_contact_date": None if p.last_contact_days is None else p.date(p.last_contact_days),
                "followup_status": None if p.followup is None else p.followup[1],
                "followup_status_date": None if p.followup is None else p.date(p.followup[0]),
            })
            transplants = []
            if p.first_transplant:
                transplants.append((1, 0))
            if p.second_transplant_days is not None:
                transplants.append((2, p.second_transplant_days))
            for number, days in transplants:
                out["transplants"].append({
                    "id": len(out["transplants"]) + 1, "patient_id": pid, "transplant_number": number,
                    "transplant_date": p.date(days), "phenotype": p.phenotype,
                    "baseline_edss": p.baseline_edss if number == 1 else None,
                    "relapses_12m": p.relapses_12m, "gd_lesions_baseline": p.gd_lesions_baseline,
                    "relapses_24m": p.relapses_24m if number == 1 else None,
                    "baseline_edss_date": None if p.baseline_edss_date_days is None or number != 1 else p.date(p.baseline_edss_date_days),
                    "conditioning": p.conditioning, "conditioning_intensity": p.conditioning_intensity,
                })
            for days, edss in sorted(p.visits.items()):
                out["visits"].append({"id": len(out["visits"]) + 1, "patient_id": pid, "visit_date": p.date(days), "edss": edss})
            for days in p.relapses:
                out["relapses"].append({"id": len(out["relapses"]) + 1, "patient_id": pid, "onset_date": p.date(days),
                                        "recovery": p.recovery.get(days)})
            for days, new_t2, gd in p.mri:
                out["mri_scans"].append({"id": len(out["mri_scans"]) + 1, "patient_id": pid, "scan_date": p.date(days),
                                         "new_t2": new_t2, "gd_enhancing": gd,
                                         "spinal_cord_involvement": p.mri_sites.get(days, (None, None))[0],
                                         "brainstem_involvement": p.mri_sites.get(days, (None, None))[1]})
            for drug, start, stop in p.treatments:
                out["treatments"].append({"id": len(out["treatments"]) + 1, "patient_id": pid, "drug": drug,
                                          "start_date": p.date(start), "stop_date": None if stop is None else p.date(stop)})
            for days in p.adverse_events:
                out["adverse_events"].append({"id": len(out["adverse_events"]) + 1, "patient_id": pid,
                                              "onset_date": p.date(days), "category": "INFECTION", "grade": 2})
            if p.death is not None:
                out["deaths"].append({"id": len(out["deaths"]) + 1, "patient_id": pid,
                                      "death_date": p.date(p.death[0]), "cause": p.death[1]})
        return out

    def snapshot(self) -> Snapshot:
        return Snapshot.from_tables({name: pd.DataFrame(rows) for name, rows in self.rows().items() if rows})

    def write(self, engine: Engine) -> None:
        """Insert the cohort into a migrated registry through the ORM (no audit rows)."""
        from registry import models
        from registry.db import session_scope

        rows = self.rows()
        with session_scope(engine) as session:
            centres = {r["id"]: models.Centre(centre_code=r["centre_code"], name=r["name"], country=r["country"])
                       for r in rows["centres"]}
            session.add_all(centres.values())
            patients = {}
            for r in rows["patients"]:
                values = {k: v for k, v in r.items() if k not in ("id", "centre_id")}
                patients[r["id"]] = models.Patient(centre=centres[r["centre_id"]], **values)
            session.add_all(patients.values())
            for name, model in (("transplants", models.Transplant), ("visits", models.Visit),
                                ("relapses", models.Relapse), ("mri_scans", models.MriScan),
                                ("adverse_events", models.AdverseEvent), ("deaths", models.Death),
                                ("treatments", models.Treatment)):
                for r in rows[name]:
                    values = {k: v for k, v in r.items() if k not in ("id", "patient_id")}
                    session.add(model(patient=patients[r["patient_id"]], **values))
