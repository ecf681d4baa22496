"""Data quality: the outcome engine's report per centre and the list of records to fix.

The report itself (analytics.quality) decides what is overdue or inconsistent; this page only
scopes and shows it. Roles that may not see patient codes get the list without them (the
snapshot they are computed from has no codes) and without the details, which quote calendar
dates, so they can see how much is to fix, and where, but not for whom.

Governance and researchers get counts only, through their release (registry.security.disclosure): the
per-centre table's counts released (1–4 as "<5", the rest rounded), percentages hidden where
the incomplete records are 1–4, and the records to fix as counts per centre and problem.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from analytics.quality import KEY_FIELDS, PROBLEMS
from dashboard import data, query_panel
from dashboard.context import page_context
from dashboard.labels import column_label, for_display
from registry.dictionary import label

ctx = page_context()
st.title("Data quality")
report = data.quality(ctx.url, ctx.scope, ctx.version, ctx.settings_key, dt.date.today())
per_centre = report.per_centre
issues = report.issues
if ctx.filters.centres:
    per_centre = per_centre[per_centre["centre_code"].isin(ctx.filters.centres)]
    issues = issues[issues["centre_code"].isin(ctx.filters.centres)]

release = ctx.release
st.subheader("By centre")
# completeness columns named by the data dictionary ("MS onset date complete (%)")
complete = {f"{field}_complete_pct": f"{label(table, field)} complete (%)" for field, table in KEY_FIELDS}
if not release.exact:
    count_columns = [c for c in per_centre.columns if pd.api.types.is_integer_dtype(per_centre[c])]
    pct_columns = [c for c in per_centre.columns if c.endswith("_pct")]
    shown_per_centre = release.frame(per_centre, count_columns)
    for c in pct_columns:
        shown_per_centre[c] = [release.proportion(round(p * n / 100), n) if not pd.isna(p) else "—"
                               for p, n in zip(per_centre[c], per_centre["patients"], strict=True)]
    st.dataframe(for_display(shown_per_centre, complete), hide_index=True, width="stretch")
    st.caption(" ".join([ctx.settings_text(), release.footnote(release.hidden_in(per_centre[count_columns].to_numpy().ravel())),
                         f"Percentages not shown where fewer than {release.k} records are (in)complete."]))
    st.subheader(f"Records to fix ({release.text(len(issues))})")
    if issues.empty:
        st.success("Nothing to fix in this selection.")
    else:
        # Counts per centre and problem: a list of records is row-level data.
        table = issues.groupby(["centre_code", "problem"]).size().unstack(fill_value=0)
        table.index.name = column_label("centre_code")
        st.dataframe(table.apply(lambda col: [release.text(v) for v in col]), width="stretch")
        st.caption(release.footnote(release.hidden_in(table.to_numpy().ravel())))
else:
    st.dataframe(for_display(per_centre, complete), hide_index=True, width="stretch")
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
            config[column_label("open")] = st.column_config.LinkColumn(display_text="patient page")
        st.dataframe(for_display(shown), hide_index=True, width="stretch", column_config=config)

# Data queries: counts per centre for every role that sees them; open, answer, close.
query_panel.render(ctx.actor, data.engine_for(ctx.url), data.reader_for(ctx.url),
                   issues if ctx.sees_patient_codes else None)
