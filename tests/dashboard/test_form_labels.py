"""Every label on the entry forms comes from the data dictionary: no column names reach users."""

from __future__ import annotations

import pytest

from registry import dictionary
from registry.validation import ENTITIES
from tests.dashboard.test_pages import open_page

CLINICAL = ("patients", "transplants", "visits", "relapses", "mri", "adverse_events", "deaths")


@pytest.mark.parametrize("entity", ("centres", *CLINICAL))
def test_form_labels_are_the_dictionary_labels(app_factory, small_registry_url, entity: str) -> None:  # type: ignore[no-untyped-def]
    at = open_page(app_factory(small_registry_url, role="admin"), "entry")
    at.selectbox(key="entry_entity").set_value(entity).run()
    assert not at.exception, at.exception
    prefix = f"new_{entity}_"
    widgets = [w for kind in ("selectbox", "text_input", "number_input")
               for w in getattr(at, kind) if w.key and w.key.startswith(prefix)]
    shown = {w.key[len(prefix):]: w.label for w in widgets}
    expected = {c.name: dictionary.label_with_unit(entity, c.name) + (" *" if c.required else "")
                for c in ENTITIES[entity].columns}
    assert shown == expected
    assert not [label for label in shown.values() if "_" in label]


def test_quality_completeness_columns_are_named_by_the_dictionary(app_factory, small_registry_url) -> None:  # type: ignore[no-untyped-def]
    at = open_page(app_factory(small_registry_url, role="admin"), "quality")
    columns = list(at.dataframe[0].value.columns)
    assert "MS onset date complete (%)" in columns and "Gd-enhancing lesions at baseline complete (%)" in columns
    assert not [c for c in columns if c.endswith("_pct")]
