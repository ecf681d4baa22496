"""The streaming import and the exact in-memory importer give one outcome on random bundles.

`import_bundle` takes the streaming path (`registry.bulk`) and falls back to the exact path
(`plan_bulk`) whenever it finds anything to report. Here every bundle - valid ones, ones
whose histories break date-order rules, duplicated rows, dangling references, changed rows
for a registry that holds the bundle already - is imported both ways into twin registries:
the same accepted or rejected, the same errors, the same counts, the same registry afterwards
(exported byte for byte), the same number of audit rows, and an intact audit chain.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from registry.db import make_engine
from registry.io import bundle as bundle_io
from registry.io.bundle import export_bundle, import_bundle
from registry.models import AuditEntry
from registry.security.audit import verify_chain
from tests.registry.bundle_helpers import ADMIN, TODAY
from tests.registry.test_bundle_hypothesis import bundles, read_csv, write_csv

Bundle = dict[str, list[dict[str, Any]]]
EXAMPLES = int(os.environ.get("MSREG_BULK_EXAMPLES", "30"))  # more when the import changes


def _damage(draw: st.DrawFn, bundle: Bundle) -> None:
    """Break a rule across records (or none): what only the whole bundle can show."""
    kind = draw(st.sampled_from(["none", "none", "visit_before_birth", "visit_after_death", "swap_transplants", "gap",
                                 "overlap", "duplicate", "orphan", "onset_after_transplant", "death_before_transplant"]))
    pick = lambda rows: rows[draw(st.integers(0, len(rows) - 1))] if rows else None  # noqa: E731
    if kind == "visit_before_birth" and (v := pick(bundle["visits"])):
        p = next(p for p in bundle["patients"] if (p["centre_code"], p["patient_code"]) == (v["centre_code"], v["patient_code"]))
        v["visit_date"] = dt.date(p["birth_year"] - 1, 6, 1)
    elif kind == "visit_after_death" and (d := pick(bundle["deaths"])):
        bundle["visits"].append({**{k: d[k] for k in ("centre_code", "patient_code")}, "visit_date": d["death_date"] + dt.timedelta(days=1), "edss": None})
    elif kind == "swap_transplants":
        pairs = [t for t in bundle["transplants"] if t["transplant_number"] == 2]
        if t2 := pick(pairs):
            t1 = next(t for t in bundle["transplants"] if t["transplant_number"] == 1 and t["patient_code"] == t2["patient_code"] and t["centre_code"] == t2["centre_code"])
            t1["transplant_date"], t2["transplant_date"] = t2["transplant_date"], t1["transplant_date"]
    elif kind == "gap" and (t := pick(bundle["transplants"])):
        t["transplant_number"] = 3
    elif kind == "overlap" and (t := pick(bundle["treatments"])):
        bundle["treatments"].append({**t, "start_date": t["start_date"] + dt.timedelta(days=1), "stop_date": None})
    elif kind == "duplicate":
        entity = draw(st.sampled_from([e for e, rows in bundle.items() if rows]))
        bundle[entity].append(copy.deepcopy(pick(bundle[entity])))
    elif kind == "orphan" and (v := pick(bundle["visits"])):
        bundle["visits"].append({**v, "patient_code": "NOBODY"})
    elif kind == "onset_after_transplant" and (t := pick(bundle["transplants"])):
        p = next(p for p in bundle["patients"] if (p["centre_code"], p["patient_code"]) == (t["centre_code"], t["patient_code"]))
        p["ms_onset_date"] = t["transplant_date"] + dt.timedelta(days=1)
        p["ms_diagnosis_date"] = None
    elif kind == "death_before_transplant" and (t := pick(bundle["transplants"])):
        key = {k: t[k] for k in ("centre_code", "patient_code")}
        bundle["deaths"] = [d for d in bundle["deaths"] if (d["centre_code"], d["patient_code"]) != tuple(key.values())]
        bundle["deaths"].append({**key, "death_date": t["transplant_date"] - dt.timedelta(days=1), "cause": "OTHER"})


@st.composite
def damaged(draw: st.DrawFn) -> tuple[Bundle, Bundle | None]:
    """A bundle, maybe damaged, and maybe a first bundle already in the registry (a re-import
    of the same patients with some values changed)."""
    bundle = draw(bundles())
    first: Bundle | None = None
    if draw(st.booleans()):
        first = copy.deepcopy(bundle)
        for v in bundle["visits"]:
            if draw(st.integers(0, 3)) == 0:
                v["edss"] = draw(st.sampled_from([None, 2.0, 6.5]))
    _damage(draw, bundle)
    return bundle, first


def _state(engine: Engine, where: Path) -> tuple[dict[str, list[list[str]]], int]:
    export_bundle(engine, where)
    with Session(engine) as s:
        assert verify_chain(s) == []
        audit_rows = s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    return read_csv(where), audit_rows


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=damaged())
def test_the_streaming_and_the_exact_importer_agree(case: tuple[Bundle, Bundle | None], databases, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    bundle, first = case
    tmp = tmp_path_factory.mktemp("two")
    write_csv(bundle, tmp / "in")
    outcomes = []
    for name, run in (("streaming", import_bundle), ("exact", bundle_io._import_in_memory)):
        engine = make_engine(databases.new("sqlite"))
        try:
            if first is not None:
                write_csv(first, tmp / f"first-{name}")
                assert import_bundle(engine, tmp / f"first-{name}", ADMIN, today=TODAY).ok
            result = run(engine, tmp / "in", ADMIN, today=TODAY)
            outcomes.append((result, _state(engine, tmp / f"out-{name}")))
        finally:
            engine.dispose()
    (fast, fast_state), (exact, exact_state) = outcomes
    assert [str(e) for e in fast.errors] == [str(e) for e in exact.errors]
    assert (fast.inserted, fast.updated, fast.unchanged) == (exact.inserted, exact.updated, exact.unchanged)
    assert fast_state == exact_state
    if fast.ok:
        assert fast.path == "streaming"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_valid_bundle_streams_into_both_databases(backend: str, databases, tmp_path: Path, request) -> None:  # type: ignore[no-untyped-def]
    """The demo cohort (every file and column) streams in whole on SQLite and PostgreSQL (COPY),
    a second import of the same bundle changes nothing, and the audit chain verifies."""
    if backend == "postgresql":
        request.getfixturevalue("pg_admin")
    from registry.demo import generate_cohort
    from registry.io.bundle import write_bundle

    cohort = generate_cohort(40, seed=3, today=TODAY)
    write_bundle(cohort, tmp_path / "b")
    engine = make_engine(databases.new(backend))
    try:
        first = import_bundle(engine, tmp_path / "b", ADMIN, today=TODAY)
        assert first.ok and first.path == "streaming", [str(e) for e in first.errors]
        assert sum(first.inserted.values()) == sum(len(r) for r in cohort.values())
        again = import_bundle(engine, tmp_path / "b", ADMIN, today=TODAY)
        assert again.ok and again.path == "streaming"
        assert sum(again.unchanged.values()) == sum(len(r) for r in cohort.values()) and not any(again.inserted.values())
        export_bundle(engine, tmp_path / "out")
        rows = lambda files: {f: (t[0], sorted(t[1:])) for f, t in files.items()}  # noqa: E731 - export sorts by key
        assert rows(read_csv(tmp_path / "out")) == rows(read_csv(tmp_path / "b"))
        with Session(engine) as s:
            assert verify_chain(s) == []
            assert s.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == sum(first.inserted.values())
    finally:
        engine.dispose()
