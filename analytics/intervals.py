"""Intervals where the estimator's own interval collapses, and exact limits for counts.

Why: where a survival curve is still at 1 (nobody has had the event) or a cumulative incidence
still at 0, Greenwood's and the infinitesimal-jackknife variances are exactly 0 and every
transformed interval has zero width: "0.0% (0.0–0.0)" for a centre of 28 patients claims a
certainty the data cannot give. With no event in ``m`` patients followed to the horizon, the
exact (Clopper–Pearson) one-sided ``1 - alpha/2`` bound on the probability of the event is
``1 - (alpha/2)^(1/m)`` — the rule of three's exact form (about ``3.7 / m`` for 95%). Patients
censored before the horizon carry less information, so ``m`` is the number still at risk at the
horizon plus those who had an event before it: a conservative (wider) bound. Where nobody is
followed to the horizon there is no estimate at all ("not estimable").

Counts against an expected number (observed/expected ratios) get Garwood's exact Poisson limits.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

__all__ = ["zero_event_upper_bound", "incidence_interval", "poisson_ratio_limits", "NOT_ESTIMABLE"]

NOT_ESTIMABLE = "not estimable"


def zero_event_upper_bound(m: int, alpha: float = 0.05) -> float:
    """Exact one-sided ``1 - alpha/2`` upper bound on a probability after 0 events in ``m``
    patients (``nan`` for ``m = 0``: not estimable)."""
    if m <= 0:
        return math.nan
    return 1.0 - (alpha / 2.0) ** (1.0 / m)


def incidence_interval(
    estimate: float, lower: float, upper: float, *, n_informative: int, alpha: float = 0.05
) -> tuple[float, float, float]:
    """``(estimate, lower, upper)`` of a probability of the event (cumulative incidence or
    1 − survival), with the degenerate cases replaced:

    * estimate 0 (no event yet): ``(0, 0, exact upper bound)`` from ``n_informative`` patients;
    * estimate 1 (every patient had the event): ``(1, exact lower bound, 1)``;
    * ``n_informative = 0``: all ``nan`` (not estimable).
    """
    if n_informative <= 0 or estimate is None or (isinstance(estimate, float) and math.isnan(estimate)):
        return math.nan, math.nan, math.nan
    if estimate <= 0.0:
        return 0.0, 0.0, zero_event_upper_bound(n_informative, alpha)
    if estimate >= 1.0:
        return 1.0, 1.0 - zero_event_upper_bound(n_informative, alpha), 1.0
    return float(estimate), float(lower), float(upper)


def poisson_ratio_limits(observed: int, expected: float, alpha: float = 0.05) -> tuple[float, float]:
    """Garwood's exact ``1 - alpha`` limits of ``observed / expected`` for a Poisson count
    (lower 0 when nothing was observed; ``nan`` when nothing was expected)."""
    if expected <= 0 or not np.isfinite(expected):
        return math.nan, math.nan
    lower = 0.0 if observed == 0 else stats.chi2.ppf(alpha / 2.0, 2 * observed) / 2.0
    upper = stats.chi2.ppf(1.0 - alpha / 2.0, 2 * observed + 2) / 2.0
    return float(lower / expected), float(upper / expected)
