"""Data quality: the outcome engine's report per centre and the list of records to fix.

The report itself (analytics.quality) decides what is overdue or inconsistent; this page only
scopes and shows it. Roles that may not see patient codes get the list without them (the
snapshot they are computed from has no codes), so they can see how much is to fix, and where,
but not for whom.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboard import data
from dashboard.context import page_context

IDENTIFYING = ("patient_id", "patient_code")

ctx = page_context()
st.title("Data quality")
report = data.quality(ctx.url, ctx.scope, ctx.version, ctx.settings_key, dt.date.today())
per_centre = report.per_centre
issues = report.issues
if ctx.filters.centres:
    per_centre = per_centre[per_centre["centre_code"].isin(ctx.filters.centres)]
    issues = issues[issues["centre_code"].isin(ctx.filters.centres)]

st.subheader("By centre")
st.dataframe(per_centre, hide_index=True, width="stretch")
st.caption(ctx.settings_text())

st.subheader(f"Records to fix ({len(issues):,})")
if issues.empty:
    st.success("Nothing to fix in this selection.")
else:
    kinds = sorted(issues[ctx_col].unique()) if (ctx_col := next((c for c in ("check", "issue", "rule", "kind") if c in issues.columns), None)) else []
    if kinds:
        chosen = st.multiselect("Show", kinds, key="q_kinds", placeholder="All kinds of issue")
        if chosen:
            issues = issues[issues[ctx_col].isin(chosen)]
    shown = issues if ctx.sees_patient_codes else issues.drop(columns=[c for c in IDENTIFYING if c in issues.columns])
    shown = shown.drop(columns=[c for c in ("patient_id",) if c in shown.columns])
    st.dataframe(shown, hide_index=True, width="stretch")
