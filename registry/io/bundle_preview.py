"""What a bundle would do, before it is imported: inserts and updates per file, changed fields.

Why a separate step: an upload replaces data of a whole centre; a data manager should see "12
visits updated (edss), 3 patients new" before committing, not after. The preview runs every
rule of the import (`services.plan_bulk` only reads) on a read-only connection, so it never
waits for or takes the write lock; the import itself validates again when committed.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from registry.security.access import Actor
from registry.io.bundle import BundleRejected, load_bundle, parse_bundle
from registry.db import session_scope
from registry.security.disclosure import csv_safe
from registry.services import ValidationFailed, plan_bulk
from registry.validation import ENTITIES, FieldError


@dataclass(frozen=True, slots=True)
class FilePreview:
    entity: str
    inserts: int
    updates: int
    unchanged: int
    changed_fields: dict[str, int]  # column -> records whose value changes


@dataclass(slots=True)
class Preview:
    files: list[FilePreview] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    sha256: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changes(self) -> int:
        return sum(f.inserts + f.updates for f in self.files)


def preview_bundle(reader: Engine, path: str | Path, actor: Actor) -> Preview:
    """Every error, or the plan's counts per file. Writes nothing.

    :raises AccessDenied: the bundle holds data of a centre the actor may not write
    """
    try:
        loaded = load_bundle(path)
    except BundleRejected as exc:
        return Preview(errors=exc.errors)
    records, errors = parse_bundle(loaded)
    errors = loaded.errors + errors
    out = Preview(sha256=loaded.sha256)
    with session_scope(reader) as session:
        try:
            plan = plan_bulk(session, actor, records)
        except ValidationFailed as exc:
            errors += exc.errors
            plan = None
    if errors or plan is None:
        out.errors = errors
        return out
    for entity in ENTITIES:
        if entity not in loaded.files:
            continue
        changed: Counter[str] = Counter()
        for u in plan.updates[entity]:
            changed.update(u.after.keys())
        out.files.append(FilePreview(entity, len(plan.inserts[entity]), len(plan.updates[entity]), plan.unchanged[entity], dict(changed)))
    return out


def errors_csv(errors: list[FieldError]) -> str:
    """The error list as CSV (file, line, column, value, message), for download."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "line", "column", "value", "message"])
    for e in errors:
        value = "" if e.value is None else str(e.value)
        w.writerow([csv_safe(e.file or f"{e.entity}.csv"), "" if e.line is None else e.line, csv_safe(e.column), csv_safe(value), csv_safe(e.message)])
    return buf.getvalue()
