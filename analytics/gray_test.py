"""Gray's K-sample test for equal cumulative incidence of one cause (Gray 1988).

Why not the log-rank test on the cause: the cause-specific log-rank test compares hazards among
patients still alive, which answers a different question ("do patients in group A die of the
cause faster while alive?"). When the competing risk differs between groups, equal cause-specific
hazards can go with unequal cumulative incidence, and the other way round. Gray's test compares
the cumulative incidence curves themselves (their *subdistribution* hazards), which is what a
committee reads off an incidence figure. The value equals R cmprsk 2.2-11
``cuminc(ftime, fstatus, group, strata, rho)$Tests`` (mgus2 by sex: tests/reference).

The statistic, written from Gray's paper, for the cause of interest (call it 1) and groups
``g = 1..K``. At every distinct time ``t`` with an event of any cause, in group ``g``:
``Y_g`` at risk (time >= t), ``d1_g``, ``d2_g`` the events of the cause and of any other cause,
``S_g(t-)`` the all-cause Kaplan–Meier survival and ``F_g(t-)`` the Aalen–Johansen incidence of
the cause just before ``t``.

* ``h_g = Y_g / S_g(t-)`` is the group's risk set inflated back to its starting size, and
  ``R_g = h_g (1 - F_g(t-))`` the size of its *subdistribution* risk set (patients who have not
  had the cause, including those who had a competing event). Under equal incidence the pooled
  subdistribution hazard is ``d1 / sum_g R_g``; the pooled incidence used for the weights is
  ``F0(t) = F0(t-) + d1 / H`` with ``H = sum_g h_g``.
* score of group g: ``z_g = sum_t w(t) (d1_g - d1 R_g / sum_r R_r)``, observed minus expected
  events of the cause, with weight ``w = (1 - F0(t-))^rho`` (rho = 0, the default, weights every
  event equally, like the log-rank test).
* variance: ``z`` is asymptotically a sum of integrals against each group's cause-specific
  martingales. The integrand for an event of the cause in group k at ``t`` is
  ``a_gk(t) + b1_k(t) (c_gk(end) - c_gk(t))`` and for a competing event
  ``b2_k(t) (c_gk(end) - c_gk(t))``, where ``a_gk = w h_g (1[g = k] - h_k / H)``,
  ``c_gk(t) = sum_{u <= t} a_gk(u) d1(u) / (H (1 - F0(u-)))`` (the effect of an event at ``t``
  on the incidence estimates entering the later terms), ``b2_k = (1 - F0(t)) / S_k(t)`` and
  ``b1_k = 1 - b2_k``. Each squared integrand is weighted by the estimated variance of the
  martingale increment under the null: ``d1 S_k(t-) / (H Y_k)`` for the cause (times
  ``1 - (d1 - 1) / (H S_k(t-) - 1)`` for tied events) and ``d2_k S_k(t-)^2 / Y_k^2`` for
  competing events (times ``1 - (d2_k - 1) / (Y_k - 1)``), as in cmprsk.
* ``chi2 = z' V^-1 z`` over the first ``K - 1`` groups, ``K - 1`` degrees of freedom; with
  strata, scores and variances are summed over strata (groups compared within strata).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analytics.kaplan_meier import ArrayLike, _as_durations, _as_events
from analytics.logrank import _as_labels

__all__ = ["GrayTestResult", "gray_test"]


@dataclass(frozen=True)
class GrayTestResult:
    """Chi-square ``statistic`` on ``df`` degrees of freedom, ``p_value``, the ``cause`` tested
    and the group labels compared (``groups``, in the order used)."""

    statistic: float
    df: int
    p_value: float
    cause: int
    groups: tuple[object, ...]


def gray_test(
    durations: ArrayLike,
    status: ArrayLike,
    groups: ArrayLike,
    cause: int = 1,
    *,
    strata: ArrayLike | None = None,
    rho: float = 0.0,
) -> GrayTestResult:
    """Test equality of the cumulative incidence of ``cause`` across ``groups``.

    :param durations: follow-up times (>= 0).
    :param status: 0 censored, otherwise the cause code; codes other than ``cause`` compete.
    :param groups: a label per subject (missing not allowed).
    :param cause: the cause whose incidence is compared.
    :param strata: optional stratum per subject (groups compared within strata).
    :param rho: power of the weight ``(1 - F0(t-))^rho``; 0 (default) as ``cuminc``.
    :raises ValueError: fewer than two groups, no event of the cause, invalid inputs, or a
        singular variance (e.g. a group with no patient at risk at any event time).
    """
    t = _as_durations(durations)
    s = _as_events(status, t.size, name="status", binary=False)
    g = _as_labels(groups, t.size, "groups")
    if isinstance(cause, bool) or not isinstance(cause, (int, np.integer)) or cause <= 0:
        raise ValueError(f"cause must be a positive status code (0 means censored); got {cause!r}")
    codes, levels = pd.factorize(g, sort=True)
    k = len(levels)
    if k < 2:
        raise ValueError(f"Gray's test compares groups, but groups has only {k} distinct value(s): {list(levels)}")
    kind = np.where(s == cause, 1, np.where(s == 0, 0, 2))
    if not (kind == 1).any():
        raise ValueError(f"there is no event of cause {cause} in any group, so there is nothing to compare")
    strata_codes = (
        np.zeros(t.size, dtype=np.int64)
        if strata is None
        else pd.factorize(_as_labels(strata, t.size, "strata"), sort=True)[0]
    )
    score = np.zeros(k)
    variance = np.zeros((k, k))
    for stratum in np.unique(strata_codes):
        mask = strata_codes == stratum
        z, v = _one_stratum(t[mask], kind[mask], codes[mask], k, float(rho))
        score += z
        variance += v
    z, v = score[:-1], variance[:-1, :-1]
    if np.linalg.matrix_rank(v) < k - 1:
        raise ValueError(
            "the variance of Gray's score is singular (a group has nobody at risk at the event "
            "times, or no information): merge small groups or report the curves without a test"
        )
    statistic = float(z @ np.linalg.solve(v, z))
    df = k - 1
    return GrayTestResult(
        statistic=statistic,
        df=df,
        p_value=float(stats.chi2.sf(statistic, df)),
        cause=int(cause),
        groups=tuple(levels.tolist()),
    )


def _one_stratum(
    t: np.ndarray, kind: np.ndarray, codes: np.ndarray, k: int, rho: float
) -> tuple[np.ndarray, np.ndarray]:
    """Score (length k) and covariance (k x k) of one stratum; arrays are time x group."""
    times = np.unique(t[kind > 0])
    if times.size == 0:
        return np.zeros(k), np.zeros((k, k))
    y = np.empty((times.size, k))
    d1 = np.zeros((times.size, k))
    d2 = np.zeros((times.size, k))
    for g in range(k):
        in_g = codes == g
        tg = np.sort(t[in_g])
        y[:, g] = tg.size - np.searchsorted(tg, times, side="left")
        for out, code in ((d1, 1), (d2, 2)):
            te = np.sort(t[in_g & (kind == code)])
            out[:, g] = np.searchsorted(te, times, side="right") - np.searchsorted(te, times, side="left")
    at_risk = y > 0
    safe_y = np.where(at_risk, y, 1.0)
    # all-cause Kaplan-Meier and cause-1 Aalen-Johansen per group, before (t-) and at t
    s_after = np.cumprod(np.where(at_risk, 1.0 - (d1 + d2) / safe_y, 1.0), axis=0)
    s_before = np.vstack([np.ones((1, k)), s_after[:-1]])
    f_after = np.cumsum(np.where(at_risk, s_before * d1 / safe_y, 0.0), axis=0)
    f_before = np.vstack([np.zeros((1, k)), f_after[:-1]])

    h = np.where(at_risk, y / np.where(at_risk, s_before, 1.0), 0.0)
    h_total = h.sum(axis=1)
    r = h * (1.0 - f_before)
    r_total = r.sum(axis=1)
    d1_total = d1.sum(axis=1)
    f0_after = np.cumsum(d1_total / h_total)
    f0_before = np.concatenate(([0.0], f0_after[:-1]))
    w = (1.0 - f0_before) ** rho if rho != 0 else np.ones(times.size)

    score = (w[:, None] * (d1 - d1_total[:, None] * r / r_total[:, None])).sum(axis=0)

    share = h / h_total[:, None]
    a = w[:, None, None] * h[:, :, None] * (np.eye(k)[None, :, :] - share[:, None, :])  # a[t, g, k]
    with np.errstate(divide="ignore", invalid="ignore"):
        c_step = np.where(f0_before < 1.0, d1_total / (h_total * (1.0 - f0_before)), 0.0)
    c = np.cumsum(a * c_step[:, None, None], axis=0)
    remaining = c[-1][None, :, :] - c  # c(end) - c(t)

    positive_s = at_risk & (s_after > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        b2 = np.where(positive_s, (1.0 - f0_after[:, None]) / np.where(positive_s, s_after, 1.0), 0.0)
    b1 = np.where(positive_s, 1.0 - b2, 1.0)

    # variance weights of the martingale increments
    with np.errstate(divide="ignore", invalid="ignore"):
        tie1 = np.where(
            d1_total[:, None] > 1,
            1.0 - (d1_total[:, None] - 1.0) / (h_total[:, None] * s_before - 1.0),
            1.0,
        )
        v1 = np.where(at_risk & (d1_total[:, None] > 0), tie1 * s_before * d1_total[:, None] / (h_total[:, None] * safe_y), 0.0)
        tie2 = np.where(d2 > 1, 1.0 - (d2 - 1.0) / (safe_y - 1.0), 1.0)
        v2 = np.where(positive_s & (d2 > 0), tie2 * s_before**2 * d2 / safe_y**2, 0.0)

    psi1 = a + b1[:, None, :] * remaining  # [t, g, k]
    psi2 = b2[:, None, :] * remaining
    variance = np.einsum("tgk,thk,tk->gh", psi1, psi1, v1) + np.einsum("tgk,thk,tk->gh", psi2, psi2, v2)
    return score, variance
