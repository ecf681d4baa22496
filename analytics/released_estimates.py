"""Survival estimates as released to a role bound by the disclosure policy (registry.security.disclosure).

`msreg survival --as USERNAME` prints what that account may see: for governance and
researchers the counts (at risk, events and censorings) are released (1–4 as "<5", the rest
rounded to 5) and an estimate resting on 1–4 events up to its time is left empty with its
standard error and bounds, as on the dashboard. Exact roles get the table unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.estimates import endpoint_data
from registry.security.disclosure import Release


def release_estimates(table: pd.DataFrame, endpoints: pd.DataFrame, endpoint: str, by: str | None,
                      release: Release) -> tuple[pd.DataFrame, int]:
    """`table` (analytics.estimates.survival_estimates) as released, and how many estimates were left out."""
    if release.exact or table.empty:
        return table, 0
    data = endpoint_data(endpoints, endpoint, by)
    out = table.copy()
    events = [int(((data["group"] == g) & (data["event"] == 1) & (data["time"] <= t)).sum())
              for g, t in zip(out["group"], out["time"], strict=True)]
    hidden = np.array([not release.estimate_shown(e) for e in events])
    for column in ("estimate", "std_err", "lower", "upper"):
        out[column] = out[column].astype(float).where(~hidden, np.nan)
    for column in ("n_risk", "n_event", "n_censor"):
        out[column] = [release.text(v) if not pd.isna(v) else "" for v in out[column]]
    return out, int(hidden.sum())
