"""What leaves the registry for research (`msreg export survival`) identifies no-one: random
study ids, no patient codes, no calendar dates, ages top-coded at 90, no spreadsheet formulas.

One demo registry (plus a patient transplanted at 95 at a centre whose code a spreadsheet would
run as a formula) is exported to CSV and Parquet, and every cell of the files and the sidecar is
scanned: the default (k-anonymous) export, and the administrators' full-detail export, which
shows ages and centre codes as they are (k-anonymity: tests/security/test_k_anonymous_export.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from registry import services
from registry.security.access import Actor
from registry.cli import main
from registry.db import make_engine, session_scope
from registry.models import Centre, Patient

ADMIN = Actor("adm", "admin")
EXPORT_COLUMNS = (
    "study_id, centre_code, sex, age_at_transplant, transplant_year, disease_duration_years, phenotype, "
    "baseline_edss, relapses_12m, gd_lesions_baseline, conditioning, conditioning_intensity, os_days, os_event, "
    "rfs_days, rfs_event, pfs_days, pfs_event, cdi_days, cdi_event, neda_days, neda_event, trm_days, trm_status, "
    "dmt_free_days, dmt_free_event, tf_neda_days, tf_neda_event, aggressive_factors"
).split(", ")
DATE_PATTERNS = {
    "ISO date": re.compile(r"(?<!\d)(1[89]|20)\d{2}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?!\d)"),
    "day/month/year": re.compile(r"(?<!\d)\d{1,2}[/.]\d{1,2}[/.](\d{4}|\d{2})(?!\d)"),
    "YYYYMMDD": re.compile(r"(?<![0-9A-Za-z])(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?![0-9A-Za-z])"),
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
HOSTILE_CENTRE = "@SUM(1+1)"


def _msreg(url: str, *args: str) -> str:
    result = CliRunner().invoke(main, ["--db", url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("export")
    shutil.copyfile(sqlite_template, folder / "registry.db")
    url = f"sqlite:///{folder / 'registry.db'}"
    _msreg(url, "demo", "--patients", "80", "--no-progress")
    engine = make_engine(url)
    with session_scope(engine) as s:
        services.create(s, ADMIN, "centres", {"centre_code": HOSTILE_CENTRE, "name": "Old centre"})
        services.create(s, ADMIN, "patients", {"centre_code": HOSTILE_CENTRE, "patient_code": "OLD-95", "sex": "F", "birth_year": 1920})
        services.create(
            s, ADMIN, "transplants",
            {"centre_code": HOSTILE_CENTRE, "patient_code": "OLD-95", "transplant_number": 1, "transplant_date": dt.date(2015, 6, 1), "phenotype": "SPMS"},
        )
    with session_scope(engine) as s:
        codes = set(s.execute(select(Patient.patient_code)).scalars())
        study_ids = set(s.execute(select(Patient.study_id)).scalars())
        centre_codes = set(s.execute(select(Centre.centre_code)).scalars())
    engine.dispose()
    _msreg(url, "export", "survival", str(folder / "out.csv"))
    _msreg(url, "export", "survival", str(folder / "out.parquet"))
    _msreg(url, "export", "survival", str(folder / "again.csv"))
    _msreg(url, "export", "survival", str(folder / "full.csv"), "--full-detail", "--reason", "test of the full export")
    with (folder / "out.csv").open(encoding="utf-8", newline="") as fh:
        csv_rows = list(csv.reader(fh))
    with (folder / "again.csv").open(encoding="utf-8", newline="") as fh:
        again_rows = list(csv.reader(fh))
    with (folder / "full.csv").open(encoding="utf-8", newline="") as fh:
        full_rows = list(csv.reader(fh))
    parquet = pq.read_table(folder / "out.parquet")
    return {
        "codes": codes,
        "study_ids": study_ids,
        "centre_codes": centre_codes,
        "csv_rows": csv_rows,
        "again_rows": again_rows,
        "full_rows": full_rows,
        "csv_text": (folder / "out.csv").read_text(encoding="utf-8"),
        "csv_sidecar": json.loads((folder / "out.json").read_text(encoding="utf-8")),
        "parquet": parquet,
    }


def _cells(exported: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, text) of every cell of both data files, headers included."""
    cells = [("csv", cell) for row in exported["csv_rows"] for cell in row]
    table: pa.Table = exported["parquet"]
    cells += [("parquet", name) for name in table.column_names]
    for column in table.columns:
        cells += [("parquet", "" if v is None else str(v)) for v in column.to_pylist()]
    return cells


def _sidecar_strings(value: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _sidecar_strings(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [s for v in value for s in _sidecar_strings(v, path)]
    return [(path, str(value))]


def test_columns_are_exactly_those_of_endpoints_md(exported: dict[str, Any]) -> None:
    assert exported["csv_rows"][0] == EXPORT_COLUMNS
    assert exported["parquet"].column_names == EXPORT_COLUMNS


def test_no_patient_code_anywhere(exported: dict[str, Any]) -> None:
    texts = [t for _, t in _cells(exported)] + [t for _, t in _sidecar_strings(exported["csv_sidecar"])]
    words = {w for t in texts for w in re.split(r"[\s,;|]+", t)}
    assert not exported["codes"] & words
    assert not [c for c in exported["codes"] if c in exported["csv_text"]]


def test_study_ids_are_pseudonyms_that_differ_between_exports(exported: dict[str, Any]) -> None:
    ids = [row[0] for row in exported["csv_rows"][1:]]
    assert len(ids) == len(set(ids)) == len(exported["csv_rows"]) - 1
    assert not set(ids) & exported["study_ids"], "not the registry's stable ids (no research agreement configured)"
    again = {row[0] for row in exported["again_rows"][1:]}
    assert len(again) == len(ids) and not again & set(ids), "two exports cannot be linked by study id"
    assert not [i for i in ids for c in exported["codes"] if c.lower() in i.lower()]


@pytest.mark.parametrize("pattern", DATE_PATTERNS, ids=list(DATE_PATTERNS))
def test_no_calendar_date_in_the_data(exported: dict[str, Any], pattern: str) -> None:
    found = [(src, t) for src, t in _cells(exported) if DATE_PATTERNS[pattern].search(t)]
    assert found == []


def test_no_date_types_in_the_parquet_schema(exported: dict[str, Any]) -> None:
    schema: pa.Schema = exported["parquet"].schema
    assert [f.name for f in schema if pa.types.is_temporal(f.type)] == []


def test_sidecar_has_no_calendar_date_but_its_own_generation_time(exported: dict[str, Any]) -> None:
    found = [
        (path, t)
        for path, t in _sidecar_strings(exported["csv_sidecar"])
        if path != ".generated_at" and any(p.search(t) for p in DATE_PATTERNS.values())
    ]
    assert found == []


def test_ages_are_top_coded_at_90(exported: dict[str, Any]) -> None:
    header = exported["full_rows"][0]
    ages = [int(r[header.index("age_at_transplant")]) for r in exported["full_rows"][1:] if r[header.index("age_at_transplant")]]
    assert max(ages) == 90, "the patient transplanted at 95 is shown as 90"


def test_no_csv_cell_starts_like_a_formula(exported: dict[str, Any]) -> None:
    """CSV is what spreadsheets open (Parquet and JSON keep the values as they are)."""
    assert HOSTILE_CENTRE in exported["centre_codes"]
    for rows in (exported["csv_rows"], exported["full_rows"]):
        cells = [cell for row in rows for cell in row]
        assert [c for c in cells if c.startswith(FORMULA_START)] == []
    assert "'" + HOSTILE_CENTRE in [c for row in exported["full_rows"] for c in row], "exported, escaped"
