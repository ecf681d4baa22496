"""Patient timeline: one patient's EDSS course with the baseline and worsening threshold, the
DMT periods before and after day 0, relapses, MRI activity and adverse events, and where CDW
and the end of NEDA-3 fell.

Who sees what: centre users pick among their own patients by patient code (the snapshot holds
only their centre), administrators by centre and patient code, and governance/researchers by
study_id only: for them the snapshot has no patient codes, and the page shows days since
transplant, never calendar dates.

Governance and researchers see aggregates only (registry.security.disclosure): a single patient's
course, even under a study id, is row-level data, so the page tells them so and shows nothing.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboard import analysis, data
from dashboard.context import page_context
from dashboard.downloads import show_figure
from dashboard.figures import patient_timeline_figure
from dashboard.labels import code_label

ctx = page_context()
st.title("Patient timeline")
if not ctx.release.exact:
    st.info("Single-patient timelines are not available to your role: governance and research accounts see "
            "aggregates only (see the disclosure policy in the README).")
    st.stop()
df = ctx.cohort()
if df.empty:
    st.warning("No patients match the cohort filters in the sidebar.")
    st.stop()

id_col = "patient_code" if ctx.sees_patient_codes else "study_id"
id_label = "Patient code" if ctx.sees_patient_codes else "Study ID"
left, right = st.columns(2)
centre_options = sorted(df["centre_code"].unique())
centre = left.selectbox("Centre", centre_options, key="t_centre", disabled=len(centre_options) == 1)
in_centre = df[df["centre_code"] == centre].sort_values(id_col)
choice = right.selectbox(id_label, in_centre[id_col].tolist(), key="t_patient")
if choice is None:
    st.stop()
p = in_centre[in_centre[id_col] == choice].iloc[0]
day0: dt.date = p["day0"]  # stays on the server: only day differences are drawn


def days_since(dates: pd.Series) -> pd.Series:
    return (pd.to_datetime(dates) - pd.Timestamp(day0)).dt.days.astype("int64")


def marker(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float((pd.Timestamp(value) - pd.Timestamp(day0)).days)


rec = data.patient_records(ctx.url, ctx.scope, ctx.version, int(p["patient_id"]))
visits = rec["visits"].assign(day=lambda f: days_since(f["date"]))
relapses = rec["relapses"].assign(day=lambda f: days_since(f["date"]))
mri = rec["mri_scans"].assign(day=lambda f: days_since(f["date"]))
mri["counts"] = mri["day"] > ctx.settings.mri_rebaseline_days
# codes in words in the hover texts (registry.dictionary): "Febrile neutropenia", "Natalizumab"
aes = rec["adverse_events"].assign(day=lambda f: days_since(f["date"]),
                                   category=lambda f: [code_label(c, "AE_CATEGORY") for c in f["category"]])
dmt = rec["treatments"]
dmt = pd.DataFrame({
    "drug": [code_label(c, "DMT_DRUG") for c in dmt["drug"]], "start": days_since(dmt["date"]),
    "stop": [None if pd.isna(v) else float((pd.Timestamp(v) - pd.Timestamp(day0)).days) for v in dmt["stop_date"]],
    "stop_reason": [None if v is None or pd.isna(v) else code_label(v, "DMT_STOP_REASON") for v in dmt["stop_reason"]],
})
b = None if pd.isna(p["baseline_edss"]) else float(p["baseline_edss"])
delta = None if b is None else analysis.minimum_change(b, ctx.settings.delta_cutoff)

fig = patient_timeline_figure(
    visits=visits[["day", "edss"]],
    relapses=relapses[["day"]],
    mri=mri[["day", "new_t2", "gd_enhancing", "counts"]],
    adverse_events=aes[["day", "category", "grade"]],
    baseline_edss=b,
    delta=delta,
    markers={"CDW": marker(p["cdw_date"]), "End of NEDA-3": marker(p["eda_date"]), "Death": marker(p["death_date"])},
    treatments=dmt,
    title=f"{id_label} {choice} ({p['centre_code']}, {p['phenotype']})",
    caption=ctx.settings_text() + (" No baseline EDSS: CDW, PFS and NEDA-3 undefined." if b is None else ""),
)
show_figure(fig, key="timeline_fig")  # with Save SVG / Save PDF

summary = pd.DataFrame(
    [
        ("Relapse-free survival", p["rfs_days"], p["rfs_event"]),
        ("Progression-free survival", p["pfs_days"], p["pfs_event"]),
        ("NEDA-3", p["neda_days"], p["neda_event"]),
        ("DMT-free survival", p["dmt_free_days"], p["dmt_free_event"]),
        ("Treatment-free NEDA-3", p["tf_neda_days"], p["tf_neda_event"]),
        ("Overall survival", p["os_days"], p["os_event"]),
        ("TRM (0 alive, 1 TRM, 2 other death)", p["trm_days"], p["trm_status"]),
    ],
    columns=["Endpoint", "Days", "Event / status"],
).astype({"Days": "Int64", "Event / status": "Int64"})
st.dataframe(summary, hide_index=True, width="stretch")
