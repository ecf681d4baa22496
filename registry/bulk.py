"""The streaming half of the services' bulk path: a bundle's checked chunks written as they come.

Why: `services.plan_bulk` / `apply_bulk` hold the whole bundle as Python records, which cost 7-10x
a bare SQL load of the same rows and gigabytes at 100,000 patients. Here each chunk of rows
(pyarrow columns, checked by `validation.check_columns`, the same rules as `parse_row` and
`check_record`) is written at once inside the import's one transaction: new rows with one
executemany per chunk on SQLite and COPY on PostgreSQL, their audit rows in batches whose
HMAC links are computed in one loop (`registry.security.chain.BatchWriter`; same rows, same
chain as one `audit.record` call per record). What needs the records of other chunks is left
to the database, which holds them by then:

- two rows with one key: the natural-key UNIQUE constraints refuse the second insert; a row
  that matches a stored record is compared with it (unchanged, or an update), and a second row
  for the same stored record is a duplicate;
- references: a patient's centre and a child's patient must be in the registry by the time
  the row is written (bundle order: centres, patients, then the children);
- each touched patient's history: after the last file, SQL finds every patient whose dates
  could break a rule of `validation.check_history` (a superset: the same comparisons over
  the union of stored and incoming rows), and `check_history` itself runs on those only.

Anything wrong, or anything this path does not word itself, raises `NeedsReport`: the caller
rolls the savepoint back and runs the exact in-memory path (`plan_bulk`), which reports every
error with its file and line exactly as before. So an accepted bundle is one that `plan_bulk`
accepts too, and a rejected one gets the same errors (tests/registry/test_bulk_import.py
compares the two paths on random bundles).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Date, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from registry.db import copy_arrow
from registry.io.bundle_stream import NeedsReport
from registry.models import Centre, Patient, utcnow
from registry.security import audit, chain
from registry.security.access import AccessDenied, Actor, require_write
from registry.services import (
    MODELS,
    Stored,
    _coded,
    _diff,
    _missing_json,
    _require_entity_write,
    _stored_value,
    _table,
    _value_columns,
    load_stored,
    new_study_id,
)
from registry.validation import (
    _DATED,
    _PATIENT_DATES,
    CHILD_ENTITIES,
    ENTITIES,
    BulkChunk,
    Record,
    check_history,
    key_of,
    spec_of,
)

LOOKUP = 5_000  # ids per IN (...) when reading stored rows
HISTORY_CACHE_KIB = 8_192  # SQLite page cache (and so sort memory) of the history query

# pyarrow initialises its compute kernels on the first call (about 0.3 CPU s): once, when this
# module is imported, like the imports themselves, not inside the first import.
pc.equal(pa.array([""]), "")


@dataclass(slots=True)
class StreamCounts:
    inserted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ENTITIES, 0))


class StreamWriter:
    """Writes one import's checked chunks, entity by entity in bundle order, then `finish()`."""

    def __init__(self, session: Session, actor: Actor, *, reason: str) -> None:
        self.session, self.actor, self.reason = session, actor, reason
        self.conn = session.connection()
        self.pg = self.conn.dialect.name == "postgresql"
        self.now = utcnow()
        self.counts = StreamCounts()
        self._audit: chain.BatchWriter | None = None
        self._allowed: set[str] = set()
        # ids at or above these were inserted by this import (read before it writes anything)
        self.first_new: dict[str, int] = {}
        for entity in ENTITIES:
            t = _table(entity)
            self.first_new[entity] = int(session.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar_one()) + 1
        self.updated_ids: dict[str, set[int]] = defaultdict(set)
        self.matched: dict[str, set[int]] = defaultdict(set)  # stored ids a row of this import matched
        self.touched: set[int] = set()  # patients with a new or changed record
        self.centres: dict[str, Stored] = {s.values["centre_code"]: s for s in load_stored(session, "centres")}
        self.centre_ids = {c: s.id for c, s in self.centres.items()}
        self._patients: dict[str, tuple[int, bool]] | None = None
        stamp_type = MODELS["centres"].__table__.c.created_at.type
        process = stamp_type.dialect_impl(self.conn.dialect).bind_processor(self.conn.dialect)
        self._stamp = process(self.now) if process else self.now

    # -----------------------------------------------------------------------------------------

    def write(self, entity: str, chunk: BulkChunk, rows: int) -> None:
        """Write one checked chunk (all its rows are valid), or raise NeedsReport."""
        if chunk.errors or rows == 0:
            if chunk.errors:
                raise NeedsReport("invalid values")
            return
        cols = chunk.columns
        codes = pc.unique(cols["centre_code"].typed).to_pylist()
        for code in codes:
            if code not in self._allowed:
                try:
                    require_write(self.actor, code)
                except AccessDenied:
                    raise NeedsReport("access") from None  # the exact path raises it, naming the centre
                self._allowed.add(code)
        if entity == "centres":
            parent = None
            stored_rows = self._match_centres(cols)
        elif entity == "patients":
            parent, stored_rows = self._match_patients(cols)
        else:
            parent, stored_rows = self._match_children(entity, cols)
        new_rows = [i for i in range(rows) if i not in stored_rows] if stored_rows else None
        if stored_rows:
            self._compare(entity, cols, stored_rows)
        self._insert(entity, cols, parent, rows, new_rows)

    def finish(self) -> StreamCounts:
        """Every touched patient's history; then the audit head for the witness."""
        self._patients = None  # the index is not needed any more: give its memory back first
        if self.counts.inserted["patients"]:
            self.touched.update(self.session.execute(select(Patient.id).where(Patient.id >= self.first_new["patients"])).scalars())
        flagged = self._history_suspects() & self.touched
        for pid in sorted(flagged):
            if self._history_errors(pid):
                raise NeedsReport("history")
        if self._audit is not None:
            self._audit.finish()
        return self.counts

    # -----------------------------------------------------------------------------------------
    # Matching rows with stored records

    def _match_centres(self, cols: Mapping[str, Any]) -> dict[int, Stored]:
        found: dict[int, Stored] = {}
        for i, code in enumerate(cols["centre_code"].typed.to_pylist()):
            s = self.centres.get(code)
            if s is not None:
                found[i] = s
            else:
                try:
                    _require_entity_write(self.actor, "centres", code, structural=True)
                except AccessDenied:
                    raise NeedsReport("access") from None
        codes = cols["centre_code"].typed.to_pylist()
        self._duplicates_of_found(cols, "centres", found, [(codes[i],) for i in found], list(found))
        return found

    def _match_patients(self, cols: Mapping[str, Any]) -> tuple[pa.Array, dict[int, Stored]]:
        centre_codes = cols["centre_code"].typed.to_pylist()
        ids = []
        for code in centre_codes:
            cid = self.centre_ids.get(code)
            if cid is None:
                raise NeedsReport("reference")
            ids.append(cid)
        parent = pa.array(ids, pa.int64())
        old = [i for i, code in enumerate(centre_codes) if self.centres.get(code) is not None]
        found: dict[int, Stored] = {}
        if old:
            pcodes = cols["patient_code"].typed.to_pylist()
            wanted: dict[tuple[str, str], int] = {}
            for i in old:
                wanted.setdefault((centre_codes[i], pcodes[i]), i)
            t = _table("patients")
            for part in _parts(sorted({pcodes[i] for i in old})):
                for s in load_stored(self.session, "patients", where=t.c.patient_code.in_(part)):
                    i = wanted.get((s.values["centre_code"], s.values["patient_code"]))
                    if i is not None:
                        found[i] = s
            self._duplicates_of_found(cols, "patients", found, [(centre_codes[i], pcodes[i]) for i in old], old)
        return parent, found

    def _match_children(self, entity: str, cols: Mapping[str, Any]) -> tuple[pa.Array, dict[int, Stored]]:
        index = self._patient_index()
        # validated text never holds a NUL, so centre NUL patient is one key per patient
        enc = pc.dictionary_encode(pc.binary_join_element_wise(cols["centre_code"].typed, cols["patient_code"].typed, "\x00"))
        hits = [index.get(k) for k in enc.dictionary.to_pylist()]
        if None in hits:
            raise NeedsReport("reference")
        parent = pa.array([h[0] for h in hits], pa.int64()).take(enc.indices)  # type: ignore[index]
        old_mask = pa.array([h[1] for h in hits], pa.bool_()).take(enc.indices)  # type: ignore[index]
        found: dict[int, Stored] = {}
        if pc.any(old_mask).as_py():
            old = pc.indices_nonzero(old_mask).to_pylist()
            pids = parent.to_pylist()
            spec = spec_of(entity)
            key_cols = [c for c in spec.key if c in cols]
            key_lists = {c: cols[c].typed.to_pylist() for c in key_cols}
            wanted: dict[tuple[Any, ...], int] = {}
            row_keys = []
            for i in old:
                k = tuple(key_lists[c][i] for c in spec.key)
                row_keys.append(k)
                wanted.setdefault(k, i)
            for part in _parts(sorted({pids[i] for i in old})):
                for s in load_stored(self.session, entity, patient_ids=part):
                    i = wanted.get(key_of(entity, s.values))
                    if i is not None:
                        found[i] = s
            self._duplicates_of_found(cols, entity, found, row_keys, old)
        return parent, found

    def _duplicates_of_found(self, cols: Mapping[str, Any], entity: str, found: dict[int, Stored], keys: list[Any], rows: list[int]) -> None:
        """A second row for a record already matched, or a record this import inserted: a duplicate."""
        if len(set(keys)) != len(keys):
            raise NeedsReport("duplicate")
        first_new, matched = self.first_new[entity], self.matched[entity]
        for s in found.values():
            if s.id >= first_new or s.id in matched:
                raise NeedsReport("duplicate")
            matched.add(s.id)

    def _patient_index(self) -> dict[str, tuple[int, bool]]:
        """centre NUL patient code -> (patient id, whether it was there before the import)."""
        if self._patients is None:
            p, c = _table("patients"), _table("centres")
            rows = self.session.execute(select(c.c.centre_code, p.c.patient_code, p.c.id).join(c, p.c.centre_id == c.c.id))
            first = self.first_new["patients"]
            self._patients = {f"{cc}\x00{pc_}": (pid, pid < first) for cc, pc_, pid in rows}
        return self._patients

    # -----------------------------------------------------------------------------------------
    # Updates of stored records (a re-import): per record, as `plan_bulk` decides them

    def _compare(self, entity: str, cols: Mapping[str, Any], found: Mapping[int, Stored]) -> None:
        spec = spec_of(entity)
        names = list(cols)
        lists = {}
        for n in names:
            c = cols[n]
            vals = c.typed.to_pylist()
            if c.codes is not None and c.codes.null_count < len(c.codes):
                vals = [cd if cd is not None else v for v, cd in zip(vals, c.codes.to_pylist(), strict=True)]
            lists[n] = vals
        updates = []
        for i, old in found.items():
            incoming = {n: lists[n][i] for n in names}
            merged = dict(old.values)
            merged.update(incoming)
            before, after = _diff(entity, old.values, merged)
            if after:
                updates.append((old, merged, before, after))
            else:
                self.counts.unchanged[entity] += 1
        if not updates:
            return
        table = _table(entity)
        vcols = _value_columns(entity)
        coded = bool(_coded(entity))
        from sqlalchemy import update as sa_update

        stmt = (
            sa_update(table)
            .where(table.c.id == bindparam("_id"), table.c.version == bindparam("_version"))
            .values({n: bindparam(n) for n in vcols} | {"version": bindparam("_new_version"), "updated_at": bindparam("_now")}
                    | ({"missing_codes": bindparam("_missing_codes")} if coded else {}))
        )
        params = [
            {n: _stored_value(entity, n, merged[n]) for n in vcols}
            | {"_id": old.id, "_version": old.version, "_new_version": old.version + 1, "_now": self.now}
            | ({"_missing_codes": _missing_json(entity, merged)} if coded else {})
            for old, merged, _b, _a in updates
        ]
        result = self.conn.execute(stmt, params)
        if self.conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(params):
            raise NeedsReport("stale")  # the exact path raises StaleRecord or finds the change
        eks = [audit.to_json({k: old.values[k] for k in spec.key}) or "{}" for old, _m, _b, _a in updates]
        olds = [audit.to_json(before) for _o, _m, before, _a in updates]
        news = [audit.to_json(after) for _o, _m, _b, after in updates]
        self._audit_rows("UPDATE", spec.table, eks, olds, news)
        ids = self.updated_ids[entity]
        for old, merged, _b, _a in updates:
            ids.add(old.id)
            if entity == "patients":
                self.touched.add(old.id)
            elif entity != "centres":
                self.touched.add(old.parent_id)  # type: ignore[arg-type]
        self.counts.updated[entity] += len(updates)

    # -----------------------------------------------------------------------------------------
    # Inserts: the chunk's new rows and their audit rows, column by column

    def _insert(self, entity: str, cols: Mapping[str, Any], parent: pa.Array | None, rows: int, new_rows: list[int] | None) -> None:
        if new_rows is not None:
            if not new_rows:
                return
            take = pa.array(new_rows, pa.int64())
            cols = {n: _take(c, take) for n, c in cols.items()}
            parent = parent.take(take) if parent is not None else None
            rows = len(new_rows)
        spec = spec_of(entity)
        vcols = _value_columns(entity)
        coded = _coded(entity)
        db_cols: dict[str, Any] = {}
        for n in vcols:
            c = cols.get(n)
            db_cols[n] = (c.typed if self.pg else c.sqlite) if c is not None else None
        if coded:
            db_cols["missing_codes"] = self._missing_codes(cols, coded, rows)
        study: list[str] | None = None
        if entity == "patients":
            db_cols["centre_id"] = parent
            study = [new_study_id() for _ in range(rows)]
            db_cols["study_id"] = pa.array(study, pa.string())
        elif entity != "centres":
            db_cols["patient_id"] = parent
        self._write_rows(_table(entity).name, db_cols, rows)
        # audit rows: the record's key and every column (in bundle terms) as canonical JSON
        frag = {n: (cols[n].json if n in cols else pa.array(["null"] * rows, pa.string())) for n in spec.column_names}
        if study is not None:
            frag["study_id"] = pa.array([f'"{s}"' for s in study], pa.string())
        keys = _json_objects({k: frag[k] for k in spec.key})
        values = _json_objects(frag)
        self._audit_rows("INSERT", spec.table, keys, pa.nulls(rows, pa.string()), values)
        if entity == "centres":
            self.centre_ids.update({c: i for c, i in self.session.execute(select(Centre.centre_code, Centre.id))})
        elif entity == "patients":
            self._patients = None
        else:
            self.touched.update(pc.unique(parent).to_pylist())  # type: ignore[union-attr]
        self.counts.inserted[entity] += rows

    def _missing_codes(self, cols: Mapping[str, Any], coded: Sequence[str], rows: int) -> Any:
        present = [n for n in coded if n in cols and cols[n].codes is not None and cols[n].codes.null_count < rows]
        if not present:
            return None
        lists = {n: cols[n].codes.to_pylist() for n in present}
        out = []
        for i in range(rows):
            found = {n: lists[n][i] for n in present if lists[n][i] is not None}
            out.append(audit.to_json(found) if found else None)
        return pa.array(out, pa.string())

    def _write_rows(self, table: str, cols: Mapping[str, Any], rows: int) -> None:
        """One executemany (SQLite) or COPY (PostgreSQL) of the rows; None columns are NULL."""
        stamp = self._stamp
        names = [n for n, c in cols.items() if c is not None]
        quote = self.conn.dialect.identifier_preparer.quote
        try:
            if self.pg:
                stamp_text = str(stamp)  # naive UTC, as the column type binds it
                copy_arrow(self.conn, table, {**{n: cols[n] for n in names}, "created_at": pa.repeat(stamp_text, rows),
                                              "updated_at": pa.repeat(stamp_text, rows), "version": pa.repeat(1, rows)})
            else:
                lit = chain._sql_literal(stamp) if isinstance(stamp, str) else None
                if lit is None:
                    raise TypeError("SQLite timestamps are bound as text")
                sql = (f"INSERT INTO {quote(table)} ({', '.join(quote(n) for n in [*names, 'created_at', 'updated_at', 'version'])}) "
                       f"VALUES ({', '.join(['?'] * len(names))}, {lit}, {lit}, 1)")
                lists = [cols[n].to_pylist() for n in names]
                cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    cursor.executemany(sql, zip(*lists, strict=True))
                finally:
                    cursor.close()
        except sqlite3.Error as exc:  # a duplicate key (or a concurrent writer): the exact path words it
            raise NeedsReport(str(exc)) from None
        except DBAPIError as exc:
            raise NeedsReport(str(exc.orig)) from None
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg"):
                raise NeedsReport(str(exc)) from None
            raise

    def _audit_rows(self, action: str, table: str, eks: Any, olds: Any, news: Any) -> None:
        """Audit rows of one batch: one action on one table, the rows' key, old and new JSON
        (lists, or pyarrow arrays that COPY takes as they are)."""
        if self._audit is None:
            self._audit = chain.BatchWriter(self.session, chain.AUDIT, self.now)
        who = audit.actor_columns(self.actor)
        constant = {**who, "action": action, "entity": table, "reason": self.reason}
        lists = [v.to_pylist() if hasattr(v, "to_pylist") else v for v in (eks, olds, news)]
        prevs, hashes, first = self._audit.link(constant, *lists)
        self._audit.insert(constant, *((v if self.pg else py) for v, py in zip((eks, olds, news), lists, strict=True)), prevs, hashes, first)

    # -----------------------------------------------------------------------------------------
    # History: SQL finds the patients whose dates could break a rule; check_history decides

    def _history_suspects(self) -> set[int]:
        if not self.touched:
            return set()
        pg = self.pg
        year = (lambda c: f"EXTRACT(YEAR FROM {c})") if pg else (lambda c: f"CAST(substr({c}, 1, 4) AS INTEGER)")
        parts = [f"SELECT id AS pid, {c} AS d, 0 AS death FROM patients WHERE {c} IS NOT NULL" for c, _ in _PATIENT_DATES]
        for entity, dated in _DATED.items():
            t = spec_of(entity).table
            for c, _label in dated:
                parts.append(f"SELECT patient_id, {c}, {1 if entity == 'deaths' else 0} FROM {t} WHERE {c} IS NOT NULL")
        dates = " UNION ALL ".join(parts)
        sql = f"""
            WITH dates(pid, d, death) AS ({dates}),
            agg AS (SELECT pid, MIN(d) AS first_d, MAX(CASE WHEN death = 0 THEN d END) AS last_d FROM dates GROUP BY pid),
            tx AS (SELECT patient_id AS pid, MIN(transplant_date) AS first_tx, MAX(transplant_number) AS max_n,
                          COUNT(*) AS n FROM transplants GROUP BY patient_id)
            SELECT p.id FROM patients p
            LEFT JOIN agg ON agg.pid = p.id LEFT JOIN tx ON tx.pid = p.id LEFT JOIN deaths de ON de.patient_id = p.id
            WHERE {year('agg.first_d')} < p.birth_year OR agg.last_d > de.death_date
               OR p.ms_onset_date > tx.first_tx OR p.ms_diagnosis_date > tx.first_tx
               OR de.death_date < tx.first_tx OR tx.max_n <> tx.n
            UNION
            SELECT patient_id FROM (SELECT patient_id, transplant_date, LAG(transplant_date) OVER
                (PARTITION BY patient_id ORDER BY transplant_number) AS prev FROM transplants) t WHERE prev >= transplant_date
            UNION
            SELECT patient_id FROM (SELECT patient_id, start_date, MAX(COALESCE(stop_date, :far)) OVER
                (PARTITION BY patient_id, drug ORDER BY start_date ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
                FROM treatments) t WHERE reach > start_date
        """
        stmt = text(sql).bindparams(bindparam("far", dt.date(9999, 12, 31), type_=Date()))
        if self.pg:
            return set(self.session.execute(stmt).scalars())
        # SQLite sorts in memory up to the page cache's size before it spills to a temporary
        # file: a small cache for this one query keeps the import's memory where it was
        old = self.conn.exec_driver_sql("PRAGMA cache_size").scalar()
        self.conn.exec_driver_sql(f"PRAGMA cache_size = -{HISTORY_CACHE_KIB}")
        try:
            return set(self.session.execute(stmt).scalars())
        finally:
            self.conn.exec_driver_sql(f"PRAGMA cache_size = {int(old)}")

    def _history_errors(self, pid: int) -> bool:
        """`check_history` of one patient over its stored records, new = written by this import."""
        patient = load_stored(self.session, "patients", patient_ids=[pid])
        if not patient:
            return False

        def is_new(entity: str, s: Stored) -> bool:
            return s.id >= self.first_new[entity] or s.id in self.updated_ids[entity]

        p = patient[0]
        children = [Record(e, s.values, new=is_new(e, s)) for e in CHILD_ENTITIES for s in load_stored(self.session, e, patient_ids=[pid])]
        return bool(check_history(Record("patients", p.values, new=is_new("patients", p)), children))


def _take(col: Any, idx: pa.Array) -> Any:
    from registry.validation import BulkColumn

    return BulkColumn(col.typed.take(idx), col.json.take(idx), col.sqlite.take(idx), None if col.codes is None else col.codes.take(idx))


def _json_objects(fragments: Mapping[str, Any]) -> Any:
    """Canonical JSON objects (sorted keys, no spaces) from per-column JSON fragments: the text
    `audit.to_json` gives for each row's values (tests/registry/test_bulk_validation.py)."""
    parts: list[Any] = []
    for i, name in enumerate(sorted(fragments)):
        parts += [("{" if i == 0 else ",") + audit.to_json({name: 0})[1:-2], fragments[name]]  # type: ignore[index]
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")


def _parts(items: Sequence[Any], size: int = LOOKUP) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


__all__ = ["NeedsReport", "StreamCounts", "StreamWriter"]
