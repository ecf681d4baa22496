"""Kaplan–Meier survival with log-log (Kalbfleisch–Prentice) confidence intervals.

Matches R survival 3.5-3 ``survfit(Surv(time, status) ~ 1, conf.type = "log-log")``. The
estimate and its interval come from lifelines' ``KaplanMeierFitter`` (the library the design
names; it agrees with R to rounding), wrapped in R's conventions where lifelines differs:

* survival: the product-limit estimate ``S(t) = prod_{t_j <= t} (1 - d_j / n_j)``, where at a
  tied time every event is counted before any censoring (a subject censored at ``t_j`` is still
  at risk at ``t_j``), as in R and in Kaplan and Meier (1958);
* variance: Greenwood's formula for ``log S``, ``sum_{t_j <= t} d_j / (n_j (n_j - d_j))``
  (R's ``std.err`` of a Kaplan–Meier curve is this standard error of ``log S``);
* interval: log-log, ``S ** exp(±z se / log S)`` (``survival:::survfit_confint``), so bounds
  always lie in [0, 1];
* number at risk at an arbitrary ``t``: ``count(time >= t)``, R's convention (lifelines 0.30
  counts differently, so it is computed here);
* the confidence interval of the median: R's ``quantile.survfit`` rule, the times at which the
  lower and the upper confidence curves first reach 0.5 (with R's tolerance and mid-point rule
  for a curve that sits exactly on 0.5).

Where R reports ``NA`` for a bound this module reports, instead:

* ``S = 1`` (before the first event): lower = upper = 1. The variance is exactly 0 there and
  this is the limit of the interval; R leaves it ``NA`` because ``log(-log 1)`` is undefined.
* ``S = 0`` (the last subject at risk had the event): lower = upper = ``NaN``, as in R —
  Greenwood's variance is infinite there, so no interval exists.

The private helpers ``_as_durations``, ``_as_events`` and ``_r_findq`` are shared with the other
estimators of this package (Aalen–Johansen, log-rank).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["KaplanMeier", "median_survival"]

ArrayLike = Sequence[float] | np.ndarray | pd.Series

#: R's ``quantile.survfit`` tolerance for "the curve is exactly at the quantile".
R_QUANTILE_TOL: float = float(np.sqrt(np.finfo(float).eps))

AT_COLUMNS: list[str] = ["time", "n_risk", "estimate", "lower", "upper"]


# --------------------------------------------------------------------------------------------
# input validation, shared by the estimators of this package
# --------------------------------------------------------------------------------------------
def _as_durations(durations: Any, name: str = "durations") -> np.ndarray:
    """Durations as a float array, or a ValueError that says how to fix them."""
    if isinstance(durations, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of numbers, not a string")
    try:
        arr = np.asarray(durations, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be numbers (days or months since time zero); convert dates to "
            f"elapsed time first: {exc}"
        ) from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: at least one subject is needed to fit a curve")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(
            f"{name} has {bad.size} missing or infinite value(s) (first at position {bad[0]}); "
            f"drop those subjects or give their last follow-up time"
        )
    neg = np.flatnonzero(arr < 0)
    if neg.size:
        raise ValueError(
            f"{name} has {neg.size} negative value(s) (first {arr[neg[0]]!r} at position "
            f"{neg[0]}); time must be measured from time zero (e.g. transplant), so check that "
            f"the event date is not before it"
        )
    return arr


def _as_events(events: Any, n: int, name: str = "events", *, binary: bool = True) -> np.ndarray:
    """Event indicators (0/1, or non-negative integer status codes) as an int array."""
    if isinstance(events, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of integers, not a string")
    try:
        raw = np.asarray(events, dtype=float)
    except (TypeError, ValueError) as exc:
        kind = "0 (censored) or 1 (event)" if binary else "0 (censored) or a cause code 1, 2, …"
        raise TypeError(f"{name} must be {kind}: {exc}") from exc
    if raw.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {raw.shape}")
    if raw.size != n:
        raise ValueError(
            f"durations and {name} differ in length ({n} vs {raw.size}); give one value per "
            f"subject in both"
        )
    if np.isnan(raw).any():
        raise ValueError(
            f"{name} has {int(np.isnan(raw).sum())} missing value(s); a subject without an "
            f"event is censored: code it 0"
        )
    if binary:
        bad = ~np.isin(raw, (0.0, 1.0))
        if bad.any():
            values = sorted(set(raw[bad].tolist()))[:5]
            raise ValueError(
                f"{name} must be 0 (censored) or 1 (event); found {values}. For competing "
                f"risks use cumulative_incidence(durations, status, cause=...)"
            )
    else:
        bad = (raw < 0) | (raw != np.round(raw))
        if bad.any():
            values = sorted(set(raw[bad].tolist()))[:5]
            raise ValueError(
                f"{name} must be 0 (censored) or a positive integer cause code; found {values}"
            )
    return raw.astype(np.int64)


def _as_query_times(times: Any) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(times, dtype=float))
    if arr.ndim != 1:
        raise ValueError(f"times must be a number or one-dimensional, got shape {arr.shape}")
    if (~np.isfinite(arr)).any() or (arr < 0).any():
        raise ValueError(f"times must be finite and >= 0 (time since time zero); got {arr.tolist()}")
    return arr


def _n_at_risk(durations: np.ndarray, times: np.ndarray) -> np.ndarray:
    """R's convention: the number at risk at ``t`` is ``count(duration >= t)``."""
    ordered = np.sort(durations)
    return (ordered.size - np.searchsorted(ordered, times, side="left")).astype(np.int64)


def _step_index(grid: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Row of a right-continuous step function on ``grid`` in force at each of ``times``
    (-1 before the first grid time)."""
    return np.searchsorted(grid, times, side="right") - 1


def _r_findq(x: np.ndarray, y: np.ndarray, p: float, tol: float = R_QUANTILE_TOL) -> float:
    """Port of ``survival:::findq`` (survival 3.5-3): first ``x`` at which the non-decreasing
    ``y`` reaches ``p``; the mid-point between it and the next ``x`` where ``y`` sits on ``p``
    (within ``tol``) over an interval. ``x`` and ``y`` start with R's prepended ``(0, 0)``; NaN
    ``y`` (R's NA) are skipped as ``approx`` skips them. Returns NaN where R returns NA."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return float("nan")
    xmax = x[-1]
    # duplicated(y): keep the first of equal values; NA equals NA.
    keep = ~pd.Series(y).duplicated().to_numpy()
    x, y = x[keep], y[keep]
    n = y.size

    def approx_index(values: np.ndarray) -> float:
        # approx(values, 1:n, p, method="constant", f=1): the index of the smallest knot >= p,
        # NA outside [min, max] of the non-missing knots.
        ok = ~np.isnan(values)
        v, idx = values[ok], np.arange(n)[ok]
        order = np.argsort(v, kind="stable")
        v, idx = v[order], idx[order]
        if v.size == 0 or p < v[0] or p > v[-1]:
            return float("nan")
        return float(idx[np.searchsorted(v, p, side="left")])

    i1, i2 = approx_index(y + tol), approx_index(y - tol)
    quant = float("nan") if np.isnan(i1) or np.isnan(i2) else (x[int(i1)] + x[int(i2)]) / 2
    if p == 0:
        quant = float(x[0])
    if not np.isnan(y[-1]) and abs(p - y[-1]) < tol and not np.isnan(i1):
        quant = (x[int(i1)] + xmax) / 2
    return quant


# --------------------------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------------------------
class KaplanMeier:
    """Kaplan–Meier estimate of the survival function with log-log 95% confidence intervals.

    :param alpha: 1 - confidence level (0.05 for 95% intervals).

    Fitted attributes (after :meth:`fit`):

    ``table_``
        one row per distinct observed time (events and censorings), preceded by a row at time 0
        (``n_event = n_censor = 0``, estimate 1) when no subject has time 0, so that the curve
        starts at ``(0, S(0))``; columns ``time, n_risk, n_event, n_censor, estimate, std_err,
        lower, upper``. ``std_err`` is Greenwood's standard error of ``log S`` (R's
        ``std.err``). An event at time 0 is an event: ``S(0) < 1``.
    ``median_``
        the smallest time with ``S(t) <= 0.5`` (within R's tolerance 1.5e-8), NaN if the curve
        never reaches 0.5 (docs/endpoints.md). R's ``quantile.survfit`` differs only when ``S`` sits
        exactly on 0.5 over an interval, where it reports the interval's mid-point.
    ``median_ci_``
        ``(lower, upper)``: the times at which the lower and the upper confidence curves first
        reach 0.5, by R's ``quantile.survfit`` rule; NaN where a curve never reaches it.
    ``n_``, ``n_events_``
        numbers of subjects and of events.
    """

    def __init__(self, alpha: float = 0.05) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be between 0 and 1 (0.05 gives 95% intervals); got {alpha!r}")
        self.alpha = float(alpha)

    def fit(self, durations: ArrayLike, events: ArrayLike) -> KaplanMeier:
        """Fit the curve to follow-up ``durations`` (>= 0) and ``events`` (1 event, 0 censored).

        :raises ValueError: lengths differ, a duration is missing or negative, or an event
            indicator is not 0/1.
        :returns: self, with the fitted attributes set.
        """
        t = _as_durations(durations)
        e = _as_events(events, t.size)
        self._durations = t

        times, n_event, n_censor, n_risk = _counts(t, e)

        observed, events_at, censored_at = times, n_event, n_censor
        if times[0] > 0:  # start the curve at time 0
            times = np.concatenate(([0.0], times))
            n_event = np.concatenate(([0], n_event))
            n_censor = np.concatenate(([0], n_censor))
            n_risk = np.concatenate(([t.size], n_risk))

        estimate, lower, upper = _lifelines_curve(observed, events_at, censored_at, times, self.alpha)
        with np.errstate(divide="ignore", invalid="ignore"):
            increments = np.where(
                n_event > 0, n_event / (n_risk * (n_risk - n_event).astype(float)), 0.0
            )
        std_err = np.sqrt(np.cumsum(increments))
        # R's conventions where the interval is degenerate: 1 at S = 1, undefined (NaN) at S = 0
        undefined = (estimate <= 0) | ~np.isfinite(std_err)
        lower = np.where(estimate >= 1, 1.0, np.where(undefined, np.nan, lower))
        upper = np.where(estimate >= 1, 1.0, np.where(undefined, np.nan, upper))

        self.table_ = pd.DataFrame(
            {
                "time": times,
                "n_risk": n_risk.astype(np.int64),
                "n_event": n_event,
                "n_censor": n_censor,
                "estimate": estimate,
                "std_err": std_err,
                "lower": lower,
                "upper": upper,
            }
        )
        self.n_ = int(t.size)
        self.n_events_ = int(e.sum())
        self.median_ = _smallest_time_at_or_below(times, estimate, 0.5)
        self.median_ci_ = (
            float(_r_findq(np.concatenate(([0.0], times)), np.concatenate(([0.0], 1.0 - lower)), 0.5)),
            float(_r_findq(np.concatenate(([0.0], times)), np.concatenate(([0.0], 1.0 - upper)), 0.5)),
        )
        return self

    def at(self, times: float | ArrayLike) -> pd.DataFrame:
        """The fitted step function at arbitrary ``times`` (>= 0).

        ``estimate``, ``lower`` and ``upper`` are those of the last observed time <= ``t``
        (right-continuous); past the last observed time they are carried forward, as R's
        ``summary(fit, times, extend = TRUE)`` does, while ``n_risk`` (``count(time >= t)``)
        shows 0 there. Columns: ``time, n_risk, estimate, lower, upper``.
        """
        self._check_fitted()
        query = _as_query_times(times)
        return _evaluate_steps(self.table_, self._durations, query, start_value=1.0)

    def _check_fitted(self) -> None:
        if not hasattr(self, "table_"):
            raise RuntimeError("KaplanMeier is not fitted yet: call .fit(durations, events) first")

    def __repr__(self) -> str:
        if not hasattr(self, "table_"):
            return f"KaplanMeier(alpha={self.alpha})"
        return f"KaplanMeier(alpha={self.alpha}): n={self.n_}, events={self.n_events_}, median={self.median_}"


def _counts(t: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct times and, at each, events, censorings and the number at risk (events first)."""
    times, inverse = np.unique(t, return_inverse=True)
    n_event = np.bincount(inverse, weights=e, minlength=times.size).astype(np.int64)
    n_total = np.bincount(inverse, minlength=times.size).astype(np.int64)
    n_risk = t.size - np.concatenate(([0], np.cumsum(n_total)[:-1]))
    return times, n_event, n_total - n_event, n_risk


def median_survival(durations: ArrayLike, events: ArrayLike) -> float:
    """``KaplanMeier().fit(durations, events).median_`` without the confidence interval.

    Why a function of its own: the median needs only the product-limit estimate
    ``prod (1 - d_j / n_j)``, and the interval, for which `fit` goes through lifelines, costs
    about 1.5 CPU seconds of imports (lifelines, scipy) in a command that needs nothing else
    from them (the export's median follow-up by reverse Kaplan–Meier). The same counts and the
    same tolerance as `fit`; the tests check that both give the same median.
    """
    t = _as_durations(durations)
    times, n_event, _, n_risk = _counts(t, _as_events(events, t.size))
    return _smallest_time_at_or_below(times, np.cumprod(1.0 - n_event / n_risk), 0.5)


def _z(alpha: float) -> float:
    """The standard normal quantile 1 - alpha/2 (1.959964 for 95%).

    Why the standard library: the same value as scipy.stats.norm.ppf (to within 1e-15), without
    importing scipy.stats (about a second of CPU at start-up) into every survival command.
    """
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


def _lifelines_curve(
    observed: np.ndarray, n_event: np.ndarray, n_censor: np.ndarray, times: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Survival and its log-log ("exponential Greenwood") interval from lifelines'
    ``KaplanMeierFitter`` at ``times`` (the observed times, with 0): the same product-limit
    estimate and interval as R (checked against R in the tests); the number at risk is not
    taken from lifelines (its counts differ from R's).

    Why counts rather than one row per subject: lifelines is given each distinct time twice at
    most (its events and its censorings, as integer weights), so its pandas work grows with the
    number of distinct times, not of patients (a third of a 100,000-patient curve's cost). The
    result is the same to the last bit: lifelines sums weights of 1.0 per subject otherwise,
    and sums of whole numbers are exact.
    """
    from lifelines import KaplanMeierFitter

    durations = np.concatenate((observed, observed))
    events = np.concatenate((np.ones(observed.size), np.zeros(observed.size)))
    weights = np.concatenate((n_event, n_censor)).astype(float)
    keep = weights > 0
    fitter = KaplanMeierFitter(alpha=alpha).fit(durations[keep], events[keep], weights=weights[keep])
    survival = fitter.survival_function_.iloc[:, 0]
    bounds = fitter.confidence_interval_survival_function_
    step = np.searchsorted(survival.index.to_numpy(dtype=float), times, side="right") - 1
    pick = lambda values: np.asarray(values, dtype=float)[np.maximum(step, 0)]  # noqa: E731
    return pick(survival.to_numpy()), pick(bounds.iloc[:, 0].to_numpy()), pick(bounds.iloc[:, 1].to_numpy())


def _smallest_time_at_or_below(times: np.ndarray, curve: np.ndarray, p: float) -> float:
    hit = np.flatnonzero(curve <= p + R_QUANTILE_TOL)
    return float(times[hit[0]]) if hit.size else float("nan")


def _evaluate_steps(
    table: pd.DataFrame, durations: np.ndarray, query: np.ndarray, *, start_value: float
) -> pd.DataFrame:
    """Evaluate ``table``'s right-continuous step functions (estimate, lower, upper) at
    ``query``; before the first row the curve is ``start_value`` with that bound on both
    sides."""
    grid = table["time"].to_numpy()
    row = _step_index(grid, query)
    before = row < 0
    safe = np.where(before, 0, row)
    out = {"time": query, "n_risk": _n_at_risk(durations, query)}
    for column in ("estimate", "lower", "upper"):
        values = table[column].to_numpy()[safe]
        out[column] = np.where(before, start_value, values)
    return pd.DataFrame(out, columns=AT_COLUMNS)
