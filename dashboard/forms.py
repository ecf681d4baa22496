"""Record forms shared by the data-entry page and the patient page: fields, errors, saves.

Why these choices (a data manager must be able to trust what was saved):
- Dates are text fields holding ISO dates (YYYY-MM-DD), parsed by registry.validation like a
  bundle cell. Streamlit's date_input keeps its last valid value when a typed date lies outside
  its min/max, so a form with it could save a date the user never saw; with a text field the
  value validated and saved is exactly the text on screen, and a bad date gets its own message
  ("2030-01-01 is in the future"), never a substitute.
- Counts and years have no min/max on the widget either (the widget would clamp silently);
  the shared validation refuses negative counts with a message.
- Labels, help texts and code words come from registry.dictionary.
- A correction remembers the version that was opened (session state), not the version on the
  latest rerun: a save after someone else's change is a conflict, shown with both versions,
  who saved the other one and when (audit trail), and the user re-applies or discards.
- A save that cannot get the write lock within a few seconds (a long import holds it) says so
  and keeps the form filled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from dashboard.labels import for_display
from registry import codes, dictionary, services
from registry.security.access import AccessDenied, Actor
from registry.db import session_scope
from registry.validation import MISSING_CODE_COLUMNS, ENTITIES, Column, format_edss, is_missing_code, parse_row

BUSY_MESSAGE = "The registry is busy with an import; nothing was saved, try again in a minute."
SAVE_LOCK_TIMEOUT_S = 5.0
DATE_PLACEHOLDER = "YYYY-MM-DD"


class RegistryBusy(Exception):
    """The write lock was not free within SAVE_LOCK_TIMEOUT_S (an import holds it)."""


def is_lock_timeout(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "lock timeout" in text or "lock_not_available" in text or "canceling statement due to lock timeout" in text


@contextmanager
def write_scope(engine: Engine) -> Iterator[Session]:
    """`session_scope` that waits at most SAVE_LOCK_TIMEOUT_S for the write lock.

    :raises RegistryBusy: the lock stayed taken (an import holds it); nothing was written
    """
    from registry.db import SQLITE_BUSY_TIMEOUT_MS

    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            raw = conn.connection.driver_connection  # no SQL through `conn`: that would BEGIN already
            if sqlite:
                raw.execute(f"PRAGMA busy_timeout = {int(SAVE_LOCK_TIMEOUT_S * 1000)}")
            try:
                with Session(bind=conn, expire_on_commit=False) as session, session.begin():
                    if not sqlite:
                        session.execute(text(f"SET LOCAL lock_timeout = '{int(SAVE_LOCK_TIMEOUT_S * 1000)}ms'"))
                    yield session
            finally:
                if sqlite:
                    raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    except OperationalError as exc:
        if is_lock_timeout(exc):
            raise RegistryBusy(BUSY_MESSAGE) from exc
        raise


# ---------------------------------------------------------------------------------------------
# Fields


def field_label(entity: str, col: Column) -> str:
    return dictionary.label_with_unit(entity, col.name) + (" *" if col.required else "")


def show_value(entity: str, column: str, value: Any) -> str:
    """A stored value as a person reads it (dates ISO, codes in words, EDSS in its steps)."""
    if value is None:
        return "—"
    col = ENTITIES[entity].by_name.get(column)
    if col is None:
        return str(value)
    if is_missing_code(entity, column, value):
        return missing_label(value)
    if col.kind == "date" and isinstance(value, (dt.date, str)):
        return value.isoformat() if isinstance(value, dt.date) else value
    if col.kind in ("code", "grade"):
        return dictionary.code_label(value)
    if col.kind == "edss":
        try:
            return format_edss(float(value))
        except (TypeError, ValueError):
            return str(value)
    if col.kind == "bool":
        return "yes" if value else "no"
    return str(value)


def missing_label(code: str) -> str:
    return f"{dictionary.code_label(code, 'MISSING_CODES').lower()} ({code})"


def widget(entity: str, col: Column, key: str, current: Any, centre_options: list[str] | None, centre_fixed: bool) -> Any:
    """The input for one bundle column; returns a value in bundle terms (None = missing).

    Dates come back as the text typed (validated later, exactly as shown). Optional clinical
    fields also offer the missing-data codes (not evaluated, unknown), distinct from blank.
    """
    label = field_label(entity, col)
    help_ = dictionary.help_text(entity, col.name)
    coded = col.name in MISSING_CODE_COLUMNS.get(entity, ())
    extra: list[Any] = list(codes.MISSING_CODES) if coded else []
    if col.name == "centre_code" and centre_options is not None:
        index = centre_options.index(current) if current in centre_options else 0 if len(centre_options) == 1 else None
        return st.selectbox(label, centre_options, index=index, key=key, disabled=centre_fixed, help=help_)
    if col.kind == "date":
        initial = current.isoformat() if isinstance(current, dt.date) else (current or "")
        text = st.text_input(label, value=initial, key=key, placeholder=DATE_PLACEHOLDER, help=help_ or "A date as YYYY-MM-DD.")
        return text.strip() or None
    if col.kind == "code":
        opts = list(col.codes) + extra
        return st.selectbox(label, opts, index=opts.index(current) if current in opts else None, key=key, help=help_,
                            format_func=lambda c: missing_label(c) if c in extra else
                            (f"{dictionary.code_label(c)} ({c})" if dictionary.code_label(c) != c else c),
                            placeholder="(missing)" if not col.required else "Choose…")
    if col.kind == "edss":
        opts = list(codes.EDSS_STEPS) + extra
        return st.selectbox(label, opts, index=opts.index(current) if current in opts else None, key=key, help=help_,
                            format_func=lambda v: missing_label(v) if v in extra else format_edss(v), placeholder="(missing)")
    if col.kind == "grade":
        opts = list(codes.AE_GRADES)
        return st.selectbox(label, opts, index=opts.index(current) if current in opts else None, key=key, help=help_,
                            format_func=dictionary.code_label, placeholder="Choose…")
    if col.kind == "bool":
        opts = [True, False] + extra
        index = next((i for i, o in enumerate(opts) if o is current or (isinstance(o, str) and o == current)), None)
        return st.selectbox(label, opts, index=index, key=key, help=help_,
                            format_func=lambda v: missing_label(v) if isinstance(v, str) else ("yes" if v else "no"),
                            placeholder="(missing)")
    if coded and col.kind in ("count", "number"):
        # a number or a missing-data code: typed text, checked by the shared rules as shown
        text = st.text_input(label, value="" if current is None else str(current), key=key,
                             help=(help_ + " " if help_ else "") + "A number, or NE (not evaluated) or UNK (unknown).")
        return text.strip() or None
    if col.kind in ("int", "count", "year"):
        # no min/max on the widget: it would clamp silently; validation names the problem
        return st.number_input(label, value=current, step=1, key=key, help=help_)
    text = st.text_input(label, value=current or "", key=key, help=help_)
    return text.strip() or None


def render_fields(entity: str, prefix: str, current: Mapping[str, Any] | None = None, *,
                  centre_options: list[str] | None = None, centre_fixed: bool = False,
                  skip: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """All fields of one entity, each followed by an empty slot for its error message."""
    values, slots = {}, {}
    cols = st.columns(2)
    shown = [c for c in ENTITIES[entity].columns if c.name not in skip]
    for i, col in enumerate(shown):
        with cols[i % 2]:
            values[col.name] = widget(entity, col, f"{prefix}{col.name}", (current or {}).get(col.name),
                                      centre_options if entity != "centres" else None, centre_fixed)
            slots[col.name] = st.empty()
    return values, slots


def show_errors(entity: str, errors: list[Any], slots: Mapping[str, Any]) -> None:
    """Each error under its field (named by its label); errors about no single field on top."""
    by_field: dict[str, list[str]] = {}
    for e in errors:
        by_field.setdefault(e.column if e.column in slots else "", []).append(
            e.message if e.column in slots else f"{dictionary.label(e.entity or entity, e.column)}: {e.message}")
    for column, messages in by_field.items():
        if column:
            slots[column].error(" · ".join(messages))
        else:
            st.error(" · ".join(messages))


def changed_fields(entity: str, typed: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """Fields whose typed value differs from the stored one (a malformed value always differs)."""
    out: dict[str, Any] = {}
    for k, v in typed.items():
        parsed, errors = parse_row(entity, {k: v if v is not None else ""})
        if errors or parsed.get(k) != stored.get(k):
            out[k] = v
    return out


# ---------------------------------------------------------------------------------------------
# Corrections with conflicts


@dataclass(frozen=True, slots=True)
class Conflict:
    entity: str
    opened: services.RecordView
    changes: dict[str, Any]
    reason: str


def _conflict_key(entity: str, record_id: int) -> str:
    return f"_conflict_{entity}_{record_id}"


def opened_record(entity: str, latest: services.RecordView, prefix: str) -> services.RecordView:
    """The version the user opened (kept across reruns until saved or discarded)."""
    key = f"_opened_{prefix}{entity}_{latest.id}"
    if key not in st.session_state:
        st.session_state[key] = latest
    return st.session_state[key]


def forget_opened(entity: str, record_id: int, prefix: str) -> None:
    st.session_state.pop(f"_opened_{prefix}{entity}_{record_id}", None)
    st.session_state.pop(_conflict_key(entity, record_id), None)
    for k in [k for k in st.session_state if isinstance(k, str) and k.startswith(f"{prefix}{entity}_{record_id}_")]:
        del st.session_state[k]


def last_change(engine: Engine, actor: Actor, entity: str, key: Mapping[str, Any]) -> Any:
    from registry import history

    with session_scope(engine) as session:
        entries = history.record_history(session, actor, entity, key)
    return entries[-1] if entries else None


def correction_form(engine: Engine, reader: Engine, actor: Actor, entity: str, latest: services.RecordView, *,
                    prefix: str, centre_options: list[str] | None, on_saved: Callable[[str], None]) -> None:
    """Edit one record: the opened version, a reason, save; a stale save becomes a conflict view."""
    opened = opened_record(entity, latest, prefix)
    conflict: Conflict | None = st.session_state.get(_conflict_key(entity, latest.id))
    if conflict is not None:
        _conflict_view(engine, reader, actor, conflict, latest, prefix=prefix, on_saved=on_saved)
        return
    if latest.version != opened.version:
        st.warning("Someone else saved this record after you opened it. Saving will show both versions.")
    form_prefix = f"{prefix}{entity}_{latest.id}_"
    with st.form(f"{prefix}form_fix_{entity}_{latest.id}"):
        values, slots = render_fields(entity, form_prefix, opened.values, centre_options=centre_options,
                                      centre_fixed=actor.role == "centre")
        reason = st.text_input("Reason for the correction *", key=f"{form_prefix}reason",
                               help="Goes into the audit trail with your change.")
        reason_slot = st.empty()
        submitted = st.form_submit_button("Save correction", type="primary")
    if not submitted:
        return
    changes = changed_fields(entity, values, opened.values)
    if not changes:
        st.info("Nothing changed.")
        return
    if not reason.strip():
        reason_slot.error("A reason is needed: it goes into the audit trail.")
        return
    _save_update(engine, actor, entity, opened, changes, reason.strip(), slots, prefix=prefix, on_saved=on_saved)


def _save_update(engine: Engine, actor: Actor, entity: str, opened: services.RecordView, changes: dict[str, Any],
                 reason: str, slots: Mapping[str, Any], *, prefix: str, on_saved: Callable[[str], None]) -> None:
    try:
        with write_scope(engine) as session:
            services.update(session, actor, entity, opened.key, changes, expected_version=opened.version, reason=reason)
    except services.StaleRecord:
        st.session_state[_conflict_key(entity, opened.id)] = Conflict(entity, opened, changes, reason)
        st.rerun()
    except services.ValidationFailed as exc:
        show_errors(entity, exc.errors, slots)
    except RegistryBusy as exc:
        st.error(str(exc))
    except (services.AlreadyExists, services.NotFound, AccessDenied) as exc:
        st.error(str(exc))
    else:
        forget_opened(entity, opened.id, prefix)
        on_saved(f"Corrected {entity_phrase(entity)} {key_text(opened.key)}.")


def _conflict_view(engine: Engine, reader: Engine, actor: Actor, conflict: Conflict, latest: services.RecordView, *,
                   prefix: str, on_saved: Callable[[str], None]) -> None:
    entity = conflict.entity
    who = last_change(reader, actor, entity, latest.key)
    since = f" by **{who.actor}** on {who.occurred_at:%Y-%m-%d %H:%M} UTC" if who is not None else ""
    st.error(f"Conflict: this record was saved{since} after you opened it. Nothing of yours was saved and nothing "
             "was overwritten. Compare the versions, then re-apply your change or discard it.")
    fields = sorted(set(conflict.changes) | {k for k in latest.values if latest.values.get(k) != conflict.opened.values.get(k)},
                    key=list(ENTITIES[entity].column_names).index)
    rows = [
        {"field": dictionary.label(entity, f),
         "when you opened it": show_value(entity, f, conflict.opened.values.get(f)),
         "yours": str(conflict.changes[f]) if f in conflict.changes and isinstance(conflict.changes[f], str)
         else show_value(entity, f, conflict.changes.get(f, conflict.opened.values.get(f))),
         "saved since": show_value(entity, f, latest.values.get(f))}
        for f in fields
    ]
    st.table(for_display(pd.DataFrame(rows)))
    if who is not None and who.reason:
        st.caption(f"Their reason: {who.reason}")
    c1, c2 = st.columns(2)
    if c1.button("Re-apply my change to the saved version", key=f"{prefix}reapply_{entity}_{latest.id}", type="primary"):
        st.session_state.pop(_conflict_key(entity, latest.id), None)
        _save_update(engine, actor, entity, latest, conflict.changes, conflict.reason, {}, prefix=prefix, on_saved=on_saved)
    if c2.button("Discard my change", key=f"{prefix}discard_{entity}_{latest.id}"):
        forget_opened(entity, latest.id, prefix)
        st.rerun()


ENTITY_LABELS = {"centres": "Centre", "patients": "Patient", "transplants": "Transplant", "visits": "Visit (EDSS)",
                 "relapses": "Relapse", "mri": "MRI scan", "adverse_events": "Adverse event", "deaths": "Death",
                 "treatments": "Treatment (DMT period)"}


def entity_label(entity: str) -> str:
    return ENTITY_LABELS.get(entity, entity.replace("_", " ").capitalize())


def entity_phrase(entity: str) -> str:
    """The record type inside a sentence: "visit (EDSS)", "MRI scan" (abbreviations kept)."""
    text = entity_label(entity)
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def key_text(key: Mapping[str, Any]) -> str:
    return ", ".join(v.isoformat() if isinstance(v, dt.date) else str(v) for v in key.values())
