"""The data-queries section of the Data quality page: counts per centre, opening a query (the
registry office: governance and administrators), answering (the centre) and closing (the
opener). Everything goes through registry.queries, the same service as `msreg query`.

Who sees what: centre users their centre's queries with patient codes and a link to the
patient page; governance all centres with study ids only; administrators everything;
researchers nothing (queries are about identifiable records).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from dashboard import forms
from dashboard.labels import column_label, for_display
from registry import dictionary, queries
from registry.security.access import AccessDenied, Actor
from registry.db import session_scope
from registry.validation import CHILD_ENTITIES, ENTITIES

FLASH_KEY = "_query_flash"
RECORD_TYPES = ("patients", *CHILD_ENTITIES)


def _flash_then_rerun(message: str) -> None:
    st.session_state[FLASH_KEY] = message
    st.rerun()


def _frame(rows: list[queries.QueryView], with_codes: bool) -> pd.DataFrame:
    out = []
    for q in rows:
        # the record's key quotes dates: only for roles that see identifiable records
        record = ", ".join(f"{v}" for k, v in (q.record_key or {}).items()
                           if k not in ("centre_code", "patient_code")) if with_codes else ""
        item: dict[str, Any] = {"query": q.id, "status": dictionary.code_label(q.status, "QUERY_STATUS"),
                                "centre": q.centre_code}
        if with_codes:
            item["patient"] = q.patient_code
        else:
            item["study id"] = q.study_id
        item |= {"record": forms.entity_label(q.entity) + (f" {record}" if record else ""),
                 "field": dictionary.label(q.entity, q.field_name) if q.field_name else "",
                 "question": q.question, "answer": q.answer or "", "opened by": q.opened_by}
        if with_codes:
            item["opened (UTC)"] = q.opened_at.strftime("%Y-%m-%d %H:%M")
            item["open"] = f"patient?{urlencode({'centre': q.centre_code, 'patient': q.patient_code})}"
        out.append(item)
    return pd.DataFrame(out)


def render(actor: Actor, engine: Engine, reader: Engine, issues: pd.DataFrame | None = None) -> None:
    """The section; `issues` are the quality items the actor sees (to open a query from one)."""
    if actor.role == "researcher":
        return
    st.subheader("Data queries")
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.success(flash)
    with session_scope(reader) as session:
        counts = queries.counts_per_centre(session, actor)
        rows = queries.list_queries(session, actor)
    if counts:
        st.dataframe(for_display(pd.DataFrame([{"centre_code": c, "open": n["OPEN"], "answered": n["ANSWERED"],
                                                "closed": n["CLOSED"]} for c, n in sorted(counts.items())])),
                     hide_index=True, width="stretch", key="dq_counts")
    else:
        st.caption("No data queries yet.")
    with_codes = actor.role in ("centre", "admin")
    shown_status = st.multiselect("Query status", [queries.OPEN, queries.ANSWERED, queries.CLOSED],
                                  default=["OPEN", "ANSWERED"], format_func=lambda s: dictionary.code_label(s, "QUERY_STATUS"),
                                  key="dq_status")
    visible = [q for q in rows if q.status in shown_status]
    if visible:
        config = {column_label("open"): st.column_config.LinkColumn(display_text="patient page")} if with_codes else {}
        st.dataframe(for_display(_frame(visible, with_codes)), hide_index=True, width="stretch", column_config=config,
                     key="dq_list")
    if actor.role in ("centre", "admin"):
        _answer(actor, engine, [q for q in rows if q.status != "CLOSED"])
    if actor.role in queries.OPENERS:
        _close(actor, engine, [q for q in rows if q.status != "CLOSED" and (actor.role == "admin" or q.opened_by == actor.username)])
        _open(actor, engine, issues)


def _pick(label: str, candidates: list[queries.QueryView], key: str) -> queries.QueryView | None:
    by_id = {q.id: q for q in candidates}
    chosen = st.selectbox(label, list(by_id), index=None, key=key, placeholder="Choose a query",
                          format_func=lambda i: f"{i}: {by_id[i].question[:80]}" if i in by_id else str(i))
    return by_id.get(chosen) if chosen is not None else None


def _answer(actor: Actor, engine: Engine, candidates: list[queries.QueryView]) -> None:
    if not candidates:
        return
    q = _pick("Answer a query", candidates, "dq_answer_pick")
    if q is None:
        return
    with st.form(f"dq_answer_form_{q.id}"):
        st.markdown(f"**{q.question}**  \n{forms.entity_label(q.entity)}"
                    + (f", {dictionary.label(q.entity, q.field_name)}" if q.field_name else "")
                    + (f" of patient {q.patient_code}" if q.patient_code else ""))
        text = st.text_area("Your answer (say what you corrected, if anything) *", key=f"dq_answer_{q.id}")
        sent = st.form_submit_button("Send answer", type="primary")
    if sent:
        try:
            with forms.write_scope(engine) as session:
                queries.answer_query(session, actor, q.id, text, expected_version=q.version)
        except (queries.QueryError, AccessDenied, forms.RegistryBusy) as exc:
            st.error(str(exc))
        else:
            _flash_then_rerun(f"Answered query {q.id}.")


def _close(actor: Actor, engine: Engine, candidates: list[queries.QueryView]) -> None:
    if not candidates:
        return
    q = _pick("Close a query", candidates, "dq_close_pick")
    if q is None:
        return
    st.markdown(f"**{q.question}**  \nAnswer: {q.answer or '(not answered yet)'}")
    note = st.text_input("Note for the audit trail", key=f"dq_close_note_{q.id}")
    if st.button("Close the query", key=f"dq_close_{q.id}"):
        try:
            with forms.write_scope(engine) as session:
                queries.close_query(session, actor, q.id, note=note, expected_version=q.version)
        except (queries.QueryError, AccessDenied, forms.RegistryBusy) as exc:
            st.error(str(exc))
        else:
            _flash_then_rerun(f"Closed query {q.id}.")


def _open(actor: Actor, engine: Engine, issues: pd.DataFrame | None) -> None:
    with st.expander("Open a query", expanded=False):
        prefill_question, centre, patient = "", None, None
        if actor.role == "admin" and issues is not None and not issues.empty and "patient_code" in issues:
            options = list(range(len(issues)))
            item = st.selectbox("From a quality item (optional)", options, index=None, key="dq_from_item",
                                format_func=lambda i: f"{issues.iloc[i]['centre_code']} {issues.iloc[i]['patient_code']}: {issues.iloc[i]['problem']}")
            if item is not None:
                row = issues.iloc[item]
                centre, patient = row["centre_code"], row["patient_code"]
                prefill_question = f"{row['problem']}: {row.get('detail') or ''}".strip(": ")
        entity = st.selectbox("Record type", RECORD_TYPES, format_func=forms.entity_label, key="dq_entity")
        columns = [c for c in ENTITIES[entity].column_names if c not in ("centre_code", "patient_code")]
        with st.form("dq_open_form"):
            if patient is None:
                study = st.text_input(dictionary.label("patients", "study_id") + " *", key="dq_study")
            else:
                st.markdown(f"Patient **{patient}** at **{centre}**")
                study = ""
            field = st.selectbox("Field (optional)", columns, index=None, format_func=lambda c: dictionary.label(entity, c),
                                 key=f"dq_field_{entity}")
            question = st.text_area("Question *", value=prefill_question, key=f"dq_question_{centre}_{patient}")
            sent = st.form_submit_button("Open the query", type="primary")
        if sent:
            try:
                with forms.write_scope(engine) as session:
                    q = queries.open_query(session, actor, question=question, entity=entity, field_name=field,
                                           study_id=study or None, centre_code=centre, patient_code=patient)
            except (queries.QueryError, AccessDenied, forms.RegistryBusy) as exc:
                st.error(str(exc))
            else:
                _flash_then_rerun(f"Opened query {q.id} for centre {q.centre_code}.")
