"""A read-only snapshot of the registry in an in-memory DuckDB database.

Why a snapshot: endpoints are window functions and as-of joins over every visit of every
patient; DuckDB computes them in well under a second for the world's whole AHSCT-for-MS cohort,
while the registry database (SQLite or PostgreSQL) stays the single place that is written.
The registry tables are read with SQLAlchemy Core into Arrow tables and registered in DuckDB;
no DuckDB extension (sqlite_scanner, postgres_scanner) is used, because those download at run
time (docs/architecture.md).

Reuse: `load_snapshot` keeps recent snapshots and returns the same object while the registry's
data version is unchanged. The data version is checked with one cheap query: the head of the
append-only audit chain (id and hash) and a change counter that database triggers move on
every write to a data table, which also catches writes that bypass the services (bulk loads,
restores, tests inserting through the ORM). Both are primary-key look-ups: O(1).

Scope: a centre user's snapshot holds only their centre's rows. Actors who may not see patient
codes (governance, researcher: `registry.security.access.sees_patient_codes`) get the code column
blanked, so nothing downstream can show it by mistake.

Threads: one DuckDB connection must not be used by two threads at once; callers take
`snapshot.cursor()` (a new connection to the same in-memory database) per thread.
"""

from __future__ import annotations

import gc
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb
import pandas as pd
import pyarrow as pa
from sqlalchemy import Engine, Select, String, cast, null, select
from sqlalchemy.sql.elements import ColumnElement

from analytics import arrow_reader
from registry import models
from registry.security.access import Actor, sees_patient_codes

T = TypeVar("T")
_MEMO_SIZE = 16  # derived results kept per snapshot (e.g. endpoints for 16 settings)

# The columns analytics need, table by table, with their Arrow types. Bookkeeping columns
# (created_at, version, …) and free text are left out: the snapshot carries only what the
# endpoints and the data-quality report use.
SNAPSHOT_SCHEMA: dict[str, pa.Schema] = {
    "centres": pa.schema([("id", pa.int64()), ("centre_code", pa.string()), ("name", pa.string()), ("country", pa.string())]),
    "patients": pa.schema(
        [
            ("id", pa.int64()),
            ("centre_id", pa.int64()),
            ("patient_code", pa.string()),
            ("study_id", pa.string()),
            ("sex", pa.string()),
            ("birth_year", pa.int64()),
            ("ms_onset_date", pa.date32()),
            ("ms_diagnosis_date", pa.date32()),
            ("last_contact_date", pa.date32()),
            ("followup_status", pa.string()),
            ("followup_status_date", pa.date32()),
        ]
    ),
    "transplants": pa.schema(
        [
            ("id", pa.int64()),
            ("patient_id", pa.int64()),
            ("transplant_number", pa.int64()),
            ("transplant_date", pa.date32()),
            ("phenotype", pa.string()),
            ("baseline_edss", pa.float64()),
            ("baseline_edss_date", pa.date32()),
            ("relapses_12m", pa.int64()),
            ("relapses_24m", pa.int64()),
            ("gd_lesions_baseline", pa.int64()),
            ("prior_dmt_count", pa.int64()),
            ("mobilisation", pa.string()),
            ("conditioning", pa.string()),
            ("conditioning_intensity", pa.string()),
            ("cd34_selection", pa.bool_()),
            ("neutrophil_engraftment_date", pa.date32()),
            ("platelet_engraftment_date", pa.date32()),
            ("hospital_days", pa.int64()),
            ("atg_given", pa.bool_()),
            ("cd34_dose", pa.float64()),
            ("missing_codes", pa.string()),  # NE/UNK of optional fields, JSON (the fields are NULL)
        ]
    ),
    "visits": pa.schema([("id", pa.int64()), ("patient_id", pa.int64()), ("visit_date", pa.date32()), ("edss", pa.float64())]),
    "relapses": pa.schema(
        [
            ("id", pa.int64()),
            ("patient_id", pa.int64()),
            ("onset_date", pa.date32()),
            ("severity", pa.string()),
            ("steroids", pa.bool_()),
            ("recovery", pa.string()),
        ]
    ),
    "mri_scans": pa.schema(
        [
            ("id", pa.int64()),
            ("patient_id", pa.int64()),
            ("scan_date", pa.date32()),
            ("new_t2", pa.int64()),
            ("gd_enhancing", pa.int64()),
            ("t2_lesions_total", pa.int64()),
            ("spinal_cord_involvement", pa.bool_()),
            ("brainstem_involvement", pa.bool_()),
        ]
    ),
    "adverse_events": pa.schema(
        [
            ("id", pa.int64()),
            ("patient_id", pa.int64()),
            ("onset_date", pa.date32()),
            ("category", pa.string()),
            ("grade", pa.int64()),
            ("serious", pa.bool_()),
        ]
    ),
    "deaths": pa.schema([("id", pa.int64()), ("patient_id", pa.int64()), ("death_date", pa.date32()), ("cause", pa.string())]),
    "treatments": pa.schema(
        [
            ("id", pa.int64()),
            ("patient_id", pa.int64()),
            ("drug", pa.string()),
            ("start_date", pa.date32()),
            ("stop_date", pa.date32()),
            ("stop_reason", pa.string()),
        ]
    ),
}

_MODELS: dict[str, type[models.Base]] = {
    "centres": models.Centre,
    "patients": models.Patient,
    "transplants": models.Transplant,
    "visits": models.Visit,
    "relapses": models.Relapse,
    "mri_scans": models.MriScan,
    "adverse_events": models.AdverseEvent,
    "deaths": models.Death,
    "treatments": models.Treatment,
}


@dataclass(frozen=True, slots=True)
class Scope:
    """Which rows and columns a snapshot holds: one centre or all; patient codes or not."""

    centre_code: str | None = None
    patient_codes: bool = True

    @classmethod
    def for_actor(cls, actor: Actor | None) -> Scope:
        if actor is None:
            return cls()
        return cls(
            centre_code=actor.centre_code if actor.role == "centre" else None,
            patient_codes=sees_patient_codes(actor),
        )


@dataclass(eq=False)
class Snapshot:
    """The registry's tables, as of `data_version`, in an in-memory DuckDB database.

    Read-only by convention: nothing in `analytics` writes to it. `cached(key, fn)` memoises
    derived results (endpoints per settings) for the snapshot's lifetime, which is exactly as
    long as they are valid.
    """

    con: duckdb.DuckDBPyConnection
    data_version: str
    scope: Scope = field(default_factory=Scope)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _memo: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own to the snapshot's database: take one per thread."""
        with self._lock:
            return self.con.cursor()

    def table(self, name: str) -> pd.DataFrame:
        """One registry table as a DataFrame (small conveniences for reports and tests)."""
        if name not in SNAPSHOT_SCHEMA:
            raise KeyError(f"no table {name!r} in the snapshot; tables: {', '.join(SNAPSHOT_SCHEMA)}")
        return self.cursor().sql(f"SELECT * FROM {name}").df()

    def cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` once per key for this snapshot; concurrent callers may both compute."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            stored = self._memo.setdefault(key, value)
            while len(self._memo) > _MEMO_SIZE:  # a user trying many settings: forget the oldest
                self._memo.pop(next(iter(self._memo)))
            return stored  # type: ignore[no-any-return]

    @classmethod
    def from_tables(
        cls,
        tables: Mapping[str, pa.Table | pd.DataFrame],
        *,
        data_version: str = "in-memory",
        scope: Scope | None = None,
    ) -> Snapshot:
        """A snapshot built from Arrow tables or DataFrames (tests, benchmarks, what-if copies).

        Missing tables are empty and missing columns are NULL, so a test states only what it is
        about. Columns are cast to `SNAPSHOT_SCHEMA`.

        :raises KeyError: for an unknown table name.
        """
        unknown = sorted(set(tables) - set(SNAPSHOT_SCHEMA))
        if unknown:
            raise KeyError(f"unknown table(s) {', '.join(unknown)}; tables: {', '.join(SNAPSHOT_SCHEMA)}")
        arrow = {name: _conform(tables.get(name), schema) for name, schema in SNAPSHOT_SCHEMA.items()}
        return cls(con=_register(arrow), data_version=data_version, scope=scope or Scope())


def _conform(data: pa.Table | pd.DataFrame | None, schema: pa.Schema) -> pa.Table:
    if data is None:
        return schema.empty_table()
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    columns = []
    for fld in schema:
        if fld.name in data.column_names:
            columns.append(data.column(fld.name).cast(fld.type))
        else:
            columns.append(pa.nulls(data.num_rows, fld.type))
    return pa.Table.from_arrays(columns, schema=schema)


def _register(tables: Mapping[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    """Copy the Arrow tables into DuckDB tables (copying frees the snapshot from the Arrow
    buffers' lifetime and lets DuckDB keep statistics for its joins)."""
    con = duckdb.connect(":memory:")
    # Never plan a join as a nested loop because of a (badly) underestimated row count: on a
    # large cohort that is quadratic. Hash joins cost next to nothing on small inputs.
    con.execute("SET GLOBAL nested_loop_join_threshold = 0")
    con.execute("SET GLOBAL asof_loop_join_threshold = 0")
    for name, table in tables.items():
        con.register("_arrow_in", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _arrow_in")
        con.unregister("_arrow_in")
    return con


# ---------------------------------------------------------------------------------------------
# Reading the registry


def data_version(engine: Engine) -> str:
    """The registry's data version: one string, the same in the dashboard, CLI and exports.

    O(1) whatever the registry's size: two primary-key look-ups in one query, the change
    counter that triggers move on every write to a data table (`models.DataVersion`, from any
    door: services, imports, restores, scripts) and the head of the audit chain (id and hash).
    Returned as `audit-<last audit id>:<digest>`; the digest covers the counter and the head's
    hash, so that a registry restored from an older backup and written to again does not repeat
    an earlier version. It carries no timestamp, so outputs may quote it as it is.
    """
    audit = models.AuditEntry
    counter = models.DataVersion
    head = select(audit.id, audit.row_hash).order_by(audit.id.desc()).limit(1).subquery()
    stmt = select(
        select(counter.counter).where(counter.id == 1).scalar_subquery(),
        select(head.c.id).scalar_subquery(),
        select(head.c.row_hash).scalar_subquery(),
    )
    with engine.connect() as conn:
        changes, head_id, head_hash = conn.execute(stmt).one()
    digest = hashlib.sha256(f"{changes or 0}|{head_hash or ''}".encode()).hexdigest()[:16]
    return f"audit-{head_id or 0}:{digest}"


def read_tables(engine: Engine, scope: Scope | None = None) -> dict[str, pa.Table]:
    """The snapshot tables read from the registry, as Arrow tables.

    The queries are SQLAlchemy Core statements compiled for the engine's dialect and run
    through the Arrow ADBC drivers (`analytics.arrow_reader`), which return Arrow columns
    without a Python object per value; the columns are cast to `SNAPSHOT_SCHEMA` (SQLite's
    ISO-text dates and 0/1 booleans included). An in-memory SQLite database, which no second
    driver can open, is read through the engine's DB-API cursor as tuples instead.

    All tables are read in one read-only transaction, so they are consistent with each other:
    on SQLite a deferred BEGIN (under WAL a read snapshot that never blocks writers, unlike the
    application's BEGIN IMMEDIATE), on PostgreSQL REPEATABLE READ, READ ONLY. Patient codes
    that the scope may not see are not even selected.
    """
    scope = scope or Scope()
    statements = [(name, _select_for(name, schema, scope), schema) for name, schema in SNAPSHOT_SCHEMA.items()]
    if arrow_reader.supports(engine):
        return arrow_reader.fetch_all(engine, statements)
    # An in-memory SQLite database (tests) is visible only through the engine's own connection.
    sqlite = engine.dialect.name == "sqlite"
    out: dict[str, pa.Table] = {}
    with _read_cursor(engine) as cursor, _gc_paused():
        for name, stmt, schema in statements:
            compiled = stmt.compile(dialect=engine.dialect)
            params: Any = (
                tuple(compiled.params[key] for key in compiled.positiontup or ())
                if compiled.positional
                else compiled.params
            )
            cursor.execute(str(compiled), params)
            out[name] = _to_arrow(cursor.fetchall(), schema, dates_as_text=sqlite)
    return out


def _select_for(name: str, schema: pa.Schema, scope: Scope) -> Select[Any]:
    """The snapshot query of one table: its schema's columns, in id order, within the scope."""
    table = _MODELS[name].__table__  # type: ignore[attr-defined]
    cols: list[ColumnElement[Any]] = []
    for fld in schema:
        if name == "patients" and fld.name == "patient_code" and not scope.patient_codes:
            cols.append(cast(null(), String).label(fld.name))
        else:
            cols.append(table.c[fld.name])
    stmt = select(*cols).order_by(table.c.id)
    if scope.centre_code is not None:
        stmt = stmt.where(_in_centre(name, table, scope.centre_code))
    return stmt


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of row tuples are created.

    The tuples hold no cycles, but their sheer number triggers collection after collection
    (half of the read time at 20k patients). Reference counting still frees memory; the
    collector is re-enabled afterwards if it was on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def _read_cursor(engine: Engine) -> Iterator[Any]:
    """A driver cursor inside one consistent, read-only transaction (see `read_tables`)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute("BEGIN")  # deferred: takes no write lock
            try:
                yield cursor
            finally:
                cursor.execute("ROLLBACK")
                cursor.close()
        else:
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    yield cursor
                finally:
                    cursor.close()


def _in_centre(name: str, table: Any, centre_code: str) -> ColumnElement[bool]:
    centres = models.Centre.__table__
    patients = models.Patient.__table__
    centre_ids = select(centres.c.id).where(centres.c.centre_code == centre_code)
    if name == "centres":
        return table.c.centre_code == centre_code  # type: ignore[no-any-return]
    if name == "patients":
        return table.c.centre_id.in_(centre_ids)  # type: ignore[no-any-return]
    return table.c.patient_id.in_(select(patients.c.id).where(patients.c.centre_id.in_(centre_ids)))  # type: ignore[no-any-return]


def _to_arrow(rows: list[Any], schema: pa.Schema, *, dates_as_text: bool) -> pa.Table:
    columns = list(zip(*rows)) if rows else [() for _ in schema]
    arrays = []
    for fld, values in zip(schema, columns):
        if fld.type == pa.date32() and dates_as_text:
            arrays.append(pa.array(values, type=pa.string()).cast(pa.date32()))
        elif fld.type == pa.bool_():
            # SQLite returns booleans as 0/1
            arrays.append(pa.array([None if v is None else bool(v) for v in values], type=pa.bool_()))
        else:
            arrays.append(pa.array(values, type=fld.type))
    return pa.Table.from_arrays(arrays, schema=schema)


# ---------------------------------------------------------------------------------------------
# Reuse while the data are unchanged

_CACHE_SIZE = 8
_cache: OrderedDict[tuple[str, Scope], Snapshot] = OrderedDict()
_cache_lock = threading.Lock()
_load_locks: dict[tuple[str, Scope], threading.Lock] = {}


def load_snapshot(engine: Engine, actor: Actor | None = None) -> Snapshot:
    """The registry as the actor may see it, reusing the previous snapshot if the data version
    is unchanged. `actor=None` means the whole registry with patient codes (CLI administrator).

    Two threads asking for the same missing snapshot build it once (a lock per engine and scope).
    """
    scope = Scope.for_actor(actor)
    key = (engine.url.render_as_string(hide_password=False), scope)
    version = data_version(engine)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit.data_version == version:
            _cache.move_to_end(key)
            return hit
        load_lock = _load_locks.setdefault(key, threading.Lock())
    with load_lock:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None and hit.data_version == version:
                return hit
        # The version was read before the tables: if a write lands in between, the snapshot is
        # stored under the older version, so the next call re-reads rather than trusting it.
        snapshot = Snapshot(con=_register(read_tables(engine, scope)), data_version=version, scope=scope)
        with _cache_lock:
            _cache[key] = snapshot
            _cache.move_to_end(key)
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        return snapshot


def clear_snapshot_cache() -> None:
    """Forget every cached snapshot (tests; after a restore)."""
    with _cache_lock:
        _cache.clear()
