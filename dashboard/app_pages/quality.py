"""Data quality: the outcome engine's report per centre and the list of records to fix.

The report itself (analytics.quality) decides what is overdue or inconsistent; this page only
scopes and shows it. Roles that may not see patient codes get the list without them (the
snapshot they are computed from has no codes) and without the details, which quote calendar
dates, so they can see how much is to fix, and where, but not for whom.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import streamlit as st

from analytics.quality import KEY_FIELDS, PROBLEMS
from dashboard import data, query_panel
from dashboard.context import page_context
from registry.dictionary import label

ctx = page_context()
st.title("Data quality")
report = data.quality(ctx.url, ctx.scope, ctx.version, ctx.settings_key, dt.date.today())
per_centre = report.per_centre
issues = report.issues
if ctx.filters.centres:
    per_centre = per_centre[per_centre["centre_code"].isin(ctx.filters.centres)]
    issues = issues[issues["centre_code"].isin(ctx.filters.centres)]

st.subheader("By centre")
# completeness columns named by the data dictionary ("MS onset date complete (%)")
complete = {f"{field}_complete_pct": f"{label(table, field)} complete (%)" for field, table in KEY_FIELDS}
st.dataframe(per_centre.rename(columns=complete), hide_index=True, width="stretch")
st.caption(ctx.settings_text())

st.subheader(f"Records to fix ({len(issues):,})")
if issues.empty:
    st.success("Nothing to fix in this selection.")
else:
    chosen = st.multiselect("Problems", [p for p in PROBLEMS if p in set(issues["problem"])], key="q_problems",
                            placeholder="All problems")
    if chosen:
        issues = issues[issues["problem"].isin(chosen)]
    # Roles without patient codes get a blank column from the snapshot; drop it altogether, and
    # the detail too: it quotes the patient's calendar dates (transplant, last visit), which
    # with the centre would point at a person.
    shown = issues if ctx.sees_patient_codes else issues.drop(columns=["patient_code", "detail"])
    config = {}
    if ctx.sees_patient_codes:  # each item opens the patient's page, where it can be fixed
        shown = shown.assign(open=[f"patient?{urlencode({'centre': c, 'patient': p})}"
                                   for c, p in zip(shown["centre_code"], shown["patient_code"], strict=True)])
        config["open"] = st.column_config.LinkColumn("open", display_text="patient page")
    st.dataframe(shown, hide_index=True, width="stretch", column_config=config)

# Data queries: counts per centre for every role that sees them; open, answer, close.
query_panel.render(ctx.actor, data.engine_for(ctx.url), data.reader_for(ctx.url),
                   issues if ctx.sees_patient_codes else None)
