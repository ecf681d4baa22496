"""What the pages compute from the endpoint table, on top of analytics.estimates: cohorts,
risk tables, and everything one survival figure needs in one cached object. Pure functions of
DataFrames (no Streamlit, no database), so they are tested directly and cached by data.py.

Groups, estimates, suppression, log-rank and the Cox model are analytics.estimates' (the same
numbers as `msreg survival`); this module adds what only a figure needs:
- Risk table (KMunicate): at risk = time ≥ t (R's convention), events and censored are
  cumulative counts before t, so the rows add up to the group size at every time.
- Groups under `min_group_size` get no curve, estimate or log-rank contribution; their risk
  table counts are shown as "<5" by the figure (docs/endpoints.md: too few, and a disclosure risk).
- Patients whose endpoint is undefined (no baseline EDSS → no PFS/NEDA/CDI) are left out of
  that endpoint, and the number left out is written in the caption.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics import estimates
from analytics.kaplan_meier import KaplanMeier
from dashboard.figures.style import time_step_months

DAYS_PER_YEAR = 365.25
ESTIMATE_YEARS: tuple[int, ...] = (1, 2, 3, 5)


@dataclass(frozen=True, slots=True)
class Endpoint:
    key: str
    label: str
    kind: str  # "km" (Kaplan–Meier survival) or "ci" (cumulative incidence, competing risks)
    y_title: str
    definition: str

    @property
    def days(self) -> str:
        return estimates.ENDPOINTS[self.key][0]

    @property
    def event(self) -> str:
        return estimates.ENDPOINTS[self.key][1]


ENDPOINTS: dict[str, Endpoint] = {
    e.key: e
    for e in (
        Endpoint("rfs", "Relapse-free survival", "km", "Relapse-free (%)",
                 "Event: first relapse with onset after day 0, or death. Censored at last contact."),
        Endpoint("pfs", "Progression-free survival", "km", "Free of CDW (%)",
                 "Event: confirmed disability worsening (fixed baseline) or death. Censored at the last EDSS assessment."),
        Endpoint("neda", "NEDA-3 survival", "km", "NEDA-3 (%)",
                 "Event: relapse, MRI activity after the re-baseline scan, CDW, or death. Censored at last contact."),
        Endpoint("os", "Overall survival", "km", "Alive (%)", "Event: death from any cause. Censored at last contact."),
        Endpoint("cdi", "Freedom from confirmed disability improvement", "km", "Without confirmed improvement (%)",
                 "Event: confirmed EDSS improvement (baseline ≥ 2.0). Death censors. Censored at the last assessment."),
        Endpoint("trm", "Transplant-related mortality", "ci", "Cumulative incidence (%)",
                 "Aalen–Johansen cumulative incidence of death from transplant-related causes; other deaths compete."),
    )
}

# Grouping factors of the Outcomes page: label → covariate of the endpoint table. Numeric ones
# are banded by analytics.estimates (age <30/30-39/40-49/50+, EDSS 0-3.0/3.5-5.5/6.0+, ...).
GROUPINGS: dict[str, str | None] = {
    "Whole cohort": None,
    "Centre": "centre_code",
    "Age band": "age_at_transplant",
    "Sex": "sex",
    "Phenotype": "phenotype",
    "Baseline EDSS band": "baseline_edss",
    "Disease duration band": "disease_duration_years",
    "Relapses in prior 12 months": "relapses_12m",
    "Conditioning regimen": "conditioning",
    "Conditioning intensity": "conditioning_intensity",
}


def filter_cohort(
    df: pd.DataFrame,
    *,
    centres: Sequence[str] | None = None,
    phenotypes: Sequence[str] | None = None,
    years: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """The sidebar's cohort: empty selections mean "all"."""
    mask = pd.Series(True, index=df.index)
    if centres:
        mask &= df["centre_code"].isin(list(centres))
    if phenotypes:
        mask &= df["phenotype"].isin(list(phenotypes))
    if years is not None:
        y = df["transplant_year"]
        mask &= y.notna() & (y >= years[0]) & (y <= years[1])
    return df[mask.fillna(False).astype(bool)]


def risk_times(max_days: float) -> list[int]:
    """Regular times (days) for the risk table, at the figure's tick spacing (whole months)."""
    max_months = max_days / (DAYS_PER_YEAR / 12)
    step = time_step_months(max_months)
    return [int(round(k * step * DAYS_PER_YEAR / 12)) for k in range(int(max_months // step) + 1)]


def risk_table(days: np.ndarray, status: np.ndarray, times: Sequence[int], *, competing: bool) -> pd.DataFrame:
    """At risk (time ≥ t), cumulative events and censorings before t (and competing events)."""
    days = np.asarray(days, dtype=float)
    status = np.asarray(status, dtype=int)
    rows = []
    for t in times:
        before = days < t
        row = {"time": int(t), "n_risk": int((days >= t).sum()), "n_event": int((before & (status == 1)).sum()),
               "n_censor": int((before & (status == 0)).sum())}
        if competing:
            row["n_competing"] = int((before & (status >= 2)).sum())
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class SurvivalResult:
    endpoint: Endpoint
    curves: pd.DataFrame  # estimator tables of the shown groups, with `group`
    risk: pd.DataFrame  # risk table of every group (the figure suppresses small ones)
    groups: pd.DataFrame  # group, n, events, median_days (KM), shown
    estimates: pd.DataFrame  # group, years, n_risk, estimate, lower, upper (shown groups)
    logrank_p: float | None
    n_excluded: int
    notes: list[str] = field(default_factory=list)


def survival_curves(
    df: pd.DataFrame,
    endpoint: str,
    *,
    by: str | None = None,
    min_group_size: int = 5,
    years: Sequence[int] = ESTIMATE_YEARS,
) -> SurvivalResult:
    """Curves, risk table, estimates at `years` and the log-rank p for one endpoint."""
    ep = ENDPOINTS[endpoint]
    data = estimates.endpoint_data(df, endpoint, by)
    n_excluded = len(df) - len(data)
    at_days = [round(y * DAYS_PER_YEAR) for y in years]
    est = estimates.survival_estimates(df, endpoint, by=by, at=at_days, min_group_size=min_group_size)
    order = est["group"].drop_duplicates().tolist()  # analytics' group order (bands in band order)
    times = risk_times(float(data["time"].max()) if len(data) else 0.0)
    risks, summary = [], []
    for g in order:
        sub = data[data["group"] == g]
        rt = risk_table(sub["time"].to_numpy(), sub["event"].to_numpy(), times, competing=ep.kind == "ci")
        rt.insert(0, "group", g)
        risks.append(rt)
        shown = len(sub) >= min_group_size
        median = KaplanMeier().fit(sub["time"], sub["event"]).median_ if shown and ep.kind == "km" else math.nan
        summary.append({"group": g, "n": len(sub), "events": int((sub["event"] == 1).sum()), "median_days": median,
                        "shown": shown})
    est = est[~est["suppressed"]].assign(years=lambda e: e["time"].map(dict(zip(at_days, years, strict=True))))
    p = None
    if by is not None:
        result = estimates.compare_groups(df, endpoint, by, min_group_size=min_group_size)
        p = None if result is None or ep.kind == "ci" else float(result.p)
    notes = [f"{n_excluded} patient(s) without a defined {ep.label.lower()} left out"] if n_excluded else []
    return SurvivalResult(
        ep,
        estimates.survival_curves(df, endpoint, by=by, min_group_size=min_group_size),
        pd.concat(risks, ignore_index=True) if risks else pd.DataFrame(columns=["group", "time", "n_risk", "n_event", "n_censor"]),
        pd.DataFrame(summary, columns=["group", "n", "events", "median_days", "shown"]),
        est[["group", "years", "n_risk", "estimate", "lower", "upper"]].reset_index(drop=True),
        p,
        n_excluded,
        notes,
    )


MIN_EVENTS_PER_TERM = 5


def cox_table(df: pd.DataFrame, endpoint: str) -> tuple[pd.DataFrame, int]:
    """Hazard ratios (term, hr, lower, upper, p) of the patient-profile Cox model
    (analytics.estimates.cox_profile) and the number of patients in it.

    Empty when the model cannot be fitted (no event, nothing varies) or has fewer than
    MIN_EVENTS_PER_TERM events per estimated term: below about 5 events per variable hazard
    ratios are biased and their intervals unreliable (Vittinghoff & McCulloch, Am J Epidemiol
    2007), and a centre of three patients would otherwise get a forest plot of nonsense.
    """
    empty = pd.DataFrame(columns=["term", "hr", "lower", "upper", "p"])
    try:
        fit = estimates.cox_profile(df, endpoint)
    except estimates.EstimateError:
        return empty, 0
    if fit.n_events < MIN_EVENTS_PER_TERM * len(fit.table):
        return empty, fit.n
    table = fit.table[["term", "hr", "lower", "upper", "p"]].copy()
    refs = fit.reference_levels
    table["term"] = [_term_label(t, refs) for t in table["term"]]
    return table, fit.n


COVARIATE_LABELS: dict[str, str] = {
    "age_band": "Age band",
    "sex": "Sex",
    "phenotype": "Phenotype",
    "baseline_edss": "Baseline EDSS (per point)",
    "disease_duration_years": "Disease duration (per year)",
    "relapses_12m": "Relapses in prior 12 months (per relapse)",
    "conditioning_intensity": "Conditioning intensity",
}


def _term_label(term: str, refs: dict[str, object]) -> str:
    """`phenotype[SPMS]` → `Phenotype: SPMS vs RRMS`; `baseline_edss` → `Baseline EDSS (per point)`."""
    column, _, level = term.partition("[")
    name = COVARIATE_LABELS.get(column, column.replace("_", " ").capitalize())
    if level:
        return f"{name}: {level.rstrip(']')} vs {refs.get(column, 'reference')}"
    return name


def follow_up_completeness(df: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    """Per centre: patients, alive, share of living patients seen in the last 12 months, and
    Clark's completeness index C (Lancet 2002): observed person-time over the person-time that
    would have been observed had every living patient been seen today.

    Why both: "seen in the last year" is what a data manager acts on; C is what a reviewer
    asks for, and it does not flatter centres with many recent transplants.
    """
    rows = []
    for centre, g in df.groupby("centre_code", sort=True):
        day0 = pd.to_datetime(g["day0"])
        lc = pd.to_datetime(g["lc_date"])
        death = pd.to_datetime(g["death_date"])
        end = death.fillna(pd.Timestamp(today))
        observed = (lc.where(death.isna(), death) - day0).dt.days.clip(lower=0)
        potential = (end - day0).dt.days.clip(lower=0)
        alive = death.isna()
        recent = alive & ((pd.Timestamp(today) - lc).dt.days <= 365)
        rows.append({
            "centre_code": centre,
            "patients": len(g),
            "alive": int(alive.sum()),
            "seen_last_12m_pct": 100.0 * recent.sum() / alive.sum() if alive.any() else math.nan,
            "clark_c_pct": 100.0 * observed.sum() / potential.sum() if potential.sum() > 0 else math.nan,
        })
    return pd.DataFrame(rows, columns=["centre_code", "patients", "alive", "seen_last_12m_pct", "clark_c_pct"])


def median_follow_up_years(df: pd.DataFrame) -> float:
    """Median follow-up by the reverse Kaplan–Meier method (death censors, censoring is the
    event), the standard that does not shrink with early deaths."""
    d = df[df["os_days"].notna()]
    if d.empty:
        return math.nan
    fit = KaplanMeier().fit(d["os_days"].astype(float), 1 - d["os_event"].astype(int))
    return fit.median_ / DAYS_PER_YEAR


def minimum_change(baseline: float, delta_cutoff: float) -> float:
    """δ(b) of docs/endpoints.md: 1.5 if b = 0, 1.0 if 0 < b ≤ cutoff, 0.5 above (the same rule the
    endpoint SQL applies), for drawing the worsening threshold b + δ(b)."""
    return 1.5 if baseline == 0 else 1.0 if baseline <= delta_cutoff else 0.5


def format_estimate(est: float, lower: float, upper: float) -> str:
    """`87.3% (84.1–90.0)`; an em dash where there is no estimate (too few or too short)."""
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return "—"
    return f"{100 * est:.1f}% ({100 * lower:.1f}–{100 * upper:.1f})"
