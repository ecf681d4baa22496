"""The data-query workflow on the Data quality page, per role, through AppTest: governance opens
a query by study id, the centre sees it with the patient code and answers, the opener closes it;
researchers see no queries; counts per centre for everyone else."""

from __future__ import annotations

from sqlalchemy import select

from registry import models
from registry.db import session_scope
from tests.dashboard.test_app import text_of
from tests.dashboard.test_pages import open_page


def _study_id(engine, code: str) -> str:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return s.execute(select(models.Patient.study_id).where(models.Patient.patient_code == code)).scalar_one()


def _queries(engine) -> list[tuple[str, str | None, str]]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return [tuple(r) for r in s.execute(select(models.DataQuery.status, models.DataQuery.answer, models.DataQuery.opened_by)
                                            .order_by(models.DataQuery.id))]


def _frame(at, key_column: str):  # type: ignore[no-untyped-def]
    return next(d.value for d in at.dataframe if key_column in d.value.columns)


def test_open_answer_close_across_roles(app_factory, writable_registry) -> None:  # type: ignore[no-untyped-def]
    url, engine = writable_registry
    sid = _study_id(engine, "OSL-003")

    office = open_page(app_factory(url, role="governance"), "quality")
    office.selectbox(key="dq_entity").set_value("visits").run()
    office.text_input(key="dq_study").set_value(sid)
    office.selectbox(key="dq_field_visits").set_value("edss")
    office.text_area(key="dq_question_None_None").set_value("EDSS at month 12 looks low: please check the source.")
    next(b for b in office.button if b.label == "Open the query").click().run()
    assert not office.exception, office.exception
    assert any("Opened query 1 for centre OSL" in s.value for s in office.success)
    assert _queries(engine) == [("OPEN", None, "no-login:governance")]
    listed = _frame(office, "Question")
    assert "Patient" not in listed.columns and listed.loc[0, "Study ID"] == sid  # governance: study ids only
    assert list(_frame(office, "Answered").itertuples(index=False)) == [("OSL", 1, 0, 0)]

    centre = open_page(app_factory(url, role="centre:OSL"), "quality")
    mine = _frame(centre, "Question")
    assert list(mine["Patient"]) == ["OSL-003"] and mine.loc[0, "Field"] == "EDSS"
    assert mine.loc[0, "Open"] == "patient?centre=OSL&patient=OSL-003"
    centre.selectbox(key="dq_answer_pick").set_value(1).run()
    centre.text_area(key="dq_answer_1").set_value("Checked: EDSS 2.0 is right (source letter).")
    next(b for b in centre.button if b.label == "Send answer").click().run()
    assert not centre.exception, centre.exception
    assert _queries(engine) == [("ANSWERED", "Checked: EDSS 2.0 is right (source letter).", "no-login:governance")]

    other = open_page(app_factory(url, role="centre:UPP"), "quality")
    assert "EDSS at month 12" not in text_of(other) and not [d for d in other.dataframe if "Question" in d.value.columns]

    office = open_page(app_factory(url, role="governance"), "quality")
    office.selectbox(key="dq_close_pick").set_value(1).run()
    next(b for b in office.button if b.label == "Close the query").click().run()
    assert not office.exception, office.exception
    assert _queries(engine)[0][0] == "CLOSED"


def test_admin_opens_a_query_from_a_quality_item(app_factory, writable_registry) -> None:  # type: ignore[no-untyped-def]
    url, engine = writable_registry
    at = open_page(app_factory(url, role="admin"), "quality")
    at.selectbox(key="dq_from_item").select_index(0).run()
    question = next(t for t in at.text_area if t.key and t.key.startswith("dq_question_"))
    assert question.value  # the quality item's problem and detail
    next(b for b in at.button if b.label == "Open the query").click().run()
    assert not at.exception, at.exception
    with session_scope(engine) as s:
        (q,) = s.execute(select(models.DataQuery)).scalars().all()
    assert q.question == question.value and q.opened_by == "no-login:admin"


def test_researchers_see_no_queries(app_factory, small_registry_url) -> None:  # type: ignore[no-untyped-def]
    at = open_page(app_factory(small_registry_url, role="researcher"), "quality")
    assert "Data queries" not in [h.value for h in at.subheader]
