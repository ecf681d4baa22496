"""Survival estimates from the endpoint table: what `msreg survival` prints and the dashboard draws.

Built on the statistics modules (`kaplan_meier`, `aalen_johansen`, `logrank`, `cox`), which
match R survival; this module only decides *which* patients and times go in and what may be
shown:

- OS, RFS, PFS, CDI and NEDA-3 are Kaplan–Meier survival; TRM is the Aalen–Johansen cumulative
  incidence of status 1 with status 2 competing (never 1 − KM).
- Patients whose endpoint is undefined (empty: no baseline EDSS for PFS/NEDA-3, baseline below
  2.0 for CDI) are left out of that endpoint's estimates.
- Groups with fewer than `min_group_size` patients (default 5) get no estimate: the rows stay,
  with `suppressed = True` and empty `n_risk`, `estimate`, `lower`, `upper`, so a table or
  figure can say "<5" instead of silently dropping a centre.
- Past the longest follow-up of a group (nobody at risk), the curve is not identified: the
  estimate is left empty with `n_risk = 0`, rather than carrying the last value forward as R's
  `summary(extend = TRUE)` does, unless the curve has already reached its end point (survival
  0, or every patient has had an event), where the value is known.
- `--by` a numeric covariate groups it into clinically usual bands (age, disease duration,
  baseline EDSS, relapses, Gd lesions, transplant period); a categorical covariate groups by
  its values. Missing values form their own group, "missing".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analytics.aalen_johansen import cumulative_incidence
from analytics.endpoints import COVARIATE_COLUMNS
from analytics.kaplan_meier import KaplanMeier
from analytics.logrank import LogRankResult, logrank_test

if TYPE_CHECKING:  # lifelines (the Cox fit) is imported only when a Cox model is fitted
    from analytics.cox import CoxResult

ENDPOINTS: dict[str, tuple[str, str]] = {
    "os": ("os_days", "os_event"),
    "rfs": ("rfs_days", "rfs_event"),
    "pfs": ("pfs_days", "pfs_event"),
    "cdi": ("cdi_days", "cdi_event"),
    "neda": ("neda_days", "neda_event"),
    "trm": ("trm_days", "trm_status"),
}
"""Endpoint name → (time column, event/status column) of the endpoint table."""

ENDPOINT_LABELS: dict[str, str] = {
    "os": "Overall survival",
    "rfs": "Relapse-free survival",
    "pfs": "Progression-free survival (no confirmed disability worsening)",
    "cdi": "Free of confirmed disability improvement",
    "neda": "NEDA-3 (no evidence of disease activity)",
    "trm": "Transplant-related mortality (cumulative incidence)",
}

DEFAULT_TIMES: tuple[int, ...] = (365, 730, 1095, 1825)
ESTIMATE_COLUMNS: tuple[str, ...] = ("endpoint", "group", "time", "n_risk", "estimate", "lower", "upper", "suppressed")
GROUPABLE_COLUMNS: tuple[str, ...] = tuple(c for c in COVARIATE_COLUMNS if c != "study_id")
ALL = "all"
MISSING = "missing"

# Bands for numeric covariates: (right-open upper bounds, labels). Labels sort in band order.
_BANDS: dict[str, tuple[list[float], list[str]]] = {
    "age_at_transplant": ([30, 40, 50], ["<30", "30-39", "40-49", "50+"]),
    "disease_duration_years": ([5, 10, 15], ["<5", "5-9.9", "10-14.9", "15+"]),
    "baseline_edss": ([3.5, 6.0], ["0-3.0", "3.5-5.5", "6.0+"]),
    "relapses_12m": ([1, 2, 3], ["0", "1", "2", "3+"]),
    "gd_lesions_baseline": ([1], ["0", "1+"]),
    "transplant_year": ([2010, 2015, 2020], ["<2010", "2010-2014", "2015-2019", "2020+"]),
}


class EstimateError(ValueError):
    """The estimate cannot be computed as asked; the message says which values are valid."""


def check_endpoint(endpoint: str) -> tuple[str, str]:
    try:
        return ENDPOINTS[endpoint]
    except KeyError:
        raise EstimateError(f"unknown endpoint {endpoint!r}; valid: {', '.join(ENDPOINTS)}") from None


def check_by(by: str | None) -> None:
    if by is not None and by not in GROUPABLE_COLUMNS:
        raise EstimateError(
            f"cannot group by {by!r}; valid columns (covariates of the survival export): {', '.join(GROUPABLE_COLUMNS)}"
        )


def group_labels(endpoints: pd.DataFrame, by: str | None) -> pd.Series:
    """The group of each patient: `all`, a band of a numeric covariate, or a category."""
    check_by(by)
    if by is None:
        return pd.Series(ALL, index=endpoints.index, dtype=object)
    values = endpoints[by]
    if by in _BANDS:
        bounds, labels = _BANDS[by]
        numeric = pd.to_numeric(values, errors="coerce").astype(float)
        codes = np.searchsorted(np.asarray(bounds, dtype=float), numeric.to_numpy(), side="right")
        out = pd.Series([labels[c] for c in codes], index=endpoints.index, dtype=object)
        return out.where(numeric.notna(), MISSING)
    return values.astype(object).where(values.notna(), MISSING).astype(str)


def _ordered_groups(labels: pd.Series, by: str | None) -> list[str]:
    present = set(labels)
    if by in _BANDS:
        order = _BANDS[by][1] + [MISSING]
        return [g for g in order if g in present]
    return sorted(present, key=lambda g: (g == MISSING, g))


def endpoint_data(endpoints: pd.DataFrame, endpoint: str, by: str | None = None) -> pd.DataFrame:
    """`(group, time, event)` for the patients in whom the endpoint is defined."""
    time_col, event_col = check_endpoint(endpoint)
    groups = group_labels(endpoints, by)
    defined = endpoints[time_col].notna() & endpoints[event_col].notna()
    return pd.DataFrame(
        {
            "group": groups[defined].to_numpy(),
            "time": endpoints.loc[defined, time_col].astype(float).to_numpy(),
            "event": endpoints.loc[defined, event_col].astype(int).to_numpy(),
        }
    )


def _fit(endpoint: str, time: np.ndarray, event: np.ndarray) -> Any:
    if endpoint == "trm":
        return cumulative_incidence(time, event, cause=1)
    return KaplanMeier().fit(time, event)


def _check_times(at: Sequence[float]) -> list[float]:
    times = [float(t) for t in at]
    if not times or any(not np.isfinite(t) or t < 0 for t in times):
        raise EstimateError(f"times must be days >= 0, got {list(at)}")
    return times


def survival_estimates(
    endpoints: pd.DataFrame,
    endpoint: str,
    *,
    by: str | None = None,
    at: Sequence[float] = DEFAULT_TIMES,
    min_group_size: int = 5,
) -> pd.DataFrame:
    """Estimates at the given days, per group.

    Columns `endpoint, group, time, n_risk, estimate, lower, upper, suppressed`: Kaplan–Meier
    survival with log-log 95% CI (os, rfs, pfs, cdi, neda) or the cumulative incidence of a
    transplant-related death with log 95% CI (trm). See the module docstring for suppressed
    groups and times past the follow-up.

    :raises EstimateError: unknown endpoint or grouping column, or invalid times.
    """
    times = _check_times(at)
    data = endpoint_data(endpoints, endpoint, by)
    frames = []
    for group in _ordered_groups(data["group"], by) if len(data) else ([ALL] if by is None else []):
        sub = data[data["group"] == group]
        if len(sub) < min_group_size:
            frames.append(pd.DataFrame({"time": times, "n_risk": pd.NA, "estimate": np.nan, "lower": np.nan,
                                        "upper": np.nan, "suppressed": True, "group": group}))
            continue
        est = _fit(endpoint, sub["time"].to_numpy(), sub["event"].to_numpy()).at(times)
        unknown = (est["n_risk"].to_numpy() == 0) & (not _curve_finished(sub))
        for column in ("estimate", "lower", "upper"):
            est[column] = est[column].where(~unknown, np.nan)
        est["suppressed"] = False
        est["group"] = group
        frames.append(est)
    if not frames:
        return pd.DataFrame({c: [] for c in ESTIMATE_COLUMNS})
    out = pd.concat(frames, ignore_index=True)
    out["endpoint"] = endpoint
    out["n_risk"] = out["n_risk"].astype("Int64")
    # whole days print as whole days (365, not 365.0)
    out["time"] = out["time"].astype("int64") if all(float(t).is_integer() for t in times) else out["time"].astype(float)
    return out[list(ESTIMATE_COLUMNS)]


def _curve_finished(sub: pd.DataFrame) -> bool:
    """True when the curve's value beyond the last time is known (everyone had an event)."""
    return bool((sub["event"] != 0).all())


def survival_curves(endpoints: pd.DataFrame, endpoint: str, *, by: str | None = None, min_group_size: int = 5) -> pd.DataFrame:
    """The whole step curves per group, for figures: the estimator's `table_` plus `group`.

    Columns `group, time, n_risk, n_event, n_censor, estimate, lower, upper` (and `n_competing`
    for trm). Suppressed groups (fewer than `min_group_size` patients) are absent; ask
    `survival_estimates` to learn which they are.
    """
    data = endpoint_data(endpoints, endpoint, by)
    frames = []
    for group in _ordered_groups(data["group"], by) if len(data) else []:
        sub = data[data["group"] == group]
        if len(sub) < min_group_size:
            continue
        table = _fit(endpoint, sub["time"].to_numpy(), sub["event"].to_numpy()).table_.drop(columns=["std_err"])
        table.insert(0, "group", group)
        frames.append(table)
    if not frames:
        return pd.DataFrame(columns=["group", "time", "n_risk", "n_event", "n_censor", "estimate", "lower", "upper"])
    return pd.concat(frames, ignore_index=True)


def compare_groups(
    endpoints: pd.DataFrame, endpoint: str, by: str, *, min_group_size: int = 5
) -> LogRankResult | None:
    """Log-rank test across the groups that are shown (suppressed groups are left out).

    None when fewer than two groups are large enough or there is no event. For trm the test
    compares cause-specific hazards of transplant-related death (other deaths censored), which
    is what the log-rank test can say about a competing-risks endpoint.

    :raises EstimateError: unknown endpoint or grouping column.
    """
    check_by(by)
    data = endpoint_data(endpoints, endpoint, by)
    sizes = data["group"].value_counts()
    data = data[data["group"].isin(sizes[sizes >= min_group_size].index)]
    event = (data["event"] == 1).astype(int)
    if data["group"].nunique() < 2 or event.sum() == 0:
        return None
    return logrank_test(data["time"].to_numpy(), event.to_numpy(), data["group"].to_numpy())


def early_mortality(endpoints: pd.DataFrame, *, by: str | None = None, days: int = 100) -> pd.DataFrame:
    """All-cause deaths with `os_days <= days` (docs/endpoints.md: early mortality, day 100).

    Columns `group, patients, deaths, proportion`. Counts are not suppressed here: pass them
    through `registry.disclosure.suppress_counts` before showing them outside the registry.
    """
    groups = group_labels(endpoints, by)
    dead_early = (endpoints["os_event"] == 1) & (endpoints["os_days"] <= days)
    table = pd.DataFrame({"group": groups, "dead": dead_early.astype(int)})
    out = table.groupby("group", sort=False).agg(patients=("dead", "size"), deaths=("dead", "sum")).reset_index()
    out["proportion"] = out["deaths"] / out["patients"]
    order = _ordered_groups(groups, by) if len(groups) else []
    return out.set_index("group").loc[order].reset_index()


PROFILE_COVARIATES: tuple[str, ...] = (
    "age_band",
    "sex",
    "phenotype",
    "baseline_edss",
    "disease_duration_years",
    "relapses_12m",
    "conditioning_intensity",
)
"""The patient profile of the Cox model: categorical age band, sex, phenotype and conditioning
intensity; baseline EDSS (per point), disease duration (per year) and relapses in the 12 months
before transplant (per relapse) as numbers."""

_PROFILE_CATEGORICAL = ("age_band", "sex", "phenotype", "conditioning_intensity")


def profile_frame(endpoints: pd.DataFrame) -> pd.DataFrame:
    """The endpoint table with the profile covariates ready for `cox_model`.

    Categorical covariates become pandas categories whose first (reference) level is the most
    frequent one: hazard ratios are then relative to the typical patient and the reference
    group is never a handful of patients. Missing values stay missing (the model drops those
    patients: a complete-case analysis, reported as `n_dropped`).
    """
    out = endpoints.copy()
    out["age_band"] = group_labels(endpoints, "age_at_transplant").replace(MISSING, np.nan)
    for column in _PROFILE_CATEGORICAL:
        values = out[column].astype(object).where(out[column].notna(), np.nan)
        counts = values.value_counts()
        levels = sorted(counts.index, key=lambda level: (-counts[level], str(level)))
        out[column] = pd.Categorical(values, categories=levels)
    for column in ("baseline_edss", "disease_duration_years", "relapses_12m"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out


def cox_profile(
    endpoints: pd.DataFrame,
    endpoint: str,
    covariates: Sequence[str] = PROFILE_COVARIATES,
    *,
    alpha: float = 0.05,
) -> CoxResult:
    """Cox model (Efron ties, as R `coxph`) of an endpoint on the patient profile.

    For trm the model is of the cause-specific hazard of transplant-related death (other
    deaths censored), the Cox model's reading of a competing-risks endpoint. Covariates that
    take a single value among the patients with complete data are left out (their effect
    cannot be estimated), so `result.table` lists only the terms that were estimable.

    :raises EstimateError: unknown endpoint or covariate, or no event to model.
    """
    time_col, event_col = check_endpoint(endpoint)
    frame = profile_frame(endpoints)
    unknown = [c for c in covariates if c not in frame.columns]
    if unknown:
        raise EstimateError(f"unknown covariate(s) {', '.join(unknown)}; profile covariates: {', '.join(PROFILE_COVARIATES)}")
    frame["_event"] = (frame[event_col] == 1).astype(float).where(frame[event_col].notna(), np.nan)
    frame["_time"] = pd.to_numeric(frame[time_col], errors="coerce").astype(float)
    complete = frame[["_time", "_event", *covariates]].dropna()
    usable = [c for c in covariates if complete[c].nunique() >= 2]
    if not usable or complete.empty or complete["_event"].sum() == 0:
        raise EstimateError(
            f"no {endpoint} event among the {len(complete)} patient(s) with complete data, "
            "or no covariate varies: the Cox model cannot be fitted"
        )
    try:
        from analytics.cox import cox_model

        return cox_model(frame, "_time", "_event", usable, alpha=alpha)
    except ValueError as exc:
        raise EstimateError(str(exc)) from exc
