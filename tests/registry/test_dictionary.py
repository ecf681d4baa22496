"""The data dictionary covers every stored field and every code, and docs/data-dictionary.md is
what `msreg dictionary` generates from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry import codes, dictionary
from registry.models import Base
from registry.validation import ENTITIES

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md"


def _model_columns() -> list[tuple[str, str]]:
    return dictionary.model_columns({t.name: [c.name for c in t.columns] for t in Base.metadata.sorted_tables})


@pytest.mark.parametrize(("table", "column"), _model_columns())
def test_every_model_column_has_a_dictionary_entry(table: str, column: str) -> None:
    try:
        dictionary.field(table, column)
    except dictionary.UnknownField as exc:
        pytest.fail(str(exc.args[0]))


@pytest.mark.parametrize(("entity", "column"), [(e, c.name) for e, s in ENTITIES.items() for c in s.columns])
def test_every_bundle_column_has_a_label(entity: str, column: str) -> None:
    f = dictionary.field(entity, column)
    assert f.label and "_" not in f.label


@pytest.mark.parametrize("name", sorted(dictionary.code_lists_in_codes_module()))
def test_every_code_of_registry_codes_has_words(name: str) -> None:
    values = dictionary.code_lists_in_codes_module()[name]
    labelled = dictionary.CODE_LISTS.get(name)
    missing = [v for v in values if labelled is None or v not in labelled.labels]
    assert not missing, dictionary.missing_code_message(name, missing)


def test_a_code_has_the_same_words_in_every_list() -> None:
    seen: dict[object, str] = {}
    for cl in dictionary.CODE_LISTS.values():
        for code, text in cl.labels.items():
            assert seen.setdefault(code, text) == text, f"{code!r} is {seen[code]!r} in one list and {text!r} in {cl.name}"


def test_code_fields_name_their_list_and_the_format_uses_the_same_codes() -> None:
    for e, spec in ENTITIES.items():
        for c in spec.columns:
            if c.kind == "code":
                f = dictionary.field(e, c.name)
                assert tuple(dictionary.CODE_LISTS[f.code_list].labels) == c.codes, f"{e}.{c.name}"


@pytest.mark.parametrize(
    ("table", "column", "expected"),
    [
        ("visits", "edss", "EDSS"),
        ("patients", "ms_onset_date", "MS onset date"),
        ("mri", "new_t2", "New or enlarging T2 lesions"),
        ("mri_scans", "new_t2", "New or enlarging T2 lesions"),
        ("visits", "patient_code", "Patient code"),
        ("transplants", "gd_lesions_baseline", "Gd-enhancing lesions at baseline"),
    ],
)
def test_label_reads_like_a_clinician_writes(table: str, column: str, expected: str) -> None:
    assert dictionary.label(table, column) == expected


def test_code_label_gives_words_and_keeps_unknown_codes() -> None:
    assert dictionary.code_label("FEBRILE_NEUTROPENIA") == "Febrile neutropenia"
    assert dictionary.code_label("NOT_A_CODE") == "NOT_A_CODE"
    assert dictionary.code_label(None) == ""


def test_exports_name_the_bundle_file_and_the_survival_column() -> None:
    assert dictionary.field("transplants", "baseline_edss").exports == (
        "bundle (transplants.csv)", "survival export (baseline_edss)")
    assert dictionary.field("patients", "study_id").exports == ("survival export (study_id)",)


def test_survival_export_fields_are_columns_of_the_export() -> None:
    from analytics.endpoints import SURVIVAL_EXPORT_COLUMNS

    assert set(dictionary.SURVIVAL_EXPORT_FIELDS.values()) <= set(SURVIVAL_EXPORT_COLUMNS)


def test_the_missing_entry_message_says_what_to_add() -> None:
    # a column without an entry (treatments.drug, the former example, now has one)
    with pytest.raises(dictionary.UnknownField) as exc:
        dictionary.field("treatments", "dose_mg")
    text = exc.value.args[0]
    assert 'Field("treatments", "dose_mg"' in text and "registry/dictionary.py" in text and "msreg dictionary" in text


def test_committed_document_is_the_generated_one() -> None:
    assert DOC.exists(), "docs/data-dictionary.md is missing: run `msreg dictionary --output docs/data-dictionary.md`"
    assert DOC.read_text(encoding="utf-8") == dictionary.render_markdown(), (
        "docs/data-dictionary.md is out of date: run `msreg dictionary --output docs/data-dictionary.md` and commit it"
    )


def test_edss_steps_are_a_scale_not_a_code_list() -> None:
    assert "EDSS_STEPS" not in dictionary.code_lists_in_codes_module()
    assert codes.EDSS_STEPS[0] == 0.0
