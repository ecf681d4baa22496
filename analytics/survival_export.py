"""The analysis-ready survival export of docs/endpoints.md: one de-identified row per patient.

What leaves the registry here is exactly `SURVIVAL_EXPORT_COLUMNS`: no calendar dates, no
patient codes, no internal ids. Rows are ordered by the random `study_id`, so the row order
reveals nothing (not even the order of registration). CSV text cells go through
`registry.security.disclosure.csv_safe` so that a spreadsheet never runs a cell as a formula.

Every export gets a sidecar JSON next to it (`OUT.csv` → `OUT.json`: the data file's suffix is
replaced; `.parquet` files also carry the same JSON in their schema metadata under `msreg`)
recording the settings, `DEFINITIONS_VERSION`, the registry's data version, the row count, the
generation time (UTC) and a plain-language description of the cohort and the definitions, so
that a dataset found on a drive years later still says what it is.

Disclosure (registry.security.k_anonymity, registry.security.export_policy, docs/disclosure.md): by default the
export is k-anonymous (k = 5) on its quasi-identifiers (centre, sex, age, transplant year,
phenotype): `research_dataset` generalises them (age bands, transplant periods, small centres
pooled) and, last, blanks values, never drops a row, and replaces study ids by per-export
pseudonyms unless the registry has stable study ids. The sidecar's `disclosure` records k, each
generalisation, the blanked values and the study-id policy. `full_detail=True` writes the
ungeneralised dataset (administrators only, audited by the caller).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analytics.consent import without_withdrawn_consent
from analytics.endpoints import SURVIVAL_EXPORT_COLUMNS, derive_endpoints
from analytics.kaplan_meier import KaplanMeier
from analytics.settings import DEFINITIONS_VERSION, EndpointSettings
from analytics.snapshot import Snapshot
from registry.security.disclosure import csv_safe_frame
from registry.security.k_anonymity import KAnonymityError, anonymise

FORMATS = {".csv": "csv", ".parquet": "parquet"}

COLUMN_DESCRIPTIONS: dict[str, str] = {
    "study_id": "pseudonymous identifier of the patient, not derived from any code (see disclosure.study_ids)",
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
    "dmt_free_days": "days to the first disease-modifying treatment started after day 0, or death, else to last contact",
    "dmt_free_event": "1 post-transplant DMT start or death, 0 censored",
    "tf_neda_days": "days to disease activity (as NEDA-3), a post-transplant DMT start or death, else to last contact; empty without baseline EDSS",
    "tf_neda_event": "1 disease activity, DMT start or death, 0 censored; empty without baseline EDSS",
    "aggressive_factors": "number of aggressive-MS features at transplant (0-4): frequent early relapses, incomplete "
    "recovery, EDSS >= 4.0 within 5 years of onset, high MRI activity; missing data count as not shown",
}

DEFINITIONS_TEXT = (
    "Day 0 is the first autologous haematopoietic stem cell transplant; times are whole days since day 0; "
    "second transplants do not reset day 0. Last contact is the latest dated record of the patient. "
    "CDW: an EDSS assessment after day 0 at least δ(b) above the fixed baseline b, not within the relapse "
    "window after a relapse onset, confirmed by the first non-relapse-affected assessment at least the "
    "confirmation period later with every assessment in between also worsened. CDI mirrors it for "
    "improvement. MRI activity (new/enlarging T2 or Gd-enhancing lesion) counts for NEDA-3 only after the "
    "re-baseline period. A post-transplant DMT is one started after day 0 (not on it); DMT-free survival ends at "
    "the first, treatment-free NEDA-3 at the first of disease activity, such a DMT or death. "
    "TRM is a competing-risks endpoint: analyse it with cumulative incidence "
    "(Aalen–Johansen), not 1 − Kaplan–Meier. Empty cells are undefined values."
)


class ExportError(ValueError):
    """The export cannot be written as asked (e.g. an unknown file ending, or k unreachable)."""


DEFAULT_K = 5
GENERALISED_DESCRIPTIONS = {
    "age_at_transplant": "age at first transplant (year of transplant minus year of birth, top-coded at 90), generalised",
    "transplant_year": "year of the first transplant (day 0), generalised",
    "centre_code": "transplant centre, generalised",
    "phenotype": "phenotype at transplant, generalised",
}


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


def research_dataset(
    dataset: pd.DataFrame, *, k: int = DEFAULT_K, stable_study_ids: bool = False
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The k-anonymous research version of `survival_dataset` output and its disclosure record.

    Study ids become per-export pseudonyms (unless `stable_study_ids`); rows are re-ordered by
    the released id so the order says nothing. Every row is kept.

    :raises ExportError: k below 2, fewer than k patients, or k reachable only by blanking everything.
    """
    from registry.security.export_policy import pseudonymiser

    try:
        out, report = anonymise(dataset, k)
    except KAnonymityError as exc:
        raise ExportError(str(exc)) from exc
    release_ids, id_policy = pseudonymiser(stable_study_ids)
    out = out.assign(study_id=release_ids(out["study_id"]))
    out = out.sort_values("study_id", kind="stable").reset_index(drop=True)
    record = {"mode": f"k-anonymous (k = {k})", **report.to_dict(), "study_ids": id_policy}
    return out, record


def full_detail_record(stable_study_ids: bool) -> tuple[Any, dict[str, Any]]:
    """Pseudonymiser and disclosure record of an ungeneralised (full-detail) export."""
    from registry.security.export_policy import pseudonymiser

    release_ids, id_policy = pseudonymiser(stable_study_ids)
    return release_ids, {"mode": "full detail (not generalised; administrators only, audited)", "study_ids": id_policy}


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


def export_metadata(
    dataset: pd.DataFrame,
    settings: EndpointSettings,
    data_version: str,
    *,
    file_name: str,
    file_format: str,
    generated_at: dt.datetime,
    excluded_without_first_transplant: int = 0,
    disclosure: dict[str, Any] | None = None,
    cohort_dataset: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The sidecar's content (pure: everything it records is passed in). `disclosure` is the
    record of `research_dataset`; `cohort_dataset` the ungeneralised rows the cohort is
    described from (default: `dataset`)."""
    if generated_at.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware (UTC)")
    descriptions = {c: COLUMN_DESCRIPTIONS[c] for c in dataset.columns}
    if disclosure:
        for column, how in disclosure.get("generalisations", {}).items():
            descriptions[column] = f"{GENERALISED_DESCRIPTIONS.get(column, column)}: {how}"
        descriptions["study_id"] = "pseudonymous patient id, " + disclosure["study_ids"]
    base = dataset if cohort_dataset is None else cohort_dataset
    meta = {
        "dataset": "AHSCT-in-MS registry: analysis-ready survival data (definitions: docs/endpoints.md)",
        "file": file_name,
        "format": file_format,
        "rows": len(dataset),
        "columns": list(dataset.columns),
        "generated_at": generated_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "definitions_version": DEFINITIONS_VERSION,
        "settings": settings.to_dict(),
        "data_version": data_version,  # the same string the CLI and dashboard show; no timestamps
        "cohort": describe_cohort(base, excluded_without_first_transplant=excluded_without_first_transplant),
        "definitions": DEFINITIONS_TEXT + " Settings: " + settings.describe() + ".",
        "column_descriptions": descriptions,
    }
    if disclosure:
        meta["disclosure"] = disclosure
    return meta


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
    k: int = DEFAULT_K,
    full_detail: bool = False,
    stable_study_ids: bool = False,
) -> ExportResult:
    """Derive the endpoints from `snapshot` and write the dataset plus its sidecar JSON:
    k-anonymous by default, ungeneralised with `full_detail` (the caller checks the role and
    audits it, registry.security.export_policy). Nothing is written when k cannot be reached.

    :raises ExportError: a file name ending in neither .csv nor .parquet; k below 2 or unreachable.
    """
    path = Path(path)
    fmt = export_format(path)
    settings = settings or EndpointSettings()
    endpoints = derive_endpoints(snapshot, settings)
    consented = without_withdrawn_consent(endpoints, snapshot)  # consent withdrawn: never exported
    full = survival_dataset(consented)
    if full_detail:
        release_ids, disclosure = full_detail_record(stable_study_ids)
        dataset = full.assign(study_id=release_ids(full["study_id"])).sort_values("study_id", kind="stable")
        dataset = dataset.reset_index(drop=True)
    else:
        dataset, disclosure = research_dataset(full, k=k, stable_study_ids=stable_study_ids)
    registered = snapshot.cursor().execute("SELECT count(*) FROM patients").fetchone()
    excluded = int(registered[0]) - len(dataset) - (len(endpoints) - len(consented)) if registered else 0
    metadata = export_metadata(
        dataset,
        settings,
        snapshot.data_version,
        file_name=path.name,
        file_format=fmt,
        generated_at=now or dt.datetime.now(dt.UTC),
        excluded_without_first_transplant=excluded,
        disclosure=disclosure,
        cohort_dataset=full,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        csv_safe_frame(dataset).to_csv(path, index=False, na_rep="", lineterminator="\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq  # only here: the CSV export need not pay for the import

        table = pa.Table.from_pandas(dataset, preserve_index=False)
        table = table.replace_schema_metadata({"msreg": json.dumps(metadata, ensure_ascii=False)})
        pq.write_table(table, path)
    side = sidecar_path(path)
    side.write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return ExportResult(path=path, sidecar=side, rows=len(dataset), metadata=metadata)
