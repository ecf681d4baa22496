"""Time to neutrophil and platelet engraftment after the first transplant, a competing-risks
endpoint: death before engraftment competes (analysed with Aalen–Johansen cumulative incidence,
never 1 − Kaplan–Meier).

Decisions (the definitions document has no engraftment endpoint; a transplant physician's reading):
- Status 1 at the engraftment date (days since day 0) of the first transplant.
- No engraftment date recorded: a death within `EARLY_DAYS` (100) of day 0 is status 2 (died
  before engraftment) at the death; a patient still within those 100 days of follow-up is
  censored (status 0) at last contact; anyone else is left out (empty): they were followed long
  past aplasia, so they engrafted and the date is missing, and counting them as censored would
  understate engraftment.
- Validation already refuses an engraftment date on or before the transplant or after a death.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from analytics.snapshot import Snapshot

EARLY_DAYS = 100
KINDS: dict[str, str] = {"neutrophil": "neutrophil_engraftment_date", "platelet": "platelet_engraftment_date"}
COLUMNS: tuple[str, ...] = tuple(f"{k}_{c}" for k in KINDS for c in ("days", "status"))


def engraftment_times(endpoints: pd.DataFrame, dates: pd.DataFrame) -> pd.DataFrame:
    """`endpoints` (one row per patient, with day0, death_date, lc_date) plus, for each kind,
    `<kind>_days` and `<kind>_status` (0/1/2, empty where left out). `dates` holds
    `patient_id` and the engraftment dates of the first transplant."""
    out = endpoints.merge(dates, on="patient_id", how="left")
    day0 = pd.to_datetime(out["day0"])
    death = (pd.to_datetime(out["death_date"]) - day0).dt.days
    lc = (pd.to_datetime(out["lc_date"]) - day0).dt.days
    for kind, column in KINDS.items():
        engrafted = (pd.to_datetime(out[column]) - day0).dt.days
        early_death = engrafted.isna() & death.notna() & (death <= EARLY_DAYS)
        still_early = engrafted.isna() & death.isna() & (lc <= EARLY_DAYS)
        days = np.where(engrafted.notna(), engrafted, np.where(early_death, death, np.where(still_early, lc, np.nan)))
        status = np.where(engrafted.notna(), 1, np.where(early_death, 2, np.where(still_early, 0, np.nan)))
        out[f"{kind}_days"] = pd.array(pd.Series(days).round(), dtype="Int64")
        out[f"{kind}_status"] = pd.array(pd.Series(status), dtype="Int64")
    return out.drop(columns=list(KINDS.values()))


def engraftment_dates(source: Snapshot | duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Engraftment dates of every first transplant, from the snapshot."""
    con = source.cursor() if isinstance(source, Snapshot) else source
    return con.sql(
        "SELECT patient_id, neutrophil_engraftment_date, platelet_engraftment_date "
        "FROM transplants WHERE transplant_number = 1"
    ).df()
