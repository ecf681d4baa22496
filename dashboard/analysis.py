"""What the pages compute from the endpoint table: cohorts, groups, curves, risk tables,
estimates, log-rank and Cox. Pure functions of DataFrames (no Streamlit, no database), so they
are tested directly and cached by the data layer.

Decisions a clinician-statistician would expect, written down:
- A patient whose endpoint is undefined (no baseline EDSS → no PFS/NEDA/CDI) is left out of
  that endpoint's analysis, and the count left out is reported with the figure.
- Missing grouping values form their own group "unknown" instead of being dropped silently.
- Groups under `min_group_size` get no curve, no estimates and no log-rank contribution: too
  few to estimate and a disclosure risk (ENDPOINTS.md). Their risk-table counts show "<5".
- Risk table (KMunicate): at risk = time ≥ t (R's convention), events and censored are
  cumulative counts before t, so the three rows add up to the group size at every time.
- The Cox model is a complete-case analysis with age per 10 years, baseline EDSS per point,
  disease duration per 5 years and relapses in the prior 12 months per relapse, and dummies
  for sex, phenotype and conditioning intensity against the most common level.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.aalen_johansen import cumulative_incidence
from analytics.cox import cox_model
from analytics.kaplan_meier import KaplanMeier
from analytics.logrank import logrank_test
from dashboard.figures.style import time_step_months

DAYS_PER_YEAR = 365.25
ESTIMATE_YEARS: tuple[int, ...] = (1, 2, 3, 5)


@dataclass(frozen=True, slots=True)
class Endpoint:
    key: str
    label: str
    days: str
    event: str
    kind: str  # "km" (Kaplan–Meier survival) or "ci" (cumulative incidence, competing risks)
    y_title: str
    definition: str


ENDPOINTS: dict[str, Endpoint] = {
    e.key: e
    for e in (
        Endpoint("rfs", "Relapse-free survival", "rfs_days", "rfs_event", "km", "Relapse-free (%)",
                 "Event: first relapse with onset after day 0, or death. Censored at last contact."),
        Endpoint("pfs", "Progression-free survival", "pfs_days", "pfs_event", "km", "Free of CDW (%)",
                 "Event: confirmed disability worsening (fixed baseline) or death. Censored at the last EDSS assessment."),
        Endpoint("neda", "NEDA-3 survival", "neda_days", "neda_event", "km", "NEDA-3 (%)",
                 "Event: relapse, MRI activity after the re-baseline scan, CDW, or death. Censored at last contact."),
        Endpoint("os", "Overall survival", "os_days", "os_event", "km", "Alive (%)",
                 "Event: death from any cause. Censored at last contact."),
        Endpoint("cdi", "Freedom from confirmed disability improvement", "cdi_days", "cdi_event", "km",
                 "Without confirmed improvement (%)",
                 "Event: confirmed EDSS improvement (baseline ≥ 2.0). Death censors. Censored at the last assessment."),
        Endpoint("trm", "Transplant-related mortality", "trm_days", "trm_status", "ci", "Cumulative incidence (%)",
                 "Aalen–Johansen cumulative incidence of death from transplant-related causes; other deaths compete."),
    )
}

# Grouping factors of the Outcomes page: label → column of `with_profile_bands(df)`.
GROUPINGS: dict[str, str | None] = {
    "Whole cohort": None,
    "Centre": "centre_code",
    "Age band": "age_band",
    "Sex": "sex",
    "Phenotype": "phenotype",
    "Baseline EDSS band": "edss_band",
    "Disease duration band": "duration_band",
    "Relapses in prior 12 months": "relapses_band",
    "Conditioning regimen": "conditioning",
    "Conditioning intensity": "conditioning_intensity",
}
UNKNOWN = "unknown"


def _bands(values: pd.Series, edges: Sequence[float], labels: Sequence[str]) -> pd.Series:
    out = pd.cut(values.astype("float64"), bins=[-math.inf, *edges, math.inf], labels=labels, right=False)
    return out.astype("object").where(values.notna(), UNKNOWN)


def with_profile_bands(df: pd.DataFrame) -> pd.DataFrame:
    """Add the banded patient-profile columns used for grouping (bands as in the AHSCT-MS
    literature: EDSS ≤3.0 / 3.5–5.5 / ≥6.0, the usual ambulation cut-points)."""
    out = df.copy()
    out["age_band"] = _bands(out["age_at_transplant"], [30, 40, 50], ["<30", "30–39", "40–49", "≥50"])
    out["edss_band"] = _bands(out["baseline_edss"], [3.5, 6.0], ["0–3.0", "3.5–5.5", "≥6.0"])
    out["duration_band"] = _bands(out["disease_duration_years"], [5, 10], ["<5 y", "5–9 y", "≥10 y"])
    out["relapses_band"] = _bands(out["relapses_12m"], [1, 2], ["0", "1", "≥2"])
    for col in ("sex", "phenotype", "conditioning", "conditioning_intensity", "centre_code"):
        out[col] = out[col].astype("object").where(out[col].notna(), UNKNOWN)
    return out


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
    curves: pd.DataFrame
    risk: pd.DataFrame
    groups: pd.DataFrame  # group, n, events, median_days (KM), shown
    estimates: pd.DataFrame  # group, years, n_risk, estimate, lower, upper
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
    usable = df[df[ep.days].notna() & df[ep.event].notna()]
    n_excluded = len(df) - len(usable)
    grouping = usable[by].astype(str) if by else pd.Series("all", index=usable.index)
    groups = sorted(grouping.unique(), key=lambda g: (g == UNKNOWN, g))
    times = risk_times(float(usable[ep.days].max()) if len(usable) else 0.0)
    at_days = [int(round(y * DAYS_PER_YEAR)) for y in years]
    curves, risks, summary, estimates = [], [], [], []
    for g in groups:
        sel = usable[grouping == g]
        d = sel[ep.days].astype(float).to_numpy()
        s = sel[ep.event].astype(int).to_numpy()
        rt = risk_table(d, s, times, competing=ep.kind == "ci")
        rt.insert(0, "group", g)
        risks.append(rt)
        shown = len(sel) >= min_group_size
        median = math.nan
        if shown:
            fit = cumulative_incidence(d, s, cause=1) if ep.kind == "ci" else KaplanMeier().fit(d, s)
            table = fit.table_.assign(group=g)
            curves.append(table)
            at = fit.at(at_days).assign(group=g, years=list(years))
            # Past the longest follow-up the curve is only carried forward: report no estimate.
            at.loc[at_days > d.max(), ["estimate", "lower", "upper"]] = np.nan
            estimates.append(at)
            if ep.kind == "km":
                median = fit.median_
        summary.append({"group": g, "n": len(sel), "events": int((s == 1).sum()), "median_days": median, "shown": shown})
    curves_df = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=["group", "time", "estimate", "lower", "upper", "n_censor"])
    est_df = (pd.concat(estimates, ignore_index=True)[["group", "years", "n_risk", "estimate", "lower", "upper"]]
              if estimates else pd.DataFrame(columns=["group", "years", "n_risk", "estimate", "lower", "upper"]))
    shown_groups = [r["group"] for r in summary if r["shown"]]
    p = None
    if by and ep.kind == "km" and len(shown_groups) >= 2:
        keep = grouping.isin(shown_groups)
        p = logrank_p(usable.loc[keep, ep.days], usable.loc[keep, ep.event], grouping[keep])
    notes = []
    if n_excluded:
        notes.append(f"{n_excluded} patient(s) without a defined {ep.label.lower()} left out")
    return SurvivalResult(ep, curves_df, pd.concat(risks, ignore_index=True) if risks else pd.DataFrame(),
                          pd.DataFrame(summary), est_df, p, n_excluded, notes)


def logrank_p(days: pd.Series, events: pd.Series, groups: pd.Series) -> float:
    """Log-rank test across the groups (k−1 degrees of freedom), as R's survdiff."""
    return float(logrank_test(days.astype(float).to_numpy(), events.astype(int).to_numpy(), groups.astype(str).to_numpy()).p)


COX_NUMERIC: dict[str, tuple[str, float]] = {
    "age_at_transplant": ("Age (per 10 years)", 10.0),
    "baseline_edss": ("Baseline EDSS (per point)", 1.0),
    "disease_duration_years": ("Disease duration (per 5 years)", 5.0),
    "relapses_12m": ("Relapses in prior 12 months (per relapse)", 1.0),
}
COX_CATEGORICAL: tuple[str, ...] = ("sex", "phenotype", "conditioning_intensity")


def cox_design(df: pd.DataFrame, endpoint: str) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Complete-case design matrix: scaled numeric covariates and reference-coded dummies.

    Returns (data with duration/event columns, covariate column names, column → label). Dummy
    levels with fewer than 5 patients are dropped (and their patients removed), so no hazard
    ratio rests on a handful of people.
    """
    ep = ENDPOINTS[endpoint]
    cols = [*COX_NUMERIC, *COX_CATEGORICAL]
    data = df[[ep.days, ep.event, *cols]].dropna()
    data = data[data[ep.event].isin([0, 1])]
    out = pd.DataFrame({"duration": data[ep.days].astype(float), "event": data[ep.event].astype(int)})
    labels: dict[str, str] = {}
    for col, (label, scale) in COX_NUMERIC.items():
        if data[col].nunique() > 1:
            name = f"x_{col}"
            out[name] = data[col].astype(float) / scale
            labels[name] = label
    for col in COX_CATEGORICAL:
        counts = data[col].astype(str).value_counts()
        keep = counts[counts >= 5]
        out = out[data.loc[out.index, col].astype(str).isin(keep.index)]
        if len(keep) < 2:
            continue
        ref = keep.index[0]
        for level in keep.index[1:]:
            name = f"x_{col}_{level}"
            out[name] = (data.loc[out.index, col].astype(str) == level).astype(float)
            labels[name] = f"{col.replace('_', ' ').capitalize()}: {level} vs {ref}"
    covariates = [c for c in labels if c in out.columns]
    return out, covariates, labels


def cox_table(df: pd.DataFrame, endpoint: str) -> tuple[pd.DataFrame, int]:
    """Hazard ratios (term, hr, lower, upper, p) and the number of patients in the model."""
    data, covariates, labels = cox_design(df, endpoint)
    if not covariates or int(data["event"].sum()) < 10:
        return pd.DataFrame(columns=["term", "hr", "lower", "upper", "p"]), len(data)
    table = cox_model(data, "duration", "event", covariates).table[["term", "hr", "lower", "upper", "p"]].copy()
    table["term"] = table["term"].map(lambda t: labels.get(t, t))
    return table, len(data)


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


def format_estimate(est: float, lower: float, upper: float) -> str:
    """`87.3% (84.1–90.0)`; an em dash where there is no estimate (too few or too short)."""
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return "—"
    return f"{100 * est:.1f}% ({100 * lower:.1f}–{100 * upper:.1f})"
