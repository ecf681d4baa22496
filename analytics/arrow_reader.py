"""Arrow-native reads from the registry database through the Apache Arrow ADBC drivers.

Why ADBC: the snapshot reads every row of every table analytics use (3 M rows at 100,000
patients). Through a DB-API driver each value becomes a Python object in a tuple, then an
Arrow column: 5.4 CPU seconds at that size, most of a full refresh. The ADBC drivers
(`adbc-driver-sqlite`, `adbc-driver-postgresql`, maintained by the Apache Arrow project) build
Arrow columns in C (1.2 s); PostgreSQL's rows arrive through `COPY … TO STDOUT (FORMAT binary)`.

Where each driver runs:
- PostgreSQL: in this process (`read_transaction`).
- SQLite: in a short-lived process of its own (`analytics/sqlite_arrow_worker.py`), which
  streams the tables back as Arrow IPC. The SQLite driver carries its own copy of the SQLite
  library; two copies in one process do not see each other's POSIX locks, which broke the WAL
  files under the dashboard's own connections after a save ("disk I/O error", a corruption
  hazard: SQLite's documented "multiple copies of SQLite in the same application"). In a
  separate process it is one more ordinary SQLite client. Starting it costs about 0.2 CPU
  seconds, which is why small registries are not slower than they were and large ones are 3x
  faster.

What this module guarantees, as the tuple reader did:
- one consistent, read-only transaction for all the queries of one `fetch_all`: on SQLite a
  deferred transaction on a connection opened read-only (under WAL a read snapshot that never
  blocks writers), on PostgreSQL REPEATABLE READ in a read-only session;
- the types of the snapshot schema: SQLite has no date or boolean storage class (dates are ISO
  text, booleans 0/1) and types each result column by what it finds, so `conform` casts every
  column to the schema's type (an all-NULL column becomes a typed NULL column).

In-memory SQLite databases cannot be opened by a second process: `supports(engine)` says so and
the caller reads through SQLAlchemy's own connection instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Select

# SQLite's driver infers each column's Arrow type from the first batch of rows; a column that is
# NULL throughout that batch would be typed INT64 and fail on the first text value after it.
# One batch per query (as many rows as the table has) makes the inference see every row.
_SQLITE_ONE_BATCH = {"adbc.sqlite.query.batch_rows": str(10**9)}  # the largest it accepts is below 2**31
_PG_REPEATABLE_READ = {
    "adbc.connection.transaction.isolation_level": "adbc.connection.transaction.isolation.repeatable_read"
}


def supports(engine: Engine) -> bool:
    """True for a PostgreSQL server and an SQLite database file; False for an in-memory SQLite
    database (or one named by a URI), which only the engine's own connection can see."""
    if engine.dialect.name == "postgresql":
        return True
    if engine.dialect.name != "sqlite":
        return False
    database = engine.url.database or ""
    return database not in ("", ":memory:") and not database.startswith("file:")


def _sqlite_uri(engine: Engine) -> str:
    path = Path(engine.url.database or "").resolve()
    return f"file:{quote(str(path))}?mode=ro"


def _pg_uri(engine: Engine) -> str:
    """A libpq URI for the engine's server, its session read-only. (libpq decodes %20 but not
    the `+` SQLAlchemy writes for a space, so the options are quoted here.)"""
    url = engine.url.set(drivername="postgresql")
    options = " ".join(filter(None, [str(url.query.get("options", "")), "-c default_transaction_read_only=on"]))
    base = url.difference_update_query(["options"]).render_as_string(hide_password=False)
    return f"{base}{'&' if '?' in base else '?'}options={quote(options, safe='')}"


class Reader:
    """Runs SQLAlchemy Core selects inside one PostgreSQL read transaction, as Arrow tables."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self._connection = connection
        self._dialect = dialect

    def fetch(self, stmt: Select[Any]) -> pa.Table:
        compiled = stmt.compile(dialect=self._dialect)
        params = tuple(compiled.params[key] for key in compiled.positiontup or ())
        cursor = self._connection.cursor()
        try:
            cursor.execute(str(compiled), params or None)
            return cursor.fetch_arrow_table()
        finally:
            cursor.close()


def _compile_dialect(engine: Engine) -> Dialect:
    """The engine's dialect with the placeholders the ADBC driver expects (`?` or `$1`)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.psycopg.dialect(paramstyle="numeric_dollar")  # type: ignore[no-any-return]
    from sqlalchemy.dialects import sqlite

    return sqlite.pysqlite.dialect(paramstyle="qmark")  # type: ignore[no-any-return]


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Reader]:
    """An ADBC connection to the engine's PostgreSQL database in one consistent, read-only
    transaction (SQLite is read in a worker process: `fetch_all`)."""
    if engine.dialect.name != "postgresql":
        raise ValueError("read_transaction is for PostgreSQL; SQLite is read in a worker process (fetch_all)")
    import adbc_driver_postgresql.dbapi as driver

    connection = driver.connect(_pg_uri(engine))
    connection.adbc_connection.set_options(**_PG_REPEATABLE_READ)
    try:
        # autocommit is off: the driver has begun a transaction that spans every fetch
        yield Reader(connection, _compile_dialect(engine))
    finally:
        try:
            connection.rollback()
        finally:
            connection.close()


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table`'s columns, in `schema`'s order and types (see the module docstring)."""
    columns: list[pa.ChunkedArray | pa.Array] = []
    for fld in schema:
        column = table.column(fld.name)
        if column.null_count == len(column):
            columns.append(pa.nulls(len(column), fld.type))
        elif column.type == fld.type:
            columns.append(column)
        else:
            columns.append(column.cast(fld.type))  # ISO text -> date32, 0/1 -> bool, int32 -> int64
    return pa.Table.from_arrays(columns, schema=schema)


def fetch_all(engine: Engine, statements: Sequence[tuple[str, Select[Any], pa.Schema]]) -> dict[str, pa.Table]:
    """Each (name, select, schema) read in one transaction, conformed to its schema."""
    if engine.dialect.name == "sqlite":
        tables = fetch_sqlite_in_worker(engine, [stmt for _, stmt, _ in statements])
        return {name: conform(table, schema) for (name, _, schema), table in zip(statements, tables)}
    with read_transaction(engine) as reader:
        return {name: conform(reader.fetch(stmt), schema) for name, stmt, schema in statements}


class WorkerError(RuntimeError):
    """The SQLite read worker failed; the message names the database and the worker's error."""


WORKER = Path(__file__).with_name("sqlite_arrow_worker.py")
_SQLITE_BUSY_TIMEOUT_MS = 30_000  # as the engine's own connections (registry.db)


def fetch_sqlite_in_worker(engine: Engine, statements: Sequence[Select[Any]]) -> list[pa.Table]:
    """The statements' results, read by the ADBC SQLite driver in a process of its own (see the
    module docstring) within one read transaction, as Arrow tables (not yet conformed).

    The statements are compiled with their values inlined (SQLAlchemy's literal rendering:
    only the scope's centre code is a value here), so the worker needs no SQLAlchemy.

    :raises WorkerError: the worker could not start or read (its message is kept).
    """
    database = Path(engine.url.database or "")
    if not database.is_file():  # the driver would only say "failed to allocate memory"
        raise WorkerError(f"reading the SQLite registry {database} failed: no such file")
    dialect = _compile_dialect(engine)
    queries = [str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True})) for stmt in statements]
    request = json.dumps({"uri": _sqlite_uri(engine), "batch_rows": _SQLITE_ONE_BATCH["adbc.sqlite.query.batch_rows"],
                          "busy_timeout_ms": _SQLITE_BUSY_TIMEOUT_MS, "queries": queries})
    # -I: the worker sees neither PYTHONPATH nor the user's site-packages, only the interpreter's
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen([sys.executable, "-I", str(WORKER)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdin is not None and proc.stdout is not None
        tables: list[pa.Table] = []
        try:
            try:
                proc.stdin.write(request.encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass  # the worker died at start: its message follows
            source = pa.PythonFile(proc.stdout, mode="r")
            for _ in queries:
                try:  # one IPC stream per query; the reader stops at each stream's end marker
                    tables.append(pa.ipc.open_stream(source).read_all())
                except (pa.ArrowInvalid, OSError):
                    break  # the worker stopped early: its message follows
        finally:
            proc.stdout.close()
            status = proc.wait()
        if status != 0 or len(tables) != len(queries):
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip() or f"exit status {status}"
            raise WorkerError(f"reading the SQLite registry {engine.url.database} failed: {message}")
    return tables
