"""The entry form offers the missing-data codes of optional clinical fields, distinct from
blank, and saves them as chosen (AppTest)."""

from __future__ import annotations

import json

from sqlalchemy import select

from registry import models
from registry.db import session_scope
from tests.dashboard.test_pages import open_page


def test_a_visit_with_edss_not_evaluated_is_saved_as_such(app_factory, writable_registry) -> None:  # type: ignore[no-untyped-def]
    url, engine = writable_registry
    at = open_page(app_factory(url, role="centre:SHF"), "entry")
    at.selectbox(key="entry_entity").set_value("visits").run()
    edss = at.selectbox(key="new_visits_edss")
    assert edss.options[-2:] == ["not evaluated (NE)", "unknown (UNK)"]
    at.text_input(key="new_visits_patient_code").set_value("SHF-000")
    at.text_input(key="new_visits_visit_date").set_value("2026-06-05")
    edss.set_value("NE")
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception, at.exception
    assert any("Saved visit" in s.value for s in at.success), [e.value for e in at.error]
    with session_scope(engine) as s:
        row = s.execute(select(models.Visit.edss, models.Visit.missing_codes)
                        .where(models.Visit.visit_date == __import__("datetime").date(2026, 6, 5))).one()
    assert row[0] is None and json.loads(row[1]) == {"edss": "NE"}


def test_counts_take_a_number_or_a_code_as_typed(app_factory, writable_registry) -> None:  # type: ignore[no-untyped-def]
    url, _engine = writable_registry
    at = open_page(app_factory(url, role="centre:SHF"), "entry")
    at.selectbox(key="entry_entity").set_value("mri").run()
    at.text_input(key="new_mri_patient_code").set_value("SHF-000")
    at.text_input(key="new_mri_scan_date").set_value("2026-06-06")
    at.text_input(key="new_mri_new_t2").set_value("-1")
    next(b for b in at.button if b.label == "Save").click().run()
    assert [e.value for e in at.error if "Login is switched off" not in e.value] == ["-1 is below 0 (a count)"]
    at.text_input(key="new_mri_new_t2").set_value("UNK")
    at.text_input(key="new_mri_gd_enhancing").set_value("2")
    next(b for b in at.button if b.label == "Save").click().run()
    assert any("Saved MRI scan" in s.value for s in at.success), [e.value for e in at.error]
