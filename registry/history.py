"""A record's history from the audit trail: who changed what, when, old -> new, and why.

Why here and not in the pages: the audit trail stores each change under the record's key at the
time (a corrected visit date moves the key), so following one record through its changes is a
rule of its own: start from the current key and walk back through the updates that produced it.
Access is the services' read rule: only users who may see the record's patient codes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.security.access import AccessDenied, Actor, can_read_centre, sees_patient_codes
from registry.security.audit import to_json
from registry.models import AuditEntry
from registry.validation import spec_of


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    occurred_at: dt.datetime
    actor: str
    role: str
    action: str  # INSERT, UPDATE, DELETE
    old: dict[str, Any]
    new: dict[str, Any]
    reason: str | None

    def changed_fields(self) -> list[str]:
        return sorted(set(self.old) | set(self.new))


def _key_json(entity: str, key: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(to_json({k: key[k] for k in spec_of(entity).key}) or "{}")


def record_history(session: Session, actor: Actor, entity: str, key: Mapping[str, Any]) -> list[HistoryEntry]:
    """Every audit row of one record, oldest first, following key changes back in time.

    :raises AccessDenied: the actor may not see this centre's identifiable records
    """
    spec = spec_of(entity)
    centre = key.get("centre_code")
    if not sees_patient_codes(actor) or (centre is not None and not can_read_centre(actor, centre)):
        raise AccessDenied(f"user {actor.username!r} (role {actor.role}) may not read the history of this record")
    current = _key_json(entity, key)
    # Rows of this entity that mention the record's centre (and patient): a cheap narrowing;
    # the exact key is followed below.
    stmt = select(AuditEntry).where(AuditEntry.entity == spec.table)
    if centre is not None:
        stmt = stmt.where(AuditEntry.entity_key.contains(f'"centre_code":{json.dumps(centre)}'))
    if "patient_code" in key and entity != "centres":
        stmt = stmt.where(AuditEntry.entity_key.contains(f'"patient_code":{json.dumps(key["patient_code"])}'))
    rows = session.execute(stmt.order_by(AuditEntry.id.desc())).scalars().all()
    out: list[HistoryEntry] = []
    target = current
    for row in rows:  # newest first
        row_key = json.loads(row.entity_key)
        new = json.loads(row.new_values) if row.new_values else {}
        old = json.loads(row.old_values) if row.old_values else {}
        if row.action == "UPDATE":
            after_key = {k: new.get(k, row_key.get(k)) for k in row_key}
            if after_key != target:
                continue
            target = row_key  # before this update the record had the old key
        elif row_key != target:
            continue
        out.append(HistoryEntry(row.occurred_at, row.actor, row.role, row.action, old, new, row.reason))
        if row.action == "INSERT":
            break
    out.reverse()
    return out
