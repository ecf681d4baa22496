"""Patient: one patient's records in one place, with the EDSS course, inline corrections and
deletions with a reason, and each record's history from the audit trail.

Who finds whom: centre users pick among their own patients by patient code; administrators by
centre and patient code, or by study id. Governance and researchers do not see identifiable
records (registry.security.access): the page says so and points to the patient timeline, which shows
them one patient by study id in days since transplant.

Links: `patient?centre=OSL&patient=P001` opens a patient directly (the data-quality page links
each item here). Edits go through dashboard/forms.py (the same conflict and busy handling as the
data-entry page) and so through registry.services. Governance users and administrators also
get a "Data query" tab on each record (administrators only reach this page), to ask the centre
about that record or one of its fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import data, forms
from dashboard.context import page_context
from dashboard.downloads import show_figure
from dashboard.labels import for_display
from dashboard.figures.style import base_layout
from registry import dictionary, history, lookup, queries, services
from registry.security.access import AccessDenied
from registry.db import session_scope
from registry.validation import CHILD_ENTITIES, ENTITIES

FLASH_KEY = "_patient_flash"
PLURAL = {"transplants": "Transplants", "visits": "Visits (EDSS)", "relapses": "Relapses", "mri": "MRI scans",
          "adverse_events": "Adverse events", "deaths": "Death"}

ctx = page_context()
actor = ctx.actor
st.title("Patient")
if not ctx.sees_patient_codes:
    st.info("Patient records with codes and dates are for centre data managers and administrators. "
            "The Patient timeline page shows one patient by study id, in days since transplant.")
    st.stop()
engine = data.engine_for(ctx.url)
reader = data.reader_for(ctx.url)
flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    st.success(flash)


def saved(message: str) -> None:
    data.clear_after_write()
    st.session_state[FLASH_KEY] = message
    st.rerun()


with session_scope(reader) as session:
    patients = services.list_records(session, actor, "patients")
by_code = {(p.key["centre_code"], p.key["patient_code"]): p for p in patients}

params = st.query_params
linked = (params.get("centre"), params.get("patient"))
left, right = st.columns(2)
centres = sorted({c for c, _ in by_code}) if actor.role != "centre" else [actor.centre_code]
if not centres:
    st.info("No patients yet.")
    st.stop()
default_centre = centres.index(linked[0]) if linked[0] in centres else 0
centre = left.selectbox(dictionary.label("centres", "centre_code"), centres, index=default_centre,
                        key="pp_centre", disabled=len(centres) == 1)
codes_here = sorted(p for c, p in by_code if c == centre)
default_patient = codes_here.index(linked[1]) if linked[1] in codes_here else None
code = right.selectbox(dictionary.label("patients", "patient_code"), codes_here, index=default_patient,
                       key="pp_patient", placeholder="Type or choose a patient code")
if actor.role == "admin":
    study = st.text_input("…or find by " + dictionary.label("patients", "study_id"), key="pp_study").strip()
    if study:
        with session_scope(reader) as session:
            found = lookup.patient_by_study_id(session, actor, study)
        if found is None:
            st.warning(f"No patient with study id {study}.")
            st.stop()
        centre, code = found
if code is None:
    st.stop()

try:
    with session_scope(reader) as session:
        record = services.get_patient_record(session, actor, centre, code)
except (services.NotFound, AccessDenied) as exc:
    st.error(str(exc))
    st.stop()


def table(entity: str, rows: list[services.RecordView]) -> pd.DataFrame:
    cols = [c.name for c in ENTITIES[entity].columns if c.name not in ("centre_code", "patient_code")]
    return pd.DataFrame([{dictionary.label(entity, c): forms.show_value(entity, c, r.values.get(c)) for c in cols}
                         for r in rows], columns=[dictionary.label(entity, c) for c in cols])


def describe(entity: str, rec: services.RecordView) -> str:
    return ", ".join(forms.show_value(entity, k, v) for k, v in rec.key.items() if k not in ("centre_code", "patient_code")) or "the record"


def history_frame(entity: str, rec: services.RecordView) -> pd.DataFrame:
    with session_scope(reader) as session:
        entries = history.record_history(session, actor, entity, rec.key)
    out: list[dict[str, Any]] = []
    for h in entries:
        fields = h.changed_fields() if h.action == "UPDATE" else ["(record)"]
        for f in fields:
            if h.action == "UPDATE":
                change = f"{forms.show_value(entity, f, h.old.get(f))} → {forms.show_value(entity, f, h.new.get(f))}"
            else:
                change = {"INSERT": "created", "DELETE": "deleted"}.get(h.action, h.action)
            out.append({"when (UTC)": h.occurred_at.strftime("%Y-%m-%d %H:%M"), "who": h.actor,
                        "field": dictionary.label(entity, f) if f != "(record)" else "", "change": change,
                        "reason": h.reason or ""})
    return pd.DataFrame(out, columns=["when (UTC)", "who", "field", "change", "reason"])


def record_tools(entity: str, rec: services.RecordView) -> None:
    """Correct, delete (with a reason) and the history of one record."""
    names = ["Correct", "Delete", "History"] + (["Data query"] if actor.role in queries.OPENERS else [])
    edit, remove, past, *ask = st.tabs(names)
    with edit:
        forms.correction_form(engine, reader, actor, entity, rec, prefix="pp_",
                              centre_options=centres, on_saved=saved)
    with remove:
        reason = st.text_input("Reason for deleting *", key=f"pp_del_reason_{entity}_{rec.id}")
        if st.button(f"Delete this {forms.entity_phrase(entity)}", key=f"pp_del_{entity}_{rec.id}"):
            if not reason.strip():
                st.error("A reason is needed: it goes into the audit trail.")
            else:
                try:
                    with forms.write_scope(engine) as session:
                        services.delete(session, actor, entity, rec.key, reason=reason.strip(), expected_version=rec.version)
                except forms.RegistryBusy as exc:
                    st.error(str(exc))
                except (services.DeleteRefused, services.StaleRecord, services.NotFound, AccessDenied) as exc:
                    st.error(str(exc))
                else:
                    saved(f"Deleted {forms.entity_phrase(entity)} {describe(entity, rec)}.")
    with past:
        st.dataframe(for_display(history_frame(entity, rec)), hide_index=True, width="stretch")
    if ask:
        with ask[0], st.form(f"pp_query_{entity}_{rec.id}"):
            columns = [c for c in ENTITIES[entity].column_names if c not in ("centre_code", "patient_code")]
            field = st.selectbox("Field (optional)", columns, index=None, format_func=lambda c: dictionary.label(entity, c),
                                 key=f"pp_query_field_{entity}_{rec.id}")
            question = st.text_area("Question to the centre *", key=f"pp_query_text_{entity}_{rec.id}")
            if st.form_submit_button("Open the query"):
                key = {k: v for k, v in rec.key.items() if k not in ("centre_code", "patient_code")}
                try:
                    with forms.write_scope(engine) as session:
                        q = queries.open_query(session, actor, question=question, entity=entity, field_name=field,
                                               record_key=key or None, centre_code=centre, patient_code=code)
                except (queries.QueryError, AccessDenied, forms.RegistryBusy) as exc:
                    st.error(str(exc))
                else:
                    saved(f"Opened query {q.id} for centre {q.centre_code}.")


p = record.patient
st.subheader(f"{code} at {centre}")
status = p.values.get("followup_status")
if status:
    since = forms.show_value("patients", "followup_status_date", p.values.get("followup_status_date"))
    reason = p.values.get("followup_status_reason")
    st.warning(f"{dictionary.code_label(status, 'FOLLOWUP_STATUS')} since {since}" + (f" ({reason})" if reason else "")
               + ": no overdue reminders" + ("; not in research exports." if status == "CONSENT_WITHDRAWN" else "."))
with session_scope(reader) as session:
    patient_queries = [q for q in queries.list_queries(session, actor, patient_id=p.id) if q.status != queries.CLOSED]
if patient_queries:
    st.info(f"{len(patient_queries)} data quer{'y' if len(patient_queries) == 1 else 'ies'} not closed for this patient "
            "(answer them on the Data quality page): "
            + " · ".join(f"{q.id}: {q.question} [{dictionary.code_label(q.status, 'QUERY_STATUS')}]" for q in patient_queries))
st.dataframe(table("patients", [p]), hide_index=True, width="stretch")
with st.expander("Correct the patient, or see its history"):
    record_tools("patients", p)

visits = record.children["visits"]
points = [(v.values["visit_date"], v.values["edss"]) for v in visits if isinstance(v.values.get("edss"), float)]
transplants = record.children["transplants"]
if points:
    fig = go.Figure(go.Scatter(x=[d for d, _ in points], y=[e for _, e in points], mode="lines+markers", name="EDSS",
                               hovertemplate="%{x|%Y-%m-%d}: EDSS %{y}<extra></extra>"))
    for t in transplants:
        fig.add_vline(x=dt.datetime.combine(t.values["transplant_date"], dt.time()).timestamp() * 1000, line_dash="dot",
                      annotation_text=f"Transplant {t.values['transplant_number']}")
    base_layout(fig, title=f"EDSS course: {code} at {centre}", height=360)
    fig.update_layout(yaxis={"title": dictionary.label("visits", "edss"), "range": [0, 10]},
                      xaxis={"title": dictionary.label("visits", "visit_date")}, margin={"l": 70, "t": 60, "b": 50})
    show_figure(fig, key="pp_edss")  # with Save SVG / Save PDF
else:
    st.caption("No EDSS recorded yet.")

for entity in CHILD_ENTITIES:
    rows = record.children[entity]
    st.markdown(f"**{PLURAL.get(entity, forms.entity_label(entity))}** ({len(rows)})")
    if not rows:
        continue
    st.dataframe(table(entity, rows), hide_index=True, width="stretch")
    by_id = {r.id: r for r in rows}
    chosen = st.selectbox(f"{PLURAL.get(entity, forms.entity_label(entity))}: work on one", list(by_id), index=None,
                          format_func=lambda i, e=entity, m=by_id: describe(e, m[i]) if i in m else str(i), key=f"pp_pick_{entity}",
                          placeholder="Choose a record to correct, delete or see its history")
    if chosen in by_id:
        record_tools(entity, by_id[chosen])
