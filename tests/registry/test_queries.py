"""Data queries (registry/queries.py): open by the registry office, answered by the centre,
closed by the opener; each step audited; each role sees and does only what it may. And the
same workflow through `msreg query`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from registry import queries as Q
from registry import services as S
from registry.security.access import AccessDenied, Actor
from registry.security.audit import verify_chain
from registry.cli import main
from registry.db import session_scope
from registry.models import AuditEntry, Patient

ADMIN = Actor("admin", "admin")
OFFICE = Actor("office", "governance")
OTHER_OFFICE = Actor("office-2", "governance")
OSLO = Actor("oslo-dm", "centre", "OSL")
UPPSALA = Actor("upp-dm", "centre", "UPP")
RESEARCHER = Actor("res", "researcher")
P1 = {"centre_code": "OSL", "patient_code": "P1"}


@pytest.fixture
def seeded(sqlite_engine: Engine) -> Engine:
    with session_scope(sqlite_engine) as s:
        S.create(s, ADMIN, "centres", {"centre_code": "OSL", "name": "Oslo", "country": "NO"})
        S.create(s, ADMIN, "centres", {"centre_code": "UPP", "name": "Uppsala", "country": "SE"})
        S.create(s, ADMIN, "patients", P1 | {"sex": "F", "birth_year": 1980})
        S.create(s, ADMIN, "transplants", P1 | {"transplant_number": 1, "transplant_date": "2015-06-01", "phenotype": "RRMS"})
        S.create(s, ADMIN, "visits", P1 | {"visit_date": "2016-01-01", "edss": "3.0"})
    return sqlite_engine


def study_id(engine: Engine) -> str:
    with session_scope(engine) as s:
        return s.execute(select(Patient.study_id)).scalar_one()


def open_one(engine: Engine, actor: Actor = OFFICE) -> Q.QueryView:
    with session_scope(engine) as s:
        return Q.open_query(s, actor, question="EDSS 3.0 six months after a relapse: is the date right?",
                            entity="visits", field_name="edss", record_key={"visit_date": "2016-01-01"},
                            study_id=study_id(engine))


def test_the_whole_workflow_open_answer_close_is_audited(seeded: Engine) -> None:
    q = open_one(seeded)
    assert q.status == "OPEN" and q.patient_code is None and q.centre_code == "OSL"  # governance: no codes
    with session_scope(seeded) as s:
        answered = Q.answer_query(s, OSLO, q.id, "Date checked against the clinic letter: correct.")
    assert answered.status == "ANSWERED" and answered.answered_by == "oslo-dm" and answered.patient_code == "P1"
    with session_scope(seeded) as s:
        closed = Q.close_query(s, OFFICE, q.id, note="thanks")
    assert closed.status == "CLOSED" and closed.closed_by == "office"
    with session_scope(seeded) as s:
        trail = s.execute(select(AuditEntry).where(AuditEntry.entity == "data_queries").order_by(AuditEntry.id)).scalars().all()
        assert verify_chain(s) == []
    assert [(a.action, a.actor, a.reason) for a in trail] == [
        ("INSERT", "office", "open data query"), ("UPDATE", "oslo-dm", "answer data query"), ("UPDATE", "office", "thanks")]
    assert json.loads(trail[1].new_values)["status"] == "ANSWERED" and json.loads(trail[2].old_values) == {"status": "ANSWERED"}


@pytest.mark.parametrize("actor", [OSLO, RESEARCHER])
def test_only_the_registry_office_opens_queries(seeded: Engine, actor: Actor) -> None:
    with pytest.raises(AccessDenied, match="may not open data queries"):
        open_one(seeded, actor)


@pytest.mark.parametrize(("actor", "error"), [(UPPSALA, AccessDenied), (OFFICE, AccessDenied), (RESEARCHER, AccessDenied)])
def test_only_the_patients_centre_or_an_admin_answers(seeded: Engine, actor: Actor, error: type[Exception]) -> None:
    q = open_one(seeded)
    with session_scope(seeded) as s, pytest.raises(error):
        Q.answer_query(s, actor, q.id, "an answer")


@pytest.mark.parametrize("actor", [OTHER_OFFICE, OSLO])
def test_only_the_opener_or_an_admin_closes(seeded: Engine, actor: Actor) -> None:
    q = open_one(seeded)
    with session_scope(seeded) as s, pytest.raises(AccessDenied, match="its opener"):
        Q.close_query(s, actor, q.id)
    with session_scope(seeded) as s:
        assert Q.close_query(s, ADMIN, q.id).status == "CLOSED"


def test_a_closed_query_takes_no_answer(seeded: Engine) -> None:
    q = open_one(seeded)
    with session_scope(seeded) as s:
        Q.close_query(s, OFFICE, q.id)
    with session_scope(seeded) as s, pytest.raises(Q.QueryError, match="closed"):
        Q.answer_query(s, OSLO, q.id, "late")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"question": "  "}, "question is empty"),
        ({"entity": "centres"}, "unknown record type"),
        ({"field_name": "colour"}, "has no field 'colour'"),
        ({"study_id": "NOPE"}, "no patient with study id NOPE"),
    ],
)
def test_bad_queries_are_refused_naming_the_problem(seeded: Engine, kwargs: dict, message: str) -> None:
    args = {"question": "why?", "entity": "visits", "study_id": study_id(seeded)} | kwargs
    with session_scope(seeded) as s, pytest.raises(Q.QueryError, match=message):
        Q.open_query(s, OFFICE, **args)


def test_governance_names_patients_by_study_id_not_code(seeded: Engine) -> None:
    with session_scope(seeded) as s, pytest.raises(AccessDenied, match="by study id"):
        Q.open_query(s, OFFICE, question="why?", centre_code="OSL", patient_code="P1")


def test_centre_users_see_their_centre_only_and_counts_per_centre(seeded: Engine) -> None:
    open_one(seeded)
    with session_scope(seeded) as s:
        assert [q.patient_code for q in Q.list_queries(s, OSLO)] == ["P1"]
        assert Q.list_queries(s, UPPSALA) == []
        assert Q.counts_per_centre(s, OFFICE) == {"OSL": {"OPEN": 1, "ANSWERED": 0, "CLOSED": 0}}
        assert Q.counts_per_centre(s, UPPSALA) == {}
        with pytest.raises(AccessDenied):
            Q.list_queries(s, RESEARCHER)


def test_a_patient_with_queries_is_not_deleted(seeded: Engine) -> None:
    with session_scope(seeded) as s:
        S.create(s, ADMIN, "patients", {"centre_code": "OSL", "patient_code": "P2", "sex": "M", "birth_year": 1970})
        Q.open_query(s, ADMIN, question="does P2 exist?", centre_code="OSL", patient_code="P2")
    with session_scope(seeded) as s, pytest.raises(S.DeleteRefused, match="1 data query"):
        S.delete(s, ADMIN, "patients", {"centre_code": "OSL", "patient_code": "P2"}, reason="test")


def test_the_cli_runs_the_same_workflow(seeded: Engine, sqlite_url: str) -> None:
    run = CliRunner()
    sid = study_id(seeded)
    opened = run.invoke(main, ["--db", sqlite_url, "query", "open", "Is the EDSS right?", "--study-id", sid,
                               "--entity", "visits", "--field", "edss", "--record", "visit_date=2016-01-01"])
    assert opened.exit_code == 0, opened.output
    assert opened.output.strip() == "opened data query 1 for OSL"
    listed = run.invoke(main, ["--db", sqlite_url, "query", "list", "--status", "OPEN"])
    assert listed.exit_code == 0 and "OPEN" in listed.output and "visits.edss visit_date=2016-01-01" in listed.output
    assert run.invoke(main, ["--db", sqlite_url, "query", "answer", "1", "checked"]).exit_code == 0
    assert run.invoke(main, ["--db", sqlite_url, "query", "close", "1", "--note", "ok"]).exit_code == 0
    listed = run.invoke(main, ["--db", sqlite_url, "query", "list"])
    assert "CLOSED" in listed.output and "[answer by cli:" in listed.output
    again = run.invoke(main, ["--db", sqlite_url, "query", "close", "1"])
    assert again.exit_code == 1 and "closed already" in again.output and "Traceback" not in again.output
