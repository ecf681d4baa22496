"""Cox proportional-hazards model with Efron ties, hazard ratios and 95% CIs.

Matches R survival 3.5-3 ``coxph(Surv(time, status) ~ x1 + x2 + strata(s), data)`` (Efron, R's
default): coefficients, standard errors (model-based, the inverse information), Wald p-values
``2 (1 - Phi(|coef / se|))``, CIs ``exp(coef ± z se)`` and Harrell's concordance as R's
``coxph(...)$concordance`` (pairs tied on the risk score count 1/2, pairs tied on time are not
comparable, within strata only).

The fit is lifelines' ``CoxPHFitter`` (Efron's partial likelihood, Newton–Raphson), with its
convergence tolerance tightened from 1e-7 to 1e-12 so the coefficients agree with R's to about
1e-10 rather than 1e-6 (lung: checked in the tests).

Data handling, decided here once:

* rows with a missing value in any used column (duration, event, covariates, strata) are
  dropped; ``n`` and ``n_dropped`` report it;
* numeric and boolean covariates enter as they are;
* categorical covariates (pandas ``category``, ``object``/string) are one-hot encoded against a
  reference level, R's choice: the first category of a ``category`` column (so the caller
  chooses it by ordering the categories), otherwise the first level in sorted order — as
  R's ``factor()``. Unused categories are dropped first. Terms are named ``column[level]``;
  ``reference_levels`` records each reference.
* a covariate with a single value in the rows used, or a data set without an event, is an error
  that says what to do.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from scipy import stats

from analytics.kaplan_meier import _as_durations, _as_events

__all__ = ["CoxResult", "cox_model"]

TABLE_COLUMNS: list[str] = ["term", "coef", "hr", "lower", "upper", "se", "p"]


def coefficient_table(terms: Sequence[str], coef: np.ndarray, se: np.ndarray, alpha: float) -> pd.DataFrame:
    """Hazard ratios with Wald intervals and p-values from log-hazard coefficients and their
    standard errors: the one table shape of every proportional-hazards model here (Cox and
    Fine–Gray), so pages and the CLI read them alike."""
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    return pd.DataFrame(
        {
            "term": list(terms),
            "coef": coef,
            "hr": np.exp(coef),
            "lower": np.exp(coef - z * se),
            "upper": np.exp(coef + z * se),
            "se": se,
            "p": 2.0 * stats.norm.sf(np.abs(coef / se)),
        },
        columns=TABLE_COLUMNS,
    )

_DURATION = "__duration__"
_EVENT = "__event__"
_STRATUM = "__stratum__"
_CLUSTER = "__cluster__"

#: lifelines' Newton–Raphson stopping rule (norm of the step); its default is 1e-7.
_PRECISION = 1e-12


@dataclass(frozen=True)
class CoxResult:
    """A fitted Cox model.

    ``table``: one row per term: ``term, coef, hr, lower, upper, se, p`` (``hr = exp(coef)``,
    ``lower``/``upper`` the CI of the hazard ratio). ``n`` rows used, ``n_events`` events among
    them, ``n_dropped`` rows dropped for missing values, ``concordance`` Harrell's C,
    ``reference_levels`` the reference level of each categorical covariate, ``strata`` the
    stratification columns, ``alpha``, ``cluster`` the column whose clusters the robust
    (sandwich) standard errors allow for (None: model-based), ``warnings`` lifelines' convergence
    warnings (separation, collinearity), to be shown to the user rather than lost in a log.
    """

    table: pd.DataFrame
    n: int
    n_events: int
    concordance: float
    n_dropped: int = 0
    reference_levels: dict[str, object] = field(default_factory=dict)
    strata: tuple[str, ...] = ()
    alpha: float = 0.05
    cluster: str | None = None
    warnings: tuple[str, ...] = ()


def cox_model(
    df: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariates: Sequence[str],
    *,
    strata: str | Sequence[str] | None = None,
    alpha: float = 0.05,
    cluster: str | None = None,
) -> CoxResult:
    """Fit ``Surv(duration, event) ~ covariates (+ strata(...))`` with Efron ties.

    :param df: one row per subject.
    :param duration_col: follow-up time (>= 0).
    :param event_col: 1 event, 0 censored.
    :param covariates: columns to model; categorical ones are one-hot encoded (module docs).
    :param strata: column(s) defining strata with their own baseline hazard.
    :param alpha: 1 - confidence level of the hazard-ratio intervals.
    :param cluster: column of cluster labels (e.g. centre): robust standard errors clustered on
        it (lifelines ``cluster_col``, R's ``cluster()``).
    :raises KeyError: a named column is not in ``df``.
    :raises ValueError: no covariate, no rows or no event left after dropping missing values,
        a constant covariate, invalid durations/events, or a fit that does not converge.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1 (0.05 gives 95% intervals); got {alpha!r}")
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    strata_cols = [] if strata is None else ([strata] if isinstance(strata, str) else list(strata))
    if not covariates:
        raise ValueError("give at least one covariate; for a model-free comparison use logrank_test")
    used = [duration_col, event_col, *covariates, *strata_cols, *([cluster] if cluster else [])]
    missing_cols = [c for c in used if c not in df.columns]
    if missing_cols:
        raise KeyError(f"column(s) {missing_cols} not in the data; available: {list(df.columns)}")
    overlap = set(covariates) & ({duration_col, event_col} | set(strata_cols))
    if overlap or len(set(covariates)) != len(covariates):
        raise ValueError(f"covariates must be distinct and differ from the time, event and strata columns; got {covariates}")

    complete = df[used].dropna()
    n_dropped = len(df) - len(complete)
    if complete.empty:
        raise ValueError(
            f"no row has all of {used} present ({n_dropped} dropped for missing values); "
            f"choose covariates that are recorded or impute them first"
        )
    durations = _as_durations(complete[duration_col], name=duration_col)
    events = _as_events(complete[event_col], durations.size, name=event_col)
    if events.sum() == 0:
        raise ValueError(
            f"there is no event in the {len(complete)} rows used, so no hazard ratio can be "
            f"estimated; check {event_col!r} (1 = event) or widen the cohort"
        )

    design, references = _design_matrix(complete, covariates)
    design[_DURATION] = durations
    design[_EVENT] = events
    fit_kwargs: dict[str, object] = {}
    if strata_cols:
        design[_STRATUM] = complete[strata_cols].astype(str).agg("|".join, axis=1).to_numpy()
        fit_kwargs["strata"] = [_STRATUM]
    if cluster:
        design[_CLUSTER] = complete[cluster].astype(str).to_numpy()
        fit_kwargs["cluster_col"] = _CLUSTER

    fitter = CoxPHFitter(alpha=alpha)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            fitter.fit(
                design,
                duration_col=_DURATION,
                event_col=_EVENT,
                fit_options={"precision": _PRECISION},
                **fit_kwargs,
            )
    except ConvergenceError as exc:
        raise ValueError(
            f"the Cox model did not converge ({exc}); look for collinear covariates or a level "
            f"with no events, and drop or merge them"
        ) from exc

    summary = fitter.summary
    table = coefficient_table(list(summary.index), summary["coef"].to_numpy(), summary["se(coef)"].to_numpy(), alpha)
    return CoxResult(
        table=table,
        n=int(len(complete)),
        n_events=int(events.sum()),
        concordance=float(fitter.concordance_index_),
        n_dropped=int(n_dropped),
        reference_levels=references,
        strata=tuple(strata_cols),
        alpha=float(alpha),
        cluster=cluster,
        warnings=tuple(dict.fromkeys(str(w.message).strip() for w in caught if issubclass(w.category, ConvergenceWarning))),
    )


def _is_categorical(column: pd.Series) -> bool:
    return isinstance(column.dtype, pd.CategoricalDtype) or column.dtype == object or pd.api.types.is_string_dtype(column.dtype)


def _design_matrix(data: pd.DataFrame, covariates: list[str]) -> tuple[pd.DataFrame, dict[str, object]]:
    """Numeric design matrix (one column per term) and the reference level of each categorical
    covariate; raises on constant covariates."""
    columns: dict[str, np.ndarray] = {}
    references: dict[str, object] = {}
    for name in covariates:
        column = data[name]
        if _is_categorical(column):
            if isinstance(column.dtype, pd.CategoricalDtype):
                levels = list(column.cat.remove_unused_categories().cat.categories)
            else:
                levels = sorted(column.unique(), key=lambda v: (str(type(v)), v))
            if len(levels) < 2:
                raise ValueError(_constant_message(name, levels[0], len(data)))
            references[name] = levels[0].item() if isinstance(levels[0], np.generic) else levels[0]
            for level in levels[1:]:
                columns[f"{name}[{level}]"] = (column == level).to_numpy(dtype=float)
        else:
            try:
                values = column.to_numpy(dtype=float)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"covariate {name!r} is neither numeric nor categorical: {exc}") from exc
            if np.unique(values).size < 2:
                raise ValueError(_constant_message(name, values[0].item(), len(data)))
            columns[name] = values
    return pd.DataFrame(columns, index=data.index), references


def _constant_message(name: str, value: object, n: int) -> str:
    return (
        f"covariate {name!r} has the single value {value!r} in the {n} rows used (after dropping "
        f"missing values), so its effect cannot be estimated; drop it from covariates"
    )
