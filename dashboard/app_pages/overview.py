"""Overview: registry size, activity by year and centre, follow-up completeness, and the
headline outcomes (RFS, PFS, NEDA-3, OS at 1, 2 and 5 years; TRM and early mortality).

Why the headline numbers come with 95% CIs and numbers at risk: a 5-year estimate resting on
30 patients still at risk reads very differently from one resting on 3,000.

Every count goes through the viewer's release (`ctx.release`, registry.security.disclosure), so the
sidebar's centre filter cannot show a governance user "Deaths 4" for one centre, and the
follow-up table's patients and alive are released (rounded) so deaths are not their difference.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import streamlit as st

from analytics import estimates
from dashboard import analysis, data
from dashboard.context import page_context
from dashboard.downloads import show_figure
from dashboard.figures import transplants_per_year_figure
from dashboard.labels import at_risk_label, column_label, for_display, years_label

HEADLINE = ("rfs", "pfs", "neda", "os")
HEADLINE_YEARS = (1, 2, 5)

ctx = page_context()
df = ctx.cohort()
st.title("Overview")
st.caption(ctx.caption(len(df)))

if df.empty:
    st.warning("No patients match the cohort filters in the sidebar.")
    st.stop()

release = ctx.release
cols = st.columns(5)
cols[0].metric("Patients", release.text(len(df)))
cols[1].metric("Centres", df["centre_code"].nunique())
deaths = int(df["os_event"].fillna(0).sum())
cols[2].metric("Deaths", release.text(deaths))
fu = analysis.median_follow_up_years(df)
cols[3].metric("Median follow-up", "—" if math.isnan(fu) else f"{fu:.1f} years", help="Reverse Kaplan–Meier")
early = estimates.early_mortality(df).iloc[0]
cols[4].metric(
    "Early mortality (≤100 days)",
    release.proportion(early["deaths"], early["patients"]),
    help="All-cause deaths within 100 days of the first transplant, of all transplanted patients."
    + ("" if release.exact else f" Not shown when fewer than {release.k} deaths (or survivors)."),
)
if not release.exact:
    st.caption(release.footnote())

st.subheader("Headline outcomes")
rows = []
for key in HEADLINE:
    res = data.survival(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), key, None)
    est = res.estimates.set_index("years")
    row = {"Endpoint": res.endpoint.label, column_label("patients"): release.text(int(res.groups["n"].sum())),
           column_label("events"): release.text(int(res.groups["events"].sum()))}
    for y in HEADLINE_YEARS:
        if y in est.index:
            e = est.loc[y]
            row[years_label(y)] = (
                analysis.format_estimate(e["estimate"], e["lower"], e["upper"]) if release.estimate_shown(e["events"])
                else f"fewer than {release.k} events")
            row[at_risk_label(y)] = release.text(e["n_risk"])
    rows.append(row)
trm = data.survival(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), "trm", None)
trm_est = trm.estimates.set_index("years")
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
st.caption("Kaplan–Meier estimates with 95% log-log confidence intervals; '—' where follow-up is too short or the "
           f"cohort has fewer than {ctx.settings.min_group_size} patients.")
trm_text = ", ".join(
    f"{years_label(y)}: "
    + (analysis.format_estimate(r['estimate'], r['lower'], r['upper']) if release.estimate_shown(r["events"])
       else f"fewer than {release.k} events")
    for y, r in trm_est.iterrows() if y in (1, 2, 5)
)
st.markdown(f"**Transplant-related mortality** (cumulative incidence, other deaths competing): {trm_text or '—'}")

# One above the other: side by side, the figure's caption and legend had no room at 1280 px.
left, right = st.container(), st.container()
with left:
    # All transplants of the cohort's patients, second ones included (activity, not patients).
    tx = data.transplants(ctx.url, ctx.scope, ctx.version)
    tx = tx[tx["patient_id"].isin(df["patient_id"])]
    per_year = tx.groupby(["transplant_year", "centre_code"]).size().rename("n").reset_index()
    later = int((tx["transplant_number"] > 1).sum())
    show_figure(
        transplants_per_year_figure(per_year, title="Transplants per year" + (" and centre" if release.exact else ""),
                                    caption=ctx.caption(len(df), f"{release.text(len(tx))} transplants, "
                                                        f"{release.text(later)} of them a second or later transplant."),
                                    release=release),
        key="overview_per_year",
    )
with right:
    st.subheader("Follow-up completeness")
    comp = analysis.follow_up_completeness(df, dt.date.today())
    if not release.exact:
        # Patients and alive released (rounded) so that deaths are not their difference; the
        # share seen is hidden where the living not seen, or seen, are 1..k-1.
        comp = comp.assign(seen_last_12m_pct=[
            release.proportion(round(p * a / 100), a, digits=0) if not math.isnan(p) else "—"
            for p, a in zip(comp["seen_last_12m_pct"], comp["alive"], strict=True)])
        comp = release.frame(comp, ["patients", "alive"])
    # Headers in words (dashboard.labels); for bound roles the share is released text, not a number.
    shown_comp = for_display(comp, {} if release.exact else {"seen_last_12m_pct": "Alive, seen ≤12 months"})
    st.dataframe(
        shown_comp, hide_index=True, width="stretch",
        column_config={
            column_label("seen_last_12m_pct"): st.column_config.NumberColumn(format="%.0f"),
            column_label("clark_c_pct"): st.column_config.NumberColumn(format="%.0f",
                                                                       help="Observed / potential person-time of follow-up"),
        },
    )
    if not release.exact:
        st.caption(release.footnote(release.hidden_in(analysis.follow_up_completeness(df, dt.date.today())["alive"])))
