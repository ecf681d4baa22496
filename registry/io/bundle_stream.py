"""Reading a bundle file by file, in chunks of rows, for the streaming import.

Why apart from `registry.io.bundle`'s reader: that one holds every file as Python rows (about
1.5 kB per row with its dictionary), so a 100,000-patient bundle needed gigabytes. Here one
file at a time is scanned once (hash, UTF-8, which CSV features it uses), then read in blocks
of about 4 MB into pyarrow string columns: memory depends on the block, not on the bundle.

Only plain files take the fast reader: UTF-8 without NUL bytes, no quotes and no carriage
returns (then a CSV line is a row and a comma a cell boundary, and pyarrow's reader and
Python's `csv` read exactly the same cells). Files with quotes go through Python's `csv`
module, still chunked. Anything the import must report (invalid UTF-8, a NUL, a bad header, a
ragged row, unparseable CSV) raises `NeedsReport`: the caller then runs the exact in-memory
importer, which words every error with its line.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from registry.validation import ENTITIES, FILE_COLUMN, FieldError, check_header

BLOCK = 1 << 18  # bytes per block read: about 9,000 rows of a visits file
ROWS = 10_000  # rows per chunk from Python's csv reader
_FILES = {spec.file: name for name, spec in ENTITIES.items()}


class NeedsReport(Exception):
    """Something the exact importer must word (an error, or a rare CSV form); nothing is kept."""


@dataclass(slots=True)
class Member:
    """One file of a bundle: its name in the bundle and how to open it."""

    name: str
    open: Callable[[], IO[bytes]]


@dataclass(slots=True)
class Scan:
    """What one pass over a file found."""

    rows: int  # lines after the header (an upper bound of the rows)
    plain: bool  # no quote, no carriage return: the fast reader reads it exactly
    ok: bool  # UTF-8 without NUL bytes


def is_ignored(parts: Sequence[str]) -> bool:
    """Hidden files (`.DS_Store`) and `__MACOSX/` entries are not part of a bundle."""
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def folder_files(path: Path) -> list[tuple[str, Path]]:
    """A folder bundle's files, (name relative to the folder, path), in name order: the one
    listing both import paths and the bundle's hash use."""
    return sorted(
        (p.relative_to(path).as_posix(), p)
        for p in path.rglob("*")
        if p.is_file() and not is_ignored(p.relative_to(path).parts)
    )


def zip_layout(infos: Sequence[zipfile.ZipInfo]) -> tuple[list[str], bool]:
    """A zip bundle's member names (not folders, nothing ignored), and whether they all sit in
    one top folder, which is then read as if its files were at the root."""
    names = [i.filename for i in infos if not i.is_dir() and not is_ignored(PurePosixPath(i.filename).parts)]
    tops = {PurePosixPath(n).parts[0] for n in names}
    return names, len(tops) == 1 and all(len(PurePosixPath(n).parts) == 2 for n in names)


def members(path: Path, max_unzipped: int) -> tuple[list[Member], str]:
    """The bundle's files (name order) and its SHA-256, as `registry.io.bundle._sources` defines
    them, reading each file in blocks. :raises NeedsReport: not a folder or a readable zip."""
    if path.is_dir():
        digest = hashlib.sha256()
        out = []
        for name, p in folder_files(path):
            h = hashlib.sha256()
            with p.open("rb") as fh:
                while block := fh.read(BLOCK):
                    h.update(block)
            digest.update(name.encode() + b"\0" + h.digest())
            out.append(Member(name, (lambda p=p: p.open("rb"))))
        return out, digest.hexdigest()
    if not zipfile.is_zipfile(path):
        raise NeedsReport("not a folder or a zip")
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(BLOCK):
            h.update(block)
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if sum(i.file_size for i in infos) > max_unzipped:
            raise NeedsReport("zip bomb")
        names, strip = zip_layout(infos)

    def opener(n: str) -> Callable[[], IO[bytes]]:
        def open_member() -> IO[bytes]:
            zf = zipfile.ZipFile(path)
            return _ZipMember(zf, zf.open(n))

        return open_member

    out = [Member("/".join(PurePosixPath(n).parts[1:]) if strip else n, opener(n)) for n in sorted(names)]
    return out, h.hexdigest()


class _ZipMember(io.RawIOBase):
    """A zip member's stream that closes its archive with it."""

    def __init__(self, zf: zipfile.ZipFile, fh: IO[bytes]) -> None:
        self._zf, self._fh = zf, fh

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._fh.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
        self._zf.close()
        super().close()


def scan(member: Member) -> Scan:
    """One pass in blocks: line count, quotes or carriage returns, valid UTF-8 and no NUL."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    plain = ok = True
    last = b""
    with member.open() as fh:
        while block := fh.read(BLOCK):
            lines += block.count(b"\n")
            if plain and (b'"' in block or b"\r" in block):
                plain = False
            if ok:
                if b"\x00" in block:
                    ok = False
                else:
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError:
                        ok = False
            last = block[-1:]
    if ok:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            ok = False
    if last and last != b"\n":
        lines += 1
    return Scan(max(lines - 1, 0), plain, ok)


def entity_of(name: str) -> str | None:
    return _FILES.get(name)


def read_header(member: Member, entity: str) -> list[str]:
    """The header's column names (stripped). :raises NeedsReport: empty, unreadable or wrong."""
    with member.open() as fh, io.TextIOWrapper(fh, encoding="utf-8-sig", newline="") as text:
        try:
            header = next(csv.reader(text, strict=True), None)
        except csv.Error as exc:
            raise NeedsReport(str(exc)) from None
    if header is None or not any(h.strip() for h in header):
        raise NeedsReport("empty file")
    header = [h.strip() for h in header]
    errors: list[FieldError] = check_header(entity, header, file=member.name)
    if errors:
        raise NeedsReport(str(errors[0]))
    return header


def chunks(member: Member, header: list[str], plain: bool) -> Iterator[dict[str, Any]]:
    """The file's rows after the header, as {column: pyarrow string array} per chunk."""
    return _arrow_chunks(member, header) if plain else _csv_chunks(member, header)


def _arrow_chunks(member: Member, header: list[str]) -> Iterator[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = [f"c{i}" for i in range(len(header))]
    read = pcsv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK, use_threads=False)
    parse = pcsv.ParseOptions(quote_char=False, double_quote=False)
    convert = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                                  quoted_strings_can_be_null=False)
    with member.open() as fh:
        try:
            # the system allocator gives a block's memory back when it is freed (mimalloc keeps it)
            reader = pcsv.open_csv(fh, read_options=read, parse_options=parse, convert_options=convert,
                                   memory_pool=pa.system_memory_pool())
            for batch in reader:
                yield {h: batch.column(i) for i, h in enumerate(header)}
        except pa.ArrowInvalid as exc:  # a ragged row (the exact reader decides what it is)
            raise NeedsReport(str(exc)) from None


def _csv_chunks(member: Member, header: list[str]) -> Iterator[dict[str, Any]]:
    import pyarrow as pa

    width = len(header)
    with member.open() as fh, io.TextIOWrapper(fh, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text, strict=True)
        try:
            next(reader)
            rows: list[list[str]] = []
            for cells in reader:
                if len(cells) != width:
                    if not any(c.strip() for c in cells):
                        continue  # a blank line, as the exact reader skips it
                    raise NeedsReport("ragged row")
                rows.append(cells)
                if len(rows) == ROWS:
                    yield {h: pa.array(col, pa.string()) for h, col in zip(header, zip(*rows), strict=True)}
                    rows = []
            if rows:
                yield {h: pa.array(col, pa.string()) for h, col in zip(header, zip(*rows), strict=True)}
        except csv.Error as exc:
            raise NeedsReport(str(exc)) from None


__all__ = ["FILE_COLUMN", "Member", "NeedsReport", "Scan", "chunks", "entity_of", "members", "read_header", "scan"]
