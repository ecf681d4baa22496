"""The k-sample log-rank test, as R survival 3.5-3 ``survdiff(Surv(time, status) ~ group)``.

Why the log-rank test: it compares whole survival curves, weighting every event time equally,
and is the test that goes with Kaplan–Meier curves and the Cox model (it is the Cox score test
with one categorical covariate, up to the handling of ties). At each distinct event time ``t``
with ``n`` at risk and ``d`` events, group ``g`` has ``n_g`` at risk and ``d_g`` events:

* expected ``E_g = sum_t d n_g / n``, observed ``O_g = sum_t d_g``;
* hypergeometric covariance ``V_gh = sum_t d (n - d) / (n - 1) (n_g / n) (1[g = h] - n_h / n)``;
* ``chi2 = (O - E)' V^-1 (O - E)`` over the groups with ``E_g > 0`` less the first (R drops
  groups with no expected events and one group to make ``V`` invertible), on as many degrees
  of freedom as groups kept less one.

With ``strata``, observed, expected and covariance are summed over strata (R's
``survdiff(... + strata(s))``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analytics.kaplan_meier import ArrayLike, _as_durations, _as_events

__all__ = ["LogRankResult", "logrank_test"]


@dataclass(frozen=True)
class LogRankResult:
    """Chi-square statistic, degrees of freedom and p-value; ``groups`` has one row per group
    (``group, n, observed, expected``). Unpacks as ``chi2, df, p = result``."""

    chi2: float
    df: int
    p: float
    groups: pd.DataFrame = field(repr=False, compare=False, default_factory=pd.DataFrame)

    def __iter__(self) -> Iterator[float]:
        return iter((self.chi2, self.df, self.p))


def _as_labels(values: Any, n: int, name: str) -> pd.Series:
    labels = pd.Series(values).reset_index(drop=True) if not isinstance(values, pd.Series) else values.reset_index(drop=True)
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"durations and {name} differ in length ({n} vs {len(labels)}); give one {name[:-1] if name.endswith('s') else name} per subject")
    missing = int(labels.isna().sum())
    if missing:
        raise ValueError(f"{name} has {missing} missing value(s); drop those subjects or give them a group of their own")
    return labels


def logrank_test(
    durations: ArrayLike,
    events: ArrayLike,
    groups: ArrayLike,
    *,
    strata: ArrayLike | None = None,
) -> LogRankResult:
    """Compare the survival of two or more groups (R ``survdiff``, rho = 0).

    :param durations: follow-up times (>= 0).
    :param events: 1 event, 0 censored.
    :param groups: a label per subject (any type; missing not allowed).
    :param strata: optional stratum per subject; the test is then stratified.
    :raises ValueError: inputs of different lengths or invalid values, fewer than two groups, or
        no event at all (nothing to compare).
    """
    t = _as_durations(durations)
    e = _as_events(events, t.size)
    g = _as_labels(groups, t.size, "groups")
    codes, levels = pd.factorize(g, sort=True)
    k = len(levels)
    if k < 2:
        raise ValueError(f"the log-rank test compares groups, but groups has only {k} distinct value(s): {list(levels)}")
    if e.sum() == 0:
        raise ValueError("there is no event in any group, so there is nothing to compare: the log-rank test needs at least one event")
    strata_codes = (
        np.zeros(t.size, dtype=np.int64)
        if strata is None
        else pd.factorize(_as_labels(strata, t.size, "strata"), sort=True)[0]
    )

    observed = np.zeros(k)
    expected = np.zeros(k)
    variance = np.zeros((k, k))
    for s in np.unique(strata_codes):
        mask = strata_codes == s
        o, ex, v = _one_stratum(t[mask], e[mask], codes[mask], k)
        observed += o
        expected += ex
        variance += v

    keep = np.flatnonzero(expected > 0)
    df = int(keep.size - 1)
    if df < 1:
        raise ValueError("only one group has any subject at risk at the event times, so there is nothing to compare")
    idx = keep[1:]
    diff = (observed - expected)[idx]
    sub = variance[np.ix_(idx, idx)]
    if np.linalg.matrix_rank(sub) < idx.size:
        raise ValueError(
            "the log-rank variance is singular (e.g. everyone at risk at each event time had the "
            "event, or a group is entirely nested in a single event time): the test is undefined "
            "for these data; merge small groups or report the curves without a test"
        )
    chi2 = float(diff @ np.linalg.solve(sub, diff))
    from scipy import stats  # only a test needs it: kept out of every survival command's start-up

    p = float(stats.chi2.sf(chi2, df))
    table = pd.DataFrame(
        {
            "group": levels,
            "n": np.bincount(codes, minlength=k),
            "observed": observed,
            "expected": expected,
        }
    )
    return LogRankResult(chi2=chi2, df=df, p=p, groups=table)


def _one_stratum(t: np.ndarray, e: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    event_times = np.unique(t[e == 1])
    if event_times.size == 0:
        return np.zeros(k), np.zeros(k), np.zeros((k, k))
    # n_g(t) = count(time >= t) in group g; d_g(t) = events at t in group g  (k x T)
    at_risk = np.empty((k, event_times.size))
    deaths = np.empty((k, event_times.size))
    for g in range(k):
        tg = np.sort(t[codes == g])
        at_risk[g] = tg.size - np.searchsorted(tg, event_times, side="left")
        te = np.sort(t[(codes == g) & (e == 1)])
        deaths[g] = np.searchsorted(te, event_times, side="right") - np.searchsorted(te, event_times, side="left")
    n = at_risk.sum(axis=0)
    d = deaths.sum(axis=0)
    share = at_risk / n
    expected = (d * share).sum(axis=1)
    observed = deaths.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
    variance = np.einsum("t,gt,ht->gh", factor, share, -share)
    variance[np.diag_indices(k)] += (factor * share).sum(axis=1)
    return observed, expected, variance
