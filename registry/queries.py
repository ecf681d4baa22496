"""Data queries: the registry office asks a centre about a record, the centre answers (or
corrects the record and says so), the opener closes the query.

Why a workflow of its own (REDCap's data resolution workflow, the registry's clarification
requests): a question sent by e-mail is lost with the mailbox, and nobody can count what is
still open per centre. Here every query belongs to one patient (optionally one record and one
field), has a status OPEN -> ANSWERED -> CLOSED, and every step is written to the audit trail
(entity `data_queries`, key `{"query_id": n}`) with who and when.

Who may do what (registry.security.access terms):
- open: governance and administrators (the registry office). Governance users never see
  patient codes, so they name the patient by study id; administrators may also use the code.
- answer: centre users of the patient's centre, and administrators.
- close: the user who opened it, or any administrator; an answered or open query may be closed.
- read: centre users see their centre's queries (with patient codes); governance and
  administrators see all, governance with study ids only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.security import audit
from registry.security.access import AccessDenied, Actor, can_read_centre, require_write, sees_patient_codes
from registry.models import Centre, DataQuery, Patient, utcnow
from registry.validation import ENTITIES

OPEN, ANSWERED, CLOSED = "OPEN", "ANSWERED", "CLOSED"
OPENERS = ("governance", "admin")
MAX_TEXT = 4000


class QueryError(ValueError):
    """A query step refused: the message says why."""


@dataclass(frozen=True, slots=True)
class QueryView:
    """A query as the actor may see it (patient_code None for roles without codes)."""

    id: int
    centre_code: str
    patient_code: str | None
    study_id: str
    entity: str
    record_key: dict[str, Any] | None
    field_name: str | None
    question: str
    status: str
    answer: str | None
    opened_by: str
    opened_at: dt.datetime
    answered_by: str | None
    answered_at: dt.datetime | None
    closed_by: str | None
    closed_at: dt.datetime | None
    version: int


def _text(value: str | None, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise QueryError(f"the {what} is empty: write what needs clarifying")
    if len(text) > MAX_TEXT:
        raise QueryError(f"the {what} is longer than {MAX_TEXT} characters")
    return text


def _find_patient(session: Session, actor: Actor, *, study_id: str | None, centre_code: str | None,
                  patient_code: str | None) -> tuple[int, str]:
    stmt = select(Patient.id, Centre.centre_code).join(Centre)
    if study_id:
        stmt = stmt.where(Patient.study_id == study_id.strip())
        what = f"study id {study_id}"
    elif centre_code and patient_code:
        if not sees_patient_codes(actor):
            raise AccessDenied(f"user {actor.username!r} (role {actor.role}) names patients by study id, not by code")
        stmt = stmt.where(Centre.centre_code == centre_code, Patient.patient_code == patient_code)
        what = f"patient {patient_code} of centre {centre_code}"
    else:
        raise QueryError("name the patient: a study id, or a centre and patient code")
    row = session.execute(stmt).first()
    if row is None:
        raise QueryError(f"no patient with {what}")
    return int(row[0]), str(row[1])


def open_query(
    session: Session,
    actor: Actor,
    *,
    question: str,
    entity: str = "patients",
    record_key: Mapping[str, Any] | None = None,
    field_name: str | None = None,
    study_id: str | None = None,
    centre_code: str | None = None,
    patient_code: str | None = None,
) -> QueryView:
    """Open a query on a patient (optionally one record and one field).

    :raises AccessDenied: not governance or an administrator
    :raises QueryError: unknown patient, entity or field; empty question
    """
    if actor.role not in OPENERS:
        raise AccessDenied(f"user {actor.username!r} (role {actor.role}) may not open data queries; the registry office does")
    question = _text(question, "question")
    if entity not in ENTITIES or entity == "centres":
        raise QueryError(f"unknown record type {entity!r}; expected one of {', '.join(e for e in ENTITIES if e != 'centres')}")
    if field_name and field_name not in ENTITIES[entity].column_names:
        raise QueryError(f"{entity} has no field {field_name!r}; it has {', '.join(ENTITIES[entity].column_names)}")
    patient_id, centre = _find_patient(session, actor, study_id=study_id, centre_code=centre_code, patient_code=patient_code)
    now = utcnow()
    q = DataQuery(patient_id=patient_id, entity=entity, record_key=audit.to_json(dict(record_key)) if record_key else None,
                  field_name=field_name or None, question=question, status=OPEN, opened_by=actor.username, opened_at=now)
    session.add(q)
    session.flush()
    new = {"patient_id": patient_id, "entity": entity, "record_key": q.record_key, "field_name": q.field_name,
           "question": question, "status": OPEN}
    audit.record(session, actor, [audit.Change("INSERT", "data_queries", {"query_id": q.id}, None, new)], reason="open data query")
    return _view(session, actor, q)


def _load(session: Session, query_id: int) -> tuple[DataQuery, str]:
    row = session.execute(select(DataQuery, Centre.centre_code).join(Patient, DataQuery.patient_id == Patient.id)
                          .join(Centre).where(DataQuery.id == query_id)).first()
    if row is None:
        raise QueryError(f"no data query {query_id}")
    return row[0], row[1]


def _check_version(q: DataQuery, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != q.version:
        raise QueryError(f"data query {q.id} was changed by someone else since you opened it (now version {q.version}); reload it")


def answer_query(session: Session, actor: Actor, query_id: int, answer: str, *, expected_version: int | None = None) -> QueryView:
    """The centre's answer (also after correcting the record). :raises AccessDenied, QueryError:"""
    q, centre = _load(session, query_id)
    if actor.role not in ("centre", "admin"):
        raise AccessDenied(f"user {actor.username!r} (role {actor.role}) may not answer data queries; the centre does")
    require_write(actor, centre)
    if q.status == CLOSED:
        raise QueryError(f"data query {q.id} is closed; ask its opener ({q.opened_by}) to open a new one")
    _check_version(q, expected_version)
    text = _text(answer, "answer")
    old = {"status": q.status, "answer": q.answer}
    q.status, q.answer, q.answered_by, q.answered_at = ANSWERED, text, actor.username, utcnow()
    session.flush()
    audit.record(session, actor, [audit.Change("UPDATE", "data_queries", {"query_id": q.id}, old, {"status": ANSWERED, "answer": text})],
                 reason="answer data query")
    return _view(session, actor, q)


def close_query(session: Session, actor: Actor, query_id: int, *, note: str | None = None,
                expected_version: int | None = None) -> QueryView:
    """Close a query: its opener, or an administrator. :raises AccessDenied, QueryError:"""
    q, _centre = _load(session, query_id)
    if not (actor.role == "admin" or (actor.role in OPENERS and actor.username == q.opened_by)):
        raise AccessDenied(f"user {actor.username!r} may not close data query {q.id}: its opener ({q.opened_by}) or an administrator does")
    if q.status == CLOSED:
        raise QueryError(f"data query {q.id} is closed already")
    _check_version(q, expected_version)
    old = {"status": q.status}
    q.status, q.closed_by, q.closed_at = CLOSED, actor.username, utcnow()
    session.flush()
    audit.record(session, actor, [audit.Change("UPDATE", "data_queries", {"query_id": q.id}, old, {"status": CLOSED})],
                 reason=(note or "").strip() or "close data query")
    return _view(session, actor, q)


def _view(session: Session, actor: Actor, q: DataQuery) -> QueryView:
    patient = session.get(Patient, q.patient_id)
    assert patient is not None
    centre = session.execute(select(Centre.centre_code).where(Centre.id == patient.centre_id)).scalar_one()
    return QueryView(
        q.id, centre, patient.patient_code if sees_patient_codes(actor) else None, patient.study_id, q.entity,
        json.loads(q.record_key) if q.record_key else None, q.field_name, q.question, q.status, q.answer,
        q.opened_by, q.opened_at, q.answered_by, q.answered_at, q.closed_by, q.closed_at, q.version,
    )


def list_queries(session: Session, actor: Actor, *, status: Sequence[str] | None = None,
                 centre_code: str | None = None, patient_id: int | None = None) -> list[QueryView]:
    """Queries the actor may see, oldest first (centre users: their centre only)."""
    if actor.role == "researcher":
        raise AccessDenied(f"user {actor.username!r} (role researcher) does not see data queries")
    if actor.role == "centre":
        centre_code = actor.centre_code
    elif centre_code is not None and not can_read_centre(actor, centre_code):
        raise AccessDenied(f"user {actor.username!r} may not read centre {centre_code!r}")
    stmt = (select(DataQuery, Patient.patient_code, Patient.study_id, Centre.centre_code)
            .join(Patient, DataQuery.patient_id == Patient.id).join(Centre).order_by(DataQuery.id))
    if status:
        stmt = stmt.where(DataQuery.status.in_(list(status)))
    if centre_code is not None:
        stmt = stmt.where(Centre.centre_code == centre_code)
    if patient_id is not None:
        stmt = stmt.where(DataQuery.patient_id == patient_id)
    codes = sees_patient_codes(actor)
    return [
        QueryView(q.id, centre, code if codes else None, study, q.entity, json.loads(q.record_key) if q.record_key else None,
                  q.field_name, q.question, q.status, q.answer, q.opened_by, q.opened_at, q.answered_by, q.answered_at,
                  q.closed_by, q.closed_at, q.version)
        for q, code, study, centre in session.execute(stmt)
    ]


def counts_per_centre(session: Session, actor: Actor) -> dict[str, dict[str, int]]:
    """{centre_code: {OPEN: n, ANSWERED: n, CLOSED: n}} for the centres the actor may see."""
    if actor.role == "researcher":
        raise AccessDenied(f"user {actor.username!r} (role researcher) does not see data queries")
    stmt = (select(Centre.centre_code, DataQuery.status, func.count()).join(Patient, DataQuery.patient_id == Patient.id)
            .join(Centre).group_by(Centre.centre_code, DataQuery.status))
    if actor.role == "centre":
        stmt = stmt.where(Centre.centre_code == actor.centre_code)
    out: dict[str, dict[str, int]] = {}
    for centre, status, n in session.execute(stmt):
        out.setdefault(centre, {OPEN: 0, ANSWERED: 0, CLOSED: 0})[status] = int(n)
    return out
