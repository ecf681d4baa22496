"""Bundle import and export (docs/bundle-format.md): folders or .zip files of UTF-8 CSV files.

Import is all or nothing and reports every error as `FILE:LINE: COLUMN: message` (LINE is the
CSV line, header = 1). Files are read and parsed here; every rule and every write goes through
the services' bulk path (`registry.services.plan_bulk` / `apply_bulk`), so an import is
validated, access-checked and audited exactly like a form. A row that differs from the stored
record is an update audited with the reason `bundle sha256:<hash of the bundle>`; an identical
row is left alone, so importing a bundle twice changes nothing the second time.

A bundle is first imported streaming (`_import_streaming`: read by `bundle_stream` in blocks,
checked by `validation.check_columns`, written by `registry.bulk`), with memory independent of
its size; only if that finds anything to report does the exact path below (`load_bundle`,
`parse_bundle`, `plan_bulk`) read it whole and word every error (docs/architecture.md, "Bundle
import").

Export writes every table, rows in natural-key order, cells formatted exactly as import expects
(ISO dates, `true`/`false`, EDSS as 0, 1.0, ... 9.5, 10, empty for missing), so exporting,
importing into an empty registry and exporting again gives byte-identical files.

Decisions where the format is silent:
- Hidden files (`.DS_Store`), `__MACOSX/` entries and folders are ignored; any other file that
  is not one of the bundle's CSV files is an unknown file. A .zip whose files all sit in one top
  folder is read as if they were at its root.
- The bundle's hash is SHA-256 of the .zip file, or of a folder's files (names and contents,
  in name order), so the same bundle gets the same hash on every machine.
- Blank lines are skipped; a row with more or fewer cells than the header is an error (the CSV
  was probably cut or joined), except that trailing empty cells are tolerated.
- An empty file (no header) is an error: a file that is sent should say which columns it has.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from registry import bulk
from registry.db import session_scope
from registry.io import bundle_stream
from registry.io.bundle_stream import NeedsReport
from registry.security.access import AccessDenied, Actor
from registry.services import ValidationFailed, apply_bulk, load_stored, plan_bulk
from registry.validation import (
    ENTITIES,
    FILE_COLUMN,
    check_columns,
    ROW_COLUMN,
    FieldError,
    Record,
    check_header,
    format_edss,
    key_of,
    parse_row,
    spec_of,
)

PROGRESS_THRESHOLD = 5_000  # rows; smaller imports finish before a progress bar is useful
_FILES = {spec.file: name for name, spec in ENTITIES.items()}
_ENTITY_ORDER = {e: i for i, e in enumerate(ENTITIES)}


MAX_UNZIPPED_BYTES = 1024**3
"""Largest total size a zipped bundle may unpack to (a million-patient registry is far below)."""


class BundleRejected(Exception):
    """The bundle cannot be read or imported; `errors` lists every problem."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


@dataclass(slots=True)
class ImportResult:
    """Counts per bundle file (entity), or the errors that rejected the bundle."""

    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # entities present in the bundle
    reason: str = ""  # "bundle sha256:..." - the audit reason of updates
    path: str = ""  # "streaming" or "exact": which importer decided (see `import_bundle`)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary_lines(self) -> list[str]:
        """A small table: inserted/updated/unchanged per file present in the bundle."""
        lines = [f"{'file':<20} {'inserted':>9} {'updated':>9} {'unchanged':>9}"]
        for e in self.files:
            lines.append(f"{ENTITIES[e].file:<20} {self.inserted.get(e, 0):>9} {self.updated.get(e, 0):>9} {self.unchanged.get(e, 0):>9}")
        lines.append(
            f"{'total':<20} {sum(self.inserted.values()):>9} {sum(self.updated.values()):>9} {sum(self.unchanged.values()):>9}"
        )
        return lines


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(slots=True)
class BundleFile:
    entity: str
    name: str  # file name as reported in errors
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (CSV line of the row's first line, cells by column)


@dataclass(slots=True)
class LoadedBundle:
    files: dict[str, BundleFile]
    errors: list[FieldError]
    sha256: str

    @property
    def row_count(self) -> int:
        return sum(len(f.rows) for f in self.files.values())


def _sources(path: Path) -> tuple[list[tuple[str, bytes]], str]:
    """(file name, bytes) of every file in the bundle, and the bundle's SHA-256."""
    if path.is_dir():
        digest = hashlib.sha256()
        out = []
        for name, p in bundle_stream.folder_files(path):
            data = p.read_bytes()
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
            out.append((name, data))
        return out, digest.hexdigest()
    if zipfile.is_zipfile(path):
        raw = path.read_bytes()
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            # A zip bomb (a small upload that inflates to many GB) would exhaust memory before any
            # row is checked; zipfile never inflates a member past its declared size, so the sum
            # of declared sizes bounds what is read.
            declared = sum(i.file_size for i in zf.infolist())
            if declared > MAX_UNZIPPED_BYTES:
                raise BundleRejected([FieldError(
                    "bundle", FILE_COLUMN, str(path),
                    f"the zip unpacks to {declared:,} bytes, more than the limit of {MAX_UNZIPPED_BYTES:,}", None, path.name,
                )])
            names, strip = bundle_stream.zip_layout(zf.infolist())
            out = [("/".join(PurePosixPath(n).parts[1:]) if strip else n, zf.read(n)) for n in sorted(names)]
        return out, hashlib.sha256(raw).hexdigest()
    if path.exists():
        raise BundleRejected([FieldError("bundle", FILE_COLUMN, str(path), "not a folder or a .zip file", None, path.name)])
    raise BundleRejected([FieldError("bundle", FILE_COLUMN, str(path), "no such file or folder", None, path.name)])


def _decode(name: str, entity: str, data: bytes) -> tuple[str | None, FieldError | None]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex()
        return None, FieldError(
            entity, FILE_COLUMN, f"0x{bad}", f"invalid UTF-8 (byte 0x{bad}); save the file as UTF-8", line, name
        )


def _parse_csv(name: str, entity: str, text: str) -> tuple[BundleFile | None, list[FieldError]]:
    errors: list[FieldError] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return None, [FieldError(entity, FILE_COLUMN, None, f"not valid CSV: {exc}", 1, name)]
    if header is None or not any(h.strip() for h in header):
        return None, [FieldError(entity, FILE_COLUMN, None, "empty file: expected a header row with the column names", 1, name)]
    header = [h.strip() for h in header]
    errors += check_header(entity, header, file=name)
    width = len(header)
    rows: list[tuple[int, dict[str, str]]] = []
    start = reader.line_num + 1
    try:
        for cells in reader:
            line = start
            start = reader.line_num + 1
            if len(cells) != width:
                if not any(c.strip() for c in cells):
                    continue  # blank line
                if len(cells) > width and not any(c.strip() for c in cells[width:]):
                    cells = cells[:width]
                else:
                    errors.append(
                        FieldError(entity, ROW_COLUMN, None, f"row has {len(cells)} cells but the header has {width}", line, name)
                    )
                    continue
            rows.append((line, dict(zip(header, cells))))
    except csv.Error as exc:
        errors.append(FieldError(entity, FILE_COLUMN, None, f"not valid CSV: {exc}", reader.line_num, name))
    return BundleFile(entity, name, header, rows), errors


def load_bundle(path: str | Path) -> LoadedBundle:
    """Read a bundle's files into rows of text, with every file-level error (nothing parsed yet)."""
    sources, sha = _sources(Path(path))
    files: dict[str, BundleFile] = {}
    errors: list[FieldError] = []
    for name, data in sources:
        entity = _FILES.get(name)
        if entity is None:
            errors.append(
                FieldError("bundle", FILE_COLUMN, name, f"unknown file {name!r}; a bundle has {', '.join(_FILES)}", None, name)
            )
            continue
        text, err = _decode(name, entity, data)
        if err is not None:
            errors.append(err)
            continue
        bf, errs = _parse_csv(name, entity, text or "")
        errors += errs
        if bf is not None:
            files[entity] = bf
    return LoadedBundle(files, errors, sha)


def read_bundle(path: str | Path) -> dict[str, list[dict[str, str]]]:
    """The bundle's rows as text, by entity. :raises BundleRejected: unreadable files or headers."""
    loaded = load_bundle(path)
    if loaded.errors:
        raise BundleRejected(loaded.errors)
    return {e: [cells for _, cells in f.rows] for e, f in loaded.files.items()}


def parse_bundle(loaded: LoadedBundle) -> tuple[list[Record], list[FieldError]]:
    """Typed records of every row (rows with errors kept as `valid=False` for key checks)."""
    records: list[Record] = []
    errors: list[FieldError] = []
    for entity in ENTITIES:
        bf = loaded.files.get(entity)
        if bf is None:
            continue
        spec = spec_of(entity)
        known = [h for h in bf.header if h in spec.by_name]
        all_known = len(known) == len(bf.header)
        header_broken = any(r not in bf.header for r in spec.required)
        for line, cells in bf.rows:
            raw = cells if all_known else {h: cells[h] for h in known}  # unknown columns: one header error
            values, errs = parse_row(entity, raw, line=line, file=bf.name)
            if errs:
                errors += errs
            records.append(Record(entity, values, True, line, bf.name, valid=not errs and not header_broken))
    return records, errors


# ---------------------------------------------------------------------------------------------
# Importing


@contextmanager
def _session(engine_or_session: Engine | Session) -> Iterator[Session]:
    if isinstance(engine_or_session, Session):
        yield engine_or_session
    else:
        with session_scope(engine_or_session) as s:
            yield s


def _in_order(errors: list[FieldError]) -> list[FieldError]:
    return sorted(errors, key=lambda e: (_ENTITY_ORDER.get(e.entity, -1), e.file or "", e.line or 0))


def import_bundle(
    engine_or_session: Engine | Session,
    path: str | Path,
    actor: Actor,
    *,
    progress: bool = False,
    today: dt.date | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Import a bundle (folder or .zip), all or nothing.

    Returns the counts per file, or every error with nothing written. With an Engine the
    import commits on success; with a Session the caller commits.
    `on_progress(done, total)` is called as rows are written (the dashboard's progress bar).
    :raises AccessDenied: the bundle holds data of a centre the actor may not write

    Two paths, one outcome: the streaming path (`_import_streaming`: chunks of columns, memory
    independent of the bundle's size) imports every bundle it finds nothing wrong with; on
    anything else it rolls its savepoint back and the exact path (`_import_in_memory`, the
    whole bundle as records through `plan_bulk`) words every error with its file and line.
    """
    try:
        return _import_streaming(engine_or_session, Path(path), actor, progress=progress, today=today, on_progress=on_progress)
    except NeedsReport:
        pass
    return _import_in_memory(engine_or_session, path, actor, progress=progress, today=today, on_progress=on_progress)


STREAM_CACHE_KIB = 40_960
"""SQLite page cache of a streaming import (KiB): audit rows are indexed by a random hash, so
their index is written all over; the default 2 MiB cache re-reads index pages for most rows,
and a cache as large as the index would make memory grow with the registry."""


def _import_streaming(
    engine_or_session: Engine | Session,
    path: Path,
    actor: Actor,
    *,
    progress: bool,
    today: dt.date | None,
    on_progress: Callable[[int, int], None] | None,
) -> ImportResult:
    """The bundle in chunks, checked column by column and written at once (`registry.bulk`).

    :raises NeedsReport: anything to report or that the exact path must decide (nothing kept)
    """
    today = today or dt.date.today()
    found, sha = bundle_stream.members(path, MAX_UNZIPPED_BYTES)
    files: dict[str, tuple[bundle_stream.Member, list[str], bundle_stream.Scan]] = {}
    for member in found:
        entity = bundle_stream.entity_of(member.name)
        if entity is None or entity in files:
            raise NeedsReport("unknown or repeated file")
        scanned = bundle_stream.scan(member)
        if not scanned.ok:
            raise NeedsReport("not UTF-8")
        files[entity] = (member, bundle_stream.read_header(member, entity), scanned)
    result = ImportResult(files=[e for e in ENTITIES if e in files], reason=f"bundle sha256:{sha}", path="streaming")
    total = sum(f[2].rows for f in files.values())
    bar = _progress_bar(total, progress and total > PROGRESS_THRESHOLD)
    done = 0
    try:
        with _session(engine_or_session) as session, _unit(session, own=not isinstance(engine_or_session, Session)), \
                _page_cache(session, STREAM_CACHE_KIB):
            writer = bulk.StreamWriter(session, actor, reason=result.reason)
            for entity in result.files:
                member, header, scanned = files[entity]
                cache: dict[str, dict[str, tuple[Any, ...]]] = {}
                for cells in bundle_stream.chunks(member, header, scanned.plain):
                    rows = len(next(iter(cells.values())))
                    writer.write(entity, check_columns(entity, cells, today=today, cache=cache), rows)
                    done += rows
                    if bar:
                        bar.update(rows)
                    if on_progress is not None:
                        on_progress(done, max(total, done))
            counts = writer.finish()
    finally:
        if bar:
            bar.close()
    if on_progress is not None:
        on_progress(done, done)
    result.inserted = {e: counts.inserted[e] for e in result.files}
    result.updated = {e: counts.updated[e] for e in result.files}
    result.unchanged = {e: counts.unchanged[e] for e in result.files}
    return result


@contextmanager
def _unit(session: Session, *, own: bool) -> Iterator[None]:
    """What one streaming import rolls back on `NeedsReport`: its own transaction, or in a
    caller's session a savepoint. Not a savepoint when the transaction is ours: inside one,
    SQLite keeps the original of every page the import changes, which doubled its insert cost."""
    if own:
        yield
        return
    with session.begin_nested():
        yield


@contextmanager
def _page_cache(session: Session, kib: int) -> Iterator[None]:
    """SQLite: a page cache of `kib` while the import runs, then the old size."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield
        return
    old = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(old)}")


def _import_in_memory(
    engine_or_session: Engine | Session,
    path: str | Path,
    actor: Actor,
    *,
    progress: bool = False,
    today: dt.date | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """The exact path: the whole bundle as records, every rule through `plan_bulk`, every
    error with its file and line; writes with `apply_bulk` when there is none."""
    try:
        loaded = load_bundle(path)
    except BundleRejected as exc:
        return ImportResult(errors=exc.errors, path="exact")
    result = ImportResult(files=[e for e in ENTITIES if e in loaded.files], reason=f"bundle sha256:{loaded.sha256}", path="exact")
    total = loaded.row_count
    show = progress and total > PROGRESS_THRESHOLD
    records, errors = parse_bundle(loaded)
    errors = loaded.errors + errors
    with _session(engine_or_session) as session:
        try:
            if show:
                print(f"checking {total:,} rows ...", file=sys.stderr, flush=True)
            plan = plan_bulk(session, actor, records, today=today)
        except ValidationFailed as exc:
            errors += exc.errors
            plan = None
        if errors or plan is None:
            result.errors = _in_order(errors)
            return result  # nothing was written: the plan only reads
        bar = _progress_bar(plan.total_changes, show)
        total_changes, written = plan.total_changes, [0]

        def step(n: int) -> None:
            if bar:
                bar.update(n)
            if on_progress is not None:
                written[0] += n
                on_progress(written[0], total_changes)

        try:
            counts = apply_bulk(session, actor, plan, reason=result.reason, on_progress=step if bar or on_progress else None)
        finally:
            if bar:
                bar.close()
    result.inserted = {e: counts.inserted[e] for e in result.files}
    result.updated = {e: counts.updated[e] for e in result.files}
    result.unchanged = {e: counts.unchanged[e] for e in result.files}
    return result


def _progress_bar(total: int, show: bool) -> Any:
    if not show or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="importing", unit="row", unit_scale=True, file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Writing


def format_cell(kind: str, value: Any) -> str:
    """A value as the bundle writes it (the inverse of `validation.parse_value`)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if kind == "bool" or isinstance(value, bool):
        return "true" if value else "false"
    if kind == "edss":
        return format_edss(float(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and kind != "number":
        return str(int(value))
    return str(value)


def write_bundle(tables: Mapping[str, Sequence[Mapping[str, Any]]], out_dir: str | Path) -> list[Path]:
    """Write rows (typed or text) as bundle files, columns in docs/bundle-format.md order.

    Only the given tables are written, rows in the given order. Returns the files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for entity, rows in tables.items():
        spec = spec_of(entity)
        cols = spec.columns
        path = out / spec.file
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(spec.column_names)
            for row in rows:
                w.writerow([format_cell(c.kind, row.get(c.name)) for c in cols])
        written.append(path)
    return written


def export_bundle(engine: Engine | Session, out_dir: str | Path, actor: Actor | None = None) -> dict[str, int]:
    """Write the whole registry (or a centre user's own centre) as a bundle; rows per file.

    :raises AccessDenied: governance and researcher roles (a bundle identifies patients)
    """
    if actor is not None and actor.role not in ("admin", "centre"):
        raise AccessDenied(f"user {actor.username!r} (role {actor.role}) may not export identifiable bundles")
    centres = [actor.centre_code] if actor is not None and actor.role == "centre" else None
    tables: dict[str, list[dict[str, Any]]] = {}
    with _session(engine) as session:
        for entity in ENTITIES:
            rows = [s.values for s in load_stored(session, entity, centre_codes=centres)]
            rows.sort(key=lambda v, e=entity: key_of(e, v))
            tables[entity] = rows
    write_bundle(tables, out_dir)
    return {e: len(r) for e, r in tables.items()}
