"""Bundle rows as typed DataFrames shaped like the registry's tables (ids and foreign keys).

What the database would hold after `msreg demo`, without the database: analytics benchmarks
and calibration tests feed these straight to `analytics.snapshot.Snapshot.from_tables`, so a
100,000-patient cohort can be analysed without a two-minute import. Ids are assigned in row
order (centres 1…, patients 1…); `study_id` is a random-looking, stable token per patient.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from registry.demo.cohort import Bundle

TABLE_OF_ENTITY = {"mri": "mri_scans"}  # every other bundle entity has its table's name
_DATES = ("ms_onset_date", "ms_diagnosis_date", "last_contact_date", "followup_status_date", "transplant_date",
          "baseline_edss_date", "visit_date", "onset_date", "scan_date", "death_date", "start_date", "stop_date",
          "neutrophil_engraftment_date", "platelet_engraftment_date")
_NUMBERS = ("baseline_edss", "edss", "cd34_dose")
_INTS = ("birth_year", "transplant_number", "relapses_12m", "relapses_24m", "gd_lesions_baseline",
         "prior_dmt_count", "new_t2", "gd_enhancing", "grade", "hospital_days", "t2_lesions_total")
_BOOLS = ("cd34_selection", "steroids", "serious", "atg_given", "spinal_cord_involvement", "brainstem_involvement")


def bundle_frames(bundle: Bundle) -> dict[str, pd.DataFrame]:
    """{table name: DataFrame} with `id`, `centre_id`/`patient_id` and typed columns
    (dates as datetime64, counts as nullable Int64, booleans as nullable boolean)."""
    centres = pd.DataFrame(bundle["centres"])
    centres.insert(0, "id", range(1, len(centres) + 1))
    centre_id = dict(zip(centres["centre_code"], centres["id"], strict=True))

    patients = _typed(pd.DataFrame(bundle["patients"]))
    patients.insert(0, "id", range(1, len(patients) + 1))
    patients.insert(1, "centre_id", patients["centre_code"].map(centre_id))
    patients["study_id"] = [
        hashlib.sha256(f"demo:{c}:{p}".encode()).hexdigest()[:16]
        for c, p in zip(patients["centre_code"], patients["patient_code"], strict=True)
    ]
    index = pd.MultiIndex.from_frame(patients[["centre_code", "patient_code"]])
    patient_id = pd.Series(patients["id"].to_numpy(), index=index)

    out = {"centres": centres, "patients": patients.drop(columns=["centre_code"])}
    for entity, rows in bundle.items():
        if entity in ("centres", "patients"):
            continue
        frame = _typed(pd.DataFrame(rows, columns=list(rows[0]) if rows else ["centre_code", "patient_code"]))
        keys = pd.MultiIndex.from_frame(frame[["centre_code", "patient_code"]])
        frame.insert(0, "patient_id", patient_id.reindex(keys).to_numpy())
        frame.insert(0, "id", range(1, len(frame) + 1))
        out[TABLE_OF_ENTITY.get(entity, entity)] = frame.drop(columns=["centre_code", "patient_code"])
    return out


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for col in frame.columns:
        text = frame[col].replace("", None)
        if col in _DATES:
            frame[col] = pd.to_datetime(text, format="%Y-%m-%d")
        elif col in _NUMBERS:
            frame[col] = pd.to_numeric(text).astype("float64")
        elif col in _INTS:
            frame[col] = pd.to_numeric(text).astype("Int64")
        elif col in _BOOLS:
            frame[col] = text.map({"true": True, "false": False}).astype("boolean")
        else:
            frame[col] = text  # an empty cell is a missing value (NULL), as after an import
    return frame
