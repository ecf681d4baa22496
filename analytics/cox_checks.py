"""The patient-profile Cox model with the checks a reader needs before believing its hazard ratios.

What it adds to :func:`analytics.estimates.cox_profile`, decided here once for the Outcomes
page and ``msreg cox``:

* **Sex U** (unknown) is treated as missing by default (``EndpointSettings.sex_unknown_as_missing``):
  a level of one or two patients otherwise yields "U vs F 0.00 (0.00–inf)".
* **Sparse levels**: a level of a categorical covariate with fewer than ``min_group_size``
  patients or with no event cannot be estimated (the likelihood has no maximum: separation).
  Ordered covariates (age band, conditioning intensity) merge such a level into its
  neighbour (the next lower one; the first into the next higher); other covariates drop the
  level's patients from the model. A covariate left with one level is dropped. Every merge and
  drop is written into ``notes``.
* **Convergence**: lifelines' convergence warnings (separation, collinearity) are kept in
  ``notes``; a model that does not converge is reported as such, not drawn.
* **Proportional hazards**: R's ``cox.zph`` test per term and global (:mod:`analytics.cox_zph`),
  with a plain warning when a term (or the model) departs from it at the 5% level.
* **Clustering**: optionally, robust (sandwich) standard errors clustered by centre: patients
  of one centre share unmeasured practice, so model-based intervals can be too narrow.
* For TRM, the model is of the cause-specific hazard (other deaths censored); the Fine–Gray
  model of the subdistribution hazard is reported beside it (:mod:`analytics.fine_gray`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics import estimates
from analytics.cox import cox_model
from analytics.cox_zph import proportional_hazards_test
from analytics.settings import EndpointSettings

__all__ = ["MODEL_COLUMNS", "ProfileModel", "profile_model"]

MODEL_COLUMNS: list[str] = ["model", "term", "hr", "lower", "upper", "p", "ph_chisq", "ph_df", "ph_p"]

ORDERED: dict[str, list[str]] = {
    "age_band": ["<30", "30-39", "40-49", "50+"],
    "conditioning_intensity": ["LOW", "INTERMEDIATE", "HIGH"],
}

PH_LEVEL = 0.05


@dataclass(frozen=True)
class ProfileModel:
    """``table``: ``MODEL_COLUMNS``, one row per term of each model and a ``GLOBAL`` PH row
    (hazard ratio empty). ``n``, ``n_events``, ``notes`` (merges, drops, convergence),
    ``ph_warning`` (a plain sentence, '' when proportional hazards hold), ``converged``."""

    table: pd.DataFrame
    n: int
    n_events: int
    notes: list[str] = field(default_factory=list)
    ph_warning: str = ""
    converged: bool = True


def profile_model(
    endpoints: pd.DataFrame,
    endpoint: str,
    settings: EndpointSettings | None = None,
    *,
    covariates: Sequence[str] = estimates.PROFILE_COVARIATES,
    cluster_by_centre: bool = False,
) -> ProfileModel:
    """Fit and check the profile model of ``endpoint``.

    :raises estimates.EstimateError: unknown endpoint, or no model can be fitted at all.
    """
    settings = settings or EndpointSettings()
    time_col, event_col = estimates.check_endpoint(endpoint)
    frame = estimates.profile_frame(endpoints)
    notes: list[str] = []
    if settings.sex_unknown_as_missing and "sex" in frame.columns:
        unknown = int((frame["sex"].astype(object) == "U").sum())
        if unknown:
            frame["sex"] = frame["sex"].cat.remove_categories(["U"]) if "U" in frame["sex"].cat.categories else frame["sex"]
            notes.append(f"sex U (unknown) treated as missing: {unknown} patient(s) left out of the model")
    frame["_time"] = pd.to_numeric(frame[time_col], errors="coerce").astype(float)
    frame["_event"] = (frame[event_col] == 1).astype(float).where(frame[event_col].notna(), np.nan)
    frame["_status"] = pd.to_numeric(frame[event_col], errors="coerce")
    covariates = list(covariates)
    covariates = _tidy_levels(frame, covariates, settings.min_group_size, notes)
    if not covariates:
        raise estimates.EstimateError(f"no covariate of the profile can be estimated for {endpoint}: {'; '.join(notes)}")
    complete = frame.dropna(subset=["_time", "_event", *covariates])
    if complete["_event"].sum() == 0:
        raise estimates.EstimateError(f"no {endpoint} event among the patients with complete data: no model")
    try:
        fit = cox_model(complete, "_time", "_event", covariates, cluster="centre_code" if cluster_by_centre else None)
    except ValueError as exc:
        raise estimates.EstimateError(str(exc)) from exc
    converged = True
    for message in fit.warnings:
        converged = False
        notes.append(f"convergence: {message.splitlines()[0]}")
    label = "cause-specific Cox" if endpoint == "trm" else "Cox"
    if cluster_by_centre:
        notes.append("standard errors robust to clustering by centre")
    ph = proportional_hazards_test(complete, "_time", "_event", covariates).table
    rows = []
    for _, row in fit.table.iterrows():
        term = row["term"]
        covariate = term.partition("[")[0]
        ph_row = ph[ph["term"] == covariate]
        first_of_term = fit.table["term"].str.partition("[")[0].eq(covariate).idxmax() == _
        rows.append({"model": label, "term": term, "hr": row["hr"], "lower": row["lower"], "upper": row["upper"],
                     "p": row["p"],
                     "ph_chisq": float(ph_row["chisq"].iloc[0]) if first_of_term and len(ph_row) else np.nan,
                     "ph_df": int(ph_row["df"].iloc[0]) if first_of_term and len(ph_row) else pd.NA,
                     "ph_p": float(ph_row["p_value"].iloc[0]) if first_of_term and len(ph_row) else np.nan})
    glob = ph[ph["term"] == "GLOBAL"].iloc[0]
    rows.append({"model": label, "term": "GLOBAL", "hr": np.nan, "lower": np.nan, "upper": np.nan, "p": np.nan,
                 "ph_chisq": glob["chisq"], "ph_df": int(glob["df"]), "ph_p": glob["p_value"]})
    violated = [t for t in ph.loc[ph["p_value"] < PH_LEVEL, "term"] if t != "GLOBAL"]
    warning = ""
    if violated or glob["p_value"] < PH_LEVEL:
        which = ", ".join(violated) if violated else "the model as a whole"
        warning = (f"Proportional hazards doubtful for {which} (cox.zph p < {PH_LEVEL:g}): the effect changes over "
                   f"follow-up, so a single hazard ratio summarises it poorly; read the curves.")
    if endpoint == "trm":
        rows.extend(_fine_gray_rows(complete, covariates, notes))
    table = pd.DataFrame(rows, columns=MODEL_COLUMNS)
    table["ph_df"] = table["ph_df"].astype("Int64")
    return ProfileModel(table=table, n=fit.n, n_events=fit.n_events, notes=notes, ph_warning=warning, converged=converged)


def _tidy_levels(frame: pd.DataFrame, covariates: list[str], min_size: int, notes: list[str]) -> list[str]:
    """Merge or drop sparse levels in place (module docstring); returns the usable covariates."""
    usable = []
    complete = frame.dropna(subset=["_time", "_event"])
    for name in covariates:
        column = frame[name]
        if not isinstance(column.dtype, pd.CategoricalDtype):
            if complete[name].nunique() >= 2:
                usable.append(name)
            else:
                notes.append(f"{name} does not vary: left out")
            continue
        values = column.astype(object)
        while True:
            present = complete.assign(_v=values.loc[complete.index]).dropna(subset=["_v"])
            stats = present.groupby("_v")["_event"].agg(["size", "sum"])
            sparse = [lvl for lvl in stats.index if stats.loc[lvl, "size"] < min_size or stats.loc[lvl, "sum"] == 0]
            if not sparse or len(stats) < 2:
                break
            level = sparse[0]
            if name in ORDERED:
                order = [lvl for lvl in ORDERED[name] if lvl in stats.index]
                i = order.index(level) if level in order else 0
                target = order[i - 1] if i > 0 else order[min(1, len(order) - 1)]
                if target == level:
                    break
                values = values.where(values != level, target)
                notes.append(f"{name} {level}: {int(stats.loc[level, 'size'])} patient(s), {int(stats.loc[level, 'sum'])} event(s) — merged into {target}")
            else:
                values = values.where(values != level, np.nan)
                notes.append(f"{name} {level}: {int(stats.loc[level, 'size'])} patient(s), {int(stats.loc[level, 'sum'])} event(s) — cannot be estimated (too few patients or no event), left out of the model")
        counts = values.loc[complete.index].value_counts()
        levels = sorted(counts.index, key=lambda lvl: (-counts[lvl], str(lvl)))
        frame[name] = pd.Categorical(values, categories=levels)
        if len(levels) >= 2:
            usable.append(name)
        else:
            notes.append(f"{name} has a single usable level: left out")
    return usable


def _fine_gray_rows(complete: pd.DataFrame, covariates: list[str], notes: list[str]) -> list[dict[str, object]]:
    from analytics.fine_gray import fine_gray

    data = complete.dropna(subset=["_status"]).copy()
    data["_status"] = data["_status"].astype(int)
    try:
        fg = fine_gray(data, "_time", "_status", covariates, cause=1)
    except ValueError as exc:
        notes.append(f"Fine–Gray model not estimable: {exc}")
        return []
    if not fg.converged:
        notes.append("Fine–Gray model did not converge (separation): its ratios are not shown")
        return []
    return [{"model": "Fine–Gray", "term": r["term"], "hr": r["hr"], "lower": r["lower"], "upper": r["upper"],
             "p": r["p"], "ph_chisq": np.nan, "ph_df": pd.NA, "ph_p": np.nan} for _, r in fg.table.iterrows()]
