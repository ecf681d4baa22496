"""The analysis-ready survival export: exact columns, nothing identifying, a self-describing sidecar.

These tests read the values of single rows of tiny cohorts, so they write the ungeneralised
export with the registry's stable study ids (FULL); the default, k-anonymous export is
specified in tests/security/test_k_anonymous_export.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from analytics.endpoints import SURVIVAL_EXPORT_COLUMNS
from analytics.settings import DEFINITIONS_VERSION, EndpointSettings
from analytics.survival_export import ExportError, write_survival_export
from tests.analytics.endpoint_cohort import Cohort

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
FULL = {"full_detail": True, "stable_study_ids": True}
ENDPOINTS_MD_COLUMNS = (
    "study_id, centre_code, sex, age_at_transplant, transplant_year, disease_duration_years, phenotype, "
    "baseline_edss, relapses_12m, gd_lesions_baseline, conditioning, conditioning_intensity, os_days, os_event, "
    "rfs_days, rfs_event, pfs_days, pfs_event, cdi_days, cdi_event, neda_days, neda_event, trm_days, trm_status, "
    "dmt_free_days, dmt_free_event, tf_neda_days, tf_neda_event, aggressive_factors"
)


def cohort() -> Cohort:
    return (
        Cohort()
        .add("MRN-0001", centre="C1", visits={-10: 3.0, 100: 4.0, 300: 4.0}, last_contact_days=400)
        .add("MRN-0002", centre="C1", baseline_edss=None, death=(50, "TRANSPLANT_RELATED"))
        .add("MRN-0003", centre="C2", onset_days=None, relapses=(120,), last_contact_days=900)
        .add("MRN-0004", centre="C2", first_transplant=False)
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_columns_are_exactly_those_of_endpoints_md(tmp_path: Path) -> None:
    assert ", ".join(SURVIVAL_EXPORT_COLUMNS) == ENDPOINTS_MD_COLUMNS
    result = write_survival_export(cohort().snapshot(), tmp_path / "s.csv", now=NOW, **FULL)
    header = (tmp_path / "s.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == ENDPOINTS_MD_COLUMNS.replace(", ", ",")
    assert result.rows == 3


def test_no_dates_no_patient_codes_no_internal_ids(tmp_path: Path) -> None:
    write_survival_export(cohort().snapshot(), tmp_path / "s.csv", now=NOW, **FULL)
    text = (tmp_path / "s.csv").read_text(encoding="utf-8")
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)
    assert "MRN" not in text
    assert "patient_id" not in text


def test_values_and_empty_cells(tmp_path: Path) -> None:
    c = cohort()
    write_survival_export(c.snapshot(), tmp_path / "s.csv", now=NOW, **FULL)
    rows = {r["study_id"]: r for r in read_csv(tmp_path / "s.csv")}
    dead = rows[c.patients[1].study_id]
    assert (dead["os_days"], dead["os_event"], dead["trm_status"]) == ("50", "1", "1")
    assert dead["baseline_edss"] == dead["pfs_days"] == dead["neda_event"] == ""
    no_onset = rows[c.patients[2].study_id]
    assert no_onset["disease_duration_years"] == ""
    assert (no_onset["rfs_days"], no_onset["rfs_event"]) == ("120", "1")
    first = rows[c.patients[0].study_id]
    assert (first["baseline_edss"], first["pfs_days"], first["pfs_event"], first["age_at_transplant"]) == ("3.0", "100", "1", "35")


def test_rows_are_ordered_by_the_random_study_id(tmp_path: Path) -> None:
    write_survival_export(cohort().snapshot(), tmp_path / "s.csv", now=NOW, **FULL)
    ids = [r["study_id"] for r in read_csv(tmp_path / "s.csv")]
    assert ids == sorted(ids)


def test_formula_like_text_is_escaped(tmp_path: Path) -> None:
    c = Cohort().add("P", centre="=HYPERLINK(1)", study_id="+SID")
    write_survival_export(c.snapshot(), tmp_path / "s.csv", now=NOW, **FULL)
    [row] = read_csv(tmp_path / "s.csv")
    assert row["centre_code"] == "'=HYPERLINK(1)" and row["study_id"] == "'+SID"


def test_sidecar_records_settings_versions_and_description(tmp_path: Path) -> None:
    settings = EndpointSettings(confirmation_days=84)
    snap = cohort().snapshot()
    result = write_survival_export(snap, tmp_path / "out.csv", settings, now=NOW, **FULL)
    assert result.sidecar == tmp_path / "out.json"
    meta = json.loads(result.sidecar.read_text(encoding="utf-8"))
    assert meta["settings"] == settings.to_dict()
    assert meta["definitions_version"] == DEFINITIONS_VERSION
    assert meta["data_version"] == snap.data_version
    assert meta["rows"] == 3
    assert meta["generated_at"] == "2026-11-24T12:00:00+00:00"
    assert meta["columns"] == list(SURVIVAL_EXPORT_COLUMNS)
    assert "3 patient(s)" in meta["cohort"] and "2 centre(s)" in meta["cohort"]
    assert "1 registered patient(s) without a recorded first transplant" in meta["cohort"]
    assert "84" in meta["definitions"] and "Aalen–Johansen" in meta["definitions"]
    assert set(meta["column_descriptions"]) == set(SURVIVAL_EXPORT_COLUMNS)


def test_parquet_holds_the_same_rows_and_the_metadata(tmp_path: Path) -> None:
    snap = cohort().snapshot()
    write_survival_export(snap, tmp_path / "s.csv", now=NOW, **FULL)
    write_survival_export(snap, tmp_path / "p.parquet", now=NOW, **FULL)
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.column_names == list(SURVIVAL_EXPORT_COLUMNS)
    assert str(table.schema.field("os_days").type) == "int64"
    assert json.loads(table.schema.metadata[b"msreg"])["rows"] == 3
    from_csv = pd.read_csv(tmp_path / "s.csv", dtype={"study_id": str})
    from_parquet = table.to_pandas()
    pd.testing.assert_frame_equal(from_csv, from_parquet, check_dtype=False)


@pytest.mark.parametrize("name", ["out.xlsx", "out", "out.csv.gz"])
def test_unknown_file_ending_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ExportError, match=r"\.csv or \.parquet"):
        write_survival_export(cohort().snapshot(), tmp_path / name, now=NOW, **FULL)
