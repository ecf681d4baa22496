"""The data dictionary: one place for what every stored field and every code means to a person.

Why one module: forms, tables, quality texts and the exported dictionary must call a field by
the same name ("EDSS", "MS onset date") and a code by the same words ("Febrile neutropenia"),
and a column name like `gd_lesions_baseline` must never reach a user. A test
(tests/registry/test_dictionary.py) fails when a model column or a code in `registry.codes`
has no entry here, and names the line to add; `docs/data-dictionary.md` is generated from this
module by `msreg dictionary --output docs/data-dictionary.md`, and the same test fails when the
committed file differs from what would be generated.

Addressing: `table` is the database table (`mri_scans`) or the bundle file stem (`mri`); both
work everywhere. A child record's `centre_code`/`patient_code` (bundle columns that live on the
centre and patient) resolve to the centre's and patient's entries.

Kept light (no SQLAlchemy at import time): the CLI imports it for `msreg dictionary`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from registry import codes


@dataclass(frozen=True, slots=True)
class Field:
    """One stored field as a person reads it."""

    table: str
    column: str
    label: str
    type: str  # text, code, whole number, count, year, number, date, EDSS step, yes/no, grade, country
    unit: str = ""
    help: str = ""
    code_list: str = ""  # name of the list in registry.codes, for code fields
    exports: tuple[str, ...] = ()  # filled in by `field()` from the bundle format and the survival export


@dataclass(frozen=True, slots=True)
class CodeList:
    name: str  # as in registry.codes
    labels: dict[Any, str]


# ---------------------------------------------------------------------------------------------
# Code lists: every list of registry.codes (a test checks each code has a label here).

CODE_LISTS: dict[str, CodeList] = {
    c.name: c
    for c in (
        CodeList("SEX", {"F": "Female", "M": "Male", "U": "Unknown"}),
        CodeList(
            "PHENOTYPE",
            {"RRMS": "Relapsing-remitting MS", "SPMS": "Secondary progressive MS", "PPMS": "Primary progressive MS"},
        ),
        CodeList("MOBILISATION", {"CY_GCSF": "Cyclophosphamide + G-CSF", "GCSF": "G-CSF alone", "OTHER": "Other"}),
        CodeList(
            "CONDITIONING",
            {
                "BEAM_ATG": "BEAM + ATG",
                "CY_ATG": "Cyclophosphamide + ATG",
                "CY_ATG_RTX": "Cyclophosphamide + ATG + rituximab",
                "BU_CY_ATG": "Busulfan + cyclophosphamide + ATG",
                "FLU_CY_ATG": "Fludarabine + cyclophosphamide + ATG",
                "OTHER": "Other",
            },
        ),
        CodeList("CONDITIONING_INTENSITY", {"LOW": "Low", "INTERMEDIATE": "Intermediate", "HIGH": "High"}),
        CodeList("RELAPSE_SEVERITY", {"MILD": "Mild", "MODERATE": "Moderate", "SEVERE": "Severe"}),
        CodeList("RELAPSE_RECOVERY", {"COMPLETE": "Complete", "PARTIAL": "Partial", "NONE": "None", "UNKNOWN": "Unknown"}),
        CodeList(
            "AE_CATEGORY",
            {
                "INFECTION": "Infection",
                "VIRAL_REACTIVATION": "Viral reactivation",
                "FEBRILE_NEUTROPENIA": "Febrile neutropenia",
                "ENGRAFTMENT_SYNDROME": "Engraftment syndrome",
                "SECONDARY_AUTOIMMUNITY": "Secondary autoimmunity",
                "MALIGNANCY": "Malignancy",
                "ORGAN_TOXICITY": "Organ toxicity",
                "OTHER": "Other",
            },
        ),
        CodeList(
            "DEATH_CAUSE",
            {"TRANSPLANT_RELATED": "Transplant-related", "MS": "Multiple sclerosis", "OTHER": "Other", "UNKNOWN": "Unknown"},
        ),
        CodeList("FOLLOWUP_STATUS", {"LOST": "Lost to follow-up", "TRANSFERRED": "Transferred to another centre",
                                     "CONSENT_WITHDRAWN": "Consent withdrawn"}),
        CodeList("MISSING_CODES", {"NE": "Not evaluated", "UNK": "Unknown"}),
        CodeList(
            "DMT_DRUG",
            {
                "INTERFERON_BETA": "Interferon beta",
                "GLATIRAMER": "Glatiramer acetate",
                "TERIFLUNOMIDE": "Teriflunomide",
                "DIMETHYL_FUMARATE": "Dimethyl fumarate",
                "DIROXIMEL_FUMARATE": "Diroximel fumarate",
                "FINGOLIMOD": "Fingolimod",
                "SIPONIMOD": "Siponimod",
                "OZANIMOD": "Ozanimod",
                "PONESIMOD": "Ponesimod",
                "CLADRIBINE": "Cladribine",
                "NATALIZUMAB": "Natalizumab",
                "ALEMTUZUMAB": "Alemtuzumab",
                "OCRELIZUMAB": "Ocrelizumab",
                "OFATUMUMAB": "Ofatumumab",
                "UBLITUXIMAB": "Ublituximab",
                "RITUXIMAB": "Rituximab",
                "MITOXANTRONE": "Mitoxantrone",
                "CYCLOPHOSPHAMIDE": "Cyclophosphamide",
                "OTHER": "Other",
            },
        ),
        CodeList(
            "DMT_STOP_REASON",
            {
                "INEFFICACY": "Lack of efficacy",
                "INTOLERANCE": "Intolerance (side effects)",
                "SAFETY": "Safety concern",
                "PREGNANCY": "Pregnancy or pregnancy planned",
                "AHSCT": "Stopped for the transplant (AHSCT)",
                "PATIENT_CHOICE": "Patient's choice",
                "OTHER": "Other",
            },
        ),
        CodeList("QUERY_STATUS", {"OPEN": "Open", "ANSWERED": "Answered", "CLOSED": "Closed"}),
        CodeList(
            "AE_GRADES",
            {1: "Grade 1 (mild)", 2: "Grade 2 (moderate)", 3: "Grade 3 (severe)", 4: "Grade 4 (life-threatening)", 5: "Grade 5 (death)"},
        ),
    )
}

# Lists in registry.codes that are scales, not codes with words (shown as numbers).
NOT_CODE_LISTS: frozenset[str] = frozenset({"EDSS_STEPS"})


# ---------------------------------------------------------------------------------------------
# Fields: every column a user sees (a test checks each model column has one, or is internal).

_COUNT = "count"
_DATE = "date"

_MISSING_HELP = "Missing-data codes of this record's optional fields, as JSON (e.g. {\"edss\": \"NE\"}); the fields themselves are empty. In bundles the code is the field's cell."

FIELDS: tuple[Field, ...] = (
    # centres
    Field("centres", "centre_code", "Centre code", "text", help="Short code of the transplant centre, as agreed with the registry office."),
    Field("centres", "name", "Centre name", "text"),
    Field("centres", "country", "Country", "country", help="ISO 3166-1 alpha-2 code, e.g. NO, GB."),
    # patients
    Field("patients", "patient_code", "Patient code", "text", help="The centre's own code for the patient; never leaves the centre's view."),
    Field("patients", "study_id", "Study id", "text", help="Random pseudonym given by the registry; the only identifier in research exports."),
    Field("patients", "sex", "Sex", "code", code_list="SEX"),
    Field("patients", "birth_year", "Year of birth", "year", unit="year"),
    Field("patients", "ms_onset_date", "MS onset date", _DATE, help="Date of the first symptoms of MS (a best estimate is fine)."),
    Field("patients", "ms_diagnosis_date", "MS diagnosis date", _DATE),
    Field("patients", "last_contact_date", "Last contact date", _DATE, help="Latest date the patient was known to be alive."),
    Field("patients", "followup_status", "Follow-up status", "code", code_list="FOLLOWUP_STATUS",
          help="Blank while the patient is followed. Lost, transferred or consent withdrawn ends the overdue reminders; consent withdrawn also removes the patient from research exports."),
    Field("patients", "followup_status_date", "Follow-up status since", _DATE, help="The day the patient was lost, transferred or withdrew consent."),
    Field("patients", "followup_status_reason", "Follow-up status reason", "text", help="E.g. moved abroad; transferred to which centre."),
    # transplants
    Field("transplants", "transplant_number", "Transplant number", "whole number", help="1 for the first AHSCT, 2 for a second, ..."),
    Field("transplants", "transplant_date", "Transplant date", _DATE, help="Day of stem cell reinfusion (day 0 for the first transplant)."),
    Field("transplants", "phenotype", "MS phenotype at transplant", "code", code_list="PHENOTYPE"),
    Field("transplants", "baseline_edss", "Baseline EDSS", "EDSS step", unit="EDSS points", help="EDSS before transplant (0, 1.0, 1.5, ... 10)."),
    Field("transplants", "baseline_edss_date", "Baseline EDSS date", _DATE),
    Field("transplants", "relapses_12m", "Relapses in the 12 months before transplant", _COUNT, unit="relapses"),
    Field("transplants", "relapses_24m", "Relapses in the 24 months before transplant", _COUNT, unit="relapses"),
    Field("transplants", "gd_lesions_baseline", "Gd-enhancing lesions at baseline", _COUNT, unit="lesions", help="On the last MRI before transplant."),
    Field("transplants", "prior_dmt_count", "Prior disease-modifying treatments", _COUNT, unit="treatments"),
    Field("transplants", "mobilisation", "Mobilisation regimen", "code", code_list="MOBILISATION"),
    Field("transplants", "conditioning", "Conditioning regimen", "code", code_list="CONDITIONING"),
    Field("transplants", "conditioning_intensity", "Conditioning intensity", "code", code_list="CONDITIONING_INTENSITY"),
    Field("transplants", "cd34_selection", "CD34+ selection", "yes/no", help="Was the graft CD34+ selected?"),
    Field("transplants", "neutrophil_engraftment_date", "Neutrophil engraftment date", _DATE,
          help="First of three days with neutrophils ≥ 0.5 × 10⁹/L; after the transplant, not after death."),
    Field("transplants", "platelet_engraftment_date", "Platelet engraftment date", _DATE,
          help="First day with platelets ≥ 20 × 10⁹/L without transfusion; after the transplant, not after death."),
    Field("transplants", "hospital_days", "Days in hospital", _COUNT, unit="days", help="Days in hospital for the transplant."),
    Field("transplants", "atg_given", "ATG given", "yes/no", help="Was anti-thymocyte globulin given with the conditioning?"),
    Field("transplants", "cd34_dose", "CD34+ cell dose", "number", unit="× 10⁶ cells/kg",
          help="CD34+ cells infused, in millions per kg body weight."),
    # visits
    Field("visits", "visit_date", "Visit date", _DATE),
    Field("visits", "edss", "EDSS", "EDSS step", unit="EDSS points", help="Expanded Disability Status Scale: 0, 1.0, 1.5, ... 9.5, 10 (there is no 0.5)."),
    # relapses
    Field("relapses", "onset_date", "Relapse onset date", _DATE),
    Field("relapses", "severity", "Relapse severity", "code", code_list="RELAPSE_SEVERITY"),
    Field("relapses", "steroids", "Treated with steroids", "yes/no"),
    Field("relapses", "recovery", "Recovery from the relapse", "code", code_list="RELAPSE_RECOVERY"),
    # MRI
    Field("mri_scans", "scan_date", "MRI scan date", _DATE),
    Field("mri_scans", "new_t2", "New or enlarging T2 lesions", _COUNT, unit="lesions", help="Compared with the previous scan."),
    Field("mri_scans", "gd_enhancing", "Gd-enhancing lesions", _COUNT, unit="lesions"),
    Field("mri_scans", "t2_lesions_total", "Total T2 lesions", _COUNT, unit="lesions", help="Total number of T2 lesions on the scan."),
    Field("mri_scans", "spinal_cord_involvement", "Spinal cord lesions", "yes/no",
          help="Lesions in the spinal cord (counts for the aggressive-MS feature F4)."),
    Field("mri_scans", "brainstem_involvement", "Brainstem lesions", "yes/no",
          help="Lesions in the brainstem (counts for the aggressive-MS feature F4)."),
    # adverse events
    Field("adverse_events", "onset_date", "Adverse event onset date", _DATE),
    Field("adverse_events", "category", "Adverse event category", "code", code_list="AE_CATEGORY"),
    Field("adverse_events", "grade", "CTCAE grade", "grade", code_list="AE_GRADES", help="Common Terminology Criteria for Adverse Events, 1 (mild) to 5 (death)."),
    Field("adverse_events", "serious", "Serious adverse event", "yes/no"),
    Field("adverse_events", "description", "Description", "text"),
    # deaths
    Field("deaths", "death_date", "Death date", _DATE),
    Field("deaths", "cause", "Cause of death", "code", code_list="DEATH_CAUSE"),
    # disease-modifying treatments (periods before and after the transplant)
    Field("treatments", "drug", "Disease-modifying treatment", "code", code_list="DMT_DRUG"),
    Field("treatments", "start_date", "Treatment start date", _DATE),
    Field("treatments", "stop_date", "Treatment stop date", _DATE, help="Empty while the treatment is ongoing."),
    Field("treatments", "stop_reason", "Reason for stopping", "code", code_list="DMT_STOP_REASON"),
    # missing-data codes (stored beside the fields; in bundles and forms they are the field's value)
    *(Field(t, "missing_codes", "Missing-data codes", "JSON", help=_MISSING_HELP)
      for t in ("transplants", "visits", "relapses", "mri_scans", "adverse_events")),
    # data queries (clarification requests)
    Field("data_queries", "entity", "Record type", "text", help="Which kind of record the query is about (visits, relapses, ...)."),
    Field("data_queries", "record_key", "Record", "text", help="The record's key (e.g. its visit date), when the query is about one record."),
    Field("data_queries", "field_name", "Field", "text", help="The field the query is about, if one."),
    Field("data_queries", "question", "Question", "text"),
    Field("data_queries", "status", "Query status", "code", code_list="QUERY_STATUS"),
    Field("data_queries", "answer", "Answer", "text"),
    Field("data_queries", "opened_by", "Opened by", "text"),
    Field("data_queries", "opened_at", "Opened at (UTC)", "timestamp"),
    Field("data_queries", "answered_by", "Answered by", "text"),
    Field("data_queries", "answered_at", "Answered at (UTC)", "timestamp"),
    Field("data_queries", "closed_by", "Closed by", "text"),
    Field("data_queries", "closed_at", "Closed at (UTC)", "timestamp"),
)

# Tables that are the registry's own machinery (accounts, audit and access trails, settings,
# the change counter): not data a clinician enters or reads, so not in the dictionary.
INTERNAL_TABLES: frozenset[str] = frozenset(
    {"users", "audit_log", "access_log", "registry_settings", "data_version", "alembic_version"}
)
# Columns every table carries for the database's own use.
INTERNAL_COLUMNS: frozenset[str] = frozenset({"id", "centre_id", "patient_id", "created_at", "updated_at", "version"})

# Bundle file stem -> table, for tables whose names differ (kept here so no SQLAlchemy is needed).
_BUNDLE_TABLE = {"mri": "mri_scans"}
_TABLE_BUNDLE = {v: k for k, v in _BUNDLE_TABLE.items()}

# Survival export columns taken directly from a stored field (the export's other columns are
# derived: times, events, ages). Checked against analytics.endpoints by the dictionary test.
SURVIVAL_EXPORT_FIELDS: dict[tuple[str, str], str] = {
    ("patients", "study_id"): "study_id",
    ("centres", "centre_code"): "centre_code",
    ("patients", "sex"): "sex",
    ("transplants", "phenotype"): "phenotype",
    ("transplants", "baseline_edss"): "baseline_edss",
    ("transplants", "relapses_12m"): "relapses_12m",
    ("transplants", "gd_lesions_baseline"): "gd_lesions_baseline",
    ("transplants", "conditioning"): "conditioning",
    ("transplants", "conditioning_intensity"): "conditioning_intensity",
}

_BY_KEY: dict[tuple[str, str], Field] = {(f.table, f.column): f for f in FIELDS}


class UnknownField(KeyError):
    """No dictionary entry for a table and column (the message says what to add)."""


def table_name(table: str) -> str:
    """The database table of a table name or bundle file stem (`mri` -> `mri_scans`)."""
    return _BUNDLE_TABLE.get(table, table)


def _bundle_columns(table: str) -> tuple[str, ...]:
    from registry.validation import ENTITIES  # light: no SQLAlchemy

    spec = ENTITIES.get(_TABLE_BUNDLE.get(table, table))
    return spec.column_names if spec is not None else ()


def field(table: str, column: str) -> Field:
    """The dictionary entry of a stored field, with the exports that carry it.

    :raises UnknownField: no entry (the message says what to add to registry/dictionary.py)
    """
    t = table_name(table)
    f = _BY_KEY.get((t, column))
    if f is None and column == "patient_code" and t not in ("centres", "patients"):
        f = _BY_KEY.get(("patients", column))
    if f is None and column == "centre_code" and t != "centres":
        f = _BY_KEY.get(("centres", column))
    if f is None:
        raise UnknownField(missing_entry_message(t, column))
    exports = []
    if f.column in _bundle_columns(f.table):
        exports.append(f"bundle ({_TABLE_BUNDLE.get(f.table, f.table)}.csv)")
    if (f.table, f.column) in SURVIVAL_EXPORT_FIELDS:
        exports.append(f"survival export ({SURVIVAL_EXPORT_FIELDS[(f.table, f.column)]})")
    return Field(f.table, f.column, f.label, f.type, f.unit, f.help, f.code_list, tuple(exports))


def label(table: str, column: str) -> str:
    """What a person calls the field: "EDSS", "MS onset date"; the column name if unknown.

    Falling back (rather than failing) keeps a page working while a new column waits for its
    entry; the dictionary test makes sure no such column is committed.
    """
    try:
        return field(table, column).label
    except UnknownField:
        return column.replace("_", " ")


def phrase(table: str, column: str) -> str:
    """The label inside a sentence: "missing MS onset date", "missing baseline EDSS".

    The first letter is lower-cased unless the first word is an abbreviation (MS, EDSS, CD34+,
    Gd-enhancing: a capital after the first letter, or a chemical symbol).
    """
    text = label(table, column)
    first = text.split(" ", 1)[0]
    if any(ch.isupper() for ch in first[1:]) or first.startswith("Gd"):
        return text
    return text[:1].lower() + text[1:]


def label_with_unit(table: str, column: str) -> str:
    try:
        f = field(table, column)
    except UnknownField:
        return column.replace("_", " ")
    return f"{f.label} ({f.unit})" if f.unit and f.type != "year" else f.label


def help_text(table: str, column: str) -> str | None:
    try:
        return field(table, column).help or None
    except UnknownField:
        return None


def _code_index() -> dict[Any, str]:
    index: dict[Any, str] = {}
    for cl in CODE_LISTS.values():
        for code, text in cl.labels.items():
            index.setdefault(code, text)
    return index


_CODE_INDEX = _code_index()


def code_label(code: Any, code_list: str | None = None) -> str:
    """The words for a code ("FEBRILE_NEUTROPENIA" -> "Febrile neutropenia").

    One code has the same words in every list it appears in (a test checks it), so the list is
    optional. Unknown codes come back as they are: a value is never hidden.
    """
    if code is None:
        return ""
    if code_list is not None and code_list in CODE_LISTS:
        return CODE_LISTS[code_list].labels.get(code, str(code))
    return _CODE_INDEX.get(code, str(code))


def code_labels(code_list: str) -> dict[Any, str]:
    return dict(CODE_LISTS[code_list].labels)


def code_lists_in_codes_module() -> dict[str, tuple[Any, ...]]:
    """Every code list defined in registry.codes (upper-case module-level tuples)."""
    return {
        name: value
        for name, value in vars(codes).items()
        if name.isupper() and isinstance(value, tuple) and name not in NOT_CODE_LISTS
    }


def missing_entry_message(table: str, column: str) -> str:
    return (
        f"no data dictionary entry for {table}.{column}: add to FIELDS in registry/dictionary.py\n"
        f'    Field("{table}", "{column}", "<Label a user reads>", "<type>", unit="", help=""),\n'
        "then run `msreg dictionary --output docs/data-dictionary.md` and commit the file"
    )


def missing_code_message(code_list: str, missing: Iterable[Any]) -> str:
    items = ", ".join(f"{c!r}: \"<words>\"" for c in missing)
    return (
        f"code list {code_list} (registry/codes.py) has codes without labels: add to CODE_LISTS in registry/dictionary.py\n"
        f"    CodeList(\"{code_list}\", {{..., {items}}}),\n"
        "then run `msreg dictionary --output docs/data-dictionary.md` and commit the file"
    )


# ---------------------------------------------------------------------------------------------
# The generated document


def rows() -> list[dict[str, str]]:
    """One row per field, in table order: what `msreg dictionary --format csv` writes."""
    from registry.validation import MISSING_CODE_COLUMNS

    out = []
    for f0 in FIELDS:
        f = field(f0.table, f0.column)
        takes_codes = f.column in MISSING_CODE_COLUMNS.get(_TABLE_BUNDLE.get(f.table, f.table), ())
        out.append(
            {
                "table": f.table,
                "column": f.column,
                "label": f.label,
                "type": f.type + (" or NE / UNK" if takes_codes else ""),
                "unit": f.unit,
                "codes": "; ".join(f"{c} = {t}" for c, t in CODE_LISTS[f.code_list].labels.items()) if f.code_list else "",
                "help": f.help,
                "exports": "; ".join(f.exports),
            }
        )
    return out


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    """docs/data-dictionary.md: fields by table, then every code list."""
    lines = [
        "# Data dictionary",
        "",
        "Generated from `registry/dictionary.py` by `msreg dictionary --output docs/data-dictionary.md`;",
        "do not edit by hand (a test compares this file with the generated one).",
        "",
        "Every field a user enters or reads, with the label the dashboard shows, its type and unit, and",
        "which export carries it. Code fields list their codes (as stored and in bundles) with their words.",
        "",
    ]
    by_table: dict[str, list[dict[str, str]]] = {}
    for r in rows():
        by_table.setdefault(r["table"], []).append(r)
    for table, items in by_table.items():
        bundle = _TABLE_BUNDLE.get(table, table)
        lines += [f"## {table}" + (f" (bundle file `{bundle}.csv`)" if _bundle_columns(table) else ""), ""]
        lines += ["| column | label | type | unit | help | exports |", "| --- | --- | --- | --- | --- | --- |"]
        for r in items:
            ftype = r["type"]
            f = _BY_KEY[(r["table"], r["column"])]
            if f.code_list:
                ftype = f"code ({f.code_list})" + (" or NE / UNK" if ftype.endswith("NE / UNK") else "")
            lines.append(
                f"| `{r['column']}` | {_cell(r['label'])} | {_cell(ftype)} | {_cell(r['unit'])} | {_cell(r['help'])} | {_cell(r['exports'])} |"
            )
        lines.append("")
    lines += [
        "## Missing-data codes",
        "",
        "An optional clinical field marked `or NE / UNK` above takes a missing-data code instead of a value:",
        "`NE` (not evaluated) or `UNK` (unknown), distinct from an empty cell (not entered yet). In a bundle",
        "the code is the cell's text; the database keeps the field empty and the code in the record's",
        "`missing_codes`. Analyses and the survival export treat a coded field as missing; the data-quality",
        "report counts it as documented (not as a missing field).",
        "",
        "## Code lists",
        "",
    ]
    for cl in CODE_LISTS.values():
        lines += [f"### {cl.name}", "", "| code | meaning |", "| --- | --- |"]
        lines += [f"| `{c}` | {_cell(t)} |" for c, t in cl.labels.items()]
        lines.append("")
    lines += [
        "### EDSS_STEPS",
        "",
        "EDSS is recorded in the steps " + ", ".join(_edss(v) for v in codes.EDSS_STEPS) + " (there is no 0.5).",
        "",
    ]
    return "\n".join(lines)


def _edss(v: float) -> str:
    return "0" if v == 0 else "10" if v == 10 else f"{v:.1f}"


def render_csv() -> str:
    import csv
    import io

    buf = io.StringIO()
    data = rows()
    writer = csv.DictWriter(buf, fieldnames=list(data[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(data)
    return buf.getvalue()


def model_columns(tables: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    """(table, column) pairs of `tables` that need an entry (not internal)."""
    return [
        (t, c)
        for t, cols in tables.items()
        if t not in INTERNAL_TABLES
        for c in cols
        if c not in INTERNAL_COLUMNS
    ]
