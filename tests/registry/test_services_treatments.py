"""Treatment periods through the services (the path of forms, import and CLI): audited
create/update/delete, the same rules as the bundle (stop before start, same-drug overlaps,
after death), and a patient with treatments cannot be deleted."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from registry import services as S
from registry.security.access import Actor
from registry.db import session_scope
from registry.models import AuditEntry
from tests.registry.test_services import ADMIN, OSLO, P1, seeded  # noqa: F401  (fixture)

NAT = P1 | {"drug": "NATALIZUMAB", "start_date": "2010-01-01"}


def _audit(engine: Engine) -> list[AuditEntry]:
    with Session(engine) as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_create_update_delete_a_treatment_each_with_an_audit_row(seeded: Engine) -> None:  # noqa: F811
    with session_scope(seeded) as s:
        view = S.create(s, OSLO, "treatments", NAT | {"stop_date": "2014-12-01", "stop_reason": "AHSCT"})
    insert = _audit(seeded)[-1]
    assert (insert.action, insert.entity) == ("INSERT", "treatments")
    assert json.loads(insert.entity_key) == NAT
    with session_scope(seeded) as s:
        S.update(s, OSLO, "treatments", NAT, {"stop_reason": "INEFFICACY"}, expected_version=view.version, reason="letter")
    update = _audit(seeded)[-1]
    assert json.loads(update.old_values) == {"stop_reason": "AHSCT"} and update.reason == "letter"
    with session_scope(seeded) as s:
        S.delete(s, OSLO, "treatments", NAT, reason="entered twice")
        assert S.list_records(s, ADMIN, "treatments") == []
    assert _audit(seeded)[-1].action == "DELETE"


@pytest.mark.parametrize(
    ("values", "column", "text"),
    [
        (NAT | {"stop_date": "2009-12-31"}, "stop_date", "before its start"),
        (NAT | {"drug": "ASPIRIN"}, "drug", "ASPIRIN"),
        (NAT | {"stop_reason": "COST"}, "stop_reason", "COST"),
        (NAT | {"start_date": "2099-01-01"}, "start_date", "future"),
    ],
)
def test_a_form_value_breaking_a_rule_is_refused_at_its_field(seeded: Engine, values, column, text) -> None:  # noqa: F811
    with session_scope(seeded) as s, pytest.raises(S.ValidationFailed) as exc:
        S.create(s, OSLO, "treatments", values)
    assert [(e.column, text in e.message) for e in exc.value.errors] == [(column, True)]


def test_an_overlapping_period_of_the_same_drug_is_refused_against_the_database(seeded: Engine) -> None:  # noqa: F811
    with session_scope(seeded) as s:
        S.create(s, OSLO, "treatments", NAT)  # ongoing
    with session_scope(seeded) as s, pytest.raises(S.ValidationFailed) as exc:
        S.create(s, OSLO, "treatments", NAT | {"start_date": "2012-01-01", "stop_date": "2012-06-01"})
    assert exc.value.errors[0].column == "start_date" and "ongoing" in exc.value.errors[0].message
    with session_scope(seeded) as s:  # another drug at the same time is fine
        S.create(s, OSLO, "treatments", P1 | {"drug": "GLATIRAMER", "start_date": "2012-01-01"})


def test_a_death_before_a_treatment_already_recorded_is_refused(seeded: Engine) -> None:  # noqa: F811
    with session_scope(seeded) as s:
        S.create(s, OSLO, "treatments", P1 | {"drug": "RITUXIMAB", "start_date": "2018-01-01"})
    with session_scope(seeded) as s, pytest.raises(S.ValidationFailed) as exc:
        S.create(s, OSLO, "deaths", P1 | {"death_date": "2017-06-01", "cause": "OTHER"})
    assert "before the treatment start on 2018-01-01" in exc.value.errors[0].message


def test_a_patient_with_treatments_cannot_be_deleted(seeded: Engine) -> None:  # noqa: F811
    with session_scope(seeded) as s:
        S.create(s, OSLO, "treatments", NAT)
    with session_scope(seeded) as s, pytest.raises(S.DeleteRefused, match="treatments"):
        S.delete(s, ADMIN, "patients", P1, reason="test")


def test_another_centre_may_not_write_a_treatment(seeded: Engine) -> None:  # noqa: F811
    from registry.security.access import AccessDenied

    with session_scope(seeded) as s, pytest.raises(AccessDenied):
        S.create(s, Actor("upp-dm", "centre", "UPP"), "treatments", NAT)
