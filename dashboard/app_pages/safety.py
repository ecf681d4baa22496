"""Safety: transplant-related mortality (cumulative incidence, other deaths competing; stacked
with the other causes; compared between groups by Gray's test), early mortality and TRM by
centre against the registry (observed/expected funnel with an exact signal rule), and serious
adverse events.

Decisions:
- Centre benchmarking, the TRM group comparison and their disclosure rules are in
  dashboard/safety_views.py (one call each here): estimates from every patient (Aalen–Johansen
  / Kaplan–Meier), never from complete cases; counts of 1–4 hidden from governance and
  researchers with complementary cells, and the values beside them too.
- The serious-AE table (category × grade) hides counts of 1–4 with complementary suppression
  (registry.disclosure) so that no hidden count can be worked out from the totals.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import data, safety_views
from dashboard.context import page_context
from dashboard.figures import cumulative_incidence_figure, serious_ae_figure
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

# Competing risks (stacked incidence, TRM by group) and centre benchmarking: dashboard/safety_views.py
safety_views.render_stacked_incidence(ctx, df)
safety_views.render_trm_comparison(ctx, df)
safety_views.render_benchmark(ctx)

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
