"""Outcomes: Kaplan–Meier curves by centre or patient-profile factor, with CI bands, censor
marks, the number-at-risk table, the log-rank p, estimates at 1/2/3/5 years and a Cox model.

Why comparisons by centre come with a warning: centres differ in case mix (phenotype, EDSS,
era), so unadjusted curves by centre describe, they do not rank; the Cox model below adjusts for
the patient profile.

Every count here goes through the viewer's release (`ctx.release`, registry.security.disclosure):
patients and events in the estimates table, the risk table, the Cox model's n; an estimate
resting on 1..k-1 events is not shown to governance or researchers.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import analysis, data
from dashboard.context import page_context
from dashboard.labels import column_label, for_display, relabel_result, years_label
from dashboard.downloads import show_figure
from dashboard.figures import cumulative_incidence_figure, forest_figure, km_figure
from dashboard.figures.style import MANY_GROUPS

ctx = page_context()
st.title("Outcomes")
left, right = st.columns(2)
endpoint = left.selectbox(
    "Endpoint", list(analysis.ENDPOINTS), format_func=lambda k: analysis.ENDPOINTS[k].label, key="o_endpoint",
    bind="query-params",
)
# Bound to the address (`outcomes?o_by=Centre`): a view by centre can be linked to and shared.
grouping_label = right.selectbox("Compare by", list(analysis.GROUPINGS), key="o_by", bind="query-params")
by = analysis.GROUPINGS[grouping_label]
ep = analysis.ENDPOINTS[endpoint]
st.caption(ep.definition)

res = relabel_result(data.survival(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), endpoint, by), by)
# The whole cohort's curve: drawn grey in each panel when many groups make small multiples.
pooled = (data.survival(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), endpoint, None).curves
          if len(res.groups) > MANY_GROUPS else None)
n = int(res.groups["n"].sum()) if len(res.groups) else 0
if n == 0:
    st.warning("No patients with this endpoint in the selected cohort.")
    st.stop()

# The note on patients left out (no baseline EDSS, ...) is a count: through the release.
notes = [f"{ctx.release.text(res.n_excluded)} patient(s) without a defined {ep.label.lower()} left out"] if res.n_excluded else []
extra = " ".join(notes) + ("." if notes else "")
if res.logrank_p is not None:
    extra += f" Log-rank p = {res.logrank_p:.3g}."
caption = ctx.caption(n, extra.strip())
title = ep.label + ("" if by is None else f" by {grouping_label.lower()}")
make = cumulative_incidence_figure if ep.kind == "ci" else km_figure
test_text = f"Log-rank p = {res.logrank_p:.3g}" if res.logrank_p is not None else ""
fig = make(res.curves, res.risk, title=title, caption=caption, y_title=ep.y_title,
           min_group_size=ctx.settings.min_group_size, release=ctx.release, test_text=test_text, pooled=pooled)
show_figure(fig, key="outcomes_km")  # with Save SVG / Save PDF

if res.logrank_p is not None:
    st.metric("Log-rank p", f"{res.logrank_p:.3g}", help="Groups with too few patients are left out of the test.")

st.subheader("Estimates")
# Counts of groups too small to show are "<5" for everyone, as in the figure's risk table;
# the others are released to the viewer (exact, or small hidden and the rest rounded).
release = ctx.release
small = f"<{ctx.settings.min_group_size}"
g = res.groups
group_header = "Group" if by is None else grouping_label
table = pd.DataFrame({
    group_header: g["group"],
    column_label("patients"): [release.text(v) if s else small for v, s in zip(g["n"], g["shown"], strict=True)],
    column_label("events"): [release.text(v) if s else small for v, s in zip(g["events"], g["shown"], strict=True)],
    column_label("median_years"): [
        "—" if not s or ep.kind == "ci" or not release.estimate_shown(e) else "not reached" if pd.isna(m)
        else f"{m / analysis.DAYS_PER_YEAR:.1f}"
        for m, s, e in zip(g["median_days"], g["shown"], g["events"], strict=True)
    ],
})
est = res.estimates.copy()
hidden_estimates = 0
for y in analysis.ESTIMATE_YEARS:
    e = est[est["years"] == y].set_index("group")
    column = []
    for group in table[group_header]:
        if group in e.index and not release.estimate_shown(e.loc[group, "events"]):
            hidden_estimates += 1
            column.append(f"fewer than {release.k} events")
        else:
            column.append(analysis.format_estimate(*e.loc[group, ["estimate", "lower", "upper"]]) if group in e.index else "—")
    table[years_label(y)] = column
st.dataframe(table, hide_index=True, width="stretch")
st.caption("95% confidence intervals (Kaplan–Meier: log-log; cumulative incidence: log). "
           "'—': follow-up too short, or group too small. "
           + release.footnote(release.hidden_in(list(g["n"]) + list(g["events"])))
           + (f" {hidden_estimates} estimate(s) not shown: they rest on fewer than {release.k} events." if hidden_estimates else ""))

st.subheader("Outcomes by aggressive-MS profile at transplant")
st.caption("Features of aggressive MS shown by the data on or before day 0: F1 frequent early relapses, F2 incomplete "
           "recovery from a relapse, F3 EDSS ≥ 4.0 within 5 years of onset, F4 high MRI activity. Missing data never "
           "count as present.")
profile_views = {"Number of features": "aggressive_factors", **{
    label: column for label, column in analysis.GROUPINGS.items() if column in analysis.AGGRESSIVE_GROUPINGS}}
view = st.radio("Profile", list(profile_views), horizontal=True, key="o_profile")
prof = relabel_result(data.survival(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), endpoint,
                                    profile_views[view]), profile_views[view])
# the note on patients left out is a count: through the release, as under the main figure
prof_notes = ([f"{ctx.release.text(prof.n_excluded)} patient(s) without a defined {ep.label.lower()} left out"]
              if prof.n_excluded else [])
prof_extra = " ".join(prof_notes) + ("." if prof_notes else "")
if prof.logrank_p is not None:
    prof_extra += f" Log-rank p = {prof.logrank_p:.3g}."
show_figure(
    make(prof.curves, prof.risk, title=f"{ep.label} by {view.lower()}",
         caption=ctx.caption(int(prof.groups["n"].sum()) if len(prof.groups) else 0, prof_extra.strip()),
         y_title=ep.y_title, min_group_size=ctx.settings.min_group_size, release=ctx.release),
    key="outcomes_profile",
)
frame = data.cohort_frame(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key())
assessed = analysis.profile_assessment(frame)
st.markdown(analysis.profile_statement(assessed, len(frame), release=ctx.release))

if ep.kind == "km":
    st.subheader("Adjusted hazard ratios (Cox model)")
    with_features = st.checkbox("Include the aggressive-MS features F1–F4 as covariates", key="o_cox_features")
    cluster = st.toggle("Robust standard errors clustered by centre", key="o_cluster",
                        help="Patients of one centre share unmeasured practice; clustered (sandwich) errors allow for it.")
    model = data.cox_checked(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), endpoint, cluster,
                             with_features)
    if model.hr.empty:
        st.info(f"No Cox model: fewer than {analysis.MIN_EVENTS_PER_TERM} events per estimated term among the "
                "patients with complete data in this cohort (hazard ratios would be unreliable)"
                + (f" — {analysis.release_counts_in_text(model.reason, ctx.release)}." if model.reason else "."))
    else:
        if not model.converged:
            st.error("The Cox model did not converge cleanly (separation or collinearity): its hazard ratios are "
                     "unreliable. " + " ".join(n for n in model.notes if n.startswith("convergence")))
        if model.ph_warning:
            st.warning(model.ph_warning)
        # Full width: the terms name their levels in words, and a saved figure needs its axis ticks apart.
        show_figure(
            forest_figure(model.hr, title=f"{ep.label}: Cox proportional hazards",
                          caption=ctx.caption(model.n, "Complete-case analysis; Efron ties."
                                              + (" Robust standard errors clustered by centre." if cluster else ""))),
            key="outcomes_forest",
        )
        ph_col, _ = st.columns([3, 2])
        ph_col.markdown("**Proportional-hazards test** (as R's `cox.zph`)")
        ph_col.dataframe(for_display(model.ph.round(3)), hide_index=True, width="stretch")
        ph_col.caption("A small p means the effect changes over follow-up: one hazard ratio then summarises it poorly.")
        for note in model.notes:
            if not note.startswith("convergence"):
                shown = analysis.release_counts_in_text(note, ctx.release)
                st.caption(f"Note: {shown}.")
        st.dataframe(for_display(model.hr.round(3)), hide_index=True, width="stretch")
else:
    st.subheader("Adjusted models of transplant-related mortality")
    model = data.cox_checked(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), endpoint, False)
    if model.hr.empty:
        st.info(f"No model: fewer than {analysis.MIN_EVENTS_PER_TERM} transplant-related deaths per estimated term "
                "among the patients with complete data in this cohort"
                + (f" — {analysis.release_counts_in_text(model.reason, ctx.release)}." if model.reason else "."))
    else:
        if model.ph_warning:
            st.warning(model.ph_warning)
        cs_col, fg_col = st.columns(2)
        cs_col.markdown("**Cause-specific hazard ratios** (Cox; other deaths censored): the rate of TRM among patients alive")
        cs_col.dataframe(for_display(model.hr.round(3)), hide_index=True, width="stretch")
        fg_col.markdown("**Subdistribution hazard ratios** (Fine–Gray): the cumulative incidence of TRM")
        fg_col.dataframe(for_display(model.fine_gray.round(3)), hide_index=True, width="stretch")
        st.caption("Complete-case analysis. The two models answer different questions; where they disagree, the "
                   "covariate also changes mortality from other causes.")

