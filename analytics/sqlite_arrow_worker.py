"""Read SQLite queries into Arrow in a process of its own, and stream the tables back.

Run by `analytics.arrow_reader` as `python -I sqlite_arrow_worker.py`, never imported by the
registry's own processes. Why a separate process: the ADBC SQLite driver builds Arrow columns in
C (3-4x faster than Python tuples), but it links a second copy of the SQLite library. Two copies
in one process cannot see each other's POSIX locks (within a process such locks never conflict,
and closing any descriptor of a file drops all of the process's locks on it), so the driver's
connection took itself for the only user of the registry's WAL files and broke the connections
the dashboard writes through ("disk I/O error" after a save; it could corrupt the registry).
In a process of its own it is an ordinary second SQLite client, which the locking protocol is
made for.

Lean on purpose: it imports only pyarrow and the ADBC driver (not pandas, SQLAlchemy or the
registry's packages), and keeps pyarrow from importing NumPy, which it does not need for
reading a C stream and writing Arrow IPC (pyarrow works without NumPy since version 16):
starting it costs about 0.06 CPU seconds instead of 0.2.

Protocol. Standard input: one JSON object, `{"uri": "file:...?mode=ro", "batch_rows": N,
"busy_timeout_ms": N, "queries": ["SELECT ...", ...]}`, the SQL already compiled with literal
values (no parameters). Standard output, for each query in order: one Arrow IPC stream holding
the result (schema, record batches, end-of-stream marker), the streams back to back, written
batch by batch as they are read (no second copy of a table in memory). All queries run in one deferred
read transaction on a connection opened read-only: one consistent WAL snapshot that never blocks
writers. On failure: a one-line message on standard error and exit status 1.
"""

from __future__ import annotations

import json
import sys
from typing import Any, BinaryIO


def _execute(connection: Any, sql: str, options: dict[str, str] | None = None) -> Any:
    import adbc_driver_manager
    import pyarrow as pa

    statement = adbc_driver_manager.AdbcStatement(connection)
    try:
        if options:
            statement.set_options(**options)
        statement.set_sql_query(sql)
        stream, _ = statement.execute_query()
        return pa.RecordBatchReader._import_from_c(stream.address).read_all()
    finally:
        statement.close()


def run(request: dict[str, Any], out: BinaryIO) -> None:
    """Run the request's queries in one read transaction, writing each result to `out`."""
    import adbc_driver_manager
    import adbc_driver_sqlite
    import pyarrow as pa

    database = adbc_driver_sqlite.connect(request["uri"])
    try:
        connection = adbc_driver_manager.AdbcConnection(database)
        try:
            _execute(connection, f"PRAGMA busy_timeout = {int(request.get('busy_timeout_ms', 30000))}")
            # autocommit off: the driver begins a (deferred) transaction that spans every query
            connection.set_autocommit(False)
            options = {"adbc.sqlite.query.batch_rows": str(int(request["batch_rows"]))}
            sink = pa.PythonFile(out, mode="w")
            for sql in request["queries"]:
                table = _execute(connection, sql, options)
                # straight to the pipe, batch by batch: no second copy of the table in memory
                with pa.ipc.new_stream(sink, table.schema) as writer:
                    writer.write_table(table)
                del table
            out.flush()
            connection.rollback()
        finally:
            connection.close()
    finally:
        database.close()


def _import_pyarrow_without_numpy() -> None:
    """Import pyarrow with NumPy hidden (0.12 CPU s saved); with it if that fails."""
    sys.modules["numpy"] = None  # type: ignore[assignment] - `import numpy` raises ImportError
    try:
        import pyarrow  # noqa: F401
        import pyarrow.ipc  # noqa: F401
    except ImportError:
        for name in [m for m in sys.modules if m == "numpy" or m.startswith("pyarrow")]:
            del sys.modules[name]
    else:
        del sys.modules["numpy"]


def main() -> int:
    _import_pyarrow_without_numpy()
    try:
        run(json.load(sys.stdin), sys.stdout.buffer)
    except BrokenPipeError:  # the reader went away: nothing left to tell it
        return 1
    except Exception as exc:  # noqa: BLE001 - reported to the parent in one line
        print(f"{type(exc).__name__}: {exc}".replace("\n", " "), file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
