"""Every rule of docs/bundle-format.md "What is rejected", in one module.

Import, CLI and dashboard forms all reach these rules through `registry.services`, so a value
refused in one door is refused in all of them. The rules are pure functions over plain values
(bundle column names, Python types); reading files and databases happens elsewhere.

Three layers, from cheap to expensive:
- `parse_row` turns CSV text (or already-typed form values) into Python values: dates, numbers,
  booleans; malformed text and missing required values are errors.
- `check_record` applies the rules that need only the record itself: code lists, EDSS steps,
  counts >= 0, grade 1-5, birth year and date ranges, ISO country format, MS onset before
  diagnosis.
- The cross-record rules take the related records: `check_duplicates` (two rows with one key),
  `check_references` (patient and centre exist in the bundle or the registry) and
  `check_history` (one patient's dates in order, against the union of the registry's data and
  the incoming records).

Decisions where docs/bundle-format.md is silent (a careful clinician-statistician's reading):
- Surrounding whitespace is stripped from every cell; a cell of only spaces is missing.
- Booleans are exactly `true`/`false` and codes exactly as listed (upper case); no guessing.
- Numbers are plain decimal text; a count written `3.0` is malformed (counts are whole numbers).
- Free-text lengths follow the database columns (centre_code 16, name 200, patient_code 64), so
  SQLite and PostgreSQL accept exactly the same data.
- "Transplant before birth" is applied to every clinical date (onset, diagnosis, transplant,
  visit, relapse, MRI, adverse event, death, last contact): a year before `birth_year` is
  impossible for any of them.
- "Any dated record after the death date" includes `baseline_edss_date` and
  `last_contact_date`; a record *on* the death date is accepted.
- `transplant_number` must follow the transplant dates (numbers in date order, no two
  transplants on one date) and run 1, 2, ... without gaps: a transplant 2 without a
  transplant 1 means follow-up is counted from the wrong day.
- A cross-record error is reported only when at least one record involved is new or changed,
  and it is attached to the new record (a visit in the bundle after a death already in the
  registry is an error on the visit's row). A new death that precedes the first transplant, or a
  record already in the registry, is an error on the death row. Unchanged data never blocks an
  import, so re-importing a bundle is always idempotent.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from registry import codes

# ---------------------------------------------------------------------------------------------
# Errors


@dataclass(slots=True)
class FieldError:
    """One rejected value: which entity/column, the value, why, and where (file and CSV line)."""

    entity: str
    column: str
    value: Any
    message: str
    line: int | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = self.file or f"{self.entity}.csv"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.column}: {self.message}"


FILE_COLUMN = "(file)"  # column of errors about a whole file (unknown file, invalid UTF-8)
ROW_COLUMN = "(row)"  # column of errors about a whole row (wrong number of cells)

# ---------------------------------------------------------------------------------------------
# The format: files, columns, kinds, keys


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str  # text, code, int, count, year, number, date, edss, bool, grade, country
    required: bool = False
    codes: tuple[Any, ...] = ()
    max_length: int | None = None


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """One bundle file: its stem, its database table, its columns and its natural key."""

    name: str
    table: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    file: str = field(init=False, repr=False, compare=False)
    column_names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    required: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # computed once: these are read for every row of a million-row import
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})
        object.__setattr__(self, "file", f"{self.name}.csv")
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))
        object.__setattr__(self, "required", tuple(c.name for c in self.columns if c.required))

    @property
    def dated_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.kind == "date")


def _c(name: str, kind: str = "text", required: bool = False, codes_: tuple[Any, ...] = (), max_length: int | None = None) -> Column:
    return Column(name, kind, required, codes_, max_length)


_CENTRE = _c("centre_code", "text", True, max_length=16)
_PATIENT = _c("patient_code", "text", True, max_length=64)

ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        EntitySpec(
            "centres",
            "centres",
            (_CENTRE, _c("name", "text", True, max_length=200), _c("country", "country")),
            ("centre_code",),
        ),
        EntitySpec(
            "patients",
            "patients",
            (
                _CENTRE,
                _PATIENT,
                _c("sex", "code", True, codes.SEX),
                _c("birth_year", "year", True),
                _c("ms_onset_date", "date"),
                _c("ms_diagnosis_date", "date"),
                _c("last_contact_date", "date"),
                _c("followup_status", "code", codes_=codes.FOLLOWUP_STATUS),
                _c("followup_status_date", "date"),
                _c("followup_status_reason", "text", max_length=500),
            ),
            ("centre_code", "patient_code"),
        ),
        EntitySpec(
            "transplants",
            "transplants",
            (
                _CENTRE,
                _PATIENT,
                _c("transplant_number", "int", True),
                _c("transplant_date", "date", True),
                _c("phenotype", "code", True, codes.PHENOTYPE),
                _c("baseline_edss", "edss"),
                _c("baseline_edss_date", "date"),
                _c("relapses_12m", "count"),
                _c("relapses_24m", "count"),
                _c("gd_lesions_baseline", "count"),
                _c("prior_dmt_count", "count"),
                _c("mobilisation", "code", codes_=codes.MOBILISATION),
                _c("conditioning", "code", codes_=codes.CONDITIONING),
                _c("conditioning_intensity", "code", codes_=codes.CONDITIONING_INTENSITY),
                _c("cd34_selection", "bool"),
                _c("neutrophil_engraftment_date", "date"),
                _c("platelet_engraftment_date", "date"),
                _c("hospital_days", "count"),
                _c("atg_given", "bool"),
                _c("cd34_dose", "number"),
            ),
            ("centre_code", "patient_code", "transplant_number"),
        ),
        EntitySpec(
            "visits",
            "visits",
            (_CENTRE, _PATIENT, _c("visit_date", "date", True), _c("edss", "edss")),
            ("centre_code", "patient_code", "visit_date"),
        ),
        EntitySpec(
            "relapses",
            "relapses",
            (
                _CENTRE,
                _PATIENT,
                _c("onset_date", "date", True),
                _c("severity", "code", codes_=codes.RELAPSE_SEVERITY),
                _c("steroids", "bool"),
                _c("recovery", "code", codes_=codes.RELAPSE_RECOVERY),
            ),
            ("centre_code", "patient_code", "onset_date"),
        ),
        EntitySpec(
            "mri",
            "mri_scans",
            (
                _CENTRE,
                _PATIENT,
                _c("scan_date", "date", True),
                _c("new_t2", "count"),
                _c("gd_enhancing", "count"),
                _c("t2_lesions_total", "count"),
                _c("spinal_cord_involvement", "bool"),
                _c("brainstem_involvement", "bool"),
            ),
            ("centre_code", "patient_code", "scan_date"),
        ),
        EntitySpec(
            "adverse_events",
            "adverse_events",
            (
                _CENTRE,
                _PATIENT,
                _c("onset_date", "date", True),
                _c("category", "code", True, codes.AE_CATEGORY),
                _c("grade", "grade", True),
                _c("serious", "bool"),
                _c("description", "text"),
            ),
            ("centre_code", "patient_code", "onset_date", "category"),
        ),
        EntitySpec(
            "deaths",
            "deaths",
            (_CENTRE, _PATIENT, _c("death_date", "date", True), _c("cause", "code", True, codes.DEATH_CAUSE)),
            ("centre_code", "patient_code"),
        ),
        EntitySpec(
            "treatments",
            "treatments",
            (
                _CENTRE,
                _PATIENT,
                _c("drug", "code", True, codes.DMT_DRUG),
                _c("start_date", "date", True),
                _c("stop_date", "date"),
                _c("stop_reason", "code", codes_=codes.DMT_STOP_REASON),
            ),
            ("centre_code", "patient_code", "drug", "start_date"),
        ),
    )
}

# Patient-level children, in bundle order; their rows refer to a patient.
CHILD_ENTITIES: tuple[str, ...] = ("transplants", "visits", "relapses", "mri", "adverse_events", "deaths", "treatments")


# Optional clinical fields that take a missing-data code (codes.MISSING_CODES) instead of a
# value: not required, not free text, not dates (date order rules need real dates).
# An entity listed here needs a `missing_codes` column on its table (registry.models): a new
# clinical file takes the codes once it is added to this list together with that column.
MISSING_CODE_KINDS = frozenset({"edss", "count", "code", "bool", "number"})
MISSING_CODE_ENTITIES: tuple[str, ...] = ("transplants", "visits", "relapses", "mri", "adverse_events")
MISSING_CODE_COLUMNS: dict[str, tuple[str, ...]] = {
    e: tuple(c.name for c in ENTITIES[e].columns if not c.required and c.kind in MISSING_CODE_KINDS)
    for e in MISSING_CODE_ENTITIES
}
_MISSING = frozenset(codes.MISSING_CODES)
_CODED: dict[str, frozenset[str]] = {e: frozenset(MISSING_CODE_COLUMNS.get(e, ())) for e in ENTITIES}


def is_missing_code(entity: str, column: str, value: Any) -> bool:
    """True for NE/UNK in a column that takes missing-data codes."""
    return type(value) is str and value in _MISSING and column in _CODED.get(entity, frozenset())


def spec_of(entity: str) -> EntitySpec:
    try:
        return ENTITIES[entity]
    except KeyError:
        raise ValueError(f"unknown entity {entity!r}; expected one of {', '.join(ENTITIES)}") from None


def key_of(entity: str, values: Mapping[str, Any]) -> tuple[Any, ...]:
    """The natural key (docs/bundle-format.md "Keys") of a record, as a tuple in key-column order."""
    return tuple([values.get(k) for k in ENTITIES[entity].key])


# ---------------------------------------------------------------------------------------------
# Parsing text (or typed form values) into Python values


class _Bad(Exception):
    """A value that cannot be converted; the message says why."""


def _text(s: str) -> str:
    return s


def _int(s: str) -> int:
    t = s.lstrip("+-")
    if not t.isdigit() or not t.isascii():
        raise _Bad(f"{s!r} is not a whole number")
    n = int(s)
    if not -MAX_INT <= n <= MAX_INT:  # the database's INTEGER columns (PostgreSQL int4)
        raise _Bad(f"{s[:20]!r} is outside the range of a whole-number column (-{MAX_INT} to {MAX_INT})")
    return n


MAX_INT = 2_147_483_647  # found by fuzzing: larger values crashed the insert (int4 / SQLite int64)


def _number(s: str) -> float:
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise _Bad(f"{s!r} is not a number") from None
    if not d.is_finite():
        raise _Bad(f"{s!r} is not a number")
    return float(d)


def _date(s: str) -> dt.date:
    if len(s) != 10 or s[4] != "-" or s[7] != "-" or not s.isascii():
        raise _Bad(f"{s!r} is not a date (expected YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        if not (s[:4] + s[5:7] + s[8:]).isdigit():
            raise _Bad(f"{s!r} is not a date (expected YYYY-MM-DD)") from None
        raise _Bad(f"{s!r} is not a valid calendar date") from None


def _bool(s: str) -> bool:
    if s == "true":
        return True
    if s == "false":
        return False
    raise _Bad(f"{s!r} is not a boolean (expected true or false)")


_TEXT_PARSERS: dict[str, Callable[[str], Any]] = {
    "text": _text,
    "code": _text,
    "country": _text,
    "int": _int,
    "count": _int,
    "year": _int,
    "grade": _int,
    "number": _number,
    "edss": _number,
    "date": _date,
    "bool": _bool,
}


def _typed(kind: str, v: Any) -> Any:
    """Accept an already-typed value from a form, checking it has the right Python type."""
    if kind in ("text", "code", "country"):
        if isinstance(v, str):
            return v
    elif kind in ("int", "count", "year", "grade"):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, int) and not isinstance(v, bool):
            if not -MAX_INT <= v <= MAX_INT:
                raise _Bad(f"{v} is outside the range of a whole-number column (-{MAX_INT} to {MAX_INT})")
            return v
    elif kind in ("number", "edss"):
        if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
            return float(v)
    elif kind == "date":
        if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            return v
        if isinstance(v, dt.datetime):
            return v.date()
    elif kind == "bool":
        if isinstance(v, bool):
            return v
    raise _Bad(f"{v!r} is not a valid {kind} value")


def parse_value(column: Column, raw: Any) -> Any:
    """One cell to a Python value (None when missing); raises `_Bad` with the reason."""
    if raw is None:
        return None
    if isinstance(raw, str):
        s = raw.strip()
        if s == "":
            return None
        if "\x00" in s:  # PostgreSQL cannot store it; SQLite's length() stops at it (CHECKs fail)
            raise _Bad(f"{s[:20]!r} contains a NUL character (0x00), which cannot be stored")
        return _TEXT_PARSERS[column.kind](s)
    return _typed(column.kind, raw)


def parse_row(
    entity: str,
    raw: Mapping[str, Any],
    *,
    line: int | None = None,
    file: str | None = None,
) -> tuple[dict[str, Any], list[FieldError]]:
    """Convert one row (CSV text or typed values) into Python values.

    Only the columns present in `raw` appear in the result: a column absent from a bundle file
    is "not provided" (an existing value is kept), while an empty cell is a missing value.
    Errors: unknown column, malformed value, missing required value (when its column is present,
    or absent and `raw` is meant to be a complete record - see `check_required`).
    """
    spec = spec_of(entity)
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    by_name = spec.by_name
    parsers = _COLUMN_PARSERS[entity]
    coded = _CODED[entity]
    for name, text in raw.items():
        col = by_name.get(name)
        if col is None:
            errors.append(
                FieldError(entity, name, text, f"unknown column {name!r}; {spec.file} has {', '.join(spec.column_names)}", line, file)
            )
            continue
        if type(text) is str:  # the common case (CSV text)
            v, message = _cell(text, col.required, name in coded, parsers[name])
            if message is not None:
                errors.append(FieldError(entity, name, text, message, line, file))
                continue
            values[name] = v
            continue
        try:
            v = parse_value(col, text)
        except _Bad as exc:
            errors.append(FieldError(entity, name, text, str(exc), line, file))
            continue
        if v is None and col.required:
            errors.append(FieldError(entity, name, text, "required value is missing", line, file))
            continue
        values[name] = v
    return values, errors


def parse_cell(entity: str, name: str, text: str) -> tuple[Any, str | None]:
    """One CSV cell of a known column as `parse_row` reads it: (value, None) or (None, message).

    Shared with the bulk import, which calls it once per distinct text of a column."""
    return _cell(text, ENTITIES[entity].by_name[name].required, name in _CODED[entity], _COLUMN_PARSERS[entity][name])


def _cell(text: str, required: bool, coded: bool, parse: Callable[[str], Any] | None) -> tuple[Any, str | None]:
    v = text.strip() or None
    if v is None:
        return None, ("required value is missing" if required else None)
    if coded and v in _MISSING:
        return v, None  # a missing-data code, kept as the value in bundle terms
    if "\x00" in v:  # as in parse_value: the databases cannot store it
        return None, f"{v[:20]!r} contains a NUL character (0x00), which cannot be stored"
    if parse is None:
        return v, None
    try:
        return parse(v), None
    except _Bad as exc:
        return None, str(exc)


_REQUIRED_SETS: dict[str, frozenset[str]] = {e: frozenset(spec.required) for e, spec in ENTITIES.items()}

# Text parser of each column (None: the stripped text is the value), looked up once per cell.
_COLUMN_PARSERS: dict[str, dict[str, Callable[[str], Any] | None]] = {
    entity: {c.name: (None if _TEXT_PARSERS[c.kind] is _text else _TEXT_PARSERS[c.kind]) for c in spec.columns}
    for entity, spec in ENTITIES.items()
}


def check_required(
    entity: str, values: Mapping[str, Any], *, line: int | None = None, file: str | None = None
) -> list[FieldError]:
    """Required columns absent from a complete record (a new record from a form or a bundle)."""
    required = ENTITIES[entity].required
    if values.keys() >= _REQUIRED_SETS[entity] and None not in [values[n] for n in required]:
        return []  # the common case, without building anything
    return [FieldError(entity, name, None, "required value is missing", line, file) for name in required if values.get(name) is None]


def check_header(entity: str, header: Sequence[str], *, file: str | None = None) -> list[FieldError]:
    """Header (line 1) of a bundle file: unknown, duplicated and missing required columns."""
    spec = spec_of(entity)
    file = file or spec.file
    errors: list[FieldError] = []
    seen: set[str] = set()
    for name in header:
        if name not in spec.by_name:
            errors.append(
                FieldError(entity, name, name, f"unknown column {name!r}; {spec.file} has {', '.join(spec.column_names)}", 1, file)
            )
        elif name in seen:
            errors.append(FieldError(entity, name, name, f"column {name!r} appears twice in the header", 1, file))
        seen.add(name)
    for name in spec.required:
        if name not in seen:
            errors.append(FieldError(entity, name, None, f"required column {name!r} is missing from the header", 1, file))
    return errors


# ---------------------------------------------------------------------------------------------
# Single-record rules

_COUNTRY = re.compile(r"[A-Z]{2}")
MIN_DATE = dt.date(codes.MIN_YEAR, 1, 1)


def format_edss(v: float) -> str:
    """EDSS as docs/bundle-format.md writes it: 0, 1.0, 1.5, ... 9.5, 10."""
    if v == 0:
        return "0"
    if v == 10:
        return "10"
    return f"{v:.1f}"


def check_record(
    entity: str,
    values: Mapping[str, Any],
    *,
    line: int | None = None,
    file: str | None = None,
    today: dt.date | None = None,
) -> list[FieldError]:
    """Rules that need only this record (typed values, as from `parse_row`)."""
    spec = ENTITIES[entity]
    today = today or dt.date.today()
    errors: list[FieldError] = []
    by_name = spec.by_name
    coded = _CODED[entity]
    for name, v in values.items():
        if v is None or name not in by_name or (coded and name in coded and type(v) is str and v in _MISSING):
            continue
        message = value_problem(by_name[name], v, today)
        if message is not None:
            errors.append(FieldError(entity, name, v, message, line, file))
    for column, value, message in record_rules(entity, values):
        errors.append(FieldError(entity, column, value, message, line, file))
    return errors


def value_problem(col: Column, v: Any, today: dt.date) -> str | None:
    """The single-value rule of `check_record` for one typed value (not None, not a missing-data
    code), or None when it passes. Shared with the bulk import, which applies it once per
    distinct value of a column."""
    kind = col.kind
    if kind == "date":
        if v < MIN_DATE:
            return f"{v.isoformat()} is before {codes.MIN_YEAR}"
        if v > today:
            return f"{v.isoformat()} is in the future (today is {today.isoformat()})"
    elif kind == "code":
        if v not in col.codes:
            return f"{v!r} is not in the code list ({' '.join(col.codes)})"
    elif kind == "edss":
        if not codes.is_edss_step(v):
            return f"{v:g} is not an EDSS step (0, 1.0, 1.5, ... 9.5, 10; there is no 0.5)"
    elif kind == "count":
        if v < 0:
            return f"{v} is below 0 (a count)"
    elif kind == "grade":
        if v not in codes.AE_GRADES:
            return f"{v} is not a CTCAE grade (1 to 5)"
    elif kind == "year":
        if not codes.MIN_YEAR <= v <= today.year:
            return f"{v} is outside {codes.MIN_YEAR} to {today.year}"
    elif kind == "country":
        if not _COUNTRY.fullmatch(v):
            return f"{v!r} is not an ISO 3166-1 alpha-2 code (two upper-case letters)"
    elif kind == "int":
        if col.name == "transplant_number" and v < 1:
            return f"{v} is not a transplant number (1, 2, ...)"
    elif kind == "text":
        if col.max_length is not None and len(v) > col.max_length:
            return f"{v[:20]!r}... is longer than {col.max_length} characters"
    return None


def record_rules(entity: str, values: Mapping[str, Any]) -> Iterator[tuple[str, Any, str]]:
    """The rules of `check_record` that compare columns of one record: (column, value, message)
    for each one broken. `RECORD_RULE_COLUMNS` names the columns each entity's rules read."""
    if entity == "patients":
        yield from _patient_rules(values)
    elif entity in _RECORD_RULES:
        yield from _RECORD_RULES[entity](values)


def _patient_rules(values: Mapping[str, Any]) -> Iterator[tuple[str, Any, str]]:
    onset, diagnosis = values.get("ms_onset_date"), values.get("ms_diagnosis_date")
    if onset is not None and diagnosis is not None and onset > diagnosis:
        yield "ms_onset_date", onset, f"MS onset {onset.isoformat()} is after the diagnosis on {diagnosis.isoformat()}"
    # a follow-up status is dated (lost since when, consent withdrawn on which day), and
    # a date alone says nothing; checked only when both columns are given (a bundle file
    # without them leaves the stored status untouched)
    if "followup_status" in values and "followup_status_date" in values:
        status, since = values.get("followup_status"), values.get("followup_status_date")
        if status is not None and since is None:
            yield "followup_status_date", None, "a follow-up status needs its date (since when)"
        elif status is None and since is not None:
            yield "followup_status", None, f"a follow-up status date ({since.isoformat()}) needs the status (LOST, TRANSFERRED or CONSENT_WITHDRAWN)"


def _treatment_rules(values: Mapping[str, Any]) -> Iterator[tuple[str, Any, str]]:
    """A treatment period never stops before it starts (a one-day period is allowed)."""
    start, stop = values.get("start_date"), values.get("stop_date")
    if start is not None and stop is not None and stop < start:
        yield "stop_date", stop, f"treatment stop {stop.isoformat()} is before its start on {start.isoformat()}"


def _transplant_rules(values: Mapping[str, Any]) -> Iterator[tuple[str, Any, str]]:
    """Haematology of one transplant: engraftment after the infusion, a dose that is not negative.

    Engraftment on the transplant day itself is refused: counts recover days after the infusion
    (day 0), never on it.
    """
    tx = values.get("transplant_date")
    for column, label in (("neutrophil_engraftment_date", "neutrophil"), ("platelet_engraftment_date", "platelet")):
        d = values.get(column)
        if d is not None and tx is not None and d <= tx:
            yield column, d, f"{label} engraftment {d.isoformat()} is not after the transplant on {tx.isoformat()}"
    dose = values.get("cd34_dose")
    # a missing-data code (NE/UNK) is the value in bundle terms: nothing to compare
    if dose is not None and not is_missing_code("transplants", "cd34_dose", dose) and dose < 0:
        yield "cd34_dose", dose, f"{dose:g} is below 0 (a CD34+ dose in 10^6 cells/kg)"


_RECORD_RULES: dict[str, Callable[[Mapping[str, Any]], Iterator[tuple[str, Any, str]]]] = {
    "treatments": _treatment_rules,
    "transplants": _transplant_rules,
}
# The columns `record_rules` reads, per entity: the bulk import hands it only these.
RECORD_RULE_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("ms_onset_date", "ms_diagnosis_date", "followup_status", "followup_status_date"),
    "transplants": ("transplant_date", "neutrophil_engraftment_date", "platelet_engraftment_date", "cd34_dose"),
    "treatments": ("start_date", "stop_date"),
}


# ---------------------------------------------------------------------------------------------
# Cross-record rules


@dataclass(slots=True)
class Record:
    """A record in bundle terms with where it came from.

    `new` is True for a record being inserted or changed (a bundle row that differs from the
    registry, a form submission), False for one already in the registry unchanged. Cross-record
    errors are attached only to new records.
    """

    entity: str
    values: dict[str, Any]
    new: bool = True
    line: int | None = None
    file: str | None = None
    valid: bool = True  # False when parsing failed: kept only for key and reference checks
    _key: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    def error(self, column: str, message: str) -> FieldError:
        return FieldError(self.entity, column, self.values.get(column), message, self.line, self.file)

    @property
    def key(self) -> tuple[Any, ...]:
        """The natural key, computed once (values of a Record are not changed after creation)."""
        if self._key is None:
            self._key = key_of(self.entity, self.values)
        return self._key


def describe_key(entity: str, key: Sequence[Any]) -> str:
    return ", ".join(f"{k}={_show(v)}" for k, v in zip(ENTITIES[entity].key, key, strict=True))


def _show(v: Any) -> str:
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def check_duplicates(records: Iterable[Record]) -> list[FieldError]:
    """Two records of one entity with the same key: the second (and later) ones are errors."""
    first: dict[tuple[str, tuple[Any, ...]], Record] = {}
    errors: list[FieldError] = []
    for rec in records:
        k = (rec.entity, rec.key)
        if None in k[1]:
            continue  # a missing key value is already an error of its own
        prev = first.get(k)
        if prev is None:
            first[k] = rec
            continue
        where = f"line {prev.line}" if prev.line is not None else "another record"
        col = ENTITIES[rec.entity].key[-1]
        errors.append(rec.error(col, f"duplicate key ({describe_key(rec.entity, k[1])}): same as {where}"))
    return errors


def check_references(
    records: Iterable[Record],
    *,
    centres: Iterable[str] | set[str],
    patients: Iterable[tuple[str, str]] | set[tuple[str, str]],
    sources: str = "the bundle or the registry",
) -> list[FieldError]:
    """Every patient row's centre and every child row's patient exist (bundle or registry).

    `sources` names where they were looked for, for the message.
    """
    centres = centres if isinstance(centres, (set, frozenset)) else set(centres)
    patients = patients if isinstance(patients, (set, frozenset)) else set(patients)
    errors: list[FieldError] = []
    for rec in records:
        if rec.entity == "centres":
            continue
        centre = rec.values.get("centre_code")
        if centre is None:
            continue
        if centre not in centres:
            errors.append(rec.error("centre_code", f"centre {centre!r} is not in {sources}"))
            continue
        if rec.entity == "patients":
            continue
        patient = rec.values.get("patient_code")
        if patient is not None and (centre, patient) not in patients:
            errors.append(
                rec.error("patient_code", f"patient {patient!r} of centre {centre!r} is not in {sources}")
            )
    return errors


# Dated columns of each child entity, with a label for messages.
_DATED: dict[str, tuple[tuple[str, str], ...]] = {
    "transplants": (
        ("transplant_date", "transplant"),
        ("baseline_edss_date", "baseline EDSS"),
        ("neutrophil_engraftment_date", "neutrophil engraftment"),
        ("platelet_engraftment_date", "platelet engraftment"),
    ),
    "visits": (("visit_date", "visit"),),
    "relapses": (("onset_date", "relapse"),),
    "mri": (("scan_date", "MRI scan"),),
    "adverse_events": (("onset_date", "adverse event"),),
    "deaths": (("death_date", "death"),),
    "treatments": (("start_date", "treatment start"), ("stop_date", "treatment stop")),
}
_PATIENT_DATES: tuple[tuple[str, str], ...] = (
    ("ms_onset_date", "MS onset"),
    ("ms_diagnosis_date", "MS diagnosis"),
    ("last_contact_date", "last contact"),
    ("followup_status_date", "follow-up status date"),
)


def _blame(a: Record, b: Record) -> Record | None:
    """The record an error about the pair (a, b) is attached to: a if new, else b if new."""
    if a.new:
        return a
    if b.new:
        return b
    return None


def check_history(patient: Record | None, children: Sequence[Record]) -> list[FieldError]:
    """Date order for one patient, over the registry's records and the incoming ones together.

    `children` are the patient's transplants, visits, relapses, MRI scans, adverse events and
    death (at most one), each a `Record` with values of its entity merged over what the registry
    holds. Only errors involving a new record are reported (see the module docstring).
    """
    errors: list[FieldError] = []
    transplants = sorted(
        (r for r in children if r.entity == "transplants" and r.values.get("transplant_number") is not None),
        key=lambda r: r.values["transplant_number"],
    )
    deaths = [r for r in children if r.entity == "deaths" and r.values.get("death_date") is not None]
    death = deaths[0] if deaths else None
    death_date: dt.date | None = death.values["death_date"] if death else None
    first_tx = min(
        (r for r in transplants if r.values.get("transplant_date") is not None),
        key=lambda r: r.values["transplant_date"],
        default=None,
    )
    first_tx_date: dt.date | None = first_tx.values["transplant_date"] if first_tx else None

    # transplant_number follows the dates and runs 1, 2, ... without gaps
    expected = 1
    prev: Record | None = None
    for tx in transplants:
        n = tx.values["transplant_number"]
        if n != expected and n >= 1:
            target = _blame(tx, tx)
            if target is not None:
                errors.append(target.error("transplant_number", f"transplant {n} but there is no transplant {expected}"))
        expected = n + 1
        d = tx.values.get("transplant_date")
        if prev is not None and d is not None and prev.values.get("transplant_date") is not None:
            pd = prev.values["transplant_date"]
            if d <= pd:
                target = _blame(tx, prev)
                if target is not None:
                    other = prev if target is tx else tx
                    errors.append(
                        target.error(
                            "transplant_number",
                            f"transplant {target.values['transplant_number']} on "
                            f"{target.values['transplant_date'].isoformat()} does not follow the dates: transplant "
                            f"{other.values['transplant_number']} is on {other.values['transplant_date'].isoformat()}",
                        )
                    )
        prev = tx

    # patient dates against the first transplant and the birth year
    birth_year = patient.values.get("birth_year") if patient else None
    if patient is not None:
        for col, label in _PATIENT_DATES[:2]:
            d = patient.values.get(col)
            if d is None or first_tx is None or first_tx_date is None or d <= first_tx_date:
                continue
            target = _blame(patient, first_tx)
            if target is patient:
                errors.append(patient.error(col, f"{label} {d.isoformat()} is after the first transplant on {first_tx_date.isoformat()}"))
            elif target is not None:
                errors.append(
                    first_tx.error("transplant_date", f"transplant on {first_tx_date.isoformat()} is before the {label} on {d.isoformat()}")
                )

    # every date: not before the birth year, not after the death
    dated: list[tuple[Record, str, str, dt.date]] = []
    if patient is not None:
        for col, label in _PATIENT_DATES:
            d = patient.values.get(col)
            if d is not None:
                dated.append((patient, col, label, d))
    for rec in children:
        for col, label in _DATED.get(rec.entity, ()):
            d = rec.values.get(col)
            if d is not None:
                dated.append((rec, col, label, d))

    death_conflicts_with_old: list[tuple[str, dt.date]] = []
    before_birth: list[tuple[str, dt.date]] = []  # dates a new birth_year conflicts with
    for rec, col, label, d in dated:
        if birth_year is not None and d.year < birth_year and patient is not None:
            if rec is not patient and rec.new:
                errors.append(rec.error(col, f"{label} {d.isoformat()} is before the birth year {birth_year}"))
            elif patient.new:
                before_birth.append((label, d))
        if death is None or death_date is None or rec is death or d <= death_date:
            continue
        if rec.new:
            errors.append(rec.error(col, f"{label} {d.isoformat()} is after the death on {death_date.isoformat()}"))
        elif death.new:
            death_conflicts_with_old.append((label, d))

    errors += check_treatment_overlaps([r for r in children if r.entity == "treatments"])
    if before_birth:
        label, d = min(before_birth, key=lambda x: x[1])
        errors.append(patient.error("birth_year", f"birth year {birth_year} is after the {label} on {d.isoformat()}"))  # type: ignore[union-attr]
    if death is not None and death.new and death_date is not None:
        if first_tx_date is not None and death_date < first_tx_date:
            errors.append(death.error("death_date", f"death {death_date.isoformat()} is before the first transplant on {first_tx_date.isoformat()}"))
        elif death_conflicts_with_old:
            label, d = min(death_conflicts_with_old, key=lambda x: x[1])
            errors.append(death.error("death_date", f"death {death_date.isoformat()} is before the {label} on {d.isoformat()} already in the registry"))
    return errors


def check_treatment_overlaps(treatments: Sequence[Record]) -> list[FieldError]:
    """Two periods of the same drug of one patient must not overlap.

    A period runs from `start_date` to `stop_date` (ongoing: open-ended). A period that starts on
    the day the previous one stopped follows it and is accepted (a restart, e.g. after a dose
    interruption recorded as two periods). The error goes to the new record of the pair, and
    names the other period.
    """
    errors: list[FieldError] = []
    by_drug: dict[Any, list[Record]] = {}
    for rec in treatments:
        if rec.values.get("drug") is not None and rec.values.get("start_date") is not None:
            by_drug.setdefault(rec.values["drug"], []).append(rec)
    for drug, periods in by_drug.items():
        if len(periods) < 2:
            continue
        periods.sort(key=lambda r: r.values["start_date"])
        for i, a in enumerate(periods):
            a_stop = a.values.get("stop_date")
            for b in periods[i + 1 :]:
                b_start = b.values["start_date"]
                if a_stop is not None and b_start >= a_stop:
                    break  # sorted by start: no later period overlaps a either
                target = _blame(b, a)
                if target is None:
                    continue
                other = a if target is b else b
                stop = other.values.get("stop_date")
                until = f"to {stop.isoformat()}" if stop is not None else "ongoing"
                errors.append(
                    target.error(
                        "start_date",
                        f"{drug} period from {target.values['start_date'].isoformat()} overlaps the {drug} period "
                        f"from {other.values['start_date'].isoformat()} ({until})",
                    )
                )
    return errors


# ---------------------------------------------------------------------------------------------
# The same rules applied column by column (the bulk import)
#
# A bundle import checks a chunk of rows (pyarrow string columns, one per CSV column) at once.
# No rule is restated here: free text is checked with a vectorised test that only decides
# whether a cell is plain (no surrounding whitespace, no NUL; then its value is the cell
# itself) and within `max_length`, and every other cell goes through `parse_cell` and
# `value_problem` once per *distinct* text of its column (dates, codes, counts and EDSS take a
# few thousand distinct texts however large the bundle). The rules across columns
# (`record_rules`) run once per row on the few columns they read. tests/registry/
# test_bulk_validation.py checks on random rows that this agrees with `parse_row` and
# `check_record`: the same rows accepted, the same values, the same messages.

# Every character str.strip() removes (str.isspace); tests check the list is complete.
PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WS_CLASS = "".join(f"\\x{{{ord(c):x}}}" for c in PYTHON_WHITESPACE)
_NOT_PLAIN = f"^[{_WS_CLASS}]|[{_WS_CLASS}]$|\\x00"  # RE2: text that strip() or the NUL rule changes
_JSON_PLAIN = r"^[ !#-\[\]-~]*$"  # printable ASCII without quote and backslash: JSON is "text"
_ARROW_TYPES = {"int": "int64", "count": "int64", "year": "int64", "grade": "int64", "number": "float64",
                "edss": "float64", "date": "date32", "bool": "bool_", "code": "string", "country": "string", "text": "string"}
_CACHE_LIMIT = 200_000  # distinct texts remembered per column (dates and codes stay far below)


def json_scalar(value: Any) -> str:
    """A value as the audit trail's canonical JSON writes it (dates as ISO strings)."""
    if isinstance(value, dt.date):
        return f'"{value.isoformat()}"'
    from registry.security.audit import to_json  # the one canonical encoder

    return to_json({"v": value})[5:-1]  # type: ignore[index]


@dataclass(slots=True)
class BulkColumn:
    """One checked column of a chunk: typed values for the database (missing-data codes as
    null, codes apart), the audit trail's JSON of each value in bundle terms, and for SQLite
    dates as the ISO text SQLAlchemy stores."""

    typed: Any  # pyarrow Array
    json: Any  # pyarrow StringArray
    sqlite: Any  # pyarrow Array
    codes: Any | None  # pyarrow StringArray of NE/UNK (null elsewhere), for columns that take them


@dataclass(slots=True)
class BulkChunk:
    columns: dict[str, BulkColumn]
    errors: list[tuple[int, str, Any, str]]  # (row in chunk, column, cell or value, message), row order

    def row_errors(self, entity: str, line_of: Callable[[int], int | None], file: str | None) -> list[FieldError]:
        return [FieldError(entity, c, v, m, line_of(r), file) for r, c, v, m in self.errors]


def check_columns(
    entity: str,
    cells: Mapping[str, Any],
    *,
    today: dt.date,
    cache: dict[str, dict[str, tuple[Any, ...]]] | None = None,
) -> BulkChunk:
    """`parse_row` + `check_record` of every row of a chunk, column by column.

    `cells` maps the file's known columns to pyarrow string arrays of equal length (the CSV
    text); `cache` (one per import and entity) remembers the outcome per distinct text.
    A row's errors are its parse errors if it has any, else its `check_record` errors, in the
    order `parse_row` and `check_record` give them.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    spec = ENTITIES[entity]
    cache = cache if cache is not None else {}
    coded = _CODED[entity]
    out: dict[str, BulkColumn] = {}
    parse_errs: dict[int, list[tuple[str, Any, str]]] = {}
    check_errs: dict[int, list[tuple[str, Any, str]]] = {}
    n = 0
    for name, arr in cells.items():
        col = spec.by_name[name]
        n = len(arr)
        if col.kind == "text":
            out[name] = _text_column(entity, col, arr, parse_errs, check_errs, pa, pc)
        else:
            out[name] = _coded_column(entity, col, arr, today, cache.setdefault(name, {}), name in coded,
                                      parse_errs, check_errs, pa, pc)
    rule_cols = [c for c in RECORD_RULE_COLUMNS.get(entity, ()) if c in out]
    if rule_cols and n:
        lists = []
        for c in rule_cols:
            typed = out[c].typed.to_pylist()
            codes_ = out[c].codes
            if codes_ is not None and codes_.null_count < len(codes_):
                typed = [cd if cd is not None else v for v, cd in zip(typed, codes_.to_pylist(), strict=True)]
            lists.append(typed)
        at = {c: i for i, c in enumerate(rule_cols)}
        for row, found in check_errs.items():  # check_record hands its rules the value it refused, too
            for column, value, _message in found:
                if column in at:
                    lists[at[column]][row] = value
        for row, vals in enumerate(zip(*lists, strict=True)):
            if all(v is None for v in vals) or row in parse_errs:
                continue
            for column, value, message in record_rules(entity, dict(zip(rule_cols, vals, strict=True))):
                check_errs.setdefault(row, []).append((column, value, message))
    errors: list[tuple[int, str, Any, str]] = []
    for row in sorted(parse_errs.keys() | check_errs.keys()):
        for column, value, message in parse_errs.get(row) or check_errs[row]:
            errors.append((row, column, value, message))
    return BulkChunk(out, errors)


def _text_column(entity: str, col: Column, arr: Any, parse_errs: dict, check_errs: dict, pa: Any, pc: Any) -> BulkColumn:
    """Free text: plain cells are their own value; others go through `parse_cell`."""
    name = col.name
    empty = pc.equal(arr, "")
    odd = pc.match_substring_regex(arr, _NOT_PLAIN)
    typed = pc.if_else(empty, pa.scalar(None, pa.string()), arr)
    if pc.any(odd).as_py():
        values = typed.to_pylist()
        texts = arr.to_pylist()
        for i in pc.indices_nonzero(odd).to_pylist():
            v, message = parse_cell(entity, name, texts[i])
            values[i] = None if message else v
            if message:
                parse_errs.setdefault(i, []).append((name, texts[i], message))
        typed = pa.array(values, pa.string())
    if col.required:
        for i in pc.indices_nonzero(pc.and_not(empty, odd)).to_pylist():
            parse_errs.setdefault(i, []).append((name, "", "required value is missing"))
    if col.max_length is not None:
        too_long = pc.fill_null(pc.greater(pc.utf8_length(typed), col.max_length), False)
        if pc.any(too_long).as_py():
            for i in pc.indices_nonzero(too_long).to_pylist():
                v = typed[i].as_py()
                check_errs.setdefault(i, []).append((name, v, value_problem(col, v, MIN_DATE)))
    plain = pc.fill_null(pc.match_substring_regex(typed, _JSON_PLAIN), True)
    json_ = pc.fill_null(pc.binary_join_element_wise('"', typed, '"', ""), "null")
    if not pc.all(plain).as_py():
        frags = json_.to_pylist()
        values = typed.to_pylist()
        for i in pc.indices_nonzero(pc.invert(plain)).to_pylist():
            frags[i] = json_scalar(values[i])
        json_ = pa.array(frags, pa.string())
    return BulkColumn(typed, json_, typed, None)


def _date_column(arr: Any, today: dt.date, pa: Any, pc: Any) -> BulkColumn | None:
    """Dates written YYYY-MM-DD (ASCII digits) that are calendar dates from MIN_DATE to today
    pass as `_date` and `value_problem` pass them; None when any cell is something else (empty
    cells are missing): those columns go through `parse_cell` per distinct text."""
    empty = pc.equal(arr, "")
    plain = pc.match_substring_regex(arr, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    if not pc.all(pc.or_(plain, empty)).as_py():
        return None
    text = pc.if_else(plain, arr, pa.scalar(None, pa.string()))
    days = pc.cast(pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
    ok = pc.and_(pc.greater_equal(days, pa.scalar(MIN_DATE, pa.date32())), pc.less_equal(days, pa.scalar(today, pa.date32())))
    ok = pc.and_(ok, pc.equal(pc.cast(days, pa.string()), text))  # strptime rolls 02-30 over to March
    if pc.sum(pc.cast(pc.fill_null(ok, False), pa.int64())).as_py() != len(arr) - pc.sum(pc.cast(empty, pa.int64())).as_py():
        return None
    json_ = pc.fill_null(pc.binary_join_element_wise('"', text, '"', ""), "null")
    return BulkColumn(days, json_, text, None)


def _coded_column(
    entity: str, col: Column, arr: Any, today: dt.date, cache: dict[str, tuple[Any, ...]], takes_codes: bool,
    parse_errs: dict, check_errs: dict, pa: Any, pc: Any,
) -> BulkColumn:
    """Any other kind: `parse_cell` and `value_problem` once per distinct text."""
    name = col.name
    if col.kind == "date" and not (col.required and pc.any(pc.equal(arr, "")).as_py()):
        fast = _date_column(arr, today, pa, pc)
        if fast is not None:
            return fast
    enc = pc.dictionary_encode(arr)
    texts = enc.dictionary.to_pylist()
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    results = []
    for text in texts:
        r = cache.get(text)
        if r is None:
            v, message = parse_cell(entity, name, text)
            stage = "parse" if message else None
            code = v if takes_codes and type(v) is str and v in _MISSING else None
            if message is None and v is not None and code is None:
                message = value_problem(col, v, today)
                stage = "check" if message else None
            typed = None if (message or code is not None) else v
            sqlite = typed.isoformat() if isinstance(typed, dt.date) else typed
            r = (typed, json_scalar(None if message else v), sqlite, code, stage, message, v)
            cache[text] = r
        results.append(r)
    idx = enc.indices
    arrow_type = getattr(pa, _ARROW_TYPES[col.kind])()
    typed = pa.array([r[0] for r in results], arrow_type).take(idx)
    json_ = pa.array([r[1] for r in results], pa.string()).take(idx)
    sqlite = typed if col.kind != "date" else pa.array([r[2] for r in results], pa.string()).take(idx)
    codes_ = pa.array([r[3] for r in results], pa.string()).take(idx) if takes_codes else None
    bad = [i for i, r in enumerate(results) if r[4] is not None]
    if bad:
        for row in pc.indices_nonzero(pc.is_in(idx, pa.array(bad, idx.type))).to_pylist():
            r = results[idx[row].as_py()]
            target = parse_errs if r[4] == "parse" else check_errs
            target.setdefault(row, []).append((name, texts[idx[row].as_py()] if r[4] == "parse" else r[6], r[5]))
    return BulkColumn(typed, json_, sqlite, codes_)
