"""Arrow-native reads from the registry database through the Apache Arrow ADBC drivers.

Why ADBC: the snapshot reads every row of every table analytics use (1.7 M rows at 100,000
patients). Through a DB-API driver each value becomes a Python object in a tuple, then an
Arrow column: half of a full refresh at that size. The ADBC drivers (`adbc-driver-sqlite`,
`adbc-driver-postgresql`, maintained by the Apache Arrow project) build Arrow columns in C;
PostgreSQL's rows arrive through `COPY … TO STDOUT (FORMAT binary)`.

What this module guarantees, as the tuple reader did:
- one consistent, read-only transaction for all the queries of a `read_transaction` block: on
  SQLite a deferred transaction on a connection opened read-only (under WAL a read snapshot
  that never blocks writers), on PostgreSQL REPEATABLE READ in a read-only session;
- the types of the snapshot schema: SQLite has no date or boolean storage class (dates are ISO
  text, booleans 0/1) and types each result column by what it finds, so `conform` casts every
  column to the schema's type (an all-NULL column becomes a typed NULL column).

In-memory SQLite databases cannot be opened by a second driver: `supports(engine)` says so and
the caller reads through SQLAlchemy's own connection instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
    """True for a PostgreSQL server; False for SQLite.

    Why not SQLite, although the driver reads it 3x faster: `adbc-driver-sqlite` carries its own
    copy of the SQLite library. Two copies of SQLite in one process do not see each other's
    POSIX locks, so when the ADBC connection closes it can checkpoint and delete the WAL and
    shared-memory files under the process's other connections (SQLite's documented "multiple
    copies of SQLite in the same application" hazard). In the dashboard, which writes through
    pysqlite in the same process, that showed as "disk I/O error" on the first read after a
    save; it can corrupt the registry. PostgreSQL has no such shared files.
    """
    return engine.dialect.name == "postgresql"


def _sqlite_uri(engine: Engine) -> str:
    from pathlib import Path

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
    """Runs SQLAlchemy Core selects inside one read transaction and returns Arrow tables."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self._connection = connection
        self._dialect = dialect

    def fetch(self, stmt: Select[Any]) -> pa.Table:
        compiled = stmt.compile(dialect=self._dialect)
        params = tuple(compiled.params[key] for key in compiled.positiontup or ())
        cursor = self._connection.cursor()
        try:
            if self._dialect.name == "sqlite":
                cursor.adbc_statement.set_options(**_SQLITE_ONE_BATCH)
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
    """An ADBC connection to the engine's database in one consistent, read-only transaction."""
    if engine.dialect.name == "postgresql":
        import adbc_driver_postgresql.dbapi as driver

        connection = driver.connect(_pg_uri(engine))
        connection.adbc_connection.set_options(**_PG_REPEATABLE_READ)
    else:
        import adbc_driver_sqlite.dbapi as driver  # type: ignore[no-redef]

        connection = driver.connect(_sqlite_uri(engine))
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
    with read_transaction(engine) as reader:
        return {name: conform(reader.fetch(stmt), schema) for name, stmt, schema in statements}
