"""Safety: transplant-related mortality (cumulative incidence, other deaths competing), early
mortality and TRM by centre against the registry (funnel plot), and serious adverse events.

Decisions:
- Funnel-plot rates use only patients whose status at the horizon is known (followed past
  it, or dead before it): a patient transplanted last month cannot count as a 100-day survivor.
- Centres with fewer patients than the minimum group size show "<5" and no rate, as curves do.
- For governance and researchers (no patient codes) the early-death counts by centre go
  through registry.disclosure.suppress_counts: 1–4 hidden, with complementary cells so that
  none can be worked out from the total; the rate beside a hidden count is hidden too.
- The serious-AE table (category × grade) hides counts of 1–4 with complementary suppression
  (registry.disclosure) so that no hidden count can be worked out from the totals.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics import estimates
from dashboard import analysis, data
from dashboard.context import page_context
from dashboard.figures import cumulative_incidence_figure, funnel_figure, serious_ae_figure
from registry.disclosure import suppress_counts

ctx = page_context()
df = ctx.cohort()
st.title("Safety")
if df.empty:
    st.warning("No patients match the cohort filters in the sidebar.")
    st.stop()

trm = data.survival(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), "trm", None)
st.plotly_chart(
    cumulative_incidence_figure(trm.curves, trm.risk, title="Transplant-related mortality",
                                caption=ctx.caption(len(df), "Aalen–Johansen; deaths from other causes compete."),
                                min_group_size=ctx.settings.min_group_size,
                                hide_small_counts=not ctx.sees_patient_codes),
    theme=None, width="stretch", key="safety_trm",
)

HORIZONS = {
    "Early mortality (all-cause death ≤100 days)": ("os_days", "os_event", 100, lambda s: s == 1),
    "TRM within 1 year": ("trm_days", "trm_status", 365, lambda s: s == 1),
}


def rate_by_centre(frame: pd.DataFrame, days_col: str, status_col: str, horizon: int, is_event) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Per centre: patients with known status at the horizon, and events by the horizon."""
    d = frame[frame[days_col].notna()]
    event = is_event(d[status_col]) & (d[days_col] <= horizon)
    known = event | (d[days_col] >= horizon)
    out = pd.DataFrame({"centre_code": d["centre_code"], "known": known, "event": event & known})
    g = out.groupby("centre_code").agg(n=("known", "sum"), events=("event", "sum")).reset_index()
    return g.astype({"n": int, "events": int})


st.subheader("Centres against the registry")
metric = st.radio("Measure", list(HORIZONS), key="sf_metric", horizontal=True)
days_col, status_col, horizon, is_event = HORIZONS[metric]
per_centre = rate_by_centre(df, days_col, status_col, horizon, is_event)
st.plotly_chart(
    funnel_figure(per_centre, title=f"{metric} by centre", rate_label=metric.split(" (")[0],
                  caption=ctx.caption(int(per_centre["n"].sum()), f"Patients with known status at day {horizon}; "
                                      "binomial 95% and 99.8% limits around the registry rate."),
                  min_group_size=ctx.settings.min_group_size),
    theme=None, width="stretch", key="safety_funnel",
)

by_centre = data.survival(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), "trm", "centre_code")
trm1 = by_centre.estimates[by_centre.estimates["years"] == 1].set_index("group")
early = estimates.early_mortality(df, by="centre_code").set_index("group")  # docs/endpoints.md: deaths ≤100 d, all patients
small = f"<{ctx.settings.min_group_size}"
deaths = early["deaths"].astype(int)
if not ctx.sees_patient_codes:
    # Governance and researchers: death counts of 1–4 hidden, with complementary cells.
    deaths = suppress_counts(early[["deaths"]].astype(int), ctx.settings.min_group_size, with_totals=False)["deaths"]
rows = []
for _, g in by_centre.groups.iterrows():
    centre = g["group"]
    shown = bool(g["shown"]) and not pd.isna(deaths.get(centre, pd.NA))
    e = early.loc[centre]
    rows.append({
        "Centre": centre,
        "Patients": str(g["n"]) if g["shown"] else small,
        "Early deaths ≤100 d": str(int(deaths[centre])) if shown else small,
        "Early mortality": f"{100 * e['proportion']:.1f}%" if shown else "—",
        "TRM at 1 year (95% CI)": (analysis.format_estimate(*trm1.loc[centre, ["estimate", "lower", "upper"]])
                                   if g["shown"] and centre in trm1.index else "—"),
    })
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
st.caption("Early mortality: all-cause deaths within 100 days of all patients (as `msreg`); the funnel counts only "
           "patients whose 100-day status is known. TRM: cumulative incidence with 95% CI."
           + ("" if ctx.sees_patient_codes else " Death counts of 1–4 are hidden, with complementary cells."))

st.subheader("Serious adverse events")
ae = data.serious_adverse_events(ctx.url, ctx.scope, ctx.version)
ae = ae[ae["patient_id"].isin(df["patient_id"])][["category", "grade", "days"]]  # the cohort's AEs, no ids
if ae.empty:
    st.info("No serious adverse events recorded for this cohort.")
else:
    st.plotly_chart(
        serious_ae_figure(ae, title="Serious adverse events by category, grade and time since transplant",
                          caption=ctx.caption(len(df), "Serious: flagged serious, or CTCAE grade ≥3 when the flag is missing."
                                              + ("" if ctx.sees_patient_codes else " Counts of 1–4 are not drawn, with complementary cells.")),
                          min_cell=None if ctx.sees_patient_codes else ctx.settings.min_group_size),
        theme=None, width="stretch", key="safety_ae",
    )
    table = ae.groupby(["category", "grade"]).size().unstack(fill_value=0)
    table.columns = [f"grade {c}" for c in table.columns]
    st.dataframe(suppress_counts(table, ctx.settings.min_group_size, total_label="total"), width="stretch")
    st.caption("Counts of 1–4 hidden with complementary cells, so none can be recovered from the totals.")
