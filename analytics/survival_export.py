"""The analysis-ready survival export of docs/endpoints.md: one de-identified row per patient.

What leaves the registry here is exactly `SURVIVAL_EXPORT_COLUMNS`: no calendar dates, no
patient codes, no internal ids. Rows are ordered by the random `study_id`, so the row order
reveals nothing (not even the order of registration). CSV text cells go through
`registry.disclosure.csv_safe` so that a spreadsheet never runs a cell as a formula.

Every export gets a sidecar JSON next to it (`OUT.csv` → `OUT.json`: the data file's suffix is
replaced; `.parquet` files also carry the same JSON in their schema metadata under `msreg`)
recording the settings, `DEFINITIONS_VERSION`, the registry's data version, the row count, the
generation time (UTC) and a plain-language description of the cohort and the definitions, so
that a dataset found on a drive years later still says what it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analytics.endpoints import SURVIVAL_EXPORT_COLUMNS, derive_endpoints
from analytics.kaplan_meier import KaplanMeier
from analytics.settings import DEFINITIONS_VERSION, EndpointSettings
from analytics.snapshot import Snapshot
from registry.disclosure import csv_safe_frame

FORMATS = {".csv": "csv", ".parquet": "parquet"}

COLUMN_DESCRIPTIONS: dict[str, str] = {
    "study_id": "random identifier of the patient, stable across exports, not derived from any code",
    "centre_code": "transplant centre",
    "sex": "F, M or U",
    "age_at_transplant": "year of first transplant minus year of birth, top-coded at 90",
    "transplant_year": "year of the first transplant (day 0)",
    "disease_duration_years": "(day 0 − MS onset date) / 365.25, one decimal; empty if onset unknown",
    "phenotype": "RRMS, SPMS or PPMS at transplant",
    "baseline_edss": "baseline EDSS b: the transplant's value, else the latest visit in the lookback window; empty if none",
    "relapses_12m": "relapses in the 12 months before transplant",
    "gd_lesions_baseline": "gadolinium-enhancing lesions on the baseline MRI",
    "conditioning": "conditioning regimen",
    "conditioning_intensity": "LOW, INTERMEDIATE or HIGH",
    "os_days": "days from day 0 to death, else to last contact",
    "os_event": "1 death from any cause, 0 censored",
    "rfs_days": "days to the first relapse after day 0 or death, else to last contact",
    "rfs_event": "1 relapse or death, 0 censored",
    "pfs_days": "days to confirmed disability worsening (CDW) or death, else to the last EDSS assessment; empty without baseline EDSS",
    "pfs_event": "1 CDW or death, 0 censored; empty without baseline EDSS",
    "cdi_days": "days to confirmed disability improvement, else to the last assessment (death censors); empty unless baseline EDSS ≥ 2.0",
    "cdi_event": "1 confirmed improvement, 0 censored; empty unless baseline EDSS ≥ 2.0",
    "neda_days": "days to evidence of disease activity (relapse, MRI activity, CDW) or death, else to last contact; empty without baseline EDSS",
    "neda_event": "1 disease activity or death, 0 censored; empty without baseline EDSS",
    "trm_days": "days to death, else to last contact",
    "trm_status": "0 alive (censored), 1 transplant-related death, 2 death from another cause (competing)",
}

DEFINITIONS_TEXT = (
    "Day 0 is the first autologous haematopoietic stem cell transplant; times are whole days since day 0; "
    "second transplants do not reset day 0. Last contact is the latest dated record of the patient. "
    "CDW: an EDSS assessment after day 0 at least δ(b) above the fixed baseline b, not within the relapse "
    "window after a relapse onset, confirmed by the first non-relapse-affected assessment at least the "
    "confirmation period later with every assessment in between also worsened. CDI mirrors it for "
    "improvement. MRI activity (new/enlarging T2 or Gd-enhancing lesion) counts for NEDA-3 only after the "
    "re-baseline period. TRM is a competing-risks endpoint: analyse it with cumulative incidence "
    "(Aalen–Johansen), not 1 − Kaplan–Meier. Empty cells are undefined values."
)


class ExportError(ValueError):
    """The export cannot be written as asked (e.g. an unknown file ending)."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    sidecar: Path
    rows: int
    metadata: dict[str, Any]


def survival_dataset(endpoints: pd.DataFrame) -> pd.DataFrame:
    """The export's rows from `derive_endpoints` output: its columns only, ordered by study_id."""
    out = endpoints.loc[:, list(SURVIVAL_EXPORT_COLUMNS)]
    return out.sort_values("study_id", kind="stable").reset_index(drop=True)


def describe_cohort(dataset: pd.DataFrame, *, excluded_without_first_transplant: int = 0) -> str:
    """One paragraph in plain words: who is in the dataset and what is missing."""
    n = len(dataset)
    if n == 0:
        return "The dataset is empty: the registry has no patient with a first transplant."
    years = dataset["transplant_year"].dropna()
    no_baseline = int(dataset["baseline_edss"].isna().sum())
    deaths = int((dataset["os_event"] == 1).sum())
    # Median follow-up by reverse Kaplan–Meier (censoring as the event): the usual convention,
    # not biased downwards by early deaths as the plain median of follow-up times is.
    follow_up = KaplanMeier().fit(dataset["os_days"].astype(float), 1 - dataset["os_event"].astype(int)).median_
    follow_up_text = "not reached" if pd.isna(follow_up) else f"{follow_up:.0f} days"
    text = (
        f"{n} patient(s) with multiple sclerosis treated with AHSCT at {dataset['centre_code'].nunique()} centre(s), "
        f"first transplants {int(years.min())}–{int(years.max())}; median follow-up {follow_up_text} "
        f"(reverse Kaplan–Meier); {deaths} death(s). "
        f"{no_baseline} patient(s) have no baseline EDSS, so their PFS, CDI and NEDA-3 values are empty."
    )
    if excluded_without_first_transplant:
        text += (
            f" {excluded_without_first_transplant} registered patient(s) without a recorded first transplant "
            "are not included (listed by the data-quality report)."
        )
    return text


def public_data_version(data_version: str) -> str:
    """A digest of the snapshot's data version for the sidecar.

    The raw data version lists each table's row count and last-modified timestamp; a research
    export should carry no calendar times of record changes (when the last death was entered
    says something about a person). The digest still lets an administrator tell which
    registry state an export came from.
    """
    return "sha256:" + hashlib.sha256(data_version.encode("utf-8")).hexdigest()[:16]


def export_metadata(
    dataset: pd.DataFrame,
    settings: EndpointSettings,
    data_version: str,
    *,
    file_name: str,
    file_format: str,
    generated_at: dt.datetime,
    excluded_without_first_transplant: int = 0,
) -> dict[str, Any]:
    """The sidecar's content (pure: everything it records is passed in)."""
    if generated_at.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware (UTC)")
    return {
        "dataset": "AHSCT-in-MS registry: analysis-ready survival data (definitions: docs/endpoints.md)",
        "file": file_name,
        "format": file_format,
        "rows": len(dataset),
        "columns": list(dataset.columns),
        "generated_at": generated_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "definitions_version": DEFINITIONS_VERSION,
        "settings": settings.to_dict(),
        "data_version": public_data_version(data_version),
        "cohort": describe_cohort(dataset, excluded_without_first_transplant=excluded_without_first_transplant),
        "definitions": DEFINITIONS_TEXT + " Settings: " + settings.describe() + ".",
        "column_descriptions": {c: COLUMN_DESCRIPTIONS[c] for c in dataset.columns},
    }


def export_format(path: Path) -> str:
    """`csv` or `parquet` from the file's ending.

    :raises ExportError: for any other ending, naming the valid ones.
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ExportError(f"cannot tell the format of {path.name!r}: the file name must end in {' or '.join(FORMATS)}")
    return fmt


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def write_survival_export(
    snapshot: Snapshot,
    path: str | Path,
    settings: EndpointSettings | None = None,
    *,
    now: dt.datetime | None = None,
) -> ExportResult:
    """Derive the endpoints from `snapshot` and write the dataset plus its sidecar JSON.

    :raises ExportError: for a file name ending in neither .csv nor .parquet.
    """
    path = Path(path)
    fmt = export_format(path)
    settings = settings or EndpointSettings()
    dataset = survival_dataset(derive_endpoints(snapshot, settings))
    registered = snapshot.cursor().execute("SELECT count(*) FROM patients").fetchone()
    excluded = int(registered[0]) - len(dataset) if registered else 0
    metadata = export_metadata(
        dataset,
        settings,
        snapshot.data_version,
        file_name=path.name,
        file_format=fmt,
        generated_at=now or dt.datetime.now(dt.UTC),
        excluded_without_first_transplant=excluded,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        csv_safe_frame(dataset).to_csv(path, index=False, na_rep="", lineterminator="\n")
    else:
        table = pa.Table.from_pandas(dataset, preserve_index=False)
        table = table.replace_schema_metadata({"msreg": json.dumps(metadata, ensure_ascii=False)})
        pq.write_table(table, path)
    side = sidecar_path(path)
    side.write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return ExportResult(path=path, sidecar=side, rows=len(dataset), metadata=metadata)
