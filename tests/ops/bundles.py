"""Valid bundles of any size, as rows of text, for the crash and fuzz tests.

Deterministic (seeded) and deliberately plain: every row satisfies docs/bundle-format.md with
margin (dates well inside the allowed ranges and in clinical order), so that a rejection in a
test is caused by the test's own damage, never by the generator. Size is linear in
`n_patients` (about 16 rows each), which is what the crash test needs to make an import last.
"""

from __future__ import annotations

import datetime as dt
import random

from registry.validation import ENTITIES

LAST_DATE = dt.date(2025, 6, 30)  # every generated date is on or before this (never "in the future")


def make_bundle(n_patients: int, *, seed: int = 1, centres: int = 3, prefix: str = "") -> dict[str, list[dict[str, str]]]:
    """Rows (text cells, all columns) of a valid bundle with `n_patients` patients."""
    rng = random.Random(seed)
    rows: dict[str, list[dict[str, str]]] = {e: [] for e in ENTITIES}
    codes = [f"{prefix}K{i}" for i in range(centres)]
    for i, code in enumerate(codes):
        rows["centres"].append({"centre_code": code, "name": f"Hôpital {i} «test»", "country": ("FR", "NO", "IT")[i % 3]})
    for i in range(n_patients):
        centre = codes[i % centres]
        patient = f"P{i:06d}"
        birth = rng.randint(1960, 1990)
        onset = dt.date(birth + 18, rng.randint(1, 12), rng.randint(1, 28))
        diagnosis = onset + dt.timedelta(days=rng.randint(30, 400))
        tx = diagnosis + dt.timedelta(days=rng.randint(700, 2500))
        tx = min(tx, dt.date(2019, 12, 31))
        visits = [tx + dt.timedelta(days=182 * k) for k in range(1, 11)]
        last = visits[-1]
        ref = {"centre_code": centre, "patient_code": patient}
        rows["patients"].append(
            ref
            | {
                "sex": rng.choice("FM"),
                "birth_year": str(birth),
                "ms_onset_date": onset.isoformat(),
                "ms_diagnosis_date": diagnosis.isoformat(),
                "last_contact_date": last.isoformat(),
            }
        )
        rows["transplants"].append(
            ref
            | {
                "transplant_number": "1",
                "transplant_date": tx.isoformat(),
                "phenotype": rng.choice(("RRMS", "SPMS", "PPMS")),
                "baseline_edss": rng.choice(("2.0", "3.5", "6.0")),
                "baseline_edss_date": (tx - dt.timedelta(days=30)).isoformat(),
                "relapses_12m": str(rng.randint(0, 3)),
                "relapses_24m": str(rng.randint(3, 5)),
                "gd_lesions_baseline": str(rng.randint(0, 4)),
                "prior_dmt_count": str(rng.randint(1, 4)),
                "mobilisation": "CY_GCSF",
                "conditioning": rng.choice(("BEAM_ATG", "CY_ATG")),
                "conditioning_intensity": "INTERMEDIATE",
                "cd34_selection": rng.choice(("true", "false")),
            }
        )
        for d in visits:
            rows["visits"].append(ref | {"visit_date": d.isoformat(), "edss": rng.choice(("0", "1.0", "2.5", "4.0", "10"))})
        rows["relapses"].append(
            ref | {"onset_date": visits[2].isoformat(), "severity": "MILD", "steroids": "true", "recovery": "COMPLETE"}
        )
        for d in (visits[1], visits[5]):
            rows["mri"].append(ref | {"scan_date": d.isoformat(), "new_t2": str(rng.randint(0, 2)), "gd_enhancing": "0"})
        rows["adverse_events"].append(
            ref
            | {
                "onset_date": (tx + dt.timedelta(days=9)).isoformat(),
                "category": "FEBRILE_NEUTROPENIA",
                "grade": str(rng.randint(1, 4)),
                "serious": "false",
                "description": 'fièvre 38,5 °C, "cultures" negative',
            }
        )
        if i % 20 == 7:
            rows["deaths"].append(ref | {"death_date": (last + dt.timedelta(days=40)).isoformat(), "cause": "OTHER"})
    assert all(d <= LAST_DATE.isoformat() for e in rows.values() for r in e for c, d in r.items() if c.endswith("date"))
    return rows


def row_count(rows: dict[str, list[dict[str, str]]]) -> int:
    return sum(len(v) for v in rows.values())
