"""The audit trail: one append-only, HMAC-chained row per insert, update or delete.

Each row's `row_hash` is HMAC-SHA-256 (key outside the database, registry.security.anchor) over the
previous row's hash, its position and its canonical content, so changing, deleting, forging or
moving any row breaks the chain (`verify_chain`); the witness file catches rows cut from the
end. Linking, locking and the witness live in `registry.security.chain`, shared with the access log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from registry.security import anchor, chain
from registry.security.access import Actor
from registry.security.chain import GENESIS_HASH, ChainProblem
from registry.models import utcnow

__all__ = ["GENESIS_HASH", "Change", "ChainProblem", "record", "row_hash", "to_json", "verify_chain"]


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
    """The unsigned link of rows written before migration 0004: SHA-256 over the previous hash
    and the row's content fields. Anyone can recompute it, so it is accepted only for rows
    *before* the first signed one (registry.security.chain)."""
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


def actor_columns(actor: Actor) -> dict[str, Any]:
    """Who acted and through which door, as stored on every audit and access row."""
    return {
        "actor": actor.username[:64],
        "role": actor.role,
        "centre_code": actor.centre_code,
        "door": actor.door,
        "os_account": actor.os_account,
    }


def record(session: Session, actor: Actor, changes: Iterable[Change], *, reason: str | None = None) -> int:
    """Append one audit row per change, HMAC-linked to the chain's head; returns how many.

    :raises registry.security.anchor.AnchorError: the key file is missing or wrong (nothing written).
    """
    now = utcnow()
    who = actor_columns(actor)
    rows = (
        {
            "occurred_at": now,
            **who,
            "action": ch.action,
            "entity": ch.entity,
            "entity_key": to_json(ch.key) or "{}",
            "old_values": to_json(ch.old),
            "new_values": to_json(ch.new),
            "reason": reason,
        }
        for ch in changes
    )
    return chain.append(session, chain.AUDIT, rows, now)


def verify_chain(session: Session, *, batch: int = 50_000) -> list[ChainProblem]:
    """Recompute every link of the audit chain with the registry's key ring; each problem
    names its row. (Witness and access chain too: `registry.security.audit_verify.verify_registry`.)"""
    ring = ring_or_none(chain.url_of(session.get_bind()))
    report = chain.verify_rows(chain.AUDIT, chain.read_rows(session, chain.AUDIT, batch=batch), ring, legacy_hash=row_hash)
    return report.problems


def ring_or_none(url: str) -> anchor.KeyRing | None:
    try:
        return anchor.read_ring(anchor.key_path_for(url))
    except anchor.KeyMissing:
        return None
