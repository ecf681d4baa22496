"""HMAC-chained, append-only tables (`audit_log`, `access_log`): appending and verifying.

Each row's `row_hash` is HMAC-SHA-256, under the key its `key_id` names (registry.security.anchor),
over the previous row's hash, the key id, the row's position in the chain (`seq`) and its
content. Without the key nobody can compute a valid row, so forging, rewriting or reordering
rows is found; the witness (signed chain heads outside the database, written after every
commit) finds rows deleted from the end, an emptied table and an older copy put back.

Rows from before migration 0004 have no key (`key_id` NULL) and keep their plain SHA-256 link
(`registry.security.audit.row_hash`); they are accepted only *before* the first keyed row.

Appends are serialised per chain (PostgreSQL advisory lock; SQLite's BEGIN IMMEDIATE already
serialises writers). Always take the audit chain before the access chain in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session

from registry.security import anchor
from registry.security.anchor import AnchorError, Head, KeyMissing, KeyRing
from registry.models import AccessEvent, AuditEntry

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class ChainSpec:
    name: str
    model: Any
    content: tuple[str, ...]  # hashed columns after occurred_at, in order
    lock_key: int

    @property
    def table(self) -> Any:
        return self.model.__table__


AUDIT = ChainSpec(
    "audit",
    AuditEntry,
    ("actor", "role", "centre_code", "door", "os_account", "action", "entity", "entity_key", "old_values", "new_values", "reason"),
    7_412_019,
)
ACCESS = ChainSpec(
    "access",
    AccessEvent,
    ("actor", "role", "centre_code", "door", "os_account", "client", "event", "details"),
    7_412_020,
)
CHAINS = (AUDIT, ACCESS)


def _stamp(occurred: dt.datetime) -> str:
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=dt.UTC)
    return occurred.astimezone(dt.UTC).isoformat()


def link_message(spec: ChainSpec, prev_hash: str, key_id: str, seq: int, row: Mapping[str, Any], stamp: str | None = None) -> str:
    parts = [prev_hash, key_id, str(seq), stamp or _stamp(row["occurred_at"])]
    parts += [row[c] or "" for c in spec.content]
    return "\x1f".join(parts)


def link(spec: ChainSpec, secret: bytes, prev_hash: str, key_id: str, seq: int, row: Mapping[str, Any]) -> str:
    """The row's HMAC-SHA-256 link (see the module docstring and docs/audit.md)."""
    return anchor.mac(secret, link_message(spec, prev_hash, key_id, seq, row))


def _linker(spec: ChainSpec, secret: bytes, key_id: str, stamp: str) -> Callable[[str, int, Mapping[str, Any]], str]:
    """`link` for many rows under one key and one timestamp: the HMAC's key pads are computed
    once and copied (a million-row import would otherwise spend twice as long hashing)."""
    base = hmac.new(secret, digestmod=hashlib.sha256)
    content = spec.content

    def one(prev_hash: str, seq: int, row: Mapping[str, Any]) -> str:
        h = base.copy()
        h.update("\x1f".join([prev_hash, key_id, str(seq), stamp, *[row[c] or "" for c in content]]).encode("utf-8"))
        return h.hexdigest()

    return one


def url_of(bind: Any) -> str:
    engine = bind if isinstance(bind, Engine) else bind.engine
    return engine.url.render_as_string(hide_password=False)


# --------------------------------------------------------------------------------------------
# Appending.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LastRow:
    id: int
    hash: str
    seq: int | None
    key_id: str | None


def _last_row(session: Session, spec: ChainSpec) -> LastRow | None:
    t = spec.table
    r = session.execute(select(t.c.id, t.c.row_hash, t.c.seq, t.c.key_id).order_by(t.c.id.desc()).limit(1)).first()
    return None if r is None else LastRow(r.id, r.row_hash, r.seq, r.key_id)


def _any_keyed_row(session: Session) -> str | None:
    for spec in CHAINS:
        t = spec.table
        key = session.execute(select(t.c.key_id).where(t.c.key_id.is_not(None)).order_by(t.c.id.desc()).limit(1)).scalar()
        if key:
            return key
    return None


def ring_for_append(session: Session, last: LastRow | None, chain_name: str = "audit") -> KeyRing:
    """The key ring to sign with; created on the registry's first signed write.

    :raises KeyMissing: signed rows exist but the key file is gone (never silently re-keyed).
    :raises AnchorError: the key file lacks the key of the newest row (a wrong key file).
    """
    url = url_of(session.get_bind())
    path = anchor.key_path_for(url)
    ring = anchor.cached_ring(path)
    if ring is None:
        used = (last.key_id if last else None) or _any_keyed_row(session)
        if used:
            raise KeyMissing(
                f"audit key file {path} is missing, but the audit trail is signed with key {used}: "
                f"restore the key file from your key backup (see README, 'Audit trail'), or set "
                f"{anchor.KEY_DIR_ENV} to the folder that holds it. Nothing was written."
            )
        ring = anchor.create_ring(path)
    elif last is not None and last.key_id is not None and ring.get(last.key_id) is None:
        raise AnchorError(
            f"audit key file {path} does not hold key {last.key_id}, which signed the newest {chain_name} row: it is "
            f"the wrong key file (another registry's, or replaced). Restore the right one from your key backup. "
            f"Nothing was written."
        )
    return ring


def head_of(session: Session, spec: ChainSpec) -> Head:
    """The chain's newest row as a Head (id 0, 0 rows, the genesis hash when empty)."""
    last = _last_row(session, spec)
    if last is None:
        return Head(spec.name, 0, 0, GENESIS_HASH)
    rows = last.seq if last.seq is not None else int(session.execute(select(func.count()).select_from(spec.table)).scalar_one())
    return Head(spec.name, last.id, rows, last.hash)


def lock(session: Session, spec: ChainSpec) -> None:
    """Serialise appends to one chain until the transaction ends."""
    _lock(session, spec)


def _lock(session: Session, spec: ChainSpec) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": spec.lock_key})


def _position_after(session: Session, spec: ChainSpec, last: LastRow | None) -> int:
    if last is None:
        return 0
    if last.seq is not None:
        return last.seq
    t = spec.table  # the first signed row after unsigned ones: count them once
    return int(session.execute(select(func.count()).select_from(t)).scalar_one())


def append(session: Session, spec: ChainSpec, rows: Iterable[dict[str, Any]], now: dt.datetime) -> int:
    """Lock the chain, link the rows to its head, INSERT them; the witness line follows the commit.

    Each row needs `occurred_at` (== `now`) and the spec's content columns.
    """
    _lock(session, spec)
    last = _last_row(session, spec)
    ring = ring_for_append(session, last, spec.name)
    key = ring.current
    prev = last.hash if last else GENESIS_HASH
    seq = _position_after(session, spec, last)
    out: list[dict[str, Any]] = []
    one = _linker(spec, key.secret, key.key_id, _stamp(now))
    for row in rows:
        seq += 1
        row["key_id"] = key.key_id
        row["seq"] = seq
        row["prev_hash"] = prev
        row["row_hash"] = prev = one(prev, seq, row)
        out.append(row)
    if not out:
        return 0
    last_id = _insert(session, spec, out, now)
    if last_id is None:
        t = spec.table
        last_id = session.execute(select(t.c.id).where(t.c.row_hash == prev)).scalar_one()
    _pending(session)[spec.name] = (ring.path, anchor.witness_path_for(url_of(session.get_bind())), Head(spec.name, last_id, seq, prev))
    return len(out)


def _columns(spec: ChainSpec) -> tuple[str, ...]:
    return ("occurred_at", *spec.content, "key_id", "seq", "prev_hash", "row_hash")


def _insert(session: Session, spec: ChainSpec, rows: list[dict[str, Any]], now: dt.datetime) -> int | None:
    """INSERT with the driver's executemany; a single row (the usual service call) in one round
    trip with RETURNING, giving its id (else None: the caller looks the last id up).

    A bundle import appends a million rows; SQLAlchemy's per-row parameter processing cost
    more than the insert itself. `occurred_at` is the same for all rows and is converted once
    by its own column type, so the stored values are exactly those an ORM insert would store.
    """
    conn = session.connection()
    dialect = conn.dialect
    table = spec.table
    process = table.c.occurred_at.type.dialect_impl(dialect).bind_processor(dialect)
    stamp = process(now) if process else now
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    cols = _columns(spec)
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in cols)}) "
        f"VALUES ({', '.join([mark] * len(cols))})"
    )
    values_of = operator.itemgetter(*cols[1:])
    if len(rows) == 1:
        return int(conn.exec_driver_sql(sql + f" RETURNING {quote('id')}", (stamp, *values_of(rows[0]))).scalar_one())
    conn.exec_driver_sql(sql, [(stamp, *values_of(r)) for r in rows])
    return None


class BatchWriter:
    """Appends many rows to one chain in one transaction (a bundle import): the lock, the head
    and the key are read once, the links are computed in one tight loop, and the rows go in by
    batch (executemany with the constant columns written once into the statement; COPY on
    PostgreSQL). The rows and links are exactly those `append` would write, one call per row.

    A batch is rows that share every content column but `entity_key`, `old_values` and
    `new_values` (one action on one table by one actor with one reason). `finish()` registers
    the new head for the witness (written after the commit, as for `append`).
    """

    def __init__(self, session: Session, spec: ChainSpec, now: dt.datetime) -> None:
        _lock(session, spec)
        last = _last_row(session, spec)
        self.ring = ring_for_append(session, last, spec.name)
        key = self.ring.current
        self.session, self.spec, self.now = session, spec, now
        self.key_id = key.key_id
        self.prev = last.hash if last else GENESIS_HASH
        self.seq = _position_after(session, spec, last)
        self.written = 0
        self._mac = _hmac_sha256(key.secret)
        self._stamp = _stamp(now)
        conn = session.connection()
        self._pg = conn.dialect.name == "postgresql"
        process = spec.table.c.occurred_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        self._occurred = process(now) if process else now

    def link(self, constant: Mapping[str, Any], entity_keys: Sequence[str], old_values: Sequence[str | None],
             new_values: Sequence[str | None]) -> tuple[list[str], list[str], int]:
        """(prev_hash, row_hash) of each row and the first row's seq, for rows whose content is
        `constant` (every content column but the three per-row ones) and the row's JSON."""
        content = self.spec.content
        head = "\x1f".join([constant[c] or "" for c in content[: content.index("entity_key")]])
        reason = constant["reason"] or ""
        pre = f"\x1f{self.key_id}\x1f"
        mid = f"\x1f{self._stamp}\x1f{head}\x1f"
        base = self._mac
        prev = self.prev
        seq = first = self.seq + 1
        prevs: list[str] = []
        hashes: list[str] = []
        add_prev, add_hash = prevs.append, hashes.append
        for ek, old, new in zip(entity_keys, old_values, new_values, strict=True):
            add_prev(prev)
            h = base.copy()
            h.update(f"{prev}{pre}{seq}{mid}{ek}\x1f{old or ''}\x1f{new or ''}\x1f{reason}".encode())
            prev = h.hexdigest()
            add_hash(prev)
            seq += 1
        self.prev, self.seq = prev, seq - 1
        return prevs, hashes, first

    def insert(
        self,
        constant: Mapping[str, Any],
        entity_keys: Sequence[str] | Any,
        old_values: Sequence[str | None] | Any,
        new_values: Sequence[str | None] | Any,
        prevs: Sequence[str],
        hashes: Sequence[str],
        first_seq: int,
    ) -> None:
        """INSERT the linked rows (see `link`); the JSON columns as lists or pyarrow arrays."""
        n = len(hashes)
        if not n:
            return
        conn = self.session.connection()
        quote = conn.dialect.identifier_preparer.quote
        table = self.spec.table
        fixed = {"occurred_at": self._occurred, **{c: constant[c] for c in self.spec.content if c not in _PER_ROW}, "key_id": self.key_id}
        if self._pg:
            _copy_rows(conn, table.name, fixed, {"entity_key": entity_keys, "old_values": old_values, "new_values": new_values,
                                                 "seq": range(first_seq, first_seq + n), "prev_hash": prevs, "row_hash": hashes}, n)
        else:
            entity_keys, old_values, new_values = (v.to_pylist() if hasattr(v, "to_pylist") else v for v in (entity_keys, old_values, new_values))
            literals = {c: _sql_literal(v) for c, v in fixed.items()}
            names = [*literals, "entity_key", "old_values", "new_values", "seq", "prev_hash", "row_hash"]
            values = [*literals.values(), "?", "?", "?", "?", "?", "?"]
            sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in names)}) VALUES ({', '.join(values)})"
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(sql, zip(entity_keys, old_values, new_values, range(first_seq, first_seq + n), prevs, hashes, strict=True))
            finally:
                cursor.close()
        self.written += n

    def finish(self) -> None:
        """Register the new head for the witness line written after the commit."""
        if not self.written:
            return
        t = self.spec.table
        last_id = self.session.execute(select(t.c.id).where(t.c.row_hash == self.prev)).scalar_one()
        bind = self.session.get_bind()
        _pending(self.session)[self.spec.name] = (self.ring.path, anchor.witness_path_for(url_of(bind)), Head(self.spec.name, last_id, self.seq, self.prev))


_PER_ROW = frozenset({"entity_key", "old_values", "new_values"})


def _hmac_sha256(secret: bytes) -> Any:
    """An HMAC-SHA-256 state to `.copy()` per message: OpenSSL's own object where the build has
    it (its copy/update/hexdigest are C calls; `hmac.HMAC` wraps each in Python), else hmac's."""
    try:
        import _hashlib

        return _hashlib.hmac_new(secret, digestmod="sha256")
    except (ImportError, AttributeError, ValueError):
        return hmac.new(secret, digestmod=hashlib.sha256)


def _sql_literal(value: Any) -> str:
    """A constant as SQL text for SQLite (strings quoted, quotes doubled; never a NUL, which
    SQLite would cut the text at)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"no SQL literal for {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    if "\x00" in value:
        raise ValueError("a NUL character cannot be written as an SQL literal")
    return "'" + value.replace("'", "''") + "'"


def _copy_rows(conn: Any, table: str, fixed: Mapping[str, Any], columns: Mapping[str, Sequence[Any]], n: int) -> None:
    """PostgreSQL COPY of rows given as constant and per-row columns, on the session's own
    connection (same transaction), the CSV written by pyarrow (no Python per row)."""
    import pyarrow as pa

    from registry.db import copy_arrow

    data = {c: pa.repeat(pa.scalar(v, pa.string()) if isinstance(v, str) or v is None else v, n) for c, v in fixed.items()}
    for c, values in columns.items():
        data[c] = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, pa.int64() if c == "seq" else pa.string())
    copy_arrow(conn, table, data)


# The witness line of a transaction is written after its commit, never before: a rolled-back
# transaction must not leave a head the table never had. A crash between commit and write
# only leaves the witness one transaction behind.
_PENDING = "msreg_chain_pending"


def _pending(session: Session) -> dict[str, tuple[Path, Path, Head]]:
    return session.info.setdefault(_PENDING, {})


@event.listens_for(Session, "after_commit")
def _write_witness(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    for key_path, witness_path, head in pending.values():
        try:
            ring = anchor.cached_ring(key_path)
            if ring is not None:
                anchor.append_witness(witness_path, [anchor.sign(ring, anchor.checkpoint_body(head))])
        except (OSError, AnchorError) as exc:
            # The transaction is committed: failing now would tell the caller it was not. The
            # witness only lags; `msreg audit verify` reports it if rows are later cut.
            log.error("audit witness %s not updated after commit (%s): run `msreg audit checkpoint`", witness_path, exc)


@event.listens_for(Session, "after_rollback")
def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


# --------------------------------------------------------------------------------------------
# Verifying.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainProblem:
    audit_id: int | None
    message: str


@dataclass(slots=True)
class ChainReport:
    """What `verify_rows` found in one chain."""

    chain: str
    rows: int = 0
    head: Head | None = None
    keys_used: list[str] = field(default_factory=list)
    unsigned_rows: int = 0
    problems: list[ChainProblem] = field(default_factory=list)
    positions: dict[int, tuple[int, str]] = field(default_factory=dict)  # id -> (position, hash), for the witness


RowHash = Callable[[str, Mapping[str, Any]], str]


def verify_rows(
    spec: ChainSpec,
    rows: Iterable[Mapping[str, Any]],
    ring: KeyRing | None,
    *,
    legacy_hash: RowHash | None = None,
    wanted: set[int] | frozenset[int] = frozenset(),
) -> ChainReport:
    """Recompute every link of one chain (rows in id order). Pure: `msreg doctor` can reuse it."""
    report = ChainReport(spec.name)
    prev = GENESIS_HASH
    position = 0
    key_order = -1
    missing_keys: set[str] = set()
    failing_by_key: dict[str, list[int]] = {}
    rows_by_key: dict[str, int] = {}
    m: Mapping[str, Any] = {}
    for m in rows:
        rid = m["id"]
        position += 1
        if m["prev_hash"] != prev:
            report.problems.append(
                ChainProblem(rid, f"{spec.name} row {rid}: link to the previous row is broken (a row was deleted, altered or moved)")
            )
        key_id = m["key_id"]
        if key_id is None:
            report.unsigned_rows += 1
            if report.keys_used:
                report.problems.append(
                    ChainProblem(rid, f"{spec.name} row {rid}: unsigned row after signed ones (forged, or written without the key)")
                )
            elif legacy_hash is None or legacy_hash(m["prev_hash"], m) != m["row_hash"]:
                report.problems.append(ChainProblem(rid, f"{spec.name} row {rid}: content does not match its hash (altered)"))
        else:
            if key_id not in report.keys_used:
                report.keys_used.append(key_id)
            rows_by_key[key_id] = rows_by_key.get(key_id, 0) + 1
            key = ring.get(key_id) if ring else None
            if key is None:
                missing_keys.add(key_id)
            else:
                order = ring.order(key_id)  # type: ignore[union-attr]
                if order < key_order:
                    report.problems.append(
                        ChainProblem(rid, f"{spec.name} row {rid}: signed with retired key {key_id} after a newer key (forged or moved)")
                    )
                key_order = max(key_order, order)
                if m["seq"] != position:
                    report.problems.append(
                        ChainProblem(
                            rid,
                            f"{spec.name} row {rid}: position {m['seq']} where {position} was expected "
                            "(rows were deleted before it, or rows reordered)",
                        )
                    )
                if link(spec, key.secret, m["prev_hash"], key_id, m["seq"] if m["seq"] is not None else -1, m) != m["row_hash"]:
                    failing_by_key.setdefault(key_id, []).append(rid)
                    report.problems.append(ChainProblem(rid, f"{spec.name} row {rid}: content does not match its hash (altered)"))
        if rid in wanted:
            report.positions[rid] = (position, m["row_hash"])
        prev = m["row_hash"]
    report.rows = position
    if position:
        report.head = Head(spec.name, m["id"], position, m["row_hash"])
    for key_id in sorted(missing_keys):
        report.problems.append(
            ChainProblem(
                None,
                f"{spec.name}: {rows_by_key[key_id]} row(s) are signed with key {key_id}, which the key file "
                f"{ring.path if ring else '(none)'} does not hold: restore the key file from your key backup",
            )
        )
    for key_id, failing in failing_by_key.items():
        if len(failing) == rows_by_key[key_id] and len(failing) > 1:
            report.problems.append(
                ChainProblem(
                    None,
                    f"{spec.name}: every row signed with key {key_id} fails: the key file holds a different secret "
                    f"for {key_id} (a wrong or damaged key file), or all of them were rewritten",
                )
            )
    return report


def read_rows(session: Session, spec: ChainSpec, *, batch: int = 50_000) -> Iterable[Mapping[str, Any]]:
    t = spec.table
    cols = [t.c[c] for c in ("id", "occurred_at", *spec.content, "key_id", "seq", "prev_hash", "row_hash")]
    extra = [t.c[c] for c in ("action", "entity", "entity_key", "old_values", "new_values", "reason") if c in t.c and c not in spec.content]
    last_id = 0
    while True:
        chunk: Sequence[Any] = session.execute(select(*cols, *extra).where(t.c.id > last_id).order_by(t.c.id).limit(batch)).all()
        if not chunk:
            return
        for r in chunk:
            yield r._mapping
        last_id = chunk[-1].id


def witness_problems(
    spec: ChainSpec,
    report: ChainReport,
    lines: Iterable[anchor.WitnessLine],
    ring: KeyRing | None,
    *,
    source: str,
    report_unparsed: bool = True,
) -> anchor.WitnessFinding:
    """Compare signed heads (witness lines, or a notarised line) with what the table holds. Pure.

    Lines of other chains are skipped; lines that are not signed JSON are reported only when
    `report_unparsed` (once per file, not once per chain)."""
    finding = anchor.WitnessFinding()
    active: list[tuple[int, Mapping[str, Any]]] = []
    for line in lines:
        body = line.body
        if body is not None and body.get("chain") not in (spec.name, None):
            continue
        if body is None or "sig" not in body or body.get("chain") is None:
            if report_unparsed:
                finding.problems.append(f"{source} line {line.number}: not a signed checkpoint (the file was edited)")
            continue
        if ring is None or not anchor.signature_ok(ring, body):
            finding.problems.append(
                f"{source} line {line.number}: signature does not verify (edited, or signed with a key the key file does not hold)"
            )
            continue
        if body.get("type") == "restore":
            finding.restores += 1
            kept = [(n, c) for n, c in active if int(c["rows"]) <= int(body["rows"])]
            dropped = [c for _, c in active if int(c["rows"]) > int(body["rows"])]
            if dropped:
                most = max(int(c["rows"]) for c in dropped)
                finding.notes.append(
                    f"{spec.name}: a restore at {body.get('at')} (by {body.get('by', '?')}) put back a state of "
                    f"{body['rows']} rows; the {most - int(body['rows'])} newer row(s) witnessed before it were discarded"
                )
            active = kept
        active.append((line.number, body))
        finding.checkpoints += 1
    for number, c in active:
        last_id, rows, wanted_hash = int(c["last_id"]), int(c["rows"]), str(c["hash"])
        if rows == 0:
            continue  # an empty chain's head says nothing about later states
        found = report.positions.get(last_id)
        where = f"{source} line {number} ({c.get('at')})"
        if found is None:
            if report.rows < rows:
                finding.problems.append(
                    f"{spec.name}: {where} recorded {rows} rows up to id {last_id}; the table has {report.rows}: the newest "
                    "rows were deleted, the table emptied, or an older copy put back without `msreg restore`"
                )
            else:
                finding.problems.append(f"{spec.name}: {where} names row id {last_id}, which is missing (deleted or renumbered)")
        elif found[1] != wanted_hash:
            finding.problems.append(f"{spec.name}: row {last_id} differs from {where} (rewritten)")
        elif found[0] != rows:
            finding.problems.append(
                f"{spec.name}: row {last_id} is at position {found[0]}, {where} says {rows} (rows before it deleted or inserted)"
            )
    return finding
