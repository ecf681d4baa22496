"""A stale correction is a conflict (AppTest): both versions side by side with who saved the
other one; discarding keeps the saved version, re-applying saves yours on top of it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from registry import models, services
from registry.security.access import Actor
from registry.db import session_scope
from tests.dashboard.test_pages import open_page

COLLEAGUE = Actor("colleague", "centre", "SHF")


def _open_visit(at):  # type: ignore[no-untyped-def]
    at.selectbox(key="fix_entity").set_value("visits").run()
    at.text_input(key="fix_patient").set_value("SHF-002").run()
    key = next(w.key for w in at.selectbox if w.key and w.key.startswith("fix_visits_") and w.key.endswith("_edss"))
    return key[: -len("edss")]


def _first_visit(engine):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return s.execute(select(models.Visit.visit_date, models.Visit.edss).join(models.Patient)
                         .where(models.Patient.patient_code == "SHF-002").order_by(models.Visit.visit_date)).first()


@pytest.mark.parametrize("choice", ["discard", "reapply"])
def test_a_stale_save_shows_both_versions_then_discards_or_reapplies(app_factory, writable_registry, choice) -> None:  # type: ignore[no-untyped-def]
    url, engine = writable_registry
    at = open_page(app_factory(url, role="centre:SHF"), "entry")
    prefix = _open_visit(at)
    day, _ = _first_visit(engine)
    with session_scope(engine) as s:  # someone else saves first
        services.update(s, COLLEAGUE, "visits", {"centre_code": "SHF", "patient_code": "SHF-002", "visit_date": day},
                        {"edss": 9.5}, reason="colleague's fix")
    at.selectbox(key=f"{prefix}edss").set_value(1.0)
    at.text_input(key=f"{prefix}reason").set_value("my fix")
    next(b for b in at.button if b.label == "Save correction").click().run()
    assert not at.exception, at.exception
    assert any("Conflict: this record was saved by **colleague**" in e.value for e in at.error)
    table = at.table[0].value
    assert list(table.columns) == ["Field", "When you opened it", "Yours", "Saved since"]
    assert table.set_index("Field").loc["EDSS", ["Yours", "Saved since"]].tolist() == ["1.0", "9.5"]
    assert _first_visit(engine)[1] == 9.5  # nothing overwritten
    if choice == "discard":
        next(b for b in at.button if b.label == "Discard my change").click().run()
        assert _first_visit(engine)[1] == 9.5
        assert at.selectbox(key=f"{prefix}edss").value == 9.5  # the form now shows the saved version
    else:
        next(b for b in at.button if b.label == "Re-apply my change to the saved version").click().run()
        assert not at.exception, at.exception
        assert any("Corrected visit" in s.value for s in at.success)
        assert _first_visit(engine)[1] == 1.0
