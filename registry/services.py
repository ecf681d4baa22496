"""The only code that writes clinical data: create, update, delete, and the bulk path of import.

Every door (dashboard forms, bundle import, CLI) calls these functions with an open Session and
the acting user. Each call validates with `registry.validation` (the same rules everywhere,
including the cross-record rules against what the database already holds), checks access with
`registry.security.access`, and appends one audit row per changed record with `registry.security.audit.record`.

Why Core statements rather than ORM units of work: the bulk path must insert about a million
rows quickly, and the single-record path shares its loading, diffing and audit code with it.
Versions are therefore checked explicitly (`WHERE id = :id AND version = :version`), and a
record changed by someone else since it was read raises `StaleRecord`. The bulk path inserts
new rows with the driver's executemany on converted tuples (`_RowWriter`), chunked, after
every rule has passed for the whole batch (`plan_bulk`), and reads the stored keys once.
A bundle import first takes the streaming half of this path (`registry.bulk`: chunks of
columns, the same rules, memory independent of the bundle); `plan_bulk` is the exact path that
decides and words every error when the streaming half finds any.

Records are addressed by their natural key in bundle terms (docs/bundle-format.md "Keys"), e.g.
`{"centre_code": "OSL", "patient_code": "P001", "visit_date": date(2021, 3, 4)}`; values use the
bundle's column names with Python types (strings as in a CSV cell are accepted too).

Decisions:
- Creating or deleting a centre, or changing a centre code, is for administrators; updating a
  centre's name or country needs write access to that centre.
- Deleting a patient who has clinical records, a centre that has patients or users, or a
  transplant that is not the patient's last-numbered one is refused with a message that says
  what is in the way (the last one would leave a gap in the numbering).
- A bundle file without an optional column leaves that column's stored values untouched; an
  empty cell sets it to missing.
- Moving a child record to another patient (changing its centre_code/patient_code) is an
  update, checked against the target patient's history and the write access of both centres.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from contextlib import contextmanager
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Date, Table, and_, bindparam, delete as sa_delete, func, insert, select, tuple_, update as sa_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.security import audit
from registry.security.access import AccessDenied, Actor, can_read_centre, require_write, sees_patient_codes
from registry.codes import MISSING_CODES
from registry.models import (
    AdverseEvent,
    Base,
    Centre,
    DataQuery,
    Death,
    MriScan,
    Patient,
    Relapse,
    Transplant,
    Treatment,
    User,
    Visit,
    utcnow,
)
from registry.validation import (
    CHILD_ENTITIES,
    ENTITIES,
    MISSING_CODE_COLUMNS,
    FieldError,
    Record,
    check_duplicates,
    check_history,
    check_record,
    check_references,
    check_required,
    describe_key,
    key_of,
    parse_row,
    spec_of,
)

MODELS: dict[str, type[Base]] = {
    "centres": Centre,
    "patients": Patient,
    "transplants": Transplant,
    "visits": Visit,
    "relapses": Relapse,
    "mri": MriScan,
    "adverse_events": AdverseEvent,
    "deaths": Death,
    "treatments": Treatment,
}
CHUNK = 20_000  # rows per executemany; bounds memory of one statement

# ---------------------------------------------------------------------------------------------
# Errors


class ServiceError(Exception):
    """A write was refused; the message says why in the user's terms."""


class ValidationFailed(ServiceError):
    """One or more values break the rules of docs/bundle-format.md; `errors` lists every one."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:5])
        more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        super().__init__(f"{len(self.errors)} invalid value(s): {shown}{more}")


class StaleRecord(ServiceError):
    """The record was changed by someone else since it was opened."""


class AlreadyExists(ServiceError):
    """A record with this natural key exists already."""


class NotFound(ServiceError):
    """No record with this natural key."""


class DeleteRefused(ServiceError):
    """Deleting this record would lose or orphan data; the message says what is in the way."""


class ReasonRequired(ServiceError, ValueError):
    """Changing or deleting saved data needs a reason for the audit trail."""


# ---------------------------------------------------------------------------------------------
# What callers get back


@dataclass(frozen=True, slots=True)
class RecordView:
    """A stored record in bundle terms, with the version to send back when updating it."""

    entity: str
    key: dict[str, Any]
    values: dict[str, Any]
    version: int
    id: int


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """A patient with every clinical record, for a patient page (children by entity, in key order)."""

    patient: RecordView
    children: dict[str, list[RecordView]]


# ---------------------------------------------------------------------------------------------
# Loading stored rows in bundle terms


def _table(entity: str) -> Table:
    return MODELS[entity].__table__  # type: ignore[return-value]


def _value_columns(entity: str) -> tuple[str, ...]:
    """Bundle columns stored on the entity's own table (children get centre/patient by join)."""
    names = spec_of(entity).column_names
    if entity == "centres":
        return names
    if entity == "patients":
        return tuple(n for n in names if n != "centre_code")
    return tuple(n for n in names if n not in ("centre_code", "patient_code"))


def _coded(entity: str) -> tuple[str, ...]:
    """Columns of the entity that take missing-data codes (stored NULL, code in missing_codes)."""
    return MISSING_CODE_COLUMNS.get(entity, ())


_MISSING_CODES = frozenset(MISSING_CODES)


def _missing_json(entity: str, values: Mapping[str, Any]) -> str | None:
    """The `missing_codes` cell of a record in bundle terms: {"edss": "NE"} as JSON, or None."""
    found = {n: values[n] for n in _coded(entity) if type(values.get(n)) is str and values[n] in _MISSING_CODES}
    return audit.to_json(found) if found else None


def _stored_value(entity: str, column: str, value: Any) -> Any:
    """What the database column holds for a bundle value: NULL for a missing-data code."""
    if type(value) is str and value in _MISSING_CODES and column in _coded(entity):
        return None
    return value


@dataclass(slots=True)
class Stored:
    """A row as loaded: bundle values plus the ids and version needed to write it."""

    entity: str
    values: dict[str, Any]
    id: int
    version: int
    parent_id: int | None  # centre_id of a patient, patient_id of a child

    def view(self) -> RecordView:
        return RecordView(
            self.entity, dict(zip(spec_of(self.entity).key, key_of(self.entity, self.values), strict=True)), dict(self.values), self.version, self.id
        )


def _select_stored(entity: str) -> Any:
    t = _table(entity)
    cols = [t.c[n] for n in _value_columns(entity)]
    if entity == "centres":
        return select(t.c.id, t.c.version, *cols)
    c = _table("centres")
    if entity == "patients":
        return select(t.c.id, t.c.version, t.c.centre_id, c.c.centre_code, *cols).join(c, t.c.centre_id == c.c.id)
    p = _table("patients")
    if _coded(entity):
        cols.append(t.c.missing_codes)
    return (
        select(t.c.id, t.c.version, t.c.patient_id, c.c.centre_code, p.c.patient_code, *cols)
        .join(p, t.c.patient_id == p.c.id)
        .join(c, p.c.centre_id == c.c.id)
    )


def load_stored(
    session: Session,
    entity: str,
    *,
    centre_codes: Iterable[str] | None = None,
    patient_ids: Iterable[int] | None = None,
    where: Any = None,
) -> list[Stored]:
    """Stored rows of one entity in bundle terms, optionally for some centres or patients."""
    stmt = _select_stored(entity)
    if centre_codes is not None:
        stmt = stmt.where(_table("centres").c.centre_code.in_(list(centre_codes)))
    if patient_ids is not None:
        col = _table("patients").c.id if entity == "patients" else _table(entity).c.patient_id
        stmt = stmt.where(col.in_(list(patient_ids)))
    if where is not None:
        stmt = stmt.where(where)
    names = (("centre_code",) if entity != "centres" else ()) + (
        ("patient_code",) if entity not in ("centres", "patients") else ()
    ) + _value_columns(entity)
    out: list[Stored] = []
    with_parent = entity != "centres"
    coded = bool(_coded(entity))
    for row in session.execute(stmt):
        if with_parent:
            rid, ver, parent, *vals = row
        else:
            rid, ver, *vals = row
            parent = None
        if coded:
            missing = vals.pop()
            values = dict(zip(names, vals, strict=True))
            if missing:  # a missing-data code is the value in bundle terms
                values.update(json.loads(missing))
        else:
            values = dict(zip(names, vals, strict=True))
        out.append(Stored(entity, values, rid, ver, parent))
    return out


def _key_where(entity: str, key: Mapping[str, Any]) -> Any:
    """WHERE clause selecting one record by its natural key (bundle terms)."""
    t = _table(entity)
    conds = []
    for k in spec_of(entity).key:
        if k == "centre_code":
            conds.append(_table("centres").c.centre_code == key[k])
        elif k == "patient_code" and entity != "patients":
            conds.append(_table("patients").c.patient_code == key[k])
        else:
            conds.append(t.c[k] == key[k])
    return and_(*conds)


def _find(session: Session, entity: str, key: Mapping[str, Any]) -> Stored | None:
    rows = load_stored(session, entity, where=_key_where(entity, key))
    return rows[0] if rows else None


def _parse_key(entity: str, key: Mapping[str, Any]) -> dict[str, Any]:
    spec = spec_of(entity)
    missing = [k for k in spec.key if key.get(k) in (None, "")]
    extra = [k for k in key if k not in spec.key]
    errors = [FieldError(entity, k, None, "key value is missing") for k in missing]
    errors += [FieldError(entity, k, key[k], f"{k!r} is not part of the key ({', '.join(spec.key)})") for k in extra]
    values, parse_errors = parse_row(entity, {k: v for k, v in key.items() if k in spec.key})
    errors += parse_errors
    if errors:
        raise ValidationFailed(errors)
    return values


# ---------------------------------------------------------------------------------------------
# Access


def _require_entity_write(actor: Actor, entity: str, centre_code: str, *, structural: bool) -> None:
    """Clinical data: write access to the centre. Creating/deleting/renaming centres: admins."""
    if entity == "centres" and structural and actor.role != "admin":
        raise AccessDenied(f"user {actor.username!r} (role {actor.role}) may not create, rename or delete centres; ask an administrator")
    require_write(actor, centre_code)


def _require_read(actor: Actor, entity: str, centre_code: str | None = None) -> None:
    if entity != "centres" and not sees_patient_codes(actor):
        raise AccessDenied(f"user {actor.username!r} (role {actor.role}) does not see identifiable patient records")
    if centre_code is not None and not can_read_centre(actor, centre_code):
        raise AccessDenied(f"user {actor.username!r} (centre {actor.centre_code}) may not read centre {centre_code!r}")


# ---------------------------------------------------------------------------------------------
# Helpers shared by the single-record and bulk paths


def new_study_id() -> str:
    """A random, stable pseudonym: 16 hex digits from `secrets`, unrelated to the patient code."""
    return secrets.token_hex(8).upper()


def _is_unique_violation(exc: IntegrityError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23505":  # psycopg: unique_violation
        return True
    return "UNIQUE constraint failed" in str(orig)


def _key_dict(entity: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: values.get(k) for k in spec_of(entity).key}


def _full(entity: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Every column of the entity, None where `values` has none (values hold only known columns)."""
    full = dict.fromkeys(ENTITIES[entity].column_names)
    full.update(values)
    return full


def _patient_history(session: Session, patient: Stored) -> tuple[Record, list[Record]]:
    """The stored patient and all its clinical records, as unchanged `Record`s."""
    children: list[Record] = []
    for entity in CHILD_ENTITIES:
        for s in load_stored(session, entity, patient_ids=[patient.id]):
            children.append(Record(entity, s.values, new=False))
    return Record("patients", patient.values, new=False), children


def _check_against_history(
    session: Session, entity: str, values: dict[str, Any], *, replacing: Stored | None
) -> list[FieldError]:
    """Cross-record rules for one new or changed record against the patient's stored data."""
    if entity == "centres":
        return []
    new = Record(entity, values, new=True)
    if entity == "patients":
        if replacing is None:
            return check_history(new, [])
        _, children = _patient_history(session, replacing)
        return check_history(new, children)
    patient = _find(session, "patients", {"centre_code": values["centre_code"], "patient_code": values["patient_code"]})
    if patient is None:
        return []
    prec, children = _patient_history(session, patient)
    if replacing is not None and replacing.parent_id == patient.id:
        children = [c for c in children if not (c.entity == entity and c.key == key_of(entity, replacing.values))]
    return check_history(prec, children + [new])


def _check_reference(session: Session, entity: str, values: Mapping[str, Any]) -> tuple[int | None, list[FieldError]]:
    """The parent id (centre of a patient, patient of a child) or an error naming the missing one."""
    if entity == "centres":
        return None, []
    rec = Record(entity, dict(values))
    centre = session.execute(select(Centre.id).where(Centre.centre_code == values["centre_code"])).scalar()
    if entity == "patients":
        if centre is None:
            return None, check_references([rec], centres=set(), patients=set(), sources="the registry")
        return centre, []
    patient = session.execute(
        select(Patient.id).where(Patient.centre_id == centre, Patient.patient_code == values["patient_code"])
    ).scalar() if centre is not None else None
    if patient is None:
        known_centres = {values["centre_code"]} if centre is not None else set()
        return None, check_references([rec], centres=known_centres, patients=set(), sources="the registry")
    return patient, []


def _row_for_insert(entity: str, values: Mapping[str, Any], parent_id: int | None, now: dt.datetime) -> dict[str, Any]:
    row = {n: _stored_value(entity, n, values.get(n)) for n in _value_columns(entity)}
    if _coded(entity):
        row["missing_codes"] = _missing_json(entity, values)
    if entity == "patients":
        row["centre_id"] = parent_id
        row["study_id"] = new_study_id()
    elif entity != "centres":
        row["patient_id"] = parent_id
    row["created_at"] = now
    row["updated_at"] = now
    row["version"] = 1
    return row


def _diff(entity: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the changed fields, old and new (for the audit row and the UPDATE)."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for k, v in new.items():
        if k in old and old[k] != v:
            before[k] = old[k]
            after[k] = v
    return before, after


def _require_reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        raise ReasonRequired(f"a reason is required to {what} saved data (it goes into the audit trail)")
    return reason.strip()


# ---------------------------------------------------------------------------------------------
# Single-record writes


def create(session: Session, actor: Actor, entity: str, values: Mapping[str, Any], *, reason: str | None = None) -> RecordView:
    """Insert one record (values in bundle terms), validated, access-checked and audited.

    :raises ValidationFailed: any rule broken (every error listed)
    :raises AccessDenied: the actor may not write this centre
    :raises AlreadyExists: a record with this key exists (also when a concurrent writer won)
    """
    spec = spec_of(entity)
    parsed, errors = parse_row(entity, dict(values))
    errors += check_required(entity, parsed)
    errors += check_record(entity, parsed)
    if errors:
        raise ValidationFailed(errors)
    parsed = _full(entity, parsed)
    _require_entity_write(actor, entity, parsed["centre_code"], structural=True)
    parent_id, ref_errors = _check_reference(session, entity, parsed)
    if ref_errors:
        raise ValidationFailed(ref_errors)
    key = _key_dict(entity, parsed)
    if _find(session, entity, key) is not None:
        raise AlreadyExists(f"{spec.name}: a record with {describe_key(entity, tuple(key.values()))} exists already")
    history_errors = _check_against_history(session, entity, parsed, replacing=None)
    if history_errors:
        raise ValidationFailed(history_errors)
    row = _row_for_insert(entity, parsed, parent_id, utcnow())
    try:
        with session.begin_nested():
            new_id = session.execute(insert(_table(entity)).returning(_table(entity).c.id), row).scalar_one()
    except IntegrityError as exc:
        if _is_unique_violation(exc):
            raise AlreadyExists(
                f"{spec.name}: a record with {describe_key(entity, tuple(key.values()))} was saved by someone else just now"
            ) from exc
        raise
    # A patient's random study_id goes into the audit row: replaying the trail must rebuild it.
    audited = parsed | {"study_id": row["study_id"]} if entity == "patients" else parsed
    audit.record(session, actor, [audit.Change("INSERT", spec.table, key, None, audited)], reason=reason)
    return RecordView(entity, key, parsed, 1, new_id)


def update(
    session: Session,
    actor: Actor,
    entity: str,
    key: Mapping[str, Any],
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
    reason: str,
) -> RecordView:
    """Change some fields of one record (key fields too: correcting a visit date is an update).

    :raises ReasonRequired: no reason given
    :raises NotFound: no record with this key
    :raises StaleRecord: `expected_version` differs from the stored version (changed by someone
        else since it was opened), or the row changed between reading and writing
    :raises ValidationFailed, AccessDenied, AlreadyExists: as for `create`
    """
    reason = _require_reason(reason, "change")
    spec = spec_of(entity)
    key, current = _open_for_change(session, actor, entity, key, expected_version, structural=False)
    parsed, errors = parse_row(entity, dict(changes))
    merged = dict(current.values) | parsed
    errors += check_required(entity, merged)
    errors += check_record(entity, merged)
    if errors:
        raise ValidationFailed(errors)
    before, after = _diff(entity, current.values, merged)
    if not after:
        return current.view()
    new_key = _key_dict(entity, merged)
    parent_id = current.parent_id
    if new_key != _key_dict(entity, current.values):
        structural = entity == "centres" or "centre_code" in after
        _require_entity_write(actor, entity, merged["centre_code"], structural=structural)
        if _find(session, entity, new_key) is not None:
            raise AlreadyExists(f"{spec.name}: a record with {describe_key(entity, tuple(new_key.values()))} exists already")
        if entity != "centres":
            parent_id, ref_errors = _check_reference(session, entity, merged)
            if ref_errors:
                raise ValidationFailed(ref_errors)
    history_errors = _check_against_history(session, entity, merged, replacing=current)
    if history_errors:
        raise ValidationFailed(history_errors)
    t = _table(entity)
    row = {n: _stored_value(entity, n, merged[n]) for n in _value_columns(entity) if n in after}
    if any(n in after for n in _coded(entity)):
        row["missing_codes"] = _missing_json(entity, merged)
    if entity == "patients" and "centre_code" in after:
        row["centre_id"] = parent_id
    elif entity not in ("centres", "patients") and parent_id != current.parent_id:
        row["patient_id"] = parent_id
    row["updated_at"] = utcnow()
    row["version"] = current.version + 1
    try:
        with session.begin_nested():
            result = session.execute(sa_update(t).where(t.c.id == current.id, t.c.version == current.version).values(**row))
    except IntegrityError as exc:
        if _is_unique_violation(exc):
            raise AlreadyExists(f"{spec.name}: a record with {describe_key(entity, tuple(new_key.values()))} exists already") from exc
        raise
    if result.rowcount != 1:
        raise StaleRecord(_stale_message(entity, key, current.version, None))
    audit.record(session, actor, [audit.Change("UPDATE", spec.table, _key_dict(entity, current.values), before, after)], reason=reason)
    return RecordView(entity, new_key, merged, current.version + 1, current.id)


def _open_for_change(
    session: Session,
    actor: Actor,
    entity: str,
    key: Mapping[str, Any],
    expected_version: int | None,
    *,
    structural: bool,
) -> tuple[dict[str, Any], Any]:
    """The stored record an update or delete applies to, after the access and version checks.

    Access is checked on the requested key *before* the lookup, so NotFound vs AccessDenied
    cannot tell a centre user which keys another centre has; and again on the stored record.

    :raises AccessDenied, NotFound, StaleRecord:
    """
    spec = spec_of(entity)
    parsed_key = _parse_key(entity, key)
    _require_entity_write(actor, entity, parsed_key["centre_code"], structural=structural)
    current = _find(session, entity, parsed_key)
    if current is None:
        raise NotFound(f"{spec.name}: no record with {describe_key(entity, tuple(parsed_key[k] for k in spec.key))}")
    _require_entity_write(actor, entity, current.values["centre_code"], structural=structural)
    if expected_version is not None and expected_version != current.version:
        raise StaleRecord(_stale_message(entity, parsed_key, expected_version, current.version))
    return parsed_key, current


def _stale_message(entity: str, key: Mapping[str, Any], expected: int, found: int | None) -> str:
    what = f"{entity} record {describe_key(entity, tuple(key[k] for k in spec_of(entity).key))}"
    now = f" (now version {found}, you opened version {expected})" if found is not None else ""
    return f"{what} was changed by someone else since you opened it{now}; reload it and apply your change again"


def delete(
    session: Session,
    actor: Actor,
    entity: str,
    key: Mapping[str, Any],
    *,
    reason: str,
    expected_version: int | None = None,
) -> None:
    """Delete one record; refused when it would orphan or lose other data.

    :raises DeleteRefused: a patient with clinical records, a centre with patients or users, a
        transplant that is not the last-numbered one
    """
    reason = _require_reason(reason, "delete")
    spec = spec_of(entity)
    key, current = _open_for_change(session, actor, entity, key, expected_version, structural=True)
    _refuse_if_in_use(session, entity, current)
    t = _table(entity)
    result = session.execute(sa_delete(t).where(t.c.id == current.id, t.c.version == current.version))
    if result.rowcount != 1:
        raise StaleRecord(_stale_message(entity, key, current.version, None))
    audit.record(session, actor, [audit.Change("DELETE", spec.table, _key_dict(entity, current.values), current.values, None)], reason=reason)


def _refuse_if_in_use(session: Session, entity: str, current: Stored) -> None:
    label = describe_key(entity, key_of(entity, current.values))
    if entity == "patients":
        counts = {
            e: session.execute(select(func.count()).select_from(_table(e)).where(_table(e).c.patient_id == current.id)).scalar_one()
            for e in CHILD_ENTITIES
        }
        held = ", ".join(f"{n} {e}" for e, n in counts.items() if n)
        if held:
            raise DeleteRefused(f"patient {label} has clinical records ({held}); delete or move those first")
        queries = session.execute(select(func.count()).select_from(DataQuery).where(DataQuery.patient_id == current.id)).scalar_one()
        if queries:
            raise DeleteRefused(f"patient {label} has {queries} data quer{'y' if queries == 1 else 'ies'} (kept as the record of what was asked)")
    elif entity == "centres":
        patients = session.execute(select(func.count()).select_from(Patient).where(Patient.centre_id == current.id)).scalar_one()
        users = session.execute(select(func.count()).select_from(User).where(User.centre_id == current.id)).scalar_one()
        if patients or users:
            raise DeleteRefused(f"centre {label} has {patients} patient(s) and {users} user(s); it cannot be deleted")
    elif entity == "transplants":
        later = session.execute(
            select(func.max(Transplant.transplant_number)).where(Transplant.patient_id == current.parent_id)
        ).scalar_one()
        if later is not None and later > current.values["transplant_number"]:
            raise DeleteRefused(
                f"transplant {label} is not the patient's last (transplant {later} exists); deleting it would leave a gap in the numbering"
            )


# ---------------------------------------------------------------------------------------------
# Reads for the dashboard


def list_records(
    session: Session,
    actor: Actor,
    entity: str,
    *,
    centre_code: str | None = None,
    patient_code: str | None = None,
) -> list[RecordView]:
    """Stored records the actor may read, in key order (centre users: their centre only)."""
    spec_of(entity)
    _require_read(actor, entity, centre_code)
    if actor.role == "centre":
        centre_code = actor.centre_code
    where = None
    if patient_code is not None:
        where = _table("patients").c.patient_code == patient_code
    rows = load_stored(session, entity, centre_codes=[centre_code] if centre_code else None, where=where)
    return [s.view() for s in sorted(rows, key=lambda s: _sort_key(entity, s.values))]


def get_record(session: Session, actor: Actor, entity: str, key: Mapping[str, Any]) -> RecordView:
    """One stored record by its natural key. :raises NotFound, AccessDenied:"""
    key = _parse_key(entity, key)
    _require_read(actor, entity, key.get("centre_code"))
    found = _find(session, entity, key)
    if found is None:
        raise NotFound(f"{entity}: no record with {describe_key(entity, tuple(key[k] for k in spec_of(entity).key))}")
    return found.view()


def get_patient_record(session: Session, actor: Actor, centre_code: str, patient_code: str) -> PatientRecord:
    """A patient and every clinical record, for the patient page. :raises NotFound, AccessDenied:"""
    patient = get_record(session, actor, "patients", {"centre_code": centre_code, "patient_code": patient_code})
    children = {
        e: [s.view() for s in sorted(load_stored(session, e, patient_ids=[patient.id]), key=lambda s, e=e: _sort_key(e, s.values))]
        for e in CHILD_ENTITIES
    }
    return PatientRecord(patient, children)


def _sort_key(entity: str, values: Mapping[str, Any]) -> tuple[Any, ...]:
    """Deterministic key order (None never occurs in keys)."""
    return key_of(entity, values)


# ---------------------------------------------------------------------------------------------
# The bulk path (bundle import)


@dataclass(slots=True)
class Update:
    record: Record  # merged values, new=True
    stored: Stored
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(slots=True)
class BulkPlan:
    """What a bulk write will do, after every rule passed: nothing has been written yet."""

    inserts: dict[str, list[Record]] = field(default_factory=lambda: {e: [] for e in ENTITIES})
    updates: dict[str, list[Update]] = field(default_factory=lambda: {e: [] for e in ENTITIES})
    unchanged: dict[str, int] = field(default_factory=lambda: {e: 0 for e in ENTITIES})
    centre_ids: dict[str, int] = field(default_factory=dict)
    patient_ids: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def total_changes(self) -> int:
        return sum(len(v) for v in self.inserts.values()) + sum(len(v) for v in self.updates.values())


@dataclass(frozen=True, slots=True)
class BulkCounts:
    inserted: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]


def plan_bulk(session: Session, actor: Actor, records: Sequence[Record], *, today: dt.date | None = None) -> BulkPlan:
    """Validate a batch of records against each other and the database; decide insert/update.

    Runs every rule (single-record, duplicates, references, each touched patient's history over
    stored plus incoming records) and reports every error at once.

    :raises AccessDenied: a record belongs to a centre the actor may not write, or a new centre
        is created by a non-administrator
    :raises ValidationFailed: with every error found
    """
    errors: list[FieldError] = []
    today = today or dt.date.today()  # once: the clock is read for every record otherwise
    centres_in_batch = sorted({r.values["centre_code"] for r in records if r.values.get("centre_code") is not None})
    for code in centres_in_batch:
        require_write(actor, code)

    ok: list[Record] = []
    for rec in records:
        if rec.valid:
            errs = check_record(rec.entity, rec.values, line=rec.line, file=rec.file, today=today)
            if errs:
                errors += errs
                rec.valid = False
            else:
                ok.append(rec)
    errors += check_duplicates(records)

    # what the registry holds for the centres in the batch
    stored: dict[str, dict[tuple[Any, ...], Stored]] = {}
    stored["centres"] = {(s.values["centre_code"],): s for s in load_stored(session, "centres")}
    for entity in ("patients", *CHILD_ENTITIES):
        stored[entity] = {
            key_of(entity, s.values): s for s in load_stored(session, entity, centre_codes=centres_in_batch)
        } if centres_in_batch else {}

    known_centres = {k[0] for k in stored["centres"]} | {r.values["centre_code"] for r in records if r.entity == "centres" and r.values.get("centre_code")}
    known_patients = set(stored["patients"]) | {
        (r.values["centre_code"], r.values["patient_code"])
        for r in records
        if r.entity == "patients" and r.values.get("centre_code") and r.values.get("patient_code")
    }
    broken: set[int] = set()
    for rec in records:
        v = rec.values
        if rec.entity == "centres" or (
            v.get("centre_code") in known_centres
            and (rec.entity == "patients" or (v.get("centre_code"), v.get("patient_code")) in known_patients)
        ):
            continue  # the common case, decided without building error objects
        errs = check_references((rec,), centres=known_centres, patients=known_patients)
        if errs:
            errors += errs
            broken.add(id(rec))
    if broken:
        ok = [r for r in ok if id(r) not in broken]

    plan = BulkPlan()
    plan.centre_ids = {k[0]: s.id for k, s in stored["centres"].items()}
    plan.patient_ids = {k: s.id for k, s in stored["patients"].items()}  # type: ignore[misc]
    # merged view of each touched patient: key -> Record (stored unchanged or incoming)
    touched: dict[tuple[str, str], dict[tuple[str, tuple[Any, ...]], Record]] = defaultdict(dict)
    touched_new: set[tuple[str, str]] = set()
    seen_keys: set[tuple[str, tuple[Any, ...]]] = set()
    for rec in ok:
        entity = rec.entity
        k = rec.key
        if (entity, k) in seen_keys:
            continue  # a duplicate, already reported
        seen_keys.add((entity, k))
        old = stored[entity].get(k)
        if old is None:
            merged = _full(entity, rec.values)
            req = check_required(entity, merged, line=rec.line, file=rec.file)
            if req:
                errors += req
                rec.valid = False
                continue
            if entity == "centres":
                _require_entity_write(actor, entity, merged["centre_code"], structural=True)
            new = Record(entity, merged, True, rec.line, rec.file)
            plan.inserts[entity].append(new)
        else:
            merged = dict(old.values)
            merged.update(rec.values)
            before, after = _diff(entity, old.values, merged)
            if after:
                new = Record(entity, merged, True, rec.line, rec.file)
                plan.updates[entity].append(Update(new, old, before, after))
            else:
                new = Record(entity, merged, False, rec.line, rec.file)
                plan.unchanged[entity] += 1
        if entity != "centres":
            pk = (merged["centre_code"], merged["patient_code"])
            touched[pk][(entity, k)] = new
            if new.new:
                touched_new.add(pk)

    # a patient with a broken record is not checked for date order: the missing record would
    # only cause follow-on errors that disappear once the reported one is fixed
    for rec in records:
        if (not rec.valid or id(rec) in broken) and rec.entity != "centres":
            touched_new.discard((rec.values.get("centre_code"), rec.values.get("patient_code")))  # type: ignore[arg-type]
    errors += _check_touched_histories(stored, touched, touched_new)
    if errors:
        raise ValidationFailed(_in_order(errors))
    return plan


def _check_touched_histories(
    stored: Mapping[str, Mapping[tuple[Any, ...], Stored]],
    touched: Mapping[tuple[str, str], dict[tuple[str, tuple[Any, ...]], Record]],
    touched_new: set[tuple[str, str]],
) -> list[FieldError]:
    """Date order for every patient with a new or changed record, stored and incoming merged."""
    if not touched_new:
        return []
    stored_children: dict[tuple[str, str], list[tuple[str, tuple[Any, ...], Stored]]] = defaultdict(list)
    for entity in CHILD_ENTITIES:
        for k, s in stored[entity].items():
            pk = (k[0], k[1])
            if pk in touched_new:
                stored_children[pk].append((entity, k, s))
    errors: list[FieldError] = []
    for pk in touched_new:
        incoming = touched[pk]
        patient = incoming.get(("patients", pk))
        if patient is None:
            s = stored["patients"].get(pk)
            patient = Record("patients", s.values, new=False) if s is not None else None
        children = [r for (e, _k), r in incoming.items() if e != "patients"]
        for entity, k, s in stored_children.get(pk, ()):
            if (entity, k) not in incoming:
                children.append(Record(entity, s.values, new=False))
        errors += check_history(patient, children)
    return errors


_ENTITY_ORDER = {e: i for i, e in enumerate(ENTITIES)}


def _in_order(errors: Iterable[FieldError]) -> list[FieldError]:
    """Errors by file (bundle order), then line: how a person fixes them."""
    return sorted(errors, key=lambda e: (_ENTITY_ORDER.get(e.entity, 99), e.file or "", e.line or 0))


def apply_bulk(
    session: Session,
    actor: Actor,
    plan: BulkPlan,
    *,
    reason: str,
    on_progress: Callable[[int], None] | None = None,
) -> BulkCounts:
    """Write a validated plan: chunked Core executemany, one audit row per changed record.

    Parents first (centres, patients), whose new ids are read back once per entity.
    :raises AlreadyExists: a concurrent writer inserted one of the keys meanwhile
    :raises StaleRecord: a concurrent writer changed a record being updated
    """
    if plan.updates and any(plan.updates.values()):
        reason = _require_reason(reason, "change")
    now = utcnow()
    try:
        with session.begin_nested(), _big_page_cache(session, plan.total_changes):
            for entity in ENTITIES:
                _insert_entity(session, actor, entity, plan, now, reason, on_progress)
                _update_entity(session, actor, entity, plan, now, reason, on_progress)
    except IntegrityError as exc:
        if _is_unique_violation(exc):
            raise AlreadyExists(f"a record of the import was saved by someone else meanwhile ({exc.orig}); import again") from exc
        raise
    return BulkCounts(
        {e: len(v) for e, v in plan.inserts.items()},
        {e: len(v) for e, v in plan.updates.items()},
        dict(plan.unchanged),
    )


@contextmanager
def _big_page_cache(session: Session, changes: int) -> Iterator[None]:
    """SQLite: a page cache of up to 256 MiB while a large import runs, then the old size.

    Audit rows are indexed by a random hash, so their index is written all over; with SQLite's
    default 2 MiB cache a million-row import spends most of its time re-reading index pages.
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite" or changes < 50_000:
        yield
        return
    old = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql("PRAGMA cache_size = -262144")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(old)}")


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _insert_entity(
    session: Session,
    actor: Actor,
    entity: str,
    plan: BulkPlan,
    now: dt.datetime,
    reason: str | None,
    on_progress: Callable[[int], None] | None,
) -> None:
    records = plan.inserts[entity]
    if not records:
        return
    table = _table(entity)
    spec = spec_of(entity)
    cols = _value_columns(entity)
    key_cols = spec.key
    parent = "centre_id" if entity == "patients" else None if entity == "centres" else "patient_id"
    coded = _coded(entity)
    coded_at = [i for i, n in enumerate(cols) if n in coded]
    columns = list(cols) + (["missing_codes"] if coded else []) + ([parent] if parent else []) + (["study_id"] if entity == "patients" else []) + ["created_at", "updated_at", "version"]
    writer = _RowWriter(session, table, columns)
    stamp = writer.convert("created_at", now)
    dated = [i for i, n in enumerate(cols) if writer.needs_conversion(n)]
    date_names = [c.name for c in spec.columns if c.kind == "date"]
    for chunk in _chunks(records):
        rows: list[tuple[Any, ...]] = []
        study_ids: list[str] = []
        for rec in chunk:
            v = rec.values
            vals = [v[n] for n in cols]
            if coded:  # missing-data codes: the column NULL, the code in missing_codes
                found = {cols[i]: vals[i] for i in coded_at if type(vals[i]) is str and vals[i] in _MISSING_CODES}
                for n in found:
                    vals[cols.index(n)] = None
                vals.append(audit.to_json(found) if found else None)
            for i in dated:  # SQLite only: dates as SQLAlchemy stores them (ISO text)
                if vals[i] is not None:
                    vals[i] = vals[i].isoformat()
            # The audit row's JSON writes dates as ISO text anyway; converting them here, once,
            # spares the JSON encoder a Python call per date (a third of the audit cost). The
            # plan's records are not used after they are written.
            for n in date_names:
                if v[n] is not None:
                    v[n] = v[n].isoformat()
            if entity == "patients":
                sid = new_study_id()
                study_ids.append(sid)
                vals += [plan.centre_ids[v["centre_code"]], sid]
            elif parent:
                vals.append(plan.patient_ids[(v["centre_code"], v["patient_code"])])
            vals += [stamp, stamp, 1]
            rows.append(tuple(vals))
        writer.executemany(rows)
        if entity == "patients":
            # A patient's random study_id goes into the audit row: replaying the trail must rebuild it.
            audited: Iterable[dict[str, Any]] = (rec.values | {"study_id": sid} for rec, sid in zip(chunk, study_ids, strict=True))
        else:
            audited = (rec.values for rec in chunk)
        audit.record(
            session,
            actor,
            (
                audit.Change("INSERT", spec.table, {k: values[k] for k in key_cols}, None, values)
                for values in audited
            ),
            reason=reason,
        )
        if on_progress:
            on_progress(len(chunk))
    if entity == "centres":
        plan.centre_ids.update({c: i for c, i in session.execute(select(Centre.centre_code, Centre.id))})
    elif entity == "patients":
        codes = sorted({r.values["centre_code"] for r in records})
        rows_ = session.execute(
            select(Centre.centre_code, Patient.patient_code, Patient.id).join(Centre).where(Centre.centre_code.in_(codes))
        )
        plan.patient_ids.update({(c, p): i for c, p, i in rows_})


class _RowWriter:
    """INSERT of many rows as plain tuples through the driver's executemany.

    SQLAlchemy's per-row parameter processing costs more than SQLite's own insert; for a
    million-row import the rows are converted once here instead. Only what the driver cannot
    take natively is converted: on SQLite, dates to ISO text and timestamps to the text format
    SQLAlchemy stores (naive UTC), so rows read back exactly as if written through the ORM.
    """

    def __init__(self, session: Session, table: Table, columns: Sequence[str]) -> None:
        self.conn = session.connection()
        dialect = self.conn.dialect
        self.sqlite = dialect.name == "sqlite"
        self.types = {n: table.c[n].type for n in columns}
        quote = dialect.identifier_preparer.quote
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
        if mark is None:
            raise RuntimeError(f"driver paramstyle {dialect.paramstyle!r} not supported by the bulk path")
        self.sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})"
        )

    def needs_conversion(self, column: str) -> bool:
        return self.sqlite and isinstance(self.types[column], Date)

    def convert(self, column: str, value: Any) -> Any:
        if isinstance(value, dt.datetime):  # the column type's own conversion, done once per import
            process = self.types[column].dialect_impl(self.conn.dialect).bind_processor(self.conn.dialect)
            return process(value) if process else value
        if self.sqlite and isinstance(value, dt.date):
            return value.isoformat()  # SQLAlchemy's SQLite DATE storage format
        return value

    def executemany(self, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.conn.exec_driver_sql(self.sql, rows)


def _update_entity(
    session: Session,
    actor: Actor,
    entity: str,
    plan: BulkPlan,
    now: dt.datetime,
    reason: str,
    on_progress: Callable[[int], None] | None,
) -> None:
    updates = plan.updates[entity]
    if not updates:
        return
    table = _table(entity)
    spec = spec_of(entity)
    cols = _value_columns(entity)
    stmt = (
        sa_update(table)
        .where(table.c.id == bindparam("_id"), table.c.version == bindparam("_version"))
        .values({n: bindparam(n) for n in cols} | {"version": bindparam("_new_version"), "updated_at": bindparam("_now")}
                | ({"missing_codes": bindparam("_missing_codes")} if _coded(entity) else {}))
    )
    coded = bool(_coded(entity))
    for chunk in _chunks(updates):
        params = [
            {n: _stored_value(entity, n, u.record.values[n]) for n in cols}
            | {"_id": u.stored.id, "_version": u.stored.version, "_new_version": u.stored.version + 1, "_now": now}
            | ({"_missing_codes": _missing_json(entity, u.record.values)} if coded else {})
            for u in chunk
        ]
        result = session.connection().execute(stmt, params)
        if session.get_bind().dialect.supports_sane_multi_rowcount and result.rowcount != len(params):
            raise StaleRecord(f"{spec.name}: some records were changed by someone else during the import; import again")
        audit.record(
            session,
            actor,
            (audit.Change("UPDATE", spec.table, {k: u.stored.values[k] for k in spec.key}, u.before, u.after) for u in chunk),
            reason=reason,
        )
        if on_progress:
            on_progress(len(chunk))


def bulk_write(
    session: Session, actor: Actor, records: Sequence[Record], *, reason: str, today: dt.date | None = None
) -> BulkCounts:
    """`plan_bulk` then `apply_bulk`: validate everything, then write everything."""
    return apply_bulk(session, actor, plan_bulk(session, actor, records, today=today), reason=reason)


__all__ = [
    "AccessDenied",
    "AlreadyExists",
    "BulkCounts",
    "BulkPlan",
    "DeleteRefused",
    "NotFound",
    "PatientRecord",
    "ReasonRequired",
    "RecordView",
    "ServiceError",
    "StaleRecord",
    "ValidationFailed",
    "apply_bulk",
    "bulk_write",
    "create",
    "delete",
    "get_patient_record",
    "get_record",
    "list_records",
    "load_stored",
    "new_study_id",
    "plan_bulk",
    "update",
]
