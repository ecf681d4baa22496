"""Fine–Gray proportional subdistribution hazards model (Fine and Gray 1999).

Why: a cause-specific Cox model for transplant-related mortality says how a covariate changes
the rate of TRM among patients still alive; the Fine–Gray model says how it changes the
*cumulative incidence* of TRM, the quantity a patient is counselled on. Both are reported
(the cause-specific model by :func:`analytics.cox.cox_model` with competing deaths censored).

The estimate equals R cmprsk 2.2-11 ``crr(ftime, fstatus, cov1, failcode, cencode)`` (mgus2:
tests/reference) and is written here from the paper:

* risk set at a time ``s`` at which the cause occurs: everyone still under observation
  (``time >= s``, weight 1) plus everyone who had a competing event before ``s``, with the
  inverse-probability-of-censoring weight ``G(s-) / G(T_j-)`` (``G`` the Kaplan–Meier estimate of
  the censoring distribution, censorings as its events);
* the weighted partial likelihood with Breslow's handling of tied event times (every event at
  ``s`` sees the same risk set), maximised by Newton–Raphson with step-halving;
* standard errors: the sandwich ``I^-1 Omega I^-1``, with ``I`` the weighted information and
  ``Omega = sum_i (eta_i + psi_i)(eta_i + psi_i)'``: ``eta_i`` is subject i's score residual
  (its event term less its share of every event's expected covariate) and ``psi_i`` the
  correction for having estimated ``G``, ``int q(u) / pi(u) dM_i^c(u)``, where ``pi(u)`` is the
  number still under observation at ``u``, ``M_i^c`` the censoring martingale of subject i and
  ``q(u)`` the sensitivity of the score to the censoring hazard at ``u`` (sum over events at
  ``s >= u`` of the weighted, centred covariates of those with a competing event before ``u``,
  divided by the risk-set total at ``s``);
* Wald p-values ``2 (1 - Phi(|coef / se|))``, intervals ``exp(coef ± z se)``.

Rows with a missing value in a used column are dropped (``n_dropped``); categorical covariates
are one-hot encoded exactly as in :mod:`analytics.cox`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.cox import _design_matrix, coefficient_table
from analytics.kaplan_meier import _as_durations, _as_events

__all__ = ["FineGrayResult", "fine_gray", "fine_gray_arrays"]

_MAX_ITER = 50
_TOL = 1e-10


@dataclass(frozen=True)
class FineGrayResult:
    """A fitted Fine–Gray model: ``table`` as :class:`analytics.cox.CoxResult` (``hr`` is the
    subdistribution hazard ratio), ``n``, ``n_events`` (of the cause), ``n_competing``,
    ``n_dropped``, ``reference_levels``, ``cause``, ``converged``, ``alpha``."""

    table: pd.DataFrame
    n: int
    n_events: int
    n_competing: int
    cause: int
    converged: bool
    n_dropped: int = 0
    reference_levels: dict[str, object] = field(default_factory=dict)
    alpha: float = 0.05


def fine_gray(
    df: pd.DataFrame,
    duration_col: str,
    status_col: str,
    covariates: Sequence[str],
    *,
    cause: int = 1,
    alpha: float = 0.05,
) -> FineGrayResult:
    """Fit the subdistribution hazards model of ``cause`` on ``covariates``.

    :param status_col: 0 censored, otherwise the cause code; other codes compete.
    :raises KeyError: a named column is missing.
    :raises ValueError: no rows or no event of the cause, a constant covariate, a fit that
        does not converge (separation), or invalid times/status.
    """
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    if not covariates:
        raise ValueError("give at least one covariate; for a model-free comparison use gray_test")
    used = [duration_col, status_col, *covariates]
    missing = [c for c in used if c not in df.columns]
    if missing:
        raise KeyError(f"column(s) {missing} not in the data; available: {list(df.columns)}")
    complete = df[used].dropna()
    if complete.empty:
        raise ValueError(f"no row has all of {used} present; choose covariates that are recorded")
    design, references = _design_matrix(complete, covariates)
    result = fine_gray_arrays(
        complete[duration_col].to_numpy(), complete[status_col].to_numpy(), design, cause=cause, alpha=alpha
    )
    return FineGrayResult(
        table=result.table,
        n=result.n,
        n_events=result.n_events,
        n_competing=result.n_competing,
        cause=result.cause,
        converged=result.converged,
        n_dropped=int(len(df) - len(complete)),
        reference_levels=references,
        alpha=result.alpha,
    )


def fine_gray_arrays(
    durations: np.ndarray, status: np.ndarray, design: pd.DataFrame, *, cause: int = 1, alpha: float = 0.05
) -> FineGrayResult:
    """The model on a numeric design matrix (one column per term, names kept)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1 (0.05 gives 95% intervals); got {alpha!r}")
    t = _as_durations(durations)
    s = _as_events(status, t.size, name="status", binary=False)
    x = np.asarray(design, dtype=float)
    if x.ndim != 2 or x.shape[0] != t.size:
        raise ValueError(f"the design matrix must have one row per subject ({t.size}); got shape {x.shape}")
    is_event = s == cause
    is_competing = (s != 0) & ~is_event
    if not is_event.any():
        raise ValueError(f"there is no event of cause {cause}, so no subdistribution hazard ratio can be estimated")

    order = np.argsort(t, kind="stable")
    t, x, is_event, is_competing = t[order], x[order], is_event[order], is_competing[order]
    model = _Model(t, x, is_event, is_competing)
    beta, converged = model.newton()
    info = model.information(beta)
    try:
        info_inv = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        converged = False
        info_inv = np.full_like(info, np.nan)
    omega = model.omega(beta)
    cov = info_inv @ omega @ info_inv.T
    se = np.sqrt(np.diag(cov))
    table = coefficient_table(list(design.columns), beta, se, alpha)
    return FineGrayResult(
        table=table,
        n=int(t.size),
        n_events=int(is_event.sum()),
        n_competing=int(is_competing.sum()),
        cause=int(cause),
        converged=bool(converged),
        alpha=float(alpha),
    )


class _Model:
    """The weighted risk sets of one data set (sorted by time), evaluated at any ``beta``."""

    def __init__(self, t: np.ndarray, x: np.ndarray, is_event: np.ndarray, is_competing: np.ndarray) -> None:
        self.t, self.x, self.is_event, self.is_competing = t, x, is_event, is_competing
        is_censored = ~(is_event | is_competing)
        # censoring Kaplan-Meier G, its value just before each subject's time
        ctimes = np.unique(t)
        n_risk = t.size - np.searchsorted(t, ctimes, side="left")
        n_cens = np.searchsorted(t[is_censored], ctimes, side="right") - np.searchsorted(t[is_censored], ctimes, side="left")
        g_after = np.cumprod(1.0 - n_cens / n_risk)
        g_before = np.concatenate(([1.0], g_after[:-1]))
        self.g_minus = g_before[np.searchsorted(ctimes, t)]  # G(T_i-)
        self.event_times = np.unique(t[is_event])
        self.d = np.searchsorted(t[is_event], self.event_times, side="right") - np.searchsorted(
            t[is_event], self.event_times, side="left"
        )
        g_at_event = g_before[np.searchsorted(ctimes, self.event_times)]  # G(s-)
        # weight of subject j in the risk set at event time s (subjects x event times)
        at_risk = t[:, None] >= self.event_times[None, :]
        competing_before = is_competing[:, None] & ~at_risk
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self.g_minus[:, None] > 0, g_at_event[None, :] / self.g_minus[:, None], 0.0)
        self.weight = np.where(at_risk, 1.0, np.where(competing_before, ratio, 0.0))
        self.competing_before = competing_before
        self.is_censored = is_censored
        self.x_events = x[is_event].sum(axis=0)

    def _sums(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        risk = self.weight * np.exp(self.x @ beta)[:, None]  # n x T
        s0 = risk.sum(axis=0)
        s1 = risk.T @ self.x  # T x p
        return risk, s0, s1

    def loglik(self, beta: np.ndarray) -> float:
        _, s0, _ = self._sums(beta)
        return float(self.x_events @ beta - (self.d * np.log(s0)).sum())

    def gradient_information(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        risk, s0, s1 = self._sums(beta)
        mean = s1 / s0[:, None]
        grad = self.x_events - (self.d[:, None] * mean).sum(axis=0)
        s2 = np.einsum("it,ip,iq->tpq", risk, self.x, self.x)
        cov = s2 / s0[:, None, None] - np.einsum("tp,tq->tpq", mean, mean)
        info = np.einsum("t,tpq->pq", self.d.astype(float), cov)
        return grad, info

    def information(self, beta: np.ndarray) -> np.ndarray:
        return self.gradient_information(beta)[1]

    def newton(self) -> tuple[np.ndarray, bool]:
        beta = np.zeros(self.x.shape[1])
        current = self.loglik(beta)
        for _ in range(_MAX_ITER):
            grad, info = self.gradient_information(beta)
            try:
                step = np.linalg.solve(info, grad)
            except np.linalg.LinAlgError:
                return beta, False
            for _halving in range(30):
                candidate = beta + step
                value = self.loglik(candidate)
                if np.isfinite(value) and value >= current - 1e-12:
                    break
                step = step / 2.0
            else:
                return beta, False
            beta, previous, current = candidate, current, value
            if np.max(np.abs(step)) < _TOL or abs(current - previous) < _TOL * max(1.0, abs(current)):
                grad, _ = self.gradient_information(beta)
                return beta, bool(np.all(np.isfinite(beta)) and np.max(np.abs(beta)) < 50)
        return beta, False

    def omega(self, beta: np.ndarray) -> np.ndarray:
        """``sum_i (eta_i + psi_i)(eta_i + psi_i)'``, the middle of the sandwich."""
        t, x = self.t, self.x
        risk, s0, s1 = self._sums(beta)
        mean = s1 / s0[:, None]  # T x p
        # eta: event term less the share of each event's expected covariate (Breslow jumps d/S0)
        jump = self.d / s0  # T
        centred = x[:, None, :] - mean[None, :, :]  # n x T x p
        eta = -np.einsum("it,t,itp->ip", risk, jump, centred)
        event_row = np.searchsorted(self.event_times, t)
        ev = np.flatnonzero(self.is_event)
        eta[ev] += x[ev] - mean[event_row[ev]]

        # psi: correction for the estimated censoring distribution
        # contribution of (competing subject j, event time s) to q(u) for u in (T_j, s]
        contrib = (self.competing_before * risk)[:, :, None] * centred * jump[None, :, None]  # n x T x p
        from_right = np.cumsum(contrib[:, ::-1, :], axis=1)[:, ::-1, :]  # sum over event times >= index
        ctimes = np.unique(t[self.is_censored])
        psi = np.zeros_like(eta)
        if ctimes.size:
            first_event = np.searchsorted(self.event_times, ctimes, side="left")  # event times >= u
            q = np.zeros((ctimes.size, x.shape[1]))
            valid = first_event < self.event_times.size
            comp_idx = np.flatnonzero(self.is_competing)
            for i, u in enumerate(ctimes):
                if not valid[i]:
                    continue
                before = comp_idx[t[comp_idx] < u]
                if before.size:
                    q[i] = from_right[before, first_event[i], :].sum(axis=0)
            pi = t.size - np.searchsorted(t, ctimes, side="left")  # under observation at u
            n_cens = np.searchsorted(t[self.is_censored], ctimes, side="right") - np.searchsorted(
                t[self.is_censored], ctimes, side="left"
            )
            compensator = np.cumsum(q * (n_cens / pi**2)[:, None], axis=0)  # sum_{u <= T_i} q dN^c / pi^2
            last = np.searchsorted(ctimes, t, side="right") - 1  # last censoring time <= T_i
            has = last >= 0
            psi[has] -= compensator[last[has]]
            cens = np.flatnonzero(self.is_censored)
            rows = np.searchsorted(ctimes, t[cens])
            psi[cens] += q[rows] / pi[rows][:, None]
        total = eta + psi
        return total.T @ total
