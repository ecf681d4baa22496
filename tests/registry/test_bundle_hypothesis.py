"""Property: any valid bundle imports into an empty registry and exports back as the same rows
(canonical formatting, natural-key order)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from registry import codes
from registry.io.bundle import export_bundle, import_bundle
from registry.db import make_engine
from registry.validation import ENTITIES, key_of
from tests.registry.bundle_helpers import ADMIN, TODAY

CODE = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-_", min_size=1, max_size=8)
FREE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85") | st.sampled_from([",", '"', "\n", "é", "ø"]),
    min_size=1,
    max_size=30,
).map(str.strip).filter(bool)


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def days_after(draw: st.DrawFn, start: dt.date, most: int) -> dt.date:
    return start + dt.timedelta(days=draw(st.integers(0, most)))


@st.composite
def patient_rows(draw: st.DrawFn, centre: str, code: str) -> dict[str, list[dict[str, Any]]]:
    """One patient whose dates obey every rule: onset <= diagnosis <= transplants < follow-up <= death."""
    pk = {"centre_code": centre, "patient_code": code}
    birth = draw(st.integers(1930, 1980))
    onset = days_after(draw, dt.date(birth + 15, 1, 1), 3650)
    diagnosis = days_after(draw, onset, 1800)
    tx_dates = [days_after(draw, diagnosis, 1800) + dt.timedelta(days=1)]
    if draw(st.booleans()):
        tx_dates.append(tx_dates[0] + dt.timedelta(days=draw(st.integers(1, 1000))))
    out: dict[str, list[dict[str, Any]]] = {e: [] for e in ENTITIES}
    out["patients"].append(
        pk | {"sex": draw(st.sampled_from(codes.SEX)), "birth_year": birth, "ms_onset_date": draw(opt(st.just(onset))), "ms_diagnosis_date": draw(opt(st.just(diagnosis)))}
    )
    for n, day in enumerate(tx_dates if draw(st.booleans()) else [], start=1):
        out["transplants"].append(
            pk
            | {
                "transplant_number": n,
                "transplant_date": day,
                "phenotype": draw(st.sampled_from(codes.PHENOTYPE)),
                "baseline_edss": draw(opt(st.sampled_from(codes.EDSS_STEPS))),
                "baseline_edss_date": draw(opt(st.just(day - dt.timedelta(days=30)))),
                "relapses_12m": draw(opt(st.integers(0, 5))),
                "relapses_24m": draw(opt(st.integers(0, 9))),
                "gd_lesions_baseline": draw(opt(st.integers(0, 40))),
                "prior_dmt_count": draw(opt(st.integers(0, 8))),
                "mobilisation": draw(opt(st.sampled_from(codes.MOBILISATION))),
                "conditioning": draw(opt(st.sampled_from(codes.CONDITIONING))),
                "conditioning_intensity": draw(opt(st.sampled_from(codes.CONDITIONING_INTENSITY))),
                "cd34_selection": draw(opt(st.booleans())),
                "neutrophil_engraftment_date": draw(opt(st.integers(7, 30).map(lambda x, d=day: d + dt.timedelta(days=x)))),
                "platelet_engraftment_date": draw(opt(st.integers(7, 40).map(lambda x, d=day: d + dt.timedelta(days=x)))),
                "hospital_days": draw(opt(st.integers(0, 90))),
                "atg_given": draw(opt(st.booleans())),
                "cd34_dose": draw(opt(st.sampled_from([1.5, 2.0, 4.3, 5.5, 8.1]))),  # rendered with one decimal below
            }
        )
    start = tx_dates[-1]
    follow = st.sets(st.integers(1, 2000), max_size=4).map(lambda s: sorted(start + dt.timedelta(days=x) for x in s))
    for day in draw(follow):
        out["visits"].append(pk | {"visit_date": day, "edss": draw(opt(st.sampled_from(codes.EDSS_STEPS)))})
    for day in draw(follow):
        out["relapses"].append(
            pk | {"onset_date": day, "severity": draw(opt(st.sampled_from(codes.RELAPSE_SEVERITY))), "steroids": draw(opt(st.booleans())), "recovery": draw(opt(st.sampled_from(codes.RELAPSE_RECOVERY)))}
        )
    for day in draw(follow):
        out["mri"].append(pk | {"scan_date": day, "new_t2": draw(opt(st.integers(0, 30))), "gd_enhancing": draw(opt(st.integers(0, 10))),
                                "t2_lesions_total": draw(opt(st.integers(0, 200))), "spinal_cord_involvement": draw(opt(st.booleans())),
                                "brainstem_involvement": draw(opt(st.booleans()))})
    # DMT periods: distinct drugs, before the (last) transplant or during follow-up; ongoing or stopped
    for drug in draw(st.sets(st.sampled_from(codes.DMT_DRUG), max_size=3)):
        begin = days_after(draw, diagnosis, 1500) if draw(st.booleans()) else start + dt.timedelta(days=draw(st.integers(0, 1500)))
        stop = draw(opt(st.integers(0, 700).map(lambda x, b=begin: b + dt.timedelta(days=x))))
        out["treatments"].append(pk | {"drug": drug, "start_date": begin, "stop_date": stop,
                                       "stop_reason": draw(opt(st.sampled_from(codes.DMT_STOP_REASON)))})
    for day in draw(follow):
        for category in draw(st.sets(st.sampled_from(codes.AE_CATEGORY), min_size=1, max_size=2)):
            out["adverse_events"].append(
                pk | {"onset_date": day, "category": category, "grade": draw(st.sampled_from(codes.AE_GRADES)), "serious": draw(opt(st.booleans())), "description": draw(opt(FREE_TEXT))}
            )
    last = max([start] + [r[c] for e, c in (("visits", "visit_date"), ("relapses", "onset_date"), ("mri", "scan_date"), ("adverse_events", "onset_date"),
                                            ("treatments", "start_date"), ("treatments", "stop_date"),
                                            ("transplants", "neutrophil_engraftment_date"), ("transplants", "platelet_engraftment_date"))
                        for r in out[e] if r[c] is not None])
    death = days_after(draw, last, 500) if draw(st.booleans()) else None
    if death is not None:
        out["deaths"].append(pk | {"death_date": death, "cause": draw(st.sampled_from(codes.DEATH_CAUSE))})
    out["patients"][0]["last_contact_date"] = draw(opt(st.just(death or days_after(draw, last, 300))))
    return out


@st.composite
def bundles(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {e: [] for e in ENTITIES}
    for centre in draw(st.sets(CODE, min_size=1, max_size=3)):
        out["centres"].append({"centre_code": centre, "name": draw(FREE_TEXT), "country": draw(opt(st.sampled_from(["NO", "SE", "GB", "IT"])))})
        for code in draw(st.sets(CODE, max_size=3)):
            for entity, rows in draw(patient_rows(centre, code)).items():
                out[entity] += rows
    return out


def render(value: Any, column: str) -> str:
    """The canonical cell text, written independently of the code under test."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {0.0: "0", 10.0: "10"}.get(value, f"{value:.1f}")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def expected_files(bundle: dict[str, list[dict[str, Any]]]) -> dict[str, list[list[str]]]:
    out = {}
    for entity, rows in bundle.items():
        spec = ENTITIES[entity]
        ordered = sorted(rows, key=lambda r: key_of(entity, r))
        out[spec.file] = [list(spec.column_names)] + [[render(r.get(c), c) for c in spec.column_names] for r in ordered]
    return out


def write_csv(bundle: dict[str, list[dict[str, Any]]], folder: Path) -> None:
    folder.mkdir(parents=True)
    for entity, rows in bundle.items():
        spec = ENTITIES[entity]
        header = list(reversed(spec.column_names))  # column order is free
        with (folder / spec.file).open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            for r in rows:
                w.writerow([render(r.get(c), c) for c in header])


def read_csv(folder: Path) -> dict[str, list[list[str]]]:
    out = {}
    for p in sorted(folder.iterdir()):
        with p.open(encoding="utf-8", newline="") as fh:
            out[p.name] = list(csv.reader(fh))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(bundle=bundles())
def test_valid_bundles_round_trip_through_an_empty_registry(bundle: dict[str, list[dict[str, Any]]], databases, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("rt")
    engine: Engine = make_engine(databases.new("sqlite"))
    try:
        write_csv(bundle, tmp / "in")
        result = import_bundle(engine, tmp / "in", ADMIN, today=TODAY)
        assert result.ok, [str(e) for e in result.errors]
        assert sum(result.inserted.values()) == sum(len(r) for r in bundle.values())
        export_bundle(engine, tmp / "out")
        assert read_csv(tmp / "out") == expected_files(bundle)
        again = import_bundle(engine, tmp / "out", ADMIN, today=TODAY)
        assert sum(again.unchanged.values()) == sum(len(r) for r in bundle.values())
    finally:
        engine.dispose()
