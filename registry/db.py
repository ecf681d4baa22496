"""Engines and sessions: where the registry lives and how connections are set up.

SQLite gets WAL, foreign keys and a busy timeout on *every* connection (pragmas are
per-connection), and transactions that write start with BEGIN IMMEDIATE so that two writers
queue on the busy timeout instead of failing with "database is locked" half-way through.
PostgreSQL needs nothing special. The migration engine turns SQLite foreign keys off because
batch mode recreates tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_SQLITE_FILE = "registry.db"
ENV_VAR = "MSREG_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def resolve_url(url: str | None = None) -> str:
    """`--db URL`, else $MSREG_DATABASE_URL, else the SQLite file registry.db here (docs/architecture.md)."""
    if url:
        return normalise_url(url)
    env = os.environ.get(ENV_VAR)
    if env:
        return normalise_url(env)
    return f"sqlite:///{Path(DEFAULT_SQLITE_FILE).resolve()}"


def normalise_url(url: str) -> str:
    """Accept a bare file path as SQLite and plain `postgresql://` as the psycopg 3 driver."""
    if "://" not in url:
        return f"sqlite:///{Path(url).resolve()}"
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def is_sqlite(url_or_engine: str | Engine) -> bool:
    url = url_or_engine.url if isinstance(url_or_engine, Engine) else make_url(url_or_engine)
    return url.get_backend_name() == "sqlite"


def _configure_sqlite(engine: Engine, *, foreign_keys: bool, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit transactions defer the lock).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        if read_only:
            cur.execute("PRAGMA query_only = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        # A reader's deferred BEGIN never takes the write lock: WAL serves it the last
        # committed state at once, however long a writer (a big import) holds the lock.
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_private_sqlite_file(url: str) -> None:
    """Create a new SQLite registry file with mode 0600 (patient data: owner only), before
    SQLite would create it with the umask's mode (often 0644). Its WAL and shared-memory files
    get the same mode from SQLite. An existing file is left as it is."""
    database = make_url(url).database
    if database in (None, "", ":memory:") or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists() or not path.parent.is_dir():
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def make_engine(url: str | None = None, *, for_migrations: bool = False, read_only: bool = False) -> Engine:
    """The application engine (or, with `for_migrations`, the one Alembic uses).

    `read_only=True` is for code that only reads (pages, reports, snapshots, backups' checks).
    On SQLite the default engine begins every transaction with BEGIN IMMEDIATE, which queues
    readers behind any writer too: during an import longer than the 30 s busy timeout they
    fail with "database is locked". A read-only engine begins with a deferred BEGIN instead
    (never blocked, never blocking) and refuses writes (PRAGMA query_only); on PostgreSQL its
    transactions are READ ONLY.
    """
    resolved = resolve_url(url)
    if is_sqlite(resolved):
        if not read_only:
            create_private_sqlite_file(resolved)
        engine = create_engine(resolved, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine, foreign_keys=not for_migrations, read_only=read_only)
        return engine
    if read_only:
        return create_engine(
            resolved, pool_pre_ping=True, connect_args={"options": "-c default_transaction_read_only=on"}
        )
    return create_engine(resolved, pool_pre_ping=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction for one user action: commit on success, roll back on any error."""
    with make_session_factory(engine)() as session, session.begin():
        yield session


def copy_arrow(conn: Any, table: str, columns: Mapping[str, Any]) -> None:
    """PostgreSQL COPY of pyarrow columns (name -> array, equal lengths) into `table`, on the
    SQLAlchemy connection's own DBAPI connection, so inside its transaction. pyarrow writes the
    CSV (every string quoted, null an empty unquoted field, dates ISO, floats in their shortest
    exact form), so no Python runs per row. The bulk import's way in (registry.bulk)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    quote = conn.dialect.identifier_preparer.quote
    sink = pa.BufferOutputStream()
    pcsv.write_csv(pa.table(dict(columns)), sink, write_options=pcsv.WriteOptions(include_header=False, quoting_style="needed"))
    sql = f"COPY {quote(table)} ({', '.join(quote(n) for n in columns)}) FROM STDIN (FORMAT csv)"
    with conn.connection.dbapi_connection.cursor() as cur, cur.copy(sql) as copy:
        copy.write(sink.getvalue().to_pybytes())
