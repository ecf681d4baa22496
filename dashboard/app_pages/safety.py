"""Safety: transplant-related mortality (cumulative incidence, other deaths competing), early
mortality and TRM by centre against the registry (funnel plot), and serious adverse events.

Decisions:
- Funnel-plot rates use only patients whose status at the horizon is known (followed past
  it, or dead before it): a patient transplanted last month cannot count as a 100-day survivor.
- Centres with fewer patients than the minimum group size show "<5" and no rate, as curves do.
- Every count goes through the viewer's release (`ctx.release`, registry.disclosure): for
  governance and researchers counts of 1–4 show as "<5" and others are rounded to 5, and a rate
  or TRM estimate resting on 1–4 events is not shown (2.3% of 45 is one death).
- Serious AEs are coarsened for those roles (pooled grades, wider windows, small categories
  pooled) so that every serious AE is drawn or marked hidden; the table shows the same counts,
  with its totals, and never the word None.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics import estimates
from dashboard import analysis, data
from dashboard.context import page_context
from dashboard.figures import cumulative_incidence_figure, funnel_figure, serious_ae_figure
from dashboard.figures.counts import serious_ae_counts
from registry.disclosure import NOT_BROKEN_DOWN, WITHHELD

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
                                min_group_size=ctx.settings.min_group_size, release=ctx.release),
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
                  min_group_size=ctx.settings.min_group_size, release=ctx.release),
    theme=None, width="stretch", key="safety_funnel",
)

by_centre = data.survival(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), "trm", "centre_code")
trm1 = by_centre.estimates[by_centre.estimates["years"] == 1].set_index("group")
early = estimates.early_mortality(df, by="centre_code").set_index("group")  # ENDPOINTS.md: deaths ≤100 d, all patients
release = ctx.release
small = f"<{ctx.settings.min_group_size}"
rows = []
for _, g in by_centre.groups.iterrows():
    centre = g["group"]
    e = early.loc[centre]
    trm_shown = g["shown"] and centre in trm1.index and release.estimate_shown(trm1.loc[centre, "events"])
    rows.append({
        "Centre": centre,
        "Patients": release.text(g["n"]) if g["shown"] else small,
        "Early deaths ≤100 d": release.text(e["deaths"]) if g["shown"] else small,
        "Early mortality": release.proportion(e["deaths"], e["patients"]) if g["shown"] else "—",
        "TRM at 1 year (95% CI)": (analysis.format_estimate(*trm1.loc[centre, ["estimate", "lower", "upper"]])
                                   if trm_shown else f"fewer than {release.k} events"
                                   if g["shown"] and centre in trm1.index else "—"),
    })
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
n_hidden = release.hidden_in([e for c, e in early["deaths"].items() if c in set(by_centre.groups.loc[by_centre.groups["shown"], "group"])])
st.caption("Early mortality: all-cause deaths within 100 days of all patients (as `msreg`); the funnel counts only "
           "patients whose 100-day status is known. TRM: cumulative incidence with 95% CI. "
           + release.footnote(n_hidden)
           + ("" if release.exact else f" Rates and estimates resting on fewer than {release.k} events are not shown."))

st.subheader("Serious adverse events")
ae = data.serious_adverse_events(ctx.url, ctx.scope, ctx.version)
ae = ae[ae["patient_id"].isin(df["patient_id"])][["category", "grade", "days"]]  # the cohort's AEs, no ids
if ae.empty:
    st.info("No serious adverse events recorded for this cohort.")
else:
    st.plotly_chart(
        serious_ae_figure(ae, title="Serious adverse events by category, grade and time since transplant",
                          caption=ctx.caption(len(df), "Serious: flagged serious, or CTCAE grade ≥3 when the flag is missing."),
                          release=release),
        theme=None, width="stretch", key="safety_ae",
    )
    counts = serious_ae_counts(ae, release)
    table = counts.by_category.copy()
    table.columns = [c.lower() for c in table.columns]
    shown = release.table(table)
    if release.exact:
        shown = shown.map(lambda v: int(str(v).replace(",", "")))
    st.dataframe(shown, width="stretch")
    not_broken_down = "" if release.exact or not (shown == NOT_BROKEN_DOWN).any().any() else (
        f"{NOT_BROKEN_DOWN}: part of a total below {release.k}, not broken down.")
    if not release.exact and (shown == WITHHELD).any().any():
        not_broken_down += f" {WITHHELD}: withheld, the totals would otherwise give a count below {release.k} away."
    st.caption(" ".join(p for p in (counts.note, release.footnote(release.hidden_in(table.to_numpy().ravel())),
                                    not_broken_down) if p) or "Exact counts.")
