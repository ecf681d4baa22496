"""Safety: transplant-related mortality (cumulative incidence, other deaths competing; stacked
with the other causes; compared between groups by Gray's test), early mortality and TRM by
centre against the registry (observed/expected funnel with an exact signal rule), serious
adverse events, and time to engraftment by centre and regimen (cumulative incidence, death
competing).

Decisions:
- Centre benchmarking, the TRM group comparison and their disclosure rules are in
  dashboard/safety_views.py (one call each here): estimates from every patient (Aalen–Johansen
  / Kaplan–Meier), never from complete cases.
- Every count goes through the viewer's release (`ctx.release`, registry.security.disclosure): for
  governance and researchers counts of 1–4 show as "<5" and others are rounded to 5, and a rate
  or estimate resting on 1–4 events is not shown (2.3% of 45 is one death).
- Serious AEs are coarsened for those roles (pooled grades, wider windows, small categories
  pooled) so that every serious AE is drawn or marked hidden; the table shows the same counts,
  with its totals, and never the word None.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import analysis, data, safety_views
from dashboard.context import page_context
from dashboard.downloads import show_figure
from dashboard.figures import cumulative_incidence_figure, engraftment_figure, serious_ae_figure
from dashboard.figures.counts import serious_ae_counts
from dashboard.figures.style import MANY_GROUPS
from dashboard.labels import column_label, relabel_groups, relabel_result
from registry.security.disclosure import NOT_BROKEN_DOWN, WITHHELD

ctx = page_context()
df = ctx.cohort()
st.title("Safety")
if df.empty:
    st.warning("No patients match the cohort filters in the sidebar.")
    st.stop()

trm = relabel_result(data.survival(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), "trm", None), None)
show_figure(  # with Save SVG / Save PDF
    cumulative_incidence_figure(trm.curves, trm.risk, title="Transplant-related mortality",
                                caption=ctx.caption(len(df), "Aalen–Johansen; deaths from other causes compete."),
                                min_group_size=ctx.settings.min_group_size, release=ctx.release),
    key="safety_trm",
)

# Competing risks (stacked incidence, TRM by group) and centre benchmarking: dashboard/safety_views.py
safety_views.render_stacked_incidence(ctx, df)
safety_views.render_trm_comparison(ctx, df)
safety_views.render_benchmark(ctx)
release = ctx.release

st.subheader("Serious adverse events")
ae = data.serious_adverse_events(ctx.url, ctx.scope, ctx.version)
ae = ae[ae["patient_id"].isin(df["patient_id"])][["category", "grade", "days"]]  # the cohort's AEs, no ids
if ae.empty:
    st.info("No serious adverse events recorded for this cohort.")
else:
    show_figure(
        serious_ae_figure(ae, title="Serious adverse events by category, grade and time since transplant",
                          caption=ctx.caption(len(df), "Serious: flagged serious, or CTCAE grade ≥3 when the flag is missing."),
                          release=release),
        key="safety_ae",
    )
    counts = serious_ae_counts(ae, release)  # categories in words (registry.dictionary), grades as drawn
    table = counts.by_category.copy()
    shown = release.table(table, total_label="Total")
    if release.exact:
        shown = shown.map(lambda v: int(str(v).replace(",", "")))
    st.dataframe(shown, width="stretch")
    not_broken_down = "" if release.exact or not (shown == NOT_BROKEN_DOWN).any().any() else (
        f"{NOT_BROKEN_DOWN}: part of a total below {release.k}, not broken down.")
    if not release.exact and (shown == WITHHELD).any().any():
        not_broken_down += f" {WITHHELD}: withheld, the totals would otherwise give a count below {release.k} away."
    st.caption(" ".join(p for p in (counts.note, release.footnote(release.hidden_in(table.to_numpy().ravel())),
                                    not_broken_down) if p) or "Exact counts.")

st.subheader("Engraftment")
left, right = st.columns(2)
kind = left.radio("Cell line", ["neutrophil", "platelet"], format_func=str.capitalize, horizontal=True, key="sf_engraft")
engraft_by = right.radio("By", ["Centre", "Conditioning regimen", "Whole cohort"], horizontal=True, key="sf_engraft_by",
                         bind="query-params")  # linkable, as the TRM grouping
by_column = {"Centre": "centre_code", "Conditioning regimen": "conditioning", "Whole cohort": None}[engraft_by]
engraftment = data.engraftment(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), kind, by_column)
if engraftment is None:
    st.info("No engraftment dates recorded for this cohort.")
else:
    eng, at_days = relabel_result(engraftment[0], by_column), relabel_groups(engraftment[1], by_column)
    # the whole cohort's curve, grey in every panel, when many groups make small multiples
    whole_cohort = (data.engraftment(ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), kind, None)
                    if len(eng.groups) > MANY_GROUPS else None)
    n_eng = int(eng.groups["n"].sum())
    left_out = len(df) - n_eng
    note = (f"{release.text(left_out)} patient(s) followed beyond day 100 without a recorded engraftment date left out. "
            if left_out else "")
    show_figure(
        engraftment_figure(eng.curves, title=f"{kind.capitalize()} engraftment" + ("" if by_column is None else f" by {engraft_by.lower()}"),
                           caption=ctx.caption(n_eng, note + "Aalen–Johansen cumulative incidence; death before engraftment competes."),
                           min_group_size=ctx.settings.min_group_size,
                           pooled=None if whole_cohort is None else whole_cohort[0].curves,
                           release=release, sizes=dict(zip(eng.groups["group"], eng.groups["n"], strict=True))),
        key="safety_engraftment",
    )
    small = f"<{ctx.settings.min_group_size}"
    g = eng.groups
    group_header = "Group" if by_column is None else engraft_by
    eng_table = pd.DataFrame({
        group_header: g["group"],
        column_label("patients"): [release.text(v) if s else small for v, s in zip(g["n"], g["shown"], strict=True)],
    })
    sizes = dict(zip(g["group"], g["n"], strict=True))

    def engraftment_text(group: str, e: pd.DataFrame) -> str:
        """An incidence with its group size gives both the engrafted and the not engrafted count
        away (99.2% of 120 is one patient): each must be 0 or at least k for bound roles."""
        if group not in e.index or pd.isna(e.loc[group, "estimate"]):
            return "—"
        est = e.loc[group, ["estimate", "lower", "upper"]]
        engrafted = round(float(est["estimate"]) * sizes[group])
        if not release.split_shown(engrafted, sizes[group]):
            return f"not shown: fewer than {release.k} engrafted, or not engrafted"
        return analysis.format_estimate(*est)

    for day in (14, 21, 28):
        e = at_days[(at_days["time"] == day) & ~at_days["suppressed"]].set_index("group")
        eng_table[f"By day {day}"] = [engraftment_text(x, e) for x in eng_table[group_header]]
    st.dataframe(eng_table, hide_index=True, width="stretch")
    st.caption("Engraftment: the first transplant's recorded neutrophil (or platelet) engraftment date. A death within "
               "100 days without engraftment competes; patients still within 100 days are censored at last contact.")

st.subheader("Committee safety report")
st.markdown("A dated, paginated PDF of this page's cohort for the committee's file: TRM and competing mortality, the "
            "centres, serious adverse events, follow-up completeness, the definitions and settings, and the disclosure "
            "policy applied (the governance role's, whoever downloads it). The same report as `msreg report safety`.")


def _report_pdf() -> bytes:
    import datetime as dt

    from dashboard.badge import is_synthetic
    from dashboard.report.safety import build_safety_report, pdf_bytes

    events = data.serious_adverse_events(ctx.url, ctx.scope, ctx.version)
    report = build_safety_report(ctx.cohort(), events, settings=ctx.settings, data_version=ctx.version,
                                 generated_at=dt.datetime.now(dt.UTC), synthetic=is_synthetic(ctx.url),
                                 # the centres as benchmarked above: every patient, no cohort filter
                                 centres_from=ctx.endpoints())
    return pdf_bytes(report)


def _report_recorded() -> None:
    from dashboard.login import client_address, registry_engine
    from registry.security.access_log import record_access

    record_access(registry_engine(), ctx.actor, "download",
                  {"what": "committee safety report", "cohort": ctx.filters.describe(), "settings": ctx.settings.to_dict()},
                  door="dashboard", client=client_address())


st.download_button("Committee safety report (PDF)", data=_report_pdf, file_name="committee-safety-report.pdf",
                   mime="application/pdf", key="safety_report_pdf", on_click=_report_recorded,
                   help="Rendered when you click (a few seconds).")
