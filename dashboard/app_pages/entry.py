"""Data entry: new records, corrections with a reason, and bundle upload, all through
registry.services (the one write path: same validation, access check and audit as import
and CLI).

How the forms behave, and why:
- The fields come from the bundle format (registry.validation.ENTITIES): a column added there
  appears here with the right widget (dates, code lists, EDSS steps, counts), so the form
  cannot drift from what import accepts.
- Errors are shown under the field they concern (FieldError.column), all at once, and the form
  keeps what was typed. On success the form's keys are removed before the next run, so the
  next entry starts empty (clear_on_submit would also wipe a failed entry).
- Centre users enter only for their centre (the centre field is fixed); the services check it
  again, so the form is a convenience, not the guard.
- A correction needs a reason (for the audit trail) and carries the version that was opened:
  a record changed by someone else meanwhile is refused as stale rather than overwritten.
"""

from __future__ import annotations

import dataclasses

import datetime as dt
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.context import page_context
from registry import codes, services
from registry.access import AccessDenied
from registry.bundle import import_bundle
from registry.db import session_scope
from registry.validation import ENTITIES, Column

CLINICAL = ("patients", "transplants", "visits", "relapses", "mri", "adverse_events", "deaths")
LABELS = {"centres": "Centre", "patients": "Patient", "transplants": "Transplant", "visits": "Visit (EDSS)", "relapses": "Relapse",
          "mri": "MRI scan", "adverse_events": "Adverse event", "deaths": "Death"}
RESET_KEY = "_entry_reset_prefix"
FLASH_KEY = "_entry_flash"
MIN_DATE = dt.date(codes.MIN_YEAR, 1, 1)

ctx = page_context()
actor = ctx.actor
engine = data.engine_for(ctx.url)
# Only administrators create centres (registry.services); a new registry starts there.
FORM_ENTITIES = (("centres",) if actor.role == "admin" else ()) + CLINICAL

# Forget the keys of a form that was saved on the previous run (see module docstring).
prefix = st.session_state.pop(RESET_KEY, None)
if prefix:
    for k in [k for k in st.session_state if isinstance(k, str) and k.startswith(prefix)]:
        del st.session_state[k]

st.title("Data entry")
flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    st.success(flash)


def centre_choices() -> list[str]:
    if actor.role == "centre":
        return [actor.centre_code]  # type: ignore[list-item]
    return data.centres(ctx.url, ctx.scope, ctx.version)["centre_code"].tolist()


def widget(col: Column, key: str, current: Any = None, *, pick_centre: bool = True) -> Any:
    """The input for one bundle column; returns a value in bundle terms (None = missing)."""
    label = col.name.replace("_", " ").capitalize() + (" *" if col.required else "")
    if col.name == "centre_code" and pick_centre:
        options = centre_choices()
        index = options.index(current) if current in options else 0 if len(options) == 1 else None
        return st.selectbox(label, options, index=index, key=key, disabled=actor.role == "centre")
    if col.kind == "date":
        return st.date_input(label, value=current, min_value=MIN_DATE, max_value=dt.date.today(), key=key, format="YYYY-MM-DD")
    if col.kind == "code":
        opts = list(col.codes)
        return st.selectbox(label, opts, index=opts.index(current) if current in opts else None, key=key,
                            placeholder="(missing)" if not col.required else "Choose…")
    if col.kind == "edss":
        opts = list(codes.EDSS_STEPS)
        return st.selectbox(label, opts, index=opts.index(current) if current in opts else None, key=key,
                            format_func=lambda v: f"{v:g}" if v else "0", placeholder="(missing)")
    if col.kind == "grade":
        opts = list(codes.AE_GRADES)
        return st.selectbox(label, opts, index=opts.index(current) if current in opts else None, key=key)
    if col.kind == "bool":
        opts = [True, False]
        return st.selectbox(label, opts, index=opts.index(current) if current in opts else None, key=key,
                            format_func=lambda v: "yes" if v else "no", placeholder="(missing)")
    if col.kind in ("int", "count", "year"):
        return st.number_input(label, value=current, step=1, min_value=0 if col.kind == "count" else None, key=key)
    text = st.text_input(label, value=current or "", key=key)
    return text.strip() or None


def render_fields(entity: str, prefix: str, current: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """All fields of one entity, each followed by an empty slot for its error message."""
    values, slots = {}, {}
    cols = st.columns(2)
    for i, col in enumerate(ENTITIES[entity].columns):
        with cols[i % 2]:
            values[col.name] = widget(col, f"{prefix}{col.name}", (current or {}).get(col.name),
                                      pick_centre=entity != "centres")
            slots[col.name] = st.empty()
    return values, slots


def show_errors(errors: list[Any], slots: Mapping[str, Any]) -> None:
    """Each error under its field; errors about no single field (whole record) at the top."""
    by_field: dict[str, list[str]] = {}
    for e in errors:
        by_field.setdefault(e.column if e.column in slots else "", []).append(e.message)
    for column, messages in by_field.items():
        if column:
            slots[column].error(" · ".join(messages))
        else:
            st.error(" · ".join(messages))


def done(message: str, form_prefix: str) -> None:
    data.clear_after_write()
    st.session_state[RESET_KEY] = form_prefix
    st.session_state[FLASH_KEY] = message
    st.rerun()


tab_new, tab_fix, tab_upload = st.tabs(["New record", "Correct a record", "Upload bundle"])

with tab_new:
    entity = st.selectbox("Record", FORM_ENTITIES, index=FORM_ENTITIES.index("patients"), format_func=LABELS.get,
                          key="entry_entity")
    form_prefix = f"new_{entity}_"
    with st.form(f"form_new_{entity}"):
        values, slots = render_fields(entity, form_prefix)
        submitted = st.form_submit_button("Save", type="primary")
    if submitted:
        payload = {k: v for k, v in values.items() if v is not None}
        try:
            with session_scope(engine) as session:
                view = services.create(session, actor, entity, payload)
        except services.ValidationFailed as exc:
            show_errors(exc.errors, slots)
        except (services.AlreadyExists, AccessDenied) as exc:
            st.error(str(exc))
        else:
            done(f"Saved {LABELS[entity].lower()} {', '.join(str(v) for v in view.key.values())}.", form_prefix)

with tab_fix:
    f_entity = st.selectbox("Record", CLINICAL, format_func=LABELS.get, key="fix_entity")
    c1, c2 = st.columns(2)
    centres = centre_choices()
    f_centre = c1.selectbox("Centre", centres, key="fix_centre", disabled=len(centres) == 1)
    f_patient = c2.text_input("Patient code", key="fix_patient").strip()
    if f_centre and f_patient:
        with session_scope(engine) as session:
            records = services.list_records(session, actor, f_entity, centre_code=f_centre, patient_code=f_patient)
        if not records:
            st.info(f"No {LABELS[f_entity].lower()} records for patient {f_patient} at {f_centre}.")
        else:
            labels = [", ".join(f"{k}={v}" for k, v in r.key.items() if k not in ("centre_code", "patient_code")) or "the record"
                      for r in records]
            chosen = st.selectbox("Which record", range(len(records)), format_func=lambda i: labels[i], key="fix_which")
            rec = records[chosen]
            form_prefix = f"fix_{f_entity}_{rec.id}_v{rec.version}_"
            with st.form(f"form_fix_{f_entity}"):
                values, slots = render_fields(f_entity, form_prefix, rec.values)
                reason = st.text_input("Reason for the correction *", key=f"{form_prefix}reason")
                reason_slot = st.empty()
                submitted = st.form_submit_button("Save correction", type="primary")
            if submitted:
                changes = {k: v for k, v in values.items() if v != rec.values.get(k)}
                if not reason.strip():
                    reason_slot.error("A reason is needed: it goes into the audit trail.")
                elif not changes:
                    st.info("Nothing changed.")
                else:
                    try:
                        with session_scope(engine) as session:
                            services.update(session, actor, f_entity, rec.key, changes, expected_version=rec.version,
                                            reason=reason.strip())
                    except services.ValidationFailed as exc:
                        show_errors(exc.errors, slots)
                    except (services.StaleRecord, services.AlreadyExists, services.NotFound, AccessDenied) as exc:
                        st.error(str(exc))
                    else:
                        done(f"Corrected {LABELS[f_entity].lower()} of patient {f_patient}.", form_prefix)

with tab_upload:
    st.markdown("Upload a bundle (BUNDLE_FORMAT.md): a .zip of the CSV files, or the CSV files themselves. "
                "It is imported all or nothing: one bad row rejects the whole bundle.")
    files = st.file_uploader("Bundle", type=["zip", "csv"], accept_multiple_files=True, key="upload_files")
    if files and st.button("Import", type="primary", key="upload_go"):
        with tempfile.TemporaryDirectory(prefix="msreg-upload-") as tmp:
            if len(files) == 1 and files[0].name.lower().endswith(".zip"):
                path = Path(tmp) / "bundle.zip"
                path.write_bytes(files[0].getvalue())
            else:
                path = Path(tmp) / "bundle"
                path.mkdir()
                for f in files:
                    (path / Path(f.name).name).write_bytes(f.getvalue())
            try:
                result = import_bundle(engine, path, dataclasses.replace(actor, door="dashboard:import"))
            except AccessDenied as exc:
                st.error(str(exc))
                result = None
        if result is not None and result.errors:
            st.error(f"The bundle was rejected: {len(result.errors)} error(s). Nothing was imported.")
            st.dataframe(
                pd.DataFrame([{"file": e.file or f"{e.entity}.csv", "line": e.line, "column": e.column,
                               "value": None if e.value is None else str(e.value), "message": e.message}
                              for e in result.errors]),
                hide_index=True, width="stretch",
            )
        elif result is not None:
            data.clear_after_write()
            st.success("Bundle imported.")
            st.dataframe(pd.DataFrame({"file": result.files,
                                       "inserted": [result.inserted.get(e, 0) for e in result.files],
                                       "updated": [result.updated.get(e, 0) for e in result.files],
                                       "unchanged": [result.unchanged.get(e, 0) for e in result.files]}),
                         hide_index=True, width="stretch")
