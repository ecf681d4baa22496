"""Exports and reports from the command line are access events (who, what, settings, rows),
and `record_access` refuses event names it does not know."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from registry.security.access import Actor
from registry.security.access_log import record_access
from registry.cli import main
from registry.db import make_engine, make_session_factory
from registry.models import AccessEvent
from tests.dashboard.cohort import build_registry


@pytest.fixture
def cohort_url(sqlite_url: str) -> str:
    engine = make_engine(sqlite_url)
    build_registry(engine)
    engine.dispose()
    return sqlite_url


def _events(url: str, event: str) -> list[dict]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as s:
            rows = s.execute(select(AccessEvent).where(AccessEvent.event == event).order_by(AccessEvent.id)).scalars().all()
            return [{"actor": r.actor, "door": r.door, **json.loads(r.details)} for r in rows]
    finally:
        engine.dispose()


def test_export_bundle_is_recorded_with_its_row_counts(cohort_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["--db", cohort_url, "export", "bundle", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (event,) = _events(cohort_url, "export")
    assert event["what"] == "bundle" and event["rows"]["patients"] == 78 and event["door"] == "cli"


def test_export_survival_is_recorded_with_settings_and_rows(cohort_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "pfs.csv"
    result = CliRunner().invoke(main, ["--db", cohort_url, "export", "survival", str(out), "--confirmation-days", "84"])
    assert result.exit_code == 0, result.output
    (event,) = _events(cohort_url, "export")
    assert event["what"] == "survival dataset" and event["file"] == str(out) and event["rows"] == 78
    assert event["settings"]["confirmation_days"] == 84


def test_survival_estimates_printed_are_a_recorded_report(cohort_url: str) -> None:
    result = CliRunner().invoke(main, ["--db", cohort_url, "survival", "os", "--by", "centre_code", "--at", "365"])
    assert result.exit_code == 0, result.output
    (event,) = _events(cohort_url, "report")
    assert event["what"] == "survival os" and event["by"] == "centre_code" and event["at"] == [365] and event["rows"] > 0


def test_an_unknown_event_name_is_refused(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with pytest.raises(ValueError, match="unknown access event 'exprot'"):
            record_access(engine, Actor("ann", "admin"), "exprot", {})
    finally:
        engine.dispose()
