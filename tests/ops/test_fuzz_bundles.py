"""Fuzzed bundles: whatever arrives, the importer answers with errors that name the file and
line (or accepts the bundle whole), never with an exception, never with a partial write.

Hypothesis starts from a valid bundle and damages it: wrong types, impossible and malformed
dates, codes in the wrong case, huge fields, quotes, embedded newlines and NULs in cells;
missing, unknown and duplicated columns; duplicated rows (two rows with one key) and ragged
rows; missing, empty, header-only and unknown files; and at the byte level BOMs, CRLF, latin-1
and UTF-16 encodings, stray bytes and truncation. Delivered as a folder or a .zip.

Two paths:
- fast (2,000 examples): the full import, parse, validate and plan against a real registry in
  one transaction that is always rolled back. A rejection must leave every table's row count
  as it was *inside* that transaction; an acceptance must add exactly the rows and audit rows
  the result reports.
- real (150 examples on SQLite, 50 on PostgreSQL): `import_bundle(engine, …)` committing; a
  rejection must leave every table's checksum unchanged.

The cells include whole numbers far beyond 32 bits and NUL characters: both crashed the insert
(OverflowError, NumericValueOutOfRange, a CHECK on SQLite's NUL-truncated length()) until
validation refused them; the regression tests at the end pin that down.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, MetaData, text
from sqlalchemy.orm import Session

from registry.security.access import Actor
from registry.io.backup import table_checksums
from registry.io.bundle import import_bundle, write_bundle
from registry.db import make_engine
from registry.models import Base
from registry.validation import ENTITIES, FILE_COLUMN, FieldError
from tests.ops.bundles import make_bundle
from tests.registry_files import copy_registry

ADMIN = Actor(username="fuzz", role="admin")
EXAMPLES = int(os.environ.get("MSREG_FUZZ_EXAMPLES", "2000"))  # fast path; the real path gets 1/13
FILES = [spec.file for spec in ENTITIES.values()]
FUZZ_SETTINGS = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------------------------------------
# A bundle as editable tables, and its damage


Table = tuple[list[str], list[list[str]]]  # header, rows
Tables = dict[str, Table]


def base_tables() -> Tables:
    """A small valid bundle: 3 centres, 3 patients and all their children (about 50 rows)."""
    rows = make_bundle(3, seed=2)
    out: Tables = {}
    for entity, spec in ENTITIES.items():
        header = list(spec.column_names)
        out[spec.file] = (header, [[r[c] for c in header] for r in rows[entity]])
    return out


NASTY = [
    "", " ", "NULL", "N/A", "-1", "-0", "+3", "0.5", "3.0", "1.50", "10.0", "1e3", "NaN", "inf", "१२",
    "9" * 40, "2020-02-30", "2020-13-01", "20200101", "2020/01/01", "1899-12-31", "2999-01-01", "0000-00-00",
    "2020-1-1", " 2020-01-01 ", "TRUE", "True", "f", "rrms", "beam_atg", "Z9", "gb", '"', '""', '","', "a\nb",
    "a\r\nb", "\x00", "\ufeff", "=1+1", "\u202eevil", "x" * 300, "é" * 70, "x" * 200_000, "y" * 100_000,
]
cell_values = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=20),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.integers().map(str),  # unbounded: beyond int4 and int64
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.dates().map(lambda d: d.isoformat()),
    st.dates().map(lambda d: d.strftime("%d/%m/%Y")),
)


@dataclass(frozen=True)
class Mutation:
    """One kind of damage with its random choices (indices are taken modulo the current sizes)."""

    kind: str
    file: int = 0
    row: int = 0
    col: int = 0
    value: str = ""
    pos: float = 0.0
    blob: bytes = b""

    def __repr__(self) -> str:  # short: hypothesis prints failing examples
        v = self.value if len(self.value) < 40 else self.value[:20] + f"...({len(self.value)} chars)"
        return f"{self.kind}(file={FILES[self.file % len(FILES)]}, row={self.row}, col={self.col}, value={v!r}, pos={self.pos:.2f}, blob={self.blob[:10]!r})"


TABLE_KINDS = ["cell", "cell", "cell", "drop_column", "unknown_column", "duplicate_column", "duplicate_row",
               "drop_row", "ragged_row", "drop_file", "unknown_file", "shuffle_columns"]
BYTE_KINDS = ["bom", "crlf", "latin1", "utf16", "stray_bytes", "truncate", "empty_file", "header_only", "nul"]

mutations = st.builds(
    Mutation,
    kind=st.sampled_from(TABLE_KINDS + BYTE_KINDS),
    file=st.integers(0, len(FILES) - 1),
    row=st.integers(0, 10_000),
    col=st.integers(0, 100),
    value=cell_values,
    pos=st.floats(0, 1),
    blob=st.binary(min_size=1, max_size=8),
)


def _apply_table(m: Mutation, t: Tables) -> None:
    name = FILES[m.file % len(FILES)]
    if name not in t:
        return
    header, rows = t[name]
    c = m.col % len(header) if header else 0
    # Rows made ragged by an earlier mutation may be shorter than the header: column mutations
    # touch only the cells such a row has (it stays ragged, as in a damaged file).
    if m.kind == "cell" and rows:
        row = rows[m.row % len(rows)]
        if c < len(row):
            row[c] = m.value
    elif m.kind == "drop_column" and header:
        del header[c]
        for r in rows:
            if c < len(r):
                del r[c]
    elif m.kind == "unknown_column":
        header.append(m.value.strip() or "extra")
        for r in rows:
            r.append(m.value)
    elif m.kind == "duplicate_column" and header:
        header.append(header[c])
        for r in rows:
            r.append(r[c] if c < len(r) else "")
    elif m.kind == "duplicate_row" and rows:
        rows.insert(m.row % len(rows), list(rows[m.row % len(rows)]))
    elif m.kind == "drop_row" and rows:
        del rows[m.row % len(rows)]
    elif m.kind == "ragged_row" and rows:
        r = rows[m.row % len(rows)]
        if m.col % 2:
            r.append(m.value or "x")
        elif r:
            r.pop()
    elif m.kind == "drop_file":
        del t[name]
    elif m.kind == "shuffle_columns" and header:
        order = sorted(range(len(header)), key=lambda i: (i * (m.col + 7)) % (len(header) + 1))
        # A row made ragged by an earlier mutation stays ragged (short rows lose cells, long keep extras).
        t[name] = (
            [header[i] for i in order],
            [[r[i] for i in order if i < len(r)] + r[len(header) :] for r in rows],
        )


def _serialise(t: Tables) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, (header, rows) in t.items():
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        out[name] = buf.getvalue().encode("utf-8")
    return out


def _apply_bytes(m: Mutation, files: dict[str, bytes]) -> None:
    name = FILES[m.file % len(FILES)]
    if m.kind == "unknown_file":
        files["notes.txt" if m.col % 2 else "visits (1).csv"] = m.blob
        return
    if name not in files:
        return
    data = files[name]
    at = int(m.pos * len(data))
    text = data.decode("utf-8", errors="surrogateescape")
    if m.kind == "bom":
        files[name] = b"\xef\xbb\xbf" + data
    elif m.kind == "crlf":
        files[name] = data.replace(b"\n", b"\r\n")
    elif m.kind == "latin1":
        files[name] = text.encode("latin-1", errors="replace")
    elif m.kind == "utf16":
        files[name] = text.encode("utf-16", errors="surrogatepass")
    elif m.kind == "stray_bytes":
        files[name] = data[:at] + m.blob + data[at:]
    elif m.kind == "truncate":
        files[name] = data[:at]
    elif m.kind == "empty_file":
        files[name] = b""
    elif m.kind == "header_only":
        files[name] = data.split(b"\n", 1)[0] + b"\n"
    elif m.kind == "nul":
        files[name] = data[:at] + b"\x00" + data[at:]


def damaged_bundle(ms: list[Mutation]) -> dict[str, bytes]:
    tables = base_tables()
    for m in ms:
        if m.kind in TABLE_KINDS and m.kind != "unknown_file":
            _apply_table(m, tables)
    files = _serialise(tables)
    for m in ms:
        if m.kind in BYTE_KINDS or m.kind == "unknown_file":
            _apply_bytes(m, files)
    return files


def deliver(files: dict[str, bytes], where: Path, as_zip: bool) -> Path:
    """Write the bundle as a folder or a .zip under `where` (emptied first)."""
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    if as_zip:
        path = where / "bundle.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
        return path
    folder = where / "bundle"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


# ---------------------------------------------------------------------------------------------
# What every answer must look like


def assert_row_level(errors: list[FieldError], files: dict[str, bytes]) -> None:
    """Every error names its file and, unless it is about a whole file, its line."""
    assert errors
    for e in errors:
        assert isinstance(e, FieldError), f"not a FieldError: {e!r}"
        assert e.file, f"error without a file: {e}"
        assert e.message, f"error without a message: {e}"
        if e.line is None:
            assert e.column == FILE_COLUMN or e.entity == "bundle", f"row error without a line: {e}"
        else:
            lines = files.get(e.file, b"").count(b"\n") + files.get(e.file, b"").count(b"\r") + 2
            assert 1 <= e.line <= lines, f"line {e.line} outside {e.file} ({lines} lines): {e}"
        str(e)  # renders as FILE:LINE: COLUMN: message


TABLES = {e: spec.table for e, spec in ENTITIES.items()}


COUNTED = sorted(Base.metadata.tables)
_COUNT_ALL = text("SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in COUNTED))


def _counts(session: Session) -> dict[str, int]:
    """Rows per table in one statement (reflection per example would dominate the run time)."""
    return dict(zip(COUNTED, session.execute(_COUNT_ALL).one(), strict=True))


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    """A registry holding the base bundle's centres and patients (children arrive by fuzzing)."""
    path = tmp_path_factory.mktemp("fuzz") / "seeded.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    src = tmp_path_factory.mktemp("seed")
    rows = make_bundle(3, seed=2)
    write_bundle({"centres": rows["centres"], "patients": rows["patients"]}, src)
    assert import_bundle(engine, src, ADMIN).ok
    engine.dispose()
    return path


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """Where examples are written: RAM (/dev/shm) when there is one.

    Thousands of small files are created and deleted; on this machine's disk, under load, that
    alone took longer than importing them.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    where = Path(tempfile.mkdtemp(prefix="msreg-fuzz-", dir=shm))
    try:
        yield where
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _fresh(seeded_template: Path, tmp: Path) -> Engine:
    path = tmp / "fuzz.db"
    copy_registry(seeded_template, path)
    return make_engine(f"sqlite:///{path}")


# ---------------------------------------------------------------------------------------------
# The properties


def test_the_undamaged_base_bundle_imports(seeded_template: Path, tmp_path: Path) -> None:
    """Guards the fuzz tests: rejections must come from the damage, not from the base bundle."""
    engine = _fresh(seeded_template, tmp_path)
    result = import_bundle(engine, deliver(damaged_bundle([]), tmp_path / "b", False), ADMIN)
    engine.dispose()
    assert result.ok, [str(e) for e in result.errors]
    assert result.unchanged["patients"] == 3 and result.inserted["visits"] == 30


@pytest.mark.slow
def test_fuzzed_bundles_get_row_level_errors_and_no_partial_write(seeded_template: Path, scratch: Path) -> None:
    engine = _fresh(seeded_template, scratch)
    with Session(engine) as s:
        baseline = _counts(s)
    where = scratch / "example"
    outcomes = {"accepted": 0, "rejected": 0}

    @settings(max_examples=EXAMPLES, **FUZZ_SETTINGS)
    @given(ms=st.lists(mutations, min_size=1, max_size=3), as_zip=st.booleans())
    # Found in CI: a shortened row whose columns are then shuffled.
    @example(ms=[Mutation("ragged_row", col=0), Mutation("shuffle_columns")], as_zip=False)
    # Found locally: a shortened row, then a column duplicated (or dropped) past its end.
    @example(ms=[Mutation("ragged_row", file=8, col=0), Mutation("duplicate_column", file=8, col=29)], as_zip=False)
    @example(ms=[Mutation("ragged_row", file=8, col=0), Mutation("drop_column", file=8, col=29)], as_zip=False)
    def run(ms: list[Mutation], as_zip: bool) -> None:
        files = damaged_bundle(ms)
        path = deliver(files, where, as_zip)
        with Session(engine) as session:
            tx = session.begin()
            try:
                result = import_bundle(session, path, ADMIN)
                after = _counts(session)
            finally:
                tx.rollback()
        if result.ok:
            outcomes["accepted"] += 1
            expected = dict(baseline)
            for e, n in result.inserted.items():
                expected[TABLES[e]] += n
            expected["audit_log"] += sum(result.inserted.values()) + sum(result.updated.values())
            assert after == expected, "an accepted bundle must write exactly what it reports"
        else:
            outcomes["rejected"] += 1
            assert_row_level(result.errors, files)
            assert after == baseline, "a rejected bundle wrote rows"

    run()
    engine.dispose()
    assert outcomes["rejected"] > EXAMPLES // 2, outcomes  # the damage does reach the validator
    assert outcomes["accepted"] > 0, outcomes  # harmless damage (CRLF, BOM, column order) passes


COMMITTING_EXAMPLES = {"sqlite": max(20, EXAMPLES // 13), "postgresql": max(10, EXAMPLES // 40)}


def _seed(engine: Engine, tmp: Path) -> None:
    rows = make_bundle(3, seed=2)
    write_bundle({"centres": rows["centres"], "patients": rows["patients"]}, tmp / "seed")
    assert import_bundle(engine, tmp / "seed", ADMIN).ok


@pytest.mark.slow
def test_fuzzed_bundles_through_a_committing_import_leave_a_rejecting_registry_untouched(db_url: str, backend: str, scratch: Path) -> None:
    """Also on PostgreSQL, whose types are stricter than SQLite's (int4, varchar(n), no NUL)."""
    engine = make_engine(db_url)
    _seed(engine, scratch)
    where = scratch / "example"
    schema = MetaData()
    schema.reflect(bind=engine)

    def checksums() -> dict[str, str]:
        with engine.connect() as conn:
            return table_checksums(conn, meta=schema)

    @settings(max_examples=COMMITTING_EXAMPLES[backend], **FUZZ_SETTINGS)
    @given(ms=st.lists(mutations, min_size=1, max_size=3), as_zip=st.booleans())
    def run(ms: list[Mutation], as_zip: bool) -> None:
        files = damaged_bundle(ms)
        before = checksums()
        result = import_bundle(engine, deliver(files, where, as_zip), ADMIN)
        if not result.ok:
            assert_row_level(result.errors, files)
            assert checksums() == before, "a rejected import changed the registry"

    try:
        run()
    finally:
        engine.dispose()


@pytest.mark.parametrize("value", ["2147483648", "-2147483648", "9" * 40])
def test_whole_numbers_beyond_the_integer_columns_are_row_errors(db_url: str, tmp_path: Path, value: str) -> None:
    """Regression (found by fuzzing): such counts crashed the insert instead of being refused."""
    engine = make_engine(db_url)
    _seed(engine, tmp_path)
    rows = make_bundle(3, seed=2)
    rows["transplants"][1]["relapses_12m"] = value
    write_bundle({"transplants": rows["transplants"]}, tmp_path / "b")
    result = import_bundle(engine, tmp_path / "b", ADMIN)
    engine.dispose()
    assert [(e.file, e.line, e.column) for e in result.errors] == [("transplants.csv", 3, "relapses_12m")]


def test_a_nul_character_in_a_cell_is_a_row_error(db_url: str, tmp_path: Path) -> None:
    """Regression (found by fuzzing): a NUL in centre_code crashed the insert on SQLite."""
    engine = make_engine(db_url)
    rows = make_bundle(3, seed=2)
    rows["centres"][0]["centre_code"] = "\x00" + rows["centres"][0]["centre_code"]
    write_bundle({"centres": rows["centres"]}, tmp_path / "b")
    result = import_bundle(engine, tmp_path / "b", ADMIN)
    engine.dispose()
    assert [(e.file, e.line, e.column) for e in result.errors] == [("centres.csv", 2, "centre_code")]
