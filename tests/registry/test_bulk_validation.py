"""Property: the column-wise checks of the streaming import (`validation.check_columns`) agree
with the per-row validator (`parse_row`, then `check_record` as `plan_bulk` applies it) on random
rows: the same rows accepted, the same values, the same messages; and the audit JSON built
column by column is byte for byte `audit.to_json` of the row."""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Any

import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from registry import codes
from registry.bulk import _json_objects
from registry.security.audit import to_json
from registry.validation import (
    ENTITIES,
    MISSING_CODE_COLUMNS,
    PYTHON_WHITESPACE,
    check_columns,
    check_record,
    parse_row,
)

TODAY = dt.date(2026, 11, 24)
WEIRD = ["", " ", "\u3000", "\x1f1", "NE", "UNK", " NE ", "\x00", "a\x00b", "é", '"q"', "a\\b", "\u2028x", "x" * 201, "é" * 65,
         "-0", "+3", "3.0", "1e3", "NaN", "inf", "9" * 12, "0", "-1", "2020-02-30", "2020-02-29", "2019-02-29", "0000-01-01",
         "1899-12-31", "1900-01-01", "2026-11-24", "2026-11-25", "2020-1-01", "２０２０-01-01", " 2020-01-01", "true", "True",
         "false", "0.5", "9.5", "10", "10.0", "1.50", "GB", "gb", "G1", "RRMS", "rrms"]


def cell_for(kind: str, column: Any) -> st.SearchStrategy[str]:
    """Valid-looking text of the column's kind, mixed with odd and wrong text."""
    good: st.SearchStrategy[str]
    if kind == "date":
        good = st.dates(dt.date(1890, 1, 1), dt.date(2027, 12, 31)).map(dt.date.isoformat)
    elif kind in ("int", "count", "year", "grade"):
        good = st.integers(-5, 3000).map(str)
    elif kind in ("number", "edss"):
        good = st.sampled_from([*(f"{v:g}" for v in codes.EDSS_STEPS), "5.1", "8.93", "-0.5", "1e-3"])
    elif kind == "bool":
        good = st.sampled_from(["true", "false"])
    elif kind == "code":
        good = st.sampled_from(list(column.codes) or ["X"])
    elif kind == "country":
        good = st.sampled_from(["NO", "SE", "GB", "gb", "N0"])
    else:
        good = st.text(min_size=0, max_size=12)
    return st.one_of(good, good, good, st.sampled_from(WEIRD), st.text(max_size=6))


@st.composite
def chunks(draw: st.DrawFn) -> tuple[str, list[str], list[list[str]]]:
    entity = draw(st.sampled_from(list(ENTITIES)))
    spec = ENTITIES[entity]
    columns = [c for c in spec.columns if c.required or draw(st.booleans())]
    rows = draw(st.lists(st.tuples(*[cell_for(c.kind, c) for c in columns]), min_size=1, max_size=12))
    return entity, [c.name for c in columns], [list(r) for r in rows]


def per_row(entity: str, header: list[str], row: list[str]) -> tuple[dict[str, Any], list[tuple[str, Any, str]]]:
    values, errors = parse_row(entity, dict(zip(header, row, strict=True)))
    if not errors:
        errors = check_record(entity, values, today=TODAY)
    return values, [(e.column, e.value, e.message) for e in errors]


def test_the_whitespace_list_is_what_str_strip_removes() -> None:
    assert set(PYTHON_WHITESPACE) == {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}


@settings(max_examples=int(os.environ.get("MSREG_BULK_EXAMPLES", "300")), deadline=None)
@given(chunk=chunks())
@example(chunk=("visits", ["centre_code", "patient_code", "visit_date", "edss"], [["A", "P", "2020-02-30", "NE"], ["A", " P ", "2020-02-28", "UNK"]]))
@example(chunk=("transplants", ["centre_code", "patient_code", "transplant_number", "transplant_date", "phenotype", "cd34_dose",
                                "neutrophil_engraftment_date"], [["A", "P", "1", "2020-01-01", "RRMS", "-1", "2020-01-01"]]))
def test_column_checks_agree_with_the_row_validator(chunk: tuple[str, list[str], list[list[str]]]) -> None:
    entity, header, rows = chunk
    cells = {h: pa.array([r[i] for r in rows], pa.string()) for i, h in enumerate(header)}
    bulk = check_columns(entity, cells, today=TODAY, cache={})
    got: dict[int, list[tuple[str, Any, str]]] = {}
    for row, column, value, message in bulk.errors:
        got.setdefault(row, []).append((column, value, message))
    coded = MISSING_CODE_COLUMNS.get(entity, ())
    for i, row in enumerate(rows):
        values, errors = per_row(entity, header, row)
        assert got.get(i, []) == errors, (row, got.get(i), errors)
        if errors:
            continue
        for name in header:
            col = bulk.columns[name]
            v = values[name]
            code = col.codes[i].as_py() if col.codes is not None else None
            if name in coded and code is not None:
                assert (code, col.typed[i].as_py()) == (v, None)
            else:
                assert col.typed[i].as_py() == v, (name, row)
            assert col.json[i].as_py() == to_json({"v": v})[5:-1], (name, v)  # type: ignore[index]
        full = dict.fromkeys(ENTITIES[entity].column_names) | values
        frags = {n: (bulk.columns[n].json if n in bulk.columns else pa.array(["null"] * len(rows))) for n in full}
        assert _json_objects(frags)[i].as_py() == to_json(full)
