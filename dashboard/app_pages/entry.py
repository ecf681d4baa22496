"""Data entry: new records, corrections with a reason, and bundle upload, all through
registry.services (the one write path: same validation, access check and audit as import
and CLI).

How the forms behave, and why (details in dashboard/forms.py):
- The fields come from the bundle format (registry.validation.ENTITIES) and their labels from
  the data dictionary: a column added there appears here with the right widget.
- Dates are typed as YYYY-MM-DD text and validated by the shared rules: what is saved is what
  is shown, and a bad date gets its own message, never a substitute.
- Errors are shown under the field they concern, all at once, and the form keeps what was
  typed. On success the form's keys are removed before the next run, so the next entry starts
  empty (clear_on_submit would also wipe a failed entry).
- Centre users enter only for their centre (the centre field is fixed); the services check it
  again, so the form is a convenience, not the guard.
- A correction carries the version that was opened: a record changed by someone else meanwhile
  is a conflict shown with both versions, never overwritten.
- Upload: one bundle (a .zip, or one CSV file) at a time; a preview of inserts and updates per
  file before the import; the error list downloadable as CSV.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import data, forms, import_job
from dashboard.context import page_context
from dashboard.labels import for_display
from registry import dictionary, services
from registry.security.access import AccessDenied
from registry.io.bundle import import_bundle
from registry.io.bundle_preview import errors_csv, preview_bundle
from registry.db import session_scope
from registry.validation import ENTITIES

CLINICAL = ("patients", "transplants", "visits", "relapses", "mri", "adverse_events", "deaths", "treatments")
LABELS = forms.ENTITY_LABELS
RESET_KEY = "_entry_reset_prefix"
FLASH_KEY = "_entry_flash"
UPLOAD_GEN_KEY = "_upload_generation"
JOB_KEY = "_upload_job"

ctx = page_context()
actor = ctx.actor
import_actor = dataclasses.replace(actor, door="dashboard:import")  # the audit names the door honestly
engine = data.engine_for(ctx.url)
reader = data.reader_for(ctx.url)
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


def done(message: str, form_prefix: str = "") -> None:
    data.clear_after_write()
    if form_prefix:
        st.session_state[RESET_KEY] = form_prefix
    st.session_state[FLASH_KEY] = message
    st.rerun()


tab_new, tab_fix, tab_upload = st.tabs(["New record", "Correct a record", "Upload bundle"])

with tab_new:
    entity = st.selectbox("Record", FORM_ENTITIES, index=FORM_ENTITIES.index("patients"), format_func=LABELS.get,
                          key="entry_entity")
    form_prefix = f"new_{entity}_"
    with st.form(f"form_new_{entity}"):
        values, slots = forms.render_fields(entity, form_prefix, centre_options=centre_choices(),
                                            centre_fixed=actor.role == "centre")
        submitted = st.form_submit_button("Save", type="primary")
    if submitted:
        payload = {k: v for k, v in values.items() if v is not None}
        try:
            with forms.write_scope(engine) as session:
                view = services.create(session, actor, entity, payload)
        except services.ValidationFailed as exc:
            forms.show_errors(entity, exc.errors, slots)
        except forms.RegistryBusy as exc:
            st.error(str(exc))
        except (services.AlreadyExists, AccessDenied) as exc:
            st.error(str(exc))
        else:
            done(f"Saved {forms.entity_phrase(entity)} {forms.key_text(view.key)}.", form_prefix)

with tab_fix:
    f_entity = st.selectbox("Record", CLINICAL, format_func=LABELS.get, key="fix_entity")
    c1, c2 = st.columns(2)
    centres = centre_choices()
    f_centre = c1.selectbox(dictionary.label("centres", "centre_code"), centres, key="fix_centre", disabled=len(centres) == 1)
    f_patient = c2.text_input(dictionary.label("patients", "patient_code"), key="fix_patient").strip()
    if f_centre and f_patient:
        with session_scope(reader) as session:
            records = services.list_records(session, actor, f_entity, centre_code=f_centre, patient_code=f_patient)
        if not records:
            st.info(f"No {forms.entity_phrase(f_entity)} records for patient {f_patient} at {f_centre}.")
        else:
            # chosen by record id, not position: a record corrected by someone else meanwhile
            # (its date, so its place in the list) stays the one this user opened
            by_id = {r.id: r for r in records}
            labels = {r.id: ", ".join(forms.show_value(f_entity, k, v) for k, v in r.key.items()
                                      if k not in ("centre_code", "patient_code")) or "the record" for r in records}
            chosen = st.selectbox("Which record", list(by_id), format_func=labels.get, key=f"fix_which_{f_entity}")
            if chosen is not None:
                forms.correction_form(engine, reader, actor, f_entity, by_id[chosen], prefix="fix_",
                                      centre_options=centres, on_saved=lambda m: done(m))

with tab_upload:
    st.markdown("Upload one bundle (the registry's CSV format): a .zip of the CSV files, or a single CSV file. "
                "You see what it would change before anything is written; it is imported all or nothing.")
    with st.expander("Bundle format: files, columns and codes"):
        from dashboard.bundle_help import bundle_format_markdown

        st.markdown(bundle_format_markdown())
    gen = st.session_state.get(UPLOAD_GEN_KEY, 0)
    upload = st.file_uploader("Bundle", type=["zip", "csv"], accept_multiple_files=False, key=f"upload_file_{gen}")

    def new_upload() -> None:
        st.session_state[UPLOAD_GEN_KEY] = gen + 1  # a fresh uploader: no earlier file kept

    def stage(tmp: str) -> Path:
        assert upload is not None
        if upload.name.lower().endswith(".zip"):
            path = Path(tmp) / "bundle.zip"
            path.write_bytes(upload.getvalue())
            return path
        path = Path(tmp) / "bundle"
        path.mkdir()
        (path / Path(upload.name).name).write_bytes(upload.getvalue())
        return path

    def show_rejection(errors: list, what: str) -> None:
        st.error(f"The bundle {what}: {len(errors)} error(s). Nothing was imported.")
        st.dataframe(
            for_display(pd.DataFrame([{"file": e.file or f"{e.entity}.csv", "line": e.line, "column": e.column,
                                       "value": None if e.value is None else str(e.value), "message": e.message}
                                      for e in errors])),
            hide_index=True, width="stretch",
        )
        st.download_button("Download the errors (CSV)", errors_csv(errors), file_name="bundle-errors.csv",
                           mime="text/csv", key="upload_errors_csv")

    def show_job(job: import_job.ImportJob) -> None:
        """Progress while the import runs (the page refreshes itself), then its outcome."""
        if job.running:
            @st.fragment(run_every=1.0)
            def progress() -> None:
                if job.finished:
                    st.rerun()
                st.progress(job.fraction(), text=f"Importing… {job.done:,} of {job.total:,} records written. "
                            "You and others can keep using the dashboard; saves wait until the import is done.")
            progress()
            return
        st.session_state.pop(JOB_KEY, None)
        if job.error is not None:
            st.error(f"The import was stopped: {job.error}. Nothing was imported.")
        elif job.result is not None and job.result.errors:
            show_rejection(job.result.errors, "was rejected")
        elif job.result is not None:
            new_upload()
            done(import_job.describe(job.result))

    job: import_job.ImportJob | None = st.session_state.get(JOB_KEY)
    if job is not None:
        show_job(job)
    elif upload is not None:
        with tempfile.TemporaryDirectory(prefix="msreg-upload-") as tmp:
            try:
                preview = preview_bundle(reader, stage(tmp), actor)
            except AccessDenied as exc:
                st.error(str(exc))
                preview = None
        if preview is not None and not preview.ok:
            show_rejection(preview.errors, "cannot be imported")
        elif preview is not None:
            st.subheader("What the import will do")
            st.dataframe(for_display(pd.DataFrame([
                {"file": ENTITIES[f.entity].file, "new records": f.inserts, "updated records": f.updates,
                 "unchanged": f.unchanged,
                 "changed fields": ", ".join(f"{dictionary.label(f.entity, c)} ({n})" for c, n in sorted(f.changed_fields.items()))}
                for f in preview.files])), hide_index=True, width="stretch")
            if preview.changes == 0:
                st.info("The bundle holds nothing new: the registry already has every record as it is.")
            c1, c2 = st.columns(2)
            if c1.button("Import", type="primary", key="upload_go", disabled=preview.changes == 0):
                if preview.changes > import_job.BACKGROUND_ROWS:
                    staging = Path(tempfile.mkdtemp(prefix="msreg-upload-"))  # removed by the job when done
                    st.session_state[JOB_KEY] = import_job.start_import(engine, import_actor, stage(str(staging)), staging)
                    st.rerun()
                with tempfile.TemporaryDirectory(prefix="msreg-upload-") as tmp:
                    try:
                        result = import_bundle(engine, stage(tmp), import_actor)
                    except AccessDenied as exc:
                        st.error(str(exc))
                        result = None
                    except services.ServiceError as exc:
                        st.error(f"The import was stopped: {exc}. Nothing was imported.")
                        result = None
                if result is not None and result.errors:
                    show_rejection(result.errors, "was rejected")
                elif result is not None:
                    new_upload()
                    done(import_job.describe(result))
            if c2.button("Choose another file", key="upload_reset"):
                new_upload()
                st.rerun()
