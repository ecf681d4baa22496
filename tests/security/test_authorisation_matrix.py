"""Who may change and read what: every role against every write of the services, bundle import
and export, user management and the snapshot used by analytics and the dashboard.

Roles: a centre user of the record's own centre (AAA), a centre user of another centre (BBB),
governance, researcher, admin. A refused call raises AccessDenied and leaves the registry and
its audit trail exactly as they were; an allowed one writes exactly one audit row per record.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from registry import services

from registry.security import auth
from registry.security.access import AccessDenied, Actor
from registry.io.bundle import export_bundle, import_bundle
from registry.db import make_engine, session_scope
from registry.models import AuditEntry
from tests.security.seed import seed
from tests.registry_files import copy_registry

D = dt.date
ACTORS = {
    "centre_own": Actor("c-aaa", "centre", "AAA"),
    "centre_other": Actor("c-bbb", "centre", "BBB"),
    "governance": Actor("gov", "governance"),
    "researcher": Actor("res", "researcher"),
    "admin": Actor("adm", "admin"),
}
ROLES = tuple(ACTORS)
P1 = {"centre_code": "AAA", "patient_code": "P1"}

CREATE: dict[str, dict[str, Any]] = {
    "centres": {"centre_code": "NEW", "name": "New centre"},
    "patients": {"centre_code": "AAA", "patient_code": "P9", "sex": "M", "birth_year": 1985},
    "transplants": P1 | {"transplant_number": 2, "transplant_date": D(2018, 1, 1), "phenotype": "RRMS"},
    "visits": P1 | {"visit_date": D(2017, 1, 1), "edss": 2.0},
    "relapses": P1 | {"onset_date": D(2017, 2, 1)},
    "mri": P1 | {"scan_date": D(2017, 3, 1), "new_t2": 1},
    "adverse_events": P1 | {"onset_date": D(2017, 4, 1), "category": "OTHER", "grade": 1},
    "deaths": P1 | {"death_date": D(2024, 1, 1), "cause": "MS"},
    "treatments": P1 | {"drug": "RITUXIMAB", "start_date": D(2017, 5, 1)},
}
UPDATE: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "centres": ({"centre_code": "AAA"}, {"name": "Renamed"}),
    "patients": (P1, {"last_contact_date": D(2023, 1, 1)}),
    "transplants": (P1 | {"transplant_number": 1}, {"baseline_edss": 3.5}),
    "visits": (P1 | {"visit_date": D(2016, 3, 1)}, {"edss": 3.5}),
    "relapses": (P1 | {"onset_date": D(2016, 6, 1)}, {"severity": "MILD"}),
    "mri": (P1 | {"scan_date": D(2016, 9, 1)}, {"new_t2": 2}),
    "adverse_events": (P1 | {"onset_date": D(2015, 3, 20), "category": "INFECTION"}, {"grade": 3}),
    "deaths": ({"centre_code": "AAA", "patient_code": "P3"}, {"cause": "OTHER"}),
    "treatments": (P1 | {"drug": "NATALIZUMAB", "start_date": D(2012, 1, 1)}, {"stop_reason": "INEFFICACY"}),
}
DELETE: dict[str, dict[str, Any]] = {
    "centres": {"centre_code": "CCC"},
    "patients": {"centre_code": "AAA", "patient_code": "P2"},
    "transplants": {"centre_code": "BBB", "patient_code": "P1", "transplant_number": 1},
    "visits": P1 | {"visit_date": D(2016, 3, 1)},
    "relapses": P1 | {"onset_date": D(2016, 6, 1)},
    "mri": P1 | {"scan_date": D(2016, 9, 1)},
    "adverse_events": P1 | {"onset_date": D(2015, 3, 20), "category": "INFECTION"},
    "deaths": {"centre_code": "AAA", "patient_code": "P3"},
    "treatments": P1 | {"drug": "NATALIZUMAB", "start_date": D(2012, 1, 1)},
}
ENTITIES = tuple(CREATE)


def _target_centre(op: str, entity: str) -> str:
    if op == "create":
        return CREATE[entity]["centre_code"]
    if op == "update":
        return UPDATE[entity][0]["centre_code"]
    return DELETE[entity]["centre_code"]


def actor_for(role: str, centre: str) -> Actor:
    """`centre_own` acts on the target's centre, `centre_other` on any other one."""
    if role == "centre_own":
        return Actor(f"c-{centre.lower()}", "centre", centre)
    if role == "centre_other":
        other = "BBB" if centre != "BBB" else "AAA"
        return Actor(f"c-{other.lower()}", "centre", other)
    return ACTORS[role]


def expected_write(role: str, op: str, entity: str) -> bool:
    """The rule, in one place: admins write everything; centre users their own centre's data,
    and may rename their own centre but not create or delete centres; nobody else writes."""
    if role == "admin":
        return True
    if role == "centre_own":
        return not (entity == "centres" and op in ("create", "delete"))
    return False


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    path = tmp_path_factory.mktemp("seeded") / "seeded.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    seed(engine)
    engine.dispose()
    return path


@pytest.fixture
def seeded(seeded_template: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "registry.db"
    copy_registry(seeded_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def _state(engine: Engine) -> tuple[int, dict[str, list[str]]]:
    with session_scope(engine) as s:
        audit_rows = s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        tables = {e: sorted(repr(sorted(r.values.items())) for r in services.load_stored(s, e)) for e in ENTITIES}
    return audit_rows, tables


def _call(op: str, entity: str) -> Callable[[Any, Actor], Any]:
    if op == "create":
        return lambda s, a: services.create(s, a, entity, CREATE[entity])
    if op == "update":
        key, changes = UPDATE[entity]
        return lambda s, a: services.update(s, a, entity, key, changes, reason="matrix test")
    return lambda s, a: services.delete(s, a, entity, DELETE[entity], reason="matrix test")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("op", ["create", "update", "delete"])
@pytest.mark.parametrize("entity", ENTITIES)
def test_service_write(seeded: Engine, entity: str, op: str, role: str) -> None:
    actor = actor_for(role, _target_centre(op, entity))
    audit_before, tables_before = _state(seeded)
    if expected_write(role, op, entity):
        with session_scope(seeded) as s:
            _call(op, entity)(s, actor)
        audit_after, tables_after = _state(seeded)
        assert audit_after == audit_before + 1
        assert tables_after != tables_before
    else:
        with pytest.raises(AccessDenied, match=actor.username), session_scope(seeded) as s:
            _call(op, entity)(s, actor)
        assert _state(seeded) == (audit_before, tables_before)


@pytest.mark.parametrize("op", ["update", "delete"])
@pytest.mark.parametrize("entity", [e for e in ENTITIES if e != "centres"])
def test_another_centres_records_do_not_reveal_whether_they_exist(seeded: Engine, entity: str, op: str) -> None:
    """A centre user probing another centre's keys gets AccessDenied, present or absent alike."""
    ghost = dict(DELETE[entity] if op == "delete" else UPDATE[entity][0]) | {"centre_code": "BBB", "patient_code": "NOPE"}
    stranger = ACTORS["centre_own"]  # AAA
    with pytest.raises(AccessDenied), session_scope(seeded) as s:
        if op == "update":
            services.update(s, stranger, entity, ghost, {}, reason="probe")
        else:
            services.delete(s, stranger, entity, ghost, reason="probe")


def test_a_centre_user_cannot_move_a_patient_to_another_centre(seeded: Engine) -> None:
    before = _state(seeded)
    with pytest.raises(AccessDenied), session_scope(seeded) as s:
        services.update(s, ACTORS["centre_own"], "patients", P1, {"centre_code": "BBB"}, reason="move")
    assert _state(seeded) == before


# --- reads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("entity", ENTITIES)
def test_list_records(seeded: Engine, entity: str, role: str) -> None:
    """Identifiable records: centre users see only their centre, admins all, others none."""
    actor = ACTORS[role]
    with session_scope(seeded) as s:
        if entity != "centres" and role in ("governance", "researcher"):
            with pytest.raises(AccessDenied):
                services.list_records(s, actor, entity)
            return
        rows = services.list_records(s, actor, entity)
        if role.startswith("centre") and entity != "centres":
            assert {r.key["centre_code"] for r in rows} <= {actor.centre_code}
        if role == "admin":
            assert len(rows) == len(services.load_stored(s, entity))
        if role.startswith("centre") and entity != "centres":
            with pytest.raises(AccessDenied):
                services.list_records(s, actor, entity, centre_code="CCC")


@pytest.mark.parametrize("role", ROLES)
def test_get_another_centres_patient(seeded: Engine, role: str) -> None:
    key = {"centre_code": "BBB", "patient_code": "P1"}
    with session_scope(seeded) as s:
        if role in ("centre_other", "admin"):
            assert services.get_record(s, ACTORS[role], "patients", key).key == key
        else:
            with pytest.raises(AccessDenied):
                services.get_record(s, ACTORS[role], "patients", key)


@pytest.mark.parametrize("role", ROLES)
def test_snapshot_scope(seeded: Engine, role: str) -> None:
    """What analytics and the dashboard read: one centre for centre users; codes only for
    centre users and admins."""
    from analytics.snapshot import clear_snapshot_cache, load_snapshot

    clear_snapshot_cache()
    actor = ACTORS[role]
    snap = load_snapshot(seeded, actor)
    centres = set(snap.table("centres")["centre_code"])
    patients = snap.table("patients")
    if role.startswith("centre"):
        assert centres == {actor.centre_code}
        assert len(patients) == {"AAA": 3, "BBB": 1}[actor.centre_code]
    else:
        assert {"AAA", "BBB"} <= centres
        assert len(patients) == 4
    has_codes = "patient_code" in patients.columns and patients["patient_code"].notna().any()
    assert has_codes == (role in ("centre_own", "centre_other", "admin"))


# --- bundles ---------------------------------------------------------------------------------


def _bundle(folder: Path, rows: list[str]) -> Path:
    folder.mkdir()
    (folder / "visits.csv").write_text("centre_code,patient_code,visit_date,edss\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    return folder


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("centres", [("AAA",), ("AAA", "BBB")], ids=["own-centre", "two-centres"])
def test_import_bundle(seeded: Engine, tmp_path: Path, role: str, centres: tuple[str, ...]) -> None:
    rows = {"AAA": "AAA,P1,2017-05-05,2.5", "BBB": "BBB,P1,2020-05-05,1.5"}
    bundle = _bundle(tmp_path / "bundle", [rows[c] for c in centres])
    actor = ACTORS[role]
    allowed = role == "admin" or (role == "centre_own" and centres == ("AAA",))
    before = _state(seeded)
    if allowed:
        result = import_bundle(seeded, bundle, actor)
        assert result.errors == [] and result.inserted["visits"] == len(centres)
        assert _state(seeded)[0] == before[0] + len(centres)
    else:
        with pytest.raises(AccessDenied):
            import_bundle(seeded, bundle, actor)
        assert _state(seeded) == before


@pytest.mark.parametrize("role", ROLES)
def test_export_bundle(seeded: Engine, tmp_path: Path, role: str) -> None:
    actor = ACTORS[role]
    out = tmp_path / "out"
    if role in ("governance", "researcher"):
        with pytest.raises(AccessDenied):
            export_bundle(seeded, out, actor)
        return
    export_bundle(seeded, out, actor)
    patients = (out / "patients.csv").read_text(encoding="utf-8").splitlines()[1:]
    codes = {line.split(",")[0] for line in patients}
    assert codes == ({actor.centre_code} if actor.centre_code else {"AAA", "BBB"})


# --- user management -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", ["add", "disable", "reset", "list"])
def test_user_management(seeded: Engine, role: str, operation: str) -> None:
    actor = ACTORS[role]
    calls: dict[str, Callable[[Any], Any]] = {
        "add": lambda s: auth.add_user(s, actor, "newbie", "centre", "AAA"),
        "disable": lambda s: auth.disable_user(s, actor, "victim"),
        "reset": lambda s: auth.reset_password(s, actor, "victim"),
        "list": lambda s: auth.list_users(s, actor),
    }
    with session_scope(seeded) as s:
        auth.add_user(s, ACTORS["admin"], "victim", "centre", "BBB")
    before = _state(seeded)
    if role == "admin":
        with session_scope(seeded) as s:
            calls[operation](s)
        assert _state(seeded)[0] == before[0] + (operation != "list")
    else:
        with pytest.raises(AccessDenied), session_scope(seeded) as s:
            calls[operation](s)
        assert _state(seeded) == before
