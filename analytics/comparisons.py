"""Group comparisons of an endpoint: which test goes with which endpoint, decided once.

* Survival endpoints (os, rfs, pfs, cdi, neda and any later Kaplan–Meier endpoint): the
  log-rank test (R ``survdiff``).
* TRM (a competing-risks endpoint): Gray's test of the cumulative incidence curves (R
  ``cmprsk::cuminc``) — the comparison of what the incidence figure shows — and, beside it, the
  cause-specific log-rank test (other deaths censored), which compares the rate of TRM among
  patients still alive. When the two disagree, the groups differ in their competing mortality.

Groups with fewer patients than ``min_group_size`` are left out of every test (they are not
drawn either); a stratified test compares groups within strata.
"""

from __future__ import annotations

import math

import pandas as pd

from analytics import estimates
from analytics.gray_test import gray_test
from analytics.logrank import logrank_test

__all__ = ["COMPARE_COLUMNS", "compare_endpoint"]

COMPARE_COLUMNS: list[str] = ["endpoint", "by", "test", "statistic", "df", "p_value"]

COMPETING_RISK_ENDPOINTS: frozenset[str] = frozenset({"trm"})


def compare_endpoint(
    endpoints: pd.DataFrame,
    endpoint: str,
    by: str,
    *,
    strata: str | None = None,
    min_group_size: int = 5,
) -> pd.DataFrame:
    """One row per test (``COMPARE_COLUMNS``); statistic and p empty where a test is undefined
    (fewer than two groups large enough, no event).

    :raises estimates.EstimateError: unknown endpoint or grouping column.
    """
    estimates.check_endpoint(endpoint)
    estimates.check_by(by)
    if strata is not None:
        estimates.check_by(strata)
        if strata == by:
            raise estimates.EstimateError(f"--strata must differ from --by (both {by!r})")
    data = estimates.endpoint_data(endpoints, endpoint, by)
    if strata is not None:
        time_col, event_col = estimates.ENDPOINTS[endpoint]
        defined = endpoints[time_col].notna() & endpoints[event_col].notna()
        data["stratum"] = estimates.group_labels(endpoints, strata)[defined].to_numpy()
    sizes = data["group"].value_counts()
    data = data[data["group"].isin(sizes[sizes >= min_group_size].index)]
    stratum = data["stratum"].to_numpy() if strata is not None else None
    label = by if strata is None else f"{by} | strata {strata}"
    rows = []
    tests = ["gray", "cause-specific log-rank"] if endpoint in COMPETING_RISK_ENDPOINTS else ["log-rank"]
    for test in tests:
        statistic = df = p = math.nan
        usable = data["group"].nunique() >= 2 and (data["event"] == 1).any()
        if usable:
            try:
                if test == "gray":
                    result = gray_test(data["time"], data["event"], data["group"], cause=1, strata=stratum)
                    statistic, df, p = result.statistic, result.df, result.p_value
                else:
                    event = (data["event"] == 1).astype(int).to_numpy()
                    statistic, df, p = logrank_test(data["time"].to_numpy(), event, data["group"].to_numpy(), strata=stratum)
            except ValueError:
                statistic = df = p = math.nan
        rows.append({"endpoint": endpoint, "by": label, "test": test, "statistic": statistic,
                     "df": pd.NA if math.isnan(df) else int(df), "p_value": p})
    out = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    out["df"] = out["df"].astype("Int64")
    return out
