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
- The minimum-at-risk rule (`enough_at_risk`, the one place it is written): curves stop, and
  tables give no estimate, where fewer than `min_group_size` patients are still at risk.
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analytics.aalen_johansen import cumulative_incidence
from analytics.endpoints import AGGRESSIVE_FEATURES, COVARIATE_COLUMNS
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
    "dmt_free": ("dmt_free_days", "dmt_free_event"),
    "tf_neda": ("tf_neda_days", "tf_neda_event"),
    # competing risks (death competes), columns added by analytics.engraftment
    "neutrophil_engraftment": ("neutrophil_days", "neutrophil_status"),
    "platelet_engraftment": ("platelet_days", "platelet_status"),
}
"""Endpoint name → (time column, event/status column) of the endpoint table."""

ENDPOINT_LABELS: dict[str, str] = {
    "os": "Overall survival",
    "rfs": "Relapse-free survival",
    "pfs": "Progression-free survival (no confirmed disability worsening)",
    "cdi": "Free of confirmed disability improvement",
    "neda": "NEDA-3 (no evidence of disease activity)",
    "trm": "Transplant-related mortality (cumulative incidence)",
    "dmt_free": "DMT-free survival (no disease-modifying treatment started after transplant)",
    "tf_neda": "Treatment-free NEDA-3 (no disease activity and no DMT after transplant)",
    "neutrophil_engraftment": "Neutrophil engraftment (cumulative incidence, death competing)",
    "platelet_engraftment": "Platelet engraftment (cumulative incidence, death competing)",
}

COMPETING_ENDPOINTS: frozenset[str] = frozenset({"trm", "neutrophil_engraftment", "platelet_engraftment"})
"""Endpoints with status 0/1/2 estimated by Aalen–Johansen cumulative incidence of status 1."""

DEFAULT_TIMES: tuple[int, ...] = (365, 730, 1095, 1825)
ESTIMATE_COLUMNS: tuple[str, ...] = (
    "endpoint", "group", "time", "n_risk", "n_event", "n_censor", "estimate", "std_err", "lower", "upper", "suppressed",
)
PRINTED_COLUMNS: tuple[str, ...] = (
    "endpoint", "group", "days", "n_risk", "n_event", "n_censor", "estimate", "std_err", "lower", "upper",
)
"""What `msreg survival` prints (`printed_estimates`): times labelled in days, R's column order."""
PRINTED_DIGITS = 4
"""Decimals of printed estimates, standard errors and bounds (0.1% on a probability is below any
difference a registry can detect; more digits only suggest a precision there is not)."""
GROUPABLE_COLUMNS: tuple[str, ...] = tuple(c for c in COVARIATE_COLUMNS if c != "study_id") + (
    "aggressive_factors",
    *AGGRESSIVE_FEATURES,
)
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
    # aggressive-MS profile: 3 and 4 features together (few patients have all four)
    "aggressive_factors": ([1, 2, 3], ["0 features", "1 feature", "2 features", "3-4 features"]),
    **{feature: ([1], ["not shown", "present"]) for feature in AGGRESSIVE_FEATURES},
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
        out = pd.Series(np.asarray(labels, dtype=object)[codes], index=endpoints.index, dtype=object)
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
    if endpoint in COMPETING_ENDPOINTS:
        return cumulative_incidence(time, event, cause=1)
    return KaplanMeier().fit(time, event)


def enough_at_risk(n_risk: Any, min_at_risk: int) -> np.ndarray:
    """The minimum-at-risk rule, for every curve and table: a curve is drawn, and an estimate
    given, only where at least ``min_at_risk`` (the settings' ``min_group_size``, 5) patients
    are still at risk. Why: the tail beyond is a step of one or two patients (a 0–60 % band)
    that reads as a finding, and single patients' event times would show. Figures keep the rows
    of an estimator's table where this is True (`drawn_part`); `survival_estimates` and
    `msreg survival` leave the estimate empty where it is False."""
    values = pd.to_numeric(pd.Series(np.asarray(n_risk, dtype=object)), errors="coerce")
    return values.to_numpy(dtype=float, na_value=np.nan) >= min_at_risk


def drawn_part(curve: pd.DataFrame, min_at_risk: int) -> pd.DataFrame:
    """The rows of an estimator table (with ``n_risk``) that a figure draws (`enough_at_risk`)."""
    return curve[enough_at_risk(curve["n_risk"].to_numpy(), min_at_risk)]


def _check_times(at: Sequence[float]) -> list[float]:
    times = [float(t) for t in at]
    if not times or any(not np.isfinite(t) or t < 0 for t in times):
        raise EstimateError(f"times must be days >= 0, got {list(at)}")
    return times


@dataclass(frozen=True, slots=True)
class GroupFit:
    """One group's patients for one endpoint, and its estimator (None when suppressed)."""

    group: str
    time: np.ndarray
    event: np.ndarray
    fit: Any | None

    @property
    def n(self) -> int:
        return len(self.time)


def fit_groups(endpoints: pd.DataFrame, endpoint: str, *, by: str | None = None, min_group_size: int = 5) -> list[GroupFit]:
    """Every group of one endpoint and grouping, in display order, each fitted once.

    One grouped pass: the group labels are built once, the rows are split by one stable sort on
    the group codes (not one filter per group), and each group large enough to be shown is
    fitted once; estimates, curves, medians, risk tables and the log-rank test all read from
    the result.

    :raises EstimateError: unknown endpoint or grouping column.
    """
    data = endpoint_data(endpoints, endpoint, by)
    if not len(data):
        return []
    codes, uniques = pd.factorize(data["group"], sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    time, event = data["time"].to_numpy()[order], data["event"].to_numpy()[order]
    where = {str(g): (bounds[i], bounds[i + 1]) for i, g in enumerate(uniques)}
    fits = []
    for group in _ordered_groups(pd.Series(list(where), dtype=object), by):
        lo, hi = where[group]
        t, e = time[lo:hi], event[lo:hi]
        fits.append(GroupFit(group, t, e, _fit(endpoint, t, e) if hi - lo >= min_group_size else None))
    return fits


def survival_estimates(
    endpoints: pd.DataFrame,
    endpoint: str,
    *,
    by: str | None = None,
    at: Sequence[float] = DEFAULT_TIMES,
    min_group_size: int = 5,
    fits: Sequence[GroupFit] | None = None,
    min_at_risk: int | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Estimates at the given days, per group.

    Columns `endpoint, group, time, n_risk, n_event, n_censor, estimate, std_err, lower, upper,
    suppressed`: Kaplan–Meier survival with log-log 95% CI (os, rfs, pfs, cdi, neda) or the
    cumulative incidence of a transplant-related death with log 95% CI (trm), as R's
    `summary(survfit(...), times = at)`: `n_event` and `n_censor` count the events (for trm:
    transplant-related deaths) and censorings since the previous time in `at` (from day 0 for
    the first), and `std_err` is the standard error of the estimate itself — Greenwood's for
    S(t) (`S * se(log S)`), the infinitesimal jackknife's for the incidence. See the module
    docstring for suppressed groups and times past the follow-up. `fits` (from `fit_groups`
    with the same arguments) saves refitting when the caller has them.

    Two rules keep a table honest (the same as the figures'):

    * at a time with fewer than ``min_at_risk`` patients at risk (default: ``min_group_size``,
      the point where the curves stop) there is no estimate, unless the curve has ended (every
      patient had an event), where the value is known;
    * where survival is still 1 (or the incidence still 0) the estimator's interval has zero
      width; the bound on the side that can move is replaced by the exact one-sided
      ``1 - alpha/2`` bound from the patients followed to that time
      (:mod:`analytics.intervals`).

    :raises EstimateError: unknown endpoint or grouping column, or invalid times.
    """
    min_at_risk = min_group_size if min_at_risk is None else int(min_at_risk)
    times = _check_times(at)
    if fits is None:
        fits = fit_groups(endpoints, endpoint, by=by, min_group_size=min_group_size)
    frames = []
    if not fits and by is None:
        frames.append(_suppressed(times, ALL))
    for gf in fits:
        if gf.fit is None:
            frames.append(_suppressed(times, gf.group))
            continue
        est = gf.fit.at(times)
        est["n_event"], est["n_censor"] = _since_previous_time(gf.fit.table_, times)
        est["std_err"] = _std_err_at(gf.fit.table_, times, incidence=endpoint in COMPETING_ENDPOINTS)
        _exact_bounds_where_degenerate(est, gf.time, gf.event, endpoint, alpha)
        unknown = ~enough_at_risk(est["n_risk"].to_numpy(), min_at_risk) & (not _curve_finished(gf.event))
        for column in ("estimate", "std_err", "lower", "upper"):
            est[column] = est[column].where(~unknown, np.nan)
        est["suppressed"] = False
        est["group"] = gf.group
        frames.append(est)
    if not frames:
        return pd.DataFrame({c: [] for c in ESTIMATE_COLUMNS})
    out = pd.concat(frames, ignore_index=True)
    out["endpoint"] = endpoint
    for column in ("n_risk", "n_event", "n_censor"):
        out[column] = out[column].astype("Int64")
    # whole days print as whole days (365, not 365.0)
    out["time"] = out["time"].astype("int64") if all(float(t).is_integer() for t in times) else out["time"].astype(float)
    return out[list(ESTIMATE_COLUMNS)]


def _suppressed(times: list[float], group: str) -> pd.DataFrame:
    return pd.DataFrame({"time": times, "n_risk": pd.NA, "n_event": pd.NA, "n_censor": pd.NA, "estimate": np.nan,
                         "std_err": np.nan, "lower": np.nan, "upper": np.nan, "suppressed": True, "group": group})


def _since_previous_time(table: pd.DataFrame, times: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Events and censorings of an estimator's table in (previous time of `times`, t], R's
    `summary.survfit(times = )` convention (the first interval starts before day 0)."""
    grid = table["time"].to_numpy(dtype=float)
    ordered = sorted(set(times))
    previous = {t: (ordered[i - 1] if i else None) for i, t in enumerate(ordered)}
    upto = np.searchsorted(grid, np.asarray(times, dtype=float), side="right")
    start = np.array([0 if previous[t] is None else np.searchsorted(grid, previous[t], side="right") for t in times])
    counts = []
    for column in ("n_event", "n_censor"):
        cumulative = np.concatenate(([0], np.cumsum(table[column].to_numpy(dtype=np.int64))))
        counts.append(cumulative[upto] - cumulative[start])
    return counts[0], counts[1]


def _std_err_at(table: pd.DataFrame, times: list[float], *, incidence: bool) -> np.ndarray:
    """The standard error of the estimate at `times` (right-continuous, as the estimate).

    Kaplan–Meier tables hold Greenwood's standard error of log S (R's `survfit` object); the
    one of S itself, which R's `summary` prints and a reader sets beside S, is `S * se(log S)`.
    Aalen–Johansen tables already hold the standard error of the incidence."""
    grid = table["time"].to_numpy(dtype=float)
    row = np.searchsorted(grid, np.asarray(times, dtype=float), side="right") - 1
    safe = np.maximum(row, 0)
    se = table["std_err"].to_numpy(dtype=float)[safe]
    if not incidence:
        with np.errstate(invalid="ignore"):
            se = table["estimate"].to_numpy(dtype=float)[safe] * se
    return np.where(row < 0, 0.0, se)


def printed_estimates(table: pd.DataFrame, *, digits: int = PRINTED_DIGITS) -> pd.DataFrame:
    """`survival_estimates` output (released or not) as `msreg survival` prints it
    (`PRINTED_COLUMNS`): the time column named for its unit (days since the first transplant,
    the exact unit the registry computes in), estimates, standard errors and bounds rounded to
    `digits` decimals; counts as they are (released text stays text)."""
    out = table.rename(columns={"time": "days"}).loc[:, list(PRINTED_COLUMNS)].copy()
    for column in ("estimate", "std_err", "lower", "upper"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float).round(digits)
    return out


def _exact_bounds_where_degenerate(est: pd.DataFrame, time: np.ndarray, status: np.ndarray, endpoint: str,
                                   alpha: float) -> None:
    """S = 1 (or F = 0) at a time: the exact one-sided bound instead of a zero-width interval."""
    from analytics.intervals import zero_event_upper_bound

    incidence = endpoint in COMPETING_ENDPOINTS
    for i, t in enumerate(est["time"].to_numpy()):
        m = int(((time >= t) | ((status != 0) & (time <= t))).sum())
        bound = zero_event_upper_bound(m, alpha)
        if incidence and est.at[i, "estimate"] <= 0.0:
            est.at[i, "lower"], est.at[i, "upper"] = 0.0, bound
        elif not incidence and est.at[i, "estimate"] >= 1.0:
            est.at[i, "lower"], est.at[i, "upper"] = 1.0 - bound, 1.0


def _curve_finished(event: np.ndarray) -> bool:
    """True when the curve's value beyond the last time is known (everyone had an event)."""
    return bool((event != 0).all())


def survival_curves(
    endpoints: pd.DataFrame,
    endpoint: str,
    *,
    by: str | None = None,
    min_group_size: int = 5,
    fits: Sequence[GroupFit] | None = None,
) -> pd.DataFrame:
    """The whole step curves per group, for figures: the estimator's `table_` plus `group`.

    Columns `group, time, n_risk, n_event, n_censor, estimate, lower, upper` (and `n_competing`
    for trm). Suppressed groups (fewer than `min_group_size` patients) are absent; ask
    `survival_estimates` to learn which they are. `fits` as for `survival_estimates`.
    """
    if fits is None:
        fits = fit_groups(endpoints, endpoint, by=by, min_group_size=min_group_size)
    frames = []
    for gf in fits:
        if gf.fit is None:
            continue
        table = gf.fit.table_.drop(columns=["std_err"])
        table.insert(0, "group", gf.group)
        frames.append(table)
    if not frames:
        return pd.DataFrame(columns=["group", "time", "n_risk", "n_event", "n_censor", "estimate", "lower", "upper"])
    return pd.concat(frames, ignore_index=True)


def compare_groups(
    endpoints: pd.DataFrame,
    endpoint: str,
    by: str,
    *,
    min_group_size: int = 5,
    fits: Sequence[GroupFit] | None = None,
) -> LogRankResult | None:
    """Log-rank test across the groups that are shown (suppressed groups are left out).

    None when fewer than two groups are large enough or there is no event. For trm the test
    compares cause-specific hazards of transplant-related death (other deaths censored), which
    is what the log-rank test can say about a competing-risks endpoint. `fits` as for
    `survival_estimates`.

    :raises EstimateError: unknown endpoint or grouping column.
    """
    check_by(by)
    if fits is None:
        fits = fit_groups(endpoints, endpoint, by=by, min_group_size=min_group_size)
    shown = [gf for gf in fits if gf.n >= min_group_size]
    if len(shown) < 2:
        return None
    time = np.concatenate([gf.time for gf in shown])
    event = (np.concatenate([gf.event for gf in shown]) == 1).astype(int)
    if event.sum() == 0:
        return None
    groups = np.concatenate([np.full(gf.n, gf.group, dtype=object) for gf in shown])
    return logrank_test(time, event, groups)


def early_mortality(endpoints: pd.DataFrame, *, by: str | None = None, days: int = 100) -> pd.DataFrame:
    """All-cause deaths with `os_days <= days` (docs/endpoints.md: early mortality, day 100).

    Columns `group, patients, deaths, proportion`. Counts are not suppressed here: pass them
    through `registry.security.disclosure.suppress_counts` before showing them outside the registry.
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

AGGRESSIVE_COVARIATES: tuple[str, ...] = tuple(AGGRESSIVE_FEATURES)
"""The aggressive-MS features F1-F4 as 0/1 covariates of the Cox model (hazard ratio: present
against not shown); added to the profile on request."""

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
    for column in ("baseline_edss", "disease_duration_years", "relapses_12m", *AGGRESSIVE_COVARIATES):
        if column in out.columns:
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
        raise EstimateError(
            f"unknown covariate(s) {', '.join(unknown)}; profile covariates: {', '.join(PROFILE_COVARIATES + AGGRESSIVE_COVARIATES)}"
        )
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
