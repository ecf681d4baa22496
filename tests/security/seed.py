"""A small two-centre registry written through the services, for the authorisation tests.

Centre AAA: patient P1 (one record of every kind except death), P2 (no records), P3 (transplant
and death). Centre BBB: patient P1 with a transplant. Centre CCC: empty.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine

from registry import services
from registry.security.access import Actor
from registry.db import session_scope

SEED_ADMIN = Actor("seed-admin", "admin")
D = dt.date

SEED: list[tuple[str, dict[str, Any]]] = [
    ("centres", {"centre_code": "AAA", "name": "Centre A", "country": "GB"}),
    ("centres", {"centre_code": "BBB", "name": "Centre B", "country": "NO"}),
    ("centres", {"centre_code": "CCC", "name": "Centre C", "country": "SE"}),
    ("patients", {"centre_code": "AAA", "patient_code": "P1", "sex": "F", "birth_year": 1980, "ms_onset_date": D(2008, 1, 1)}),
    ("patients", {"centre_code": "AAA", "patient_code": "P2", "sex": "M", "birth_year": 1975}),
    ("patients", {"centre_code": "AAA", "patient_code": "P3", "sex": "M", "birth_year": 1970}),
    ("patients", {"centre_code": "BBB", "patient_code": "P1", "sex": "F", "birth_year": 1990}),
    ("transplants", {"centre_code": "AAA", "patient_code": "P1", "transplant_number": 1, "transplant_date": D(2015, 3, 1), "phenotype": "RRMS", "baseline_edss": 3.0}),
    ("transplants", {"centre_code": "AAA", "patient_code": "P3", "transplant_number": 1, "transplant_date": D(2014, 1, 1), "phenotype": "SPMS"}),
    ("transplants", {"centre_code": "BBB", "patient_code": "P1", "transplant_number": 1, "transplant_date": D(2019, 5, 1), "phenotype": "RRMS"}),
    ("visits", {"centre_code": "AAA", "patient_code": "P1", "visit_date": D(2016, 3, 1), "edss": 3.0}),
    ("relapses", {"centre_code": "AAA", "patient_code": "P1", "onset_date": D(2016, 6, 1), "severity": "MODERATE"}),
    ("mri", {"centre_code": "AAA", "patient_code": "P1", "scan_date": D(2016, 9, 1), "new_t2": 0, "gd_enhancing": 0}),
    ("adverse_events", {"centre_code": "AAA", "patient_code": "P1", "onset_date": D(2015, 3, 20), "category": "INFECTION", "grade": 2}),
    ("deaths", {"centre_code": "AAA", "patient_code": "P3", "death_date": D(2020, 1, 1), "cause": "MS"}),
    ("treatments", {"centre_code": "AAA", "patient_code": "P1", "drug": "NATALIZUMAB", "start_date": D(2012, 1, 1),
                    "stop_date": D(2014, 10, 1), "stop_reason": "AHSCT"}),
]


def seed(engine: Engine) -> None:
    with session_scope(engine) as session:
        for entity, values in SEED:
            services.create(session, SEED_ADMIN, entity, values)
