"""Centre benchmarking: each centre's deaths against the number its own patients would be expected
to have if the centre were like the registry as a whole.

Why this design (and not a league table of complete-case rates):

* **Nobody is dropped.** Each centre's estimate at the horizon is the Aalen–Johansen cumulative
  incidence (TRM, other deaths competing) or 1 − Kaplan–Meier (early all-cause mortality), so a
  patient transplanted last month counts for the month observed. Counting only patients whose
  status at the horizon is known overstates the rate.
* **Observed against expected, by indirect standardisation.** The test compares the centre's
  observed number of events up to the horizon, ``O``, with ``E = sum_i Lambda_i(min(t_i, H))``:
  each patient's cumulative hazard of the event over the time they were actually observed at
  risk (up to the horizon ``H``), from a model fitted on the whole registry. For the TRM measure
  the hazard is the cause-specific hazard of a transplant-related death (other deaths end the
  time at risk); for early mortality, of death from any cause. With ``--adjusted`` (default) the
  model is a Cox model on the case mix (age, baseline EDSS, phenotype, conditioning intensity;
  Breslow baseline hazard), fitted on follow-up truncated at ``H``; with ``--crude`` it is the
  registry's Nelson–Aalen hazard (every patient alike). This is the classic standardised
  mortality ratio with censored follow-up: under the null hypothesis that the centre's patients
  have the registry's hazard given their case mix, ``O - E`` is a martingale and ``O`` is
  approximately Poisson with mean ``E``; over the registry the ``E`` add up exactly to the ``O``.
  Missing covariates do not drop patients: a categorical one gets its own "missing" level, a
  missing baseline EDSS the registry median plus an indicator.
* **A signal on an exact tail probability.** ``p = P(X >= O)`` for ``X ~ Poisson(E)``, one-sided
  (only an excess calls for action); a centre signals when ``p < level`` (default 0.025, the
  upper limit of a 95% funnel). Because the test is exact, the chance that a centre with no
  excess signals is at most ``level`` whatever its size (tests compute it for 10–300 patients);
  interpolated limits, flagging every count at or above the limit's integer part, gave up to 18%.
  The mid-p (``P(X > O) + P(X = O) / 2``) is available; it is closer to the level on average but
  may exceed it, so it is not the default.
* **How many signals chance alone gives**: the sum over tested centres of each one's exact
  false-alarm probability, reported with the table, so twelve centres with one signal read
  differently from twelve centres with five.
* **Overdispersion**: Pearson's ``sum (O - E)^2 / E`` over centres on ``K - 1`` degrees of
  freedom. A small p-value says centres differ more than chance allows even after case mix:
  the funnel's limits are then too narrow for a fair comparison and a random-effects view is
  needed before reading single signals.

``O/E`` carries Garwood's exact Poisson 95% limits. Centres with fewer patients than
``min_group_size`` are listed without estimates or test; a centre's estimate is "not
estimable" (empty) where fewer than ``min_group_size`` of its patients are still followed at
the horizon (the curves stop there), though its O/E is still tested: the expected number uses
the time each patient was actually followed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from analytics.aalen_johansen import cumulative_incidence
from analytics.estimates import enough_at_risk
from analytics.intervals import incidence_interval, poisson_ratio_limits
from analytics.kaplan_meier import KaplanMeier

__all__ = [
    "BENCHMARK_COLUMNS",
    "MEASURES",
    "BenchmarkResult",
    "benchmark",
    "centre_sentence",
    "signal_threshold",
    "tail_p_value",
]

Measure = Literal["trm", "early_mortality"]

MEASURES: dict[str, dict[str, object]] = {
    "trm": {"days": "trm_days", "status": "trm_status", "default_at": 365,
            "label": "transplant-related mortality", "event": "transplant-related death"},
    "early_mortality": {"days": "os_days", "status": "os_event", "default_at": 100,
                        "label": "early mortality (death from any cause)", "event": "death"},
}

CASE_MIX: tuple[str, ...] = ("age_at_transplant", "baseline_edss", "phenotype", "conditioning_intensity")
"""The case-mix covariates of the expected numbers (the profile covariates a centre cannot
choose once the patient is referred)."""

BENCHMARK_COLUMNS: list[str] = [
    "centre_code", "patients", "events", "estimate", "lower", "upper", "expected", "o_e", "p_value", "signal",
]

#: Events per model column below which the case-mix model is not trusted (falls back to crude).
MIN_EVENTS_PER_COLUMN = 5


@dataclass(frozen=True)
class BenchmarkResult:
    """``table``: one row per centre, ``BENCHMARK_COLUMNS`` plus ``o_e_lower, o_e_upper,
    tested`` (False: too few patients, no estimate or test). Registry-level facts: ``measure``,
    ``at`` (days), ``adjusted`` (the case-mix model was used), ``level``, ``mid_p``,
    ``registry`` (estimate, lower, upper), ``expected_false_signals``, ``n_tested``,
    ``overdispersion`` (chisq, df, phi, p_value), ``notes`` (what a reader must know)."""

    table: pd.DataFrame
    measure: str
    at: int
    adjusted: bool
    level: float
    mid_p: bool
    registry: tuple[float, float, float]
    expected_false_signals: float
    n_tested: int
    overdispersion: dict[str, float]
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One sentence stating the method, for captions and provenance lines."""
        model = "case-mix Cox model (age, baseline EDSS, phenotype, conditioning intensity)" if self.adjusted else "registry hazard, no case-mix adjustment"
        tail = "mid-p" if self.mid_p else "exact"
        return (
            f"Observed vs expected {MEASURES[self.measure]['label']} by day {self.at} ({model}); signal when the "
            f"{tail} one-sided Poisson p < {self.level:g}; about {self.expected_false_signals:.2f} false signal(s) "
            f"expected by chance among {self.n_tested} centres"
        )


def tail_p_value(observed: int, expected: float, *, mid_p: bool = False) -> float:
    """One-sided ``P(X >= observed)`` for ``X ~ Poisson(expected)`` (mid-p: ``P(X > o) + P(X = o)/2``)."""
    if expected <= 0:
        return 1.0 if observed == 0 else 0.0
    if mid_p:
        return float(stats.poisson.sf(observed, expected) + 0.5 * stats.poisson.pmf(observed, expected))
    return float(stats.poisson.sf(observed - 1, expected)) if observed > 0 else 1.0


def signal_threshold(expected: float, level: float, *, mid_p: bool = False) -> int:
    """The smallest count that signals for a centre with ``expected`` events."""
    k = int(max(0, math.floor(expected)))
    while tail_p_value(k, expected, mid_p=mid_p) >= level:
        k += 1
    return k


def benchmark(
    endpoints: pd.DataFrame,
    measure: Measure,
    *,
    at: int | None = None,
    adjusted: bool = True,
    level: float = 0.025,
    mid_p: bool = False,
    min_group_size: int = 5,
    alpha: float = 0.05,
) -> BenchmarkResult:
    """Benchmark every centre of ``endpoints`` (the endpoint table) on ``measure`` by day ``at``.

    :raises ValueError: unknown measure, a horizon that is not a positive number of days, or a
        level outside (0, 0.5).
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; valid: {', '.join(MEASURES)}")
    spec = MEASURES[measure]
    horizon = int(spec["default_at"]) if at is None else int(at)
    if horizon <= 0:
        raise ValueError(f"the horizon must be a positive number of days, got {at!r}")
    if not 0.0 < level < 0.5:
        raise ValueError(f"the signal level must be between 0 and 0.5 (one-sided), got {level!r}")
    data = endpoints[endpoints[str(spec["days"])].notna() & endpoints[str(spec["status"])].notna()].copy()
    time = data[str(spec["days"])].astype(float).to_numpy()
    status = data[str(spec["status"])].astype(int).to_numpy()
    event = status == 1
    time_h = np.minimum(time, horizon)
    event_h = event & (time <= horizon)
    notes: list[str] = []
    if len(endpoints) > len(data):
        notes.append(f"{len(endpoints) - len(data)} patient(s) without follow-up time left out")

    used_adjusted = False
    if adjusted:
        expected, note = _case_mix_expected(data, time_h, event_h)
        if expected is None:
            notes.append(f"case-mix adjustment not possible ({note}); expected numbers are crude")
            expected = _crude_expected(time_h, event_h)
        else:
            used_adjusted = True
            if note:
                notes.append(note)
    else:
        expected = _crude_expected(time_h, event_h)

    centres = data["centre_code"].astype(str).to_numpy()
    rows = []
    for centre in sorted(set(centres)):
        mask = centres == centre
        n = int(mask.sum())
        o = int(event_h[mask].sum())
        e = float(expected[mask].sum())
        if n < min_group_size:
            rows.append({"centre_code": centre, "patients": n, "events": o, "estimate": math.nan, "lower": math.nan,
                         "upper": math.nan, "expected": math.nan, "o_e": math.nan, "o_e_lower": math.nan,
                         "o_e_upper": math.nan, "p_value": math.nan, "signal": False, "tested": False})
            continue
        est, lo, up = _estimate(measure, time[mask], status[mask], horizon, alpha, min_group_size)
        ratio_lo, ratio_up = poisson_ratio_limits(o, e, alpha)
        p = tail_p_value(o, e, mid_p=mid_p)
        rows.append({"centre_code": centre, "patients": n, "events": o, "estimate": est, "lower": lo, "upper": up,
                     "expected": e, "o_e": o / e if e > 0 else math.nan, "o_e_lower": ratio_lo, "o_e_upper": ratio_up,
                     "p_value": p, "signal": bool(p < level), "tested": True})
    table = pd.DataFrame(rows, columns=[*BENCHMARK_COLUMNS, "o_e_lower", "o_e_upper", "tested"])
    tested = table[table["tested"]]
    false_signals = float(sum(_false_alarm_probability(e, level, mid_p=mid_p) for e in tested["expected"]))
    registry = _estimate(measure, time, status, horizon, alpha, min_group_size) if len(data) else (math.nan,) * 3
    return BenchmarkResult(
        table=table,
        measure=measure,
        at=horizon,
        adjusted=used_adjusted,
        level=float(level),
        mid_p=bool(mid_p),
        registry=registry,
        expected_false_signals=false_signals,
        n_tested=int(len(tested)),
        overdispersion=_overdispersion(tested["events"].to_numpy(), tested["expected"].to_numpy()),
        notes=notes,
    )


def centre_sentence(row: pd.Series, result: BenchmarkResult, *, events_text: str | None = None) -> str:
    """One plain sentence for a committee member: what this centre's result means and what it
    does not. ``events_text`` replaces a count that must be hidden (e.g. "<5"); the O/E and the
    p-value, from which the count could be worked out, are then left out too."""
    centre = row["centre_code"]
    what = f"{MEASURES[result.measure]['event']}s by day {result.at}"
    if not bool(row.get("tested", True)):
        return f"{centre}: too few patients to compare; no conclusion either way."
    hidden = events_text is not None
    count = events_text if hidden else str(int(row["events"]))
    basis = "its patients' case mix" if result.adjusted else "the registry as a whole"
    ratio = ""
    if not hidden:
        ratio = (f" (O/E {row['o_e']:.2f}, 95% CI {row['o_e_lower']:.2f}–{row['o_e_upper']:.2f})"
                 if np.isfinite(row["o_e"]) else " (O/E not estimable)")
    head = f"{centre}: {count} {what} against {row['expected']:.1f} expected for {basis}{ratio}"
    if row["signal"]:
        chance = "" if hidden else f" happens by chance in only {100 * row['p_value']:.1f}% of centres without any excess, so it"
        return (
            f"{head}; a count this high{chance or ' is unlikely by chance alone, so it'} is a signal to review the centre's "
            f"cases and data — not proof of worse care (about {result.expected_false_signals:.1f} false signal(s) are "
            f"expected among {result.n_tested} centres, and unmeasured case mix can cause one)."
        )
    p_text = "" if hidden else f" (p = {row['p_value']:.2f})"
    return (
        f"{head}; no signal — chance alone explains this count{p_text} — but that does not show the centre is as "
        f"safe as the registry: with {row['expected']:.1f} expected, only a large excess could be detected."
    )


# ------------------------------------------------------------------------------------------------
def _estimate(
    measure: str, time: np.ndarray, status: np.ndarray, horizon: int, alpha: float, min_at_risk: int = 1
) -> tuple[float, float, float]:
    """The crude probability of the event by the horizon with its interval (exact one-sided
    bound where the estimate is 0 or 1; not estimable where fewer than ``min_at_risk`` are
    still followed at the horizon, as the curves stop there, unless every patient has had an
    event)."""
    informative = int(((time >= horizon) | ((status != 0) & (time <= horizon))).sum())
    if measure == "trm":
        at = cumulative_incidence(time, status, cause=1, alpha=alpha).at([horizon]).iloc[0]
        est, lo, up = float(at["estimate"]), float(at["lower"]), float(at["upper"])
    else:
        at = KaplanMeier(alpha=alpha).fit(time, (status == 1).astype(int)).at([horizon]).iloc[0]
        est, lo, up = 1.0 - float(at["estimate"]), 1.0 - float(at["upper"]), 1.0 - float(at["lower"])
    followed = int((time >= horizon).sum())
    if not enough_at_risk([followed], max(min_at_risk, 1))[0] and not (status != 0).all():
        return math.nan, math.nan, math.nan  # nobody followed to the horizon: the curve is not drawn there
    return incidence_interval(est, lo, up, n_informative=informative, alpha=alpha)


def _crude_expected(time_h: np.ndarray, event_h: np.ndarray) -> np.ndarray:
    """Each patient's Nelson–Aalen cumulative hazard at their own (truncated) time."""
    return _breslow_expected(time_h, event_h, np.ones(time_h.size))


def _breslow_expected(time_h: np.ndarray, event_h: np.ndarray, risk: np.ndarray) -> np.ndarray:
    """``Lambda_0(t_i) * risk_i`` with Breslow's ``Lambda_0(t) = sum_{s <= t} d_s / sum_{t_j >= s} risk_j``."""
    times = np.unique(time_h[event_h])
    if times.size == 0:
        return np.zeros(time_h.size)
    order = np.argsort(time_h)
    sorted_t, sorted_r = time_h[order], risk[order]
    tail = np.concatenate((np.cumsum(sorted_r[::-1])[::-1], [0.0]))
    denominator = tail[np.searchsorted(sorted_t, times, side="left")]
    te = np.sort(time_h[event_h])
    d = np.searchsorted(te, times, side="right") - np.searchsorted(te, times, side="left")
    cumulative = np.cumsum(d / denominator)
    index = np.searchsorted(times, time_h, side="right") - 1
    return np.where(index >= 0, cumulative[np.maximum(index, 0)], 0.0) * risk


def _case_mix_design(data: pd.DataFrame) -> pd.DataFrame:
    """Numeric design of the case mix, keeping every patient (module docstring)."""
    columns: dict[str, np.ndarray] = {}
    age = pd.to_numeric(data["age_at_transplant"], errors="coerce").astype(float)
    edss = pd.to_numeric(data["baseline_edss"], errors="coerce").astype(float)
    for name, values in (("age_at_transplant", age), ("baseline_edss", edss)):
        if values.notna().any():
            columns[name] = values.fillna(values.median()).to_numpy()
            if values.isna().any():
                columns[f"{name}[missing]"] = values.isna().to_numpy(dtype=float)
    for name in ("phenotype", "conditioning_intensity"):
        values = data[name].astype(object).where(data[name].notna(), "missing").astype(str)
        counts = values.value_counts()
        reference = sorted(counts.index, key=lambda v: (-counts[v], v))[0]
        for level in sorted(set(values) - {reference}):
            columns[f"{name}[{level}]"] = (values == level).to_numpy(dtype=float)
    design = pd.DataFrame(columns, index=data.index)
    return design.loc[:, design.nunique() > 1]


def _case_mix_expected(data: pd.DataFrame, time_h: np.ndarray, event_h: np.ndarray) -> tuple[np.ndarray | None, str]:
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    design = _case_mix_design(data)
    n_events = int(event_h.sum())
    if design.shape[1] == 0:
        return None, "no case-mix covariate varies"
    if n_events < MIN_EVENTS_PER_COLUMN * design.shape[1]:
        return None, f"{n_events} event(s) for {design.shape[1]} model terms, fewer than {MIN_EVENTS_PER_COLUMN} per term"
    frame = design.reset_index(drop=True).assign(__t=time_h, __e=event_h.astype(int))
    fitter = CoxPHFitter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitter.fit(frame, duration_col="__t", event_col="__e")
        except (ConvergenceError, ValueError, np.linalg.LinAlgError) as exc:
            return None, f"the case-mix model did not converge: {exc}"
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        return None, "the case-mix model did not converge cleanly (separation or collinearity)"
    beta = fitter.params_.reindex(design.columns).to_numpy()
    lp = design.to_numpy() @ beta
    risk = np.exp(lp - lp.mean())
    return _breslow_expected(time_h, event_h, risk), ""


def _false_alarm_probability(expected: float, level: float, *, mid_p: bool) -> float:
    if not np.isfinite(expected) or expected <= 0:
        return 0.0
    k = signal_threshold(expected, level, mid_p=mid_p)
    return float(stats.poisson.sf(k - 1, expected))


def _overdispersion(observed: np.ndarray, expected: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(expected) & (expected > 0)
    o, e = observed[ok].astype(float), expected[ok]
    df = int(ok.sum()) - 1
    if df < 1:
        return {"chisq": math.nan, "df": float(max(df, 0)), "phi": math.nan, "p_value": math.nan}
    chisq = float(((o - e) ** 2 / e).sum())
    return {"chisq": chisq, "df": float(df), "phi": chisq / df, "p_value": float(stats.chi2.sf(chisq, df))}
