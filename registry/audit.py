"""The audit trail: one append-only, hash-chained row per insert, update or delete.

Each row's `row_hash` is SHA-256 over the previous row's hash and this row's canonical content,
so changing or deleting any row breaks every later link (`verify_chain`). Appends are
serialised (PostgreSQL advisory lock; SQLite's BEGIN IMMEDIATE already serialises writers) so
that concurrent writers cannot fork the chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from registry.access import Actor
from registry.models import AuditEntry, utcnow

GENESIS_HASH = "0" * 64
_PG_AUDIT_LOCK_KEY = 7_412_019  # arbitrary, constant: the advisory lock that serialises appends


def _json_default(v: Any) -> Any:
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    raise TypeError(f"{type(v).__name__} {v!r} is not JSON serialisable")


# One encoder, built once, that turns dates into ISO strings itself: json.dumps with options
# builds a new encoder per call, which was most of the cost when a bundle import audits a
# million records. Output is identical to json.dumps of the values with dates as ISO strings.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_json_default)
# CPython's C encoder with the same options, made once (JSONEncoder.encode makes one per call).
_C_ENCODE = (
    json.encoder.c_make_encoder(None, _json_default, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, True)
    if json.encoder.c_make_encoder is not None
    else None
)


def to_json(values: Mapping[str, Any] | None) -> str | None:
    """Canonical JSON of field values: sorted keys, dates as ISO strings."""
    if values is None:
        return None
    obj = values if type(values) is dict else dict(values)
    if _C_ENCODE is not None:
        return "".join(_C_ENCODE(obj, 0))
    return _ENCODER.encode(obj)


@dataclass(frozen=True, slots=True)
class Change:
    """One change to one record, before it becomes an audit row."""

    action: str  # INSERT, UPDATE or DELETE
    entity: str  # table name
    key: Mapping[str, Any]  # natural key (bundle key columns)
    old: Mapping[str, Any] | None
    new: Mapping[str, Any] | None


def row_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and the row's content fields, in a fixed order."""
    parts = [
        prev_hash,
        row["occurred_at"].astimezone(dt.UTC).isoformat(),
        row["actor"],
        row["role"],
        row["centre_code"] or "",
        row["action"],
        row["entity"],
        row["entity_key"],
        row["old_values"] or "",
        row["new_values"] or "",
        row["reason"] or "",
    ]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _lock_and_last_hash(session: Session) -> str:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK_KEY})
    last = session.execute(select(AuditEntry.row_hash).order_by(AuditEntry.id.desc()).limit(1)).scalar()
    return last or GENESIS_HASH


def record(session: Session, actor: Actor, changes: Iterable[Change], *, reason: str | None = None) -> int:
    """Append one audit row per change, chained to the last row; returns how many were written."""
    prev = _lock_and_last_hash(session)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for ch in changes:
        row = {
            "occurred_at": now,
            "actor": actor.username,
            "role": actor.role,
            "centre_code": actor.centre_code,
            "action": ch.action,
            "entity": ch.entity,
            "entity_key": to_json(ch.key) or "{}",
            "old_values": to_json(ch.old),
            "new_values": to_json(ch.new),
            "reason": reason,
        }
        row["prev_hash"] = prev
        row["row_hash"] = prev = row_hash(prev, row)
        rows.append(row)
    if rows:
        _append(session, rows, now)
    return len(rows)


_COLUMNS = (
    "occurred_at", "actor", "role", "centre_code", "action", "entity",
    "entity_key", "old_values", "new_values", "reason", "prev_hash", "row_hash",
)


def _append(session: Session, rows: list[dict[str, Any]], now: Any) -> None:
    """INSERT the rows with the driver's executemany.

    A bundle import appends a million rows; SQLAlchemy's per-row parameter processing cost
    more than the insert itself. Every column is text except `occurred_at`, which is the same
    for all rows and is converted once by its own column type, so the stored values are exactly
    those an ORM insert would store.
    """
    conn = session.connection()
    dialect = conn.dialect
    table = AuditEntry.__table__
    process = table.c.occurred_at.type.dialect_impl(dialect).bind_processor(dialect)
    stamp = process(now) if process else now
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in _COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(_COLUMNS))})"
    )
    values_of = operator.itemgetter(*_COLUMNS[1:])
    conn.exec_driver_sql(sql, [(stamp, *values_of(r)) for r in rows])


@dataclass(frozen=True, slots=True)
class ChainProblem:
    audit_id: int
    message: str


def verify_chain(session: Session, *, batch: int = 50_000) -> list[ChainProblem]:
    """Recompute every link; report each row whose hash or back-link does not match."""
    problems: list[ChainProblem] = []
    prev = GENESIS_HASH
    last_id = 0
    cols = (
        AuditEntry.id,
        AuditEntry.occurred_at,
        AuditEntry.actor,
        AuditEntry.role,
        AuditEntry.centre_code,
        AuditEntry.action,
        AuditEntry.entity,
        AuditEntry.entity_key,
        AuditEntry.old_values,
        AuditEntry.new_values,
        AuditEntry.reason,
        AuditEntry.prev_hash,
        AuditEntry.row_hash,
    )
    while True:
        chunk: Sequence[Any] = session.execute(
            select(*cols).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not chunk:
            break
        for r in chunk:
            m = r._mapping
            if m["prev_hash"] != prev:
                problems.append(
                    ChainProblem(r.id, f"audit row {r.id}: link to the previous row is broken (a row was deleted or altered)")
                )
            expected = row_hash(m["prev_hash"], m)
            if expected != m["row_hash"]:
                problems.append(ChainProblem(r.id, f"audit row {r.id}: content does not match its hash (altered)"))
            prev = m["row_hash"]
            last_id = r.id
    return problems
