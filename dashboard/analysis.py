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
from analytics.settings import EndpointSettings
from dashboard.figures.style import time_step_years
from dashboard.labels import group_label

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
        Endpoint("dmt_free", "DMT-free survival", "km", "Without DMT after transplant (%)",
                 "Event: the first disease-modifying treatment started after day 0 (not on it), or death. "
                 "Censored at last contact."),
        Endpoint("tf_neda", "Treatment-free NEDA-3", "km", "NEDA-3 without DMT (%)",
                 "Event: relapse, MRI activity after the re-baseline scan, CDW, a DMT started after day 0, or death. "
                 "Censored at last contact."),
    )
}

# Competing-risks endpoints of the Safety page (columns from analytics.engraftment).
SAFETY_ENDPOINTS: dict[str, Endpoint] = {
    e.key: e
    for e in (
        Endpoint("neutrophil_engraftment", "Neutrophil engraftment", "ci", "Engrafted (%)",
                 "Aalen–Johansen cumulative incidence of neutrophil engraftment after the first transplant; death "
                 "before engraftment competes."),
        Endpoint("platelet_engraftment", "Platelet engraftment", "ci", "Engrafted (%)",
                 "Aalen–Johansen cumulative incidence of platelet engraftment after the first transplant; death "
                 "before engraftment competes."),
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
    "Aggressive-MS features (number)": "aggressive_factors",
    "F1 frequent early relapses": "f1_frequent_relapses",
    "F2 incomplete recovery": "f2_incomplete_recovery",
    "F3 rapid disability": "f3_rapid_disability",
    "F4 high MRI activity": "f4_mri_activity",
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
    """Regular times (days) for the risk table, at the figure's tick spacing (in years)."""
    max_years = max_days / DAYS_PER_YEAR
    step = time_step_years(max_years)
    return [int(round(k * step * DAYS_PER_YEAR)) for k in range(int(max_years // step + 1e-9) + 1)]


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
    estimates: pd.DataFrame  # group, years, n_risk, estimate, lower, upper, events (≤ t; shown groups)
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
    ep = ENDPOINTS[endpoint] if endpoint in ENDPOINTS else SAFETY_ENDPOINTS[endpoint]
    # One grouped pass: every group split and fitted once, read by everything below.
    fits = estimates.fit_groups(df, endpoint, by=by, min_group_size=min_group_size)
    n_defined = sum(gf.n for gf in fits)
    n_excluded = len(df) - n_defined
    at_days = [round(y * DAYS_PER_YEAR) for y in years]
    est = estimates.survival_estimates(df, endpoint, by=by, at=at_days, min_group_size=min_group_size, fits=fits)
    times = risk_times(max(float(gf.time.max()) for gf in fits) if n_defined else 0.0)
    risks, summary = [], []
    empty = np.array([], dtype=float)
    # no patient with the endpoint defined: the overall group is still listed, with n = 0
    listed = fits or ([estimates.GroupFit(estimates.ALL, empty, empty.astype(int), None)] if by is None else [])
    for gf in listed:
        rt = risk_table(gf.time, gf.event, times, competing=ep.kind == "ci")
        rt.insert(0, "group", gf.group)
        risks.append(rt)
        shown = gf.fit is not None
        median = _drawn_median(gf.fit, min_group_size) if shown and ep.kind == "km" else math.nan
        summary.append({"group": gf.group, "n": gf.n, "events": int((gf.event == 1).sum()), "median_days": median,
                        "shown": shown})
    est = est[~est["suppressed"]].assign(years=lambda e: e["time"].map(dict(zip(at_days, years, strict=True))))
    # Events up to each time, per group: what an estimate rests on (disclosure: an estimate
    # resting on 1..k-1 events gives that count away beside its number at risk).
    by_group = {gf.group: gf for gf in listed}
    est["events"] = [int(((by_group[g].event == 1) & (by_group[g].time <= t)).sum())
                     for g, t in zip(est["group"], est["time"], strict=True)]
    p = None
    if by is not None:
        result = estimates.compare_groups(df, endpoint, by, min_group_size=min_group_size, fits=fits)
        p = None if result is None or ep.kind == "ci" else float(result.p)
    notes = [f"{n_excluded} patient(s) without a defined {ep.label.lower()} left out"] if n_excluded else []
    return SurvivalResult(
        ep,
        estimates.survival_curves(df, endpoint, by=by, min_group_size=min_group_size, fits=fits),
        pd.concat(risks, ignore_index=True) if risks else pd.DataFrame(columns=["group", "time", "n_risk", "n_event", "n_censor"]),
        pd.DataFrame(summary, columns=["group", "n", "events", "median_days", "shown"]),
        est[["group", "years", "n_risk", "estimate", "lower", "upper", "events"]].reset_index(drop=True),
        p,
        n_excluded,
        notes,
    )


def _drawn_median(fit: KaplanMeier, min_at_risk: int) -> float:
    """The Kaplan–Meier median, only where the curve is drawn (up to the last time with at
    least `min_at_risk` at risk): a median from the undrawn tail ("200 months" beside a curve
    that stops at 57%) rests on a handful of patients. NaN: not reached within the curve."""
    drawn = estimates.drawn_part(fit.table_, min_at_risk)
    if drawn.empty or math.isnan(fit.median_) or fit.median_ > float(drawn["time"].max()):
        return math.nan
    return float(fit.median_)


MIN_EVENTS_PER_TERM = 5


@dataclass
class CheckedCox:
    """The profile Cox model as the Outcomes page shows it (analytics.cox_checks)."""

    hr: pd.DataFrame  # term (labelled), hr, lower, upper, p
    ph: pd.DataFrame  # term (labelled), chisq, df, p (cox.zph), last row GLOBAL
    n: int
    notes: list[str]
    ph_warning: str
    converged: bool
    reason: str = ""  # why there is no model ('' when there is one)
    fine_gray: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["term", "hr", "lower", "upper", "p"]))


def cox_checked(df: pd.DataFrame, endpoint: str, settings: EndpointSettings, *, cluster_by_centre: bool = False,
                aggressive_features: bool = False) -> CheckedCox:
    """The checked profile model, or an empty one with the reason: no model, or fewer than
    MIN_EVENTS_PER_TERM events per estimated term: below about 5 events per variable hazard
    ratios are biased and their intervals unreliable (Vittinghoff & McCulloch, Am J Epidemiol 2007)."""
    from analytics.cox_checks import profile_model

    empty_hr = pd.DataFrame(columns=["term", "hr", "lower", "upper", "p"])
    empty_ph = pd.DataFrame(columns=["term", "chisq", "df", "p"])
    try:
        covariates = estimates.PROFILE_COVARIATES + (estimates.AGGRESSIVE_COVARIATES if aggressive_features else ())
        model = profile_model(df, endpoint, settings, covariates=covariates, cluster_by_centre=cluster_by_centre)
    except estimates.EstimateError as exc:
        return CheckedCox(empty_hr, empty_ph, 0, [], "", False, reason=str(exc))
    cox = model.table[model.table["model"] != "Fine–Gray"]
    terms = cox[cox["term"] != "GLOBAL"]
    if model.n_events < MIN_EVENTS_PER_TERM * len(terms):
        return CheckedCox(empty_hr, empty_ph, model.n, model.notes, "", model.converged,
                          reason=f"{model.n_events} events for {len(terms)} terms")
    refs = {c: "reference" for c in COVARIATE_LABELS}
    frame = estimates.profile_frame(df)
    for column in COVARIATE_LABELS:
        if column in frame.columns and isinstance(frame[column].dtype, pd.CategoricalDtype) and len(frame[column].cat.categories):
            refs[column] = frame[column].cat.categories[0]
    hr = terms[["term", "hr", "lower", "upper", "p"]].copy()
    hr["term"] = [_term_label(t, refs) for t in hr["term"]]
    ph_rows = cox[cox["ph_chisq"].notna()]
    ph = pd.DataFrame({
        "term": ["Global" if t == "GLOBAL" else COVARIATE_LABELS.get(t.partition("[")[0], t.partition("[")[0]) for t in ph_rows["term"]],
        "chisq": ph_rows["ph_chisq"].to_numpy(), "df": ph_rows["ph_df"].to_numpy(), "p": ph_rows["ph_p"].to_numpy(),
    })
    fg = model.table[model.table["model"] == "Fine–Gray"][["term", "hr", "lower", "upper", "p"]].copy()
    fg["term"] = [_term_label(t, refs) for t in fg["term"]]
    return CheckedCox(hr.reset_index(drop=True), ph, model.n, model.notes, model.ph_warning, model.converged,
                      fine_gray=fg.reset_index(drop=True))


COVARIATE_LABELS: dict[str, str] = {
    "age_band": "Age band",
    "sex": "Sex",
    "phenotype": "Phenotype",
    "baseline_edss": "Baseline EDSS (per point)",
    "disease_duration_years": "Disease duration (per year)",
    "relapses_12m": "Relapses in prior 12 months (per relapse)",
    "conditioning_intensity": "Conditioning intensity",
    "f1_frequent_relapses": "F1 frequent early relapses (present vs not)",
    "f2_incomplete_recovery": "F2 incomplete relapse recovery (present vs not)",
    "f3_rapid_disability": "F3 rapid disability (present vs not)",
    "f4_mri_activity": "F4 high MRI activity (present vs not)",
}


AGGRESSIVE_GROUPINGS: tuple[str, ...] = (
    "f1_frequent_relapses", "f2_incomplete_recovery", "f3_rapid_disability", "f4_mri_activity",
)


def profile_statement(assessed: pd.DataFrame, n: int, *, release: Any = None) -> str:
    """A plain sentence per feature: how many patients could not be assessed for lack of data.

    Every count goes through the viewer's `release` (registry.security.disclosure): exact for roles that
    see patient codes; for aggregate-only roles 1-4 read "<5" and the rest are rounded, as every
    other count on their pages.
    """
    def show(k: int) -> str:
        return f"{k:,}" if release is None else release.text(k)

    parts = []
    for row in assessed.itertuples(index=False):
        no_data = int(row[3])
        parts.append(f"{row[0]}: {show(no_data)} of {show(n)} patients could not be assessed for lack of data "
                     f"(counted as not shown); present in {show(int(row[1]))}.")
    return "\n".join(f"- {p}" for p in parts)


def profile_assessment(df: pd.DataFrame) -> pd.DataFrame:
    """Per aggressive-MS feature: patients in whom it is present, not shown, and not assessable
    for lack of data (a subset of "not shown": missing data never count as present)."""
    from analytics.endpoints import AGGRESSIVE_FEATURES

    rows = []
    for column, label in AGGRESSIVE_FEATURES.items():
        present = int((df[column] == 1).sum())
        no_data = int((df[f"{column}_no_data"] == 1).sum())
        rows.append({"feature": label, "present": present, "not shown": len(df) - present, "no data": no_data})
    return pd.DataFrame(rows, columns=["feature", "present", "not shown", "no data"])


def _term_label(term: str, refs: dict[str, object]) -> str:
    """`phenotype[SPMS]` → `Phenotype: Secondary progressive MS vs Relapsing-remitting MS` (levels
    in words, dashboard.labels); `baseline_edss` → `Baseline EDSS (per point)`."""
    column, _, level = term.partition("[")
    name = COVARIATE_LABELS.get(column, column.replace("_", " ").capitalize())
    if level:
        ref = refs.get(column, "reference")
        return f"{name}: {group_label(column, level.rstrip(']'))} vs {group_label(column, ref) if ref != 'reference' else ref}"
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


_COUNT_IN_TEXT = r"\b(\d+)( (?:patient|event|death)(?:\(s\)|s)?\b)"


def release_counts_in_text(text: str, release: Any) -> str:
    """`'sex U: 2 patient(s), 0 event(s)'` → `'sex U: <5 patient(s), 0 event(s)'`: notes written
    for analysts quote counts of patients, events and deaths; each goes through the viewer's
    release (exact for roles that see patient codes; 1-4 hidden and the rest rounded otherwise),
    as in every table."""
    import re

    return re.sub(_COUNT_IN_TEXT, lambda m: release.text(int(m.group(1))) + m.group(2), text)


def format_estimate(est: float, lower: float, upper: float) -> str:
    """`87.3% (84.1–90.0)`; an em dash where there is no estimate (too few or too short)."""
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return "—"
    return f"{100 * est:.1f}% ({100 * lower:.1f}–{100 * upper:.1f})"
