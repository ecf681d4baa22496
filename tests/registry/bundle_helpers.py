"""A small valid bundle and helpers to write, break, import and snapshot bundles in tests."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from registry.security.access import Actor
from registry.io.bundle import export_bundle, write_bundle
from registry.models import AuditEntry

ADMIN = Actor("importer", "admin")
TODAY = dt.date(2026, 11, 24)

Rows = list[dict[str, str]]
Bundle = dict[str, Rows]

# Two centres; P1 has two transplants and every kind of follow-up; U1 has died.
BASE: Bundle = {
    "centres": [
        {"centre_code": "OSL", "name": "Oslo, Rikshospitalet", "country": "NO"},
        {"centre_code": "UPP", "name": "Uppsala", "country": "SE"},
    ],
    "patients": [
        {"centre_code": "OSL", "patient_code": "P1", "sex": "F", "birth_year": "1980", "ms_onset_date": "2005-01-01", "ms_diagnosis_date": "2006-06-01", "last_contact_date": "2022-01-01"},
        {"centre_code": "OSL", "patient_code": "P2", "sex": "M", "birth_year": "1975", "ms_onset_date": "", "ms_diagnosis_date": "", "last_contact_date": ""},
        {"centre_code": "UPP", "patient_code": "U1", "sex": "U", "birth_year": "1990", "ms_onset_date": "", "ms_diagnosis_date": "2012-03-04", "last_contact_date": "2020-12-01"},
    ],
    "transplants": [
        {"centre_code": "OSL", "patient_code": "P1", "transplant_number": "1", "transplant_date": "2015-01-01", "phenotype": "RRMS", "baseline_edss": "3.5", "baseline_edss_date": "2014-12-01", "relapses_12m": "1", "relapses_24m": "2", "gd_lesions_baseline": "3", "prior_dmt_count": "2", "mobilisation": "CY_GCSF", "conditioning": "CY_ATG", "conditioning_intensity": "INTERMEDIATE", "cd34_selection": "false"},
        {"centre_code": "OSL", "patient_code": "P1", "transplant_number": "2", "transplant_date": "2018-01-01", "phenotype": "SPMS", "baseline_edss": "", "baseline_edss_date": "", "relapses_12m": "", "relapses_24m": "", "gd_lesions_baseline": "", "prior_dmt_count": "", "mobilisation": "", "conditioning": "", "conditioning_intensity": "", "cd34_selection": ""},
        {"centre_code": "UPP", "patient_code": "U1", "transplant_number": "1", "transplant_date": "2019-05-05", "phenotype": "PPMS", "baseline_edss": "6.0", "baseline_edss_date": "", "relapses_12m": "0", "relapses_24m": "0", "gd_lesions_baseline": "", "prior_dmt_count": "", "mobilisation": "GCSF", "conditioning": "BEAM_ATG", "conditioning_intensity": "HIGH", "cd34_selection": "true"},
    ],
    "visits": [
        {"centre_code": "OSL", "patient_code": "P1", "visit_date": "2016-01-01", "edss": "3.0"},
        {"centre_code": "OSL", "patient_code": "P1", "visit_date": "2017-01-01", "edss": "0"},
        {"centre_code": "UPP", "patient_code": "U1", "visit_date": "2020-01-01", "edss": "10"},
    ],
    "relapses": [
        {"centre_code": "OSL", "patient_code": "P1", "onset_date": "2016-06-01", "severity": "MILD", "steroids": "true", "recovery": "COMPLETE"},
    ],
    "mri": [
        {"centre_code": "OSL", "patient_code": "P1", "scan_date": "2016-02-01", "new_t2": "0", "gd_enhancing": "1"},
    ],
    "adverse_events": [
        {"centre_code": "OSL", "patient_code": "P1", "onset_date": "2015-01-10", "category": "INFECTION", "grade": "3", "serious": "true", "description": "fever, \"treated\""},
    ],
    "deaths": [
        {"centre_code": "UPP", "patient_code": "U1", "death_date": "2021-01-01", "cause": "MS"},
    ],
}


def base() -> Bundle:
    return copy.deepcopy(BASE)


def write(bundle: Bundle, folder: Path) -> Path:
    """Write text rows as bundle files (only the given files, header from the first row's keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    for entity, rows in bundle.items():
        if rows:
            header = list(rows[0])
            lines = [",".join(header)] + [",".join(_quote(r.get(h, "")) for h in header) for r in rows]
            (folder / f"{entity}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        else:
            write_bundle({entity: []}, folder)
    return folder


def _quote(v: str) -> str:
    if any(c in v for c in ',"\n'):
        return '"' + v.replace('"', '""') + '"'
    return v


def snapshot(engine: Engine, folder: Path) -> dict[str, bytes]:
    """The registry as exported bundle bytes, plus the number of audit rows."""
    export_bundle(engine, folder)
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    with Session(engine) as s:
        files["audit rows"] = str(s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()).encode()
    return files
