"""The patient page (dashboard/app_pages/patient.py) per role, through AppTest: every record of
one patient in one place, the EDSS course, inline corrections and deletions with a reason, and
each record's history from the audit trail."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from registry import models
from registry.db import session_scope
from tests.dashboard.test_app import plotly_specs, text_of
from tests.dashboard.test_pages import open_page


def _patient(at, code: str):  # type: ignore[no-untyped-def]
    at.selectbox(key="pp_patient").set_value(code).run()
    assert not at.exception, at.exception
    return at


def test_centre_user_finds_own_patients_by_code_and_sees_every_record(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url, role="centre:SHF"), "patient")
    options = at.selectbox(key="pp_patient").options
    assert options and all(o.startswith("SHF-") for o in options)
    _patient(at, "SHF-002")
    text = text_of(at)
    for heading in ("Transplants", "Visits (EDSS)", "Relapses", "MRI scans", "Adverse events", "Death"):
        assert f"**{heading}**" in text
    (edss,) = plotly_specs(at)
    assert edss["layout"]["title"]["text"] == "EDSS course: SHF-002 at SHF"  # a saved file says whose
    assert [b.key for b in at.get("download_button")] == ["pp_edss_svg", "pp_edss_pdf"]
    visits = next(d.value for d in at.dataframe if "Visit date" in d.value.columns)
    assert list(visits.columns) == ["Visit date", "EDSS"]  # labels from the data dictionary


def test_a_quality_item_link_opens_the_patient(app_factory, small_registry_url):
    at = app_factory(small_registry_url, role="admin")
    at.query_params["centre"] = "UPP"
    at.query_params["patient"] = "UPP-003"
    open_page(at, "patient")
    assert at.selectbox(key="pp_centre").value == "UPP" and at.selectbox(key="pp_patient").value == "UPP-003"
    assert "UPP-003 at UPP" in text_of(at)


def test_quality_page_links_each_item_to_the_patient_page(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url, role="admin"), "quality")
    items = at.dataframe[1].value
    assert all(link.startswith("patient?centre=") and "&patient=" in link for link in items["Open"])


def test_inline_correction_needs_a_reason_and_shows_in_the_history(app_factory, writable_registry):
    url, engine = writable_registry
    at = _patient(open_page(app_factory(url, role="centre:SHF"), "patient"), "SHF-002")
    at.selectbox(key="pp_pick_visits").select_index(0).run()
    prefix = next(w.key for w in at.selectbox if w.key and w.key.startswith("pp_visits_") and w.key.endswith("_edss"))[:-4]
    old = at.selectbox(key=f"{prefix}edss").value
    new = 8.0 if old != 8.0 else 7.5
    at.selectbox(key=f"{prefix}edss").set_value(new)
    [b for b in at.button if b.label == "Save correction"][-1].click().run()  # the visit's (the patient's comes first)
    assert any("reason is needed" in e.value for e in at.error)
    at.text_input(key=f"{prefix}reason").set_value("source document re-read")
    [b for b in at.button if b.label == "Save correction"][-1].click().run()  # the visit's (the patient's comes first)
    assert not at.exception, at.exception
    assert any("Corrected visit" in s.value for s in at.success)
    at.selectbox(key="pp_pick_visits").select_index(0).run()
    history = next(d.value for d in at.dataframe if "Reason" in d.value.columns and "Change" in d.value.columns
                   and (d.value["Reason"] == "source document re-read").any())
    row = history[history["Reason"] == "source document re-read"].iloc[0]
    assert row["Who"] == "no-login:centre" and row["Field"] == "EDSS"
    assert row["Change"] == f"{'—' if old is None else format(old, '.1f')} → {new:.1f}"


def test_inline_delete_needs_a_reason_and_is_audited(app_factory, writable_registry):
    url, engine = writable_registry
    with session_scope(engine) as s:
        patient, relapse_id = s.execute(
            select(models.Patient.patient_code, models.Relapse.id).join(models.Relapse).join(models.Centre)
            .where(models.Centre.centre_code == "SHF").order_by(models.Patient.patient_code, models.Relapse.onset_date).limit(1)).one()
    at = _patient(open_page(app_factory(url, role="centre:SHF"), "patient"), patient)
    at.selectbox(key="pp_pick_relapses").select_index(0).run()
    delete = next(b for b in at.button if b.label == "Delete this relapse")
    delete.click().run()
    assert any("reason is needed" in e.value for e in at.error)
    at.text_input(key=f"pp_del_reason_relapses_{relapse_id}").set_value("entered twice")
    next(b for b in at.button if b.label == "Delete this relapse").click().run()
    assert not at.exception, at.exception
    assert any("Deleted relapse" in s.value for s in at.success)
    with session_scope(engine) as s:
        assert s.get(models.Relapse, relapse_id) is None
        reason = s.execute(select(models.AuditEntry.reason).where(models.AuditEntry.action == "DELETE")).scalar_one()
    assert reason == "entered twice"


def test_admin_finds_a_patient_by_study_id(app_factory, small_registry_url):
    from registry.db import make_engine

    engine = make_engine(small_registry_url)
    with session_scope(engine) as s:
        study_id, code = s.execute(select(models.Patient.study_id, models.Patient.patient_code)
                                   .where(models.Patient.patient_code == "OSL-004")).one()
    engine.dispose()
    at = open_page(app_factory(small_registry_url, role="admin"), "patient")
    at.text_input(key="pp_study").set_value(study_id).run()
    assert not at.exception, at.exception
    assert f"{code} at OSL" in text_of(at)


@pytest.mark.parametrize("role", ["governance", "researcher"])
def test_roles_without_patient_codes_are_pointed_to_the_timeline(app_factory, small_registry_url, role):
    at = open_page(app_factory(small_registry_url, role=role), "patient")
    assert any("Patient timeline" in i.value for i in at.info)
    assert not at.dataframe and not [w for w in at.selectbox if w.key == "pp_patient"]


def test_the_page_shows_the_follow_up_status_and_open_queries(app_factory, writable_registry):
    from registry import queries, services
    from registry.security.access import Actor

    url, engine = writable_registry
    admin = Actor("office-admin", "admin")
    with session_scope(engine) as s:
        services.update(s, admin, "patients", {"centre_code": "SHF", "patient_code": "SHF-001"},
                        {"followup_status": "LOST", "followup_status_date": "2025-03-01",
                         "followup_status_reason": "moved abroad"}, reason="letter returned")
        queries.open_query(s, admin, question="Any news since 2025?", centre_code="SHF", patient_code="SHF-001")
    at = _patient(open_page(app_factory(url, role="centre:SHF"), "patient"), "SHF-001")
    assert any("Lost to follow-up since 2025-03-01 (moved abroad): no overdue reminders." == w.value for w in at.warning)
    assert any("1 data query not closed" in i.value and "Any news since 2025?" in i.value for i in at.info)


def test_admin_opens_a_query_on_one_record_and_field(app_factory, writable_registry):
    url, engine = writable_registry
    at = _patient(open_page(app_factory(url, role="admin"), "patient"), "OSL-000")
    at.selectbox(key="pp_pick_visits").select_index(0).run()
    record_id = next(w.key for w in at.selectbox if w.key and w.key.startswith("pp_query_field_visits_"))[len("pp_query_field_visits_"):]
    at.selectbox(key=f"pp_query_field_visits_{record_id}").set_value("edss")
    at.text_area(key=f"pp_query_text_visits_{record_id}").set_value("Is this EDSS from the protocol visit?")
    [b for b in at.button if b.label == "Open the query"][-1].click().run()  # the visit's (the patient's comes first)
    assert not at.exception, at.exception
    assert any("Opened query 1 for centre OSL" in s.value for s in at.success)
    with session_scope(engine) as s:
        q = s.execute(select(models.DataQuery)).scalar_one()
        visit_date = s.get(models.Visit, int(record_id)).visit_date
    assert (q.entity, q.field_name, q.record_key) == ("visits", "edss", f'{{"visit_date":"{visit_date.isoformat()}"}}')


def test_centre_users_get_no_query_tab(app_factory, small_registry_url):
    at = _patient(open_page(app_factory(small_registry_url, role="centre:SHF"), "patient"), "SHF-002")
    at.selectbox(key="pp_pick_visits").select_index(0).run()
    assert "Data query" not in [t.label for t in at.tabs]
