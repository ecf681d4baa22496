"""The audit trail is complete: replaying it, row by row, into an empty registry gives the same
registry. Data are written through every door that writes (single-record services, bundle
import, user management); the replay writes through the models only, so it depends on
nothing but what the audit rows say.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from registry import services

from registry.security import auth
from registry.security.access import Actor
from registry.io.bundle import export_bundle, import_bundle
from registry.db import make_engine, session_scope
from registry.models import AuditEntry, Base, Centre, Patient, User
from registry.validation import ENTITIES, parse_row, spec_of
from tests.security.seed import seed

ADMIN = Actor("adm", "admin")
CENTRE_A = Actor("c-aaa", "centre", "AAA")
ENTITY_OF_TABLE = {spec_of(e).table: e for e in ENTITIES}
D = dt.date


def _centre_id(session: Session, code: str) -> int:
    return session.execute(select(Centre.id).where(Centre.centre_code == code)).scalar_one()


def _patient_id(session: Session, centre_code: str, patient_code: str) -> int:
    return session.execute(
        select(Patient.id).join(Centre).where(Centre.centre_code == centre_code, Patient.patient_code == patient_code)
    ).scalar_one()


def _find(session: Session, entity: str, key: dict[str, Any]) -> Base:
    model = services.MODELS[entity]
    if entity == "centres":
        return session.execute(select(Centre).where(Centre.centre_code == key["centre_code"])).scalar_one()
    if entity == "patients":
        return session.get_one(Patient, _patient_id(session, key["centre_code"], key["patient_code"]))
    pid = _patient_id(session, key["centre_code"], key["patient_code"])
    conditions = [getattr(model, k) == v for k, v in key.items() if k not in ("centre_code", "patient_code")]
    return session.execute(select(model).where(model.patient_id == pid, *conditions)).scalar_one()  # type: ignore[attr-defined]


def _typed(entity: str, raw: dict[str, Any]) -> dict[str, Any]:
    values, errors = parse_row(entity, {k: v for k, v in raw.items() if k != "study_id"})
    assert not errors, errors
    if "study_id" in raw:
        values["study_id"] = raw["study_id"]
    return values


def _columns(session: Session, entity: str, values: dict[str, Any]) -> dict[str, Any]:
    """Bundle terms -> model attributes (codes become the parent's id)."""
    out = dict(values)
    if entity == "patients" and "centre_code" in out:
        out["centre_id"] = _centre_id(session, out.pop("centre_code"))
    elif entity not in ("centres", "patients") and ("centre_code" in out or "patient_code" in out):
        raise AssertionError("moving a child record between patients is not exercised here")
    return out


def _apply(session: Session, row: AuditEntry) -> None:
    key = json.loads(row.entity_key)
    if row.entity == "users":
        if row.action == "INSERT":
            new = json.loads(row.new_values)
            centre = _centre_id(session, new["centre_code"]) if new["centre_code"] else None
            session.add(User(username=key["username"], role=new["role"], centre_id=centre, disabled=new["disabled"], failed_logins=0))
        else:
            user = session.execute(select(User).where(User.username == key["username"])).scalar_one()
            for field, value in json.loads(row.new_values).items():
                if field != "password":
                    setattr(user, field, value)
        session.flush()
        return
    entity = ENTITY_OF_TABLE[row.entity]
    model = services.MODELS[entity]
    if row.action == "INSERT":
        values = _typed(entity, json.loads(row.new_values))
        if entity not in ("centres", "patients"):
            values["patient_id"] = _patient_id(session, values.pop("centre_code"), values.pop("patient_code"))
        else:
            values = _columns(session, entity, values)
        values.setdefault("study_id", f"replay-{row.id}") if entity == "patients" else None
        session.add(model(**values))
    elif row.action == "UPDATE":
        record = _find(session, entity, _typed(entity, key))
        for attr, value in _columns(session, entity, _typed(entity, json.loads(row.new_values))).items():
            setattr(record, attr, value)
    else:
        session.delete(_find(session, entity, _typed(entity, key)))
    session.flush()


def replay(source: Engine, target: Engine) -> int:
    with session_scope(source) as s:
        rows = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    with session_scope(target) as t:
        for row in rows:
            _apply(t, row)
    return len(rows)


def contents(engine: Engine) -> dict[str, Any]:
    """Every table in bundle terms, plus study ids and accounts (not timestamps or versions)."""
    with session_scope(engine) as s:
        out: dict[str, Any] = {e: sorted(repr(sorted(r.values.items())) for r in services.load_stored(s, e)) for e in ENTITIES}
        out["study_ids"] = sorted(s.execute(select(Centre.centre_code, Patient.patient_code, Patient.study_id).join(Centre)).all())
        out["users"] = sorted(
            (u.username, u.role, u.centre.centre_code if u.centre else None, u.disabled) for u in s.execute(select(User)).scalars()
        )
    return out


def write_through_every_door(engine: Engine, tmp_path: Path) -> None:
    seed(engine)  # single-record creates
    with session_scope(engine) as s:
        services.update(s, CENTRE_A, "visits", {"centre_code": "AAA", "patient_code": "P1", "visit_date": D(2016, 3, 1)}, {"edss": 4.0}, reason="typo")
        services.update(
            s, CENTRE_A, "visits", {"centre_code": "AAA", "patient_code": "P1", "visit_date": D(2016, 3, 1)}, {"visit_date": D(2016, 3, 2)}, reason="wrong day"
        )
        services.update(s, ADMIN, "patients", {"centre_code": "AAA", "patient_code": "P2"}, {"patient_code": "P2B", "birth_year": 1976}, reason="recode")
        services.update(s, ADMIN, "centres", {"centre_code": "CCC"}, {"name": "Centre C, renamed"}, reason="new name")
        services.delete(s, CENTRE_A, "relapses", {"centre_code": "AAA", "patient_code": "P1", "onset_date": D(2016, 6, 1)}, reason="not a relapse")
        auth.add_user(s, ADMIN, "ann", "centre", "AAA", "a long enough password")
        auth.add_user(s, ADMIN, "rob", "researcher", None, "a long enough password")
        auth.disable_user(s, ADMIN, "rob")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "patients.csv").write_text("centre_code,patient_code,sex,birth_year\nBBB,P7,U,1988\nBBB,P1,F,1991\n", encoding="utf-8")
    (bundle / "visits.csv").write_text("centre_code,patient_code,visit_date,edss\nBBB,P1,2020-01-01,2.0\n", encoding="utf-8")
    result = import_bundle(engine, bundle, Actor("c-bbb", "centre", "BBB"))  # bulk inserts and an update
    assert result.errors == [] and result.updated["patients"] == 1


def test_replaying_the_audit_trail_rebuilds_the_registry(databases, backend: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source, target = make_engine(databases.new(backend)), make_engine(databases.new(backend))
    try:
        write_through_every_door(source, tmp_path)
        assert replay(source, target) > 20
        assert contents(target) == contents(source)
        export_bundle(source, tmp_path / "a")
        export_bundle(target, tmp_path / "b")
        files = sorted(p.name for p in (tmp_path / "a").iterdir())
        assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
        for name in files:
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    finally:
        source.dispose()
        target.dispose()
