"""`msreg compare`, `msreg cox` and `msreg benchmark` on a small registry (real CLI runs)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from analytics.benchmarking import BENCHMARK_COLUMNS
from analytics.comparisons import COMPARE_COLUMNS
from analytics.snapshot import clear_snapshot_cache
from registry.cli import main
from tests.analytics.endpoint_cohort import Cohort


@pytest.fixture
def registry_url(sqlite_url: str, sqlite_engine: Engine) -> str:
    """Forty patients at three centres (20, 16, 4); deaths of each cause, one UNKNOWN at day 50."""
    clear_snapshot_cache()
    cohort = Cohort()
    for i in range(40):
        centre = "C1" if i < 20 else "C2" if i < 36 else "C3"
        death = None
        if i in (1, 5, 22):
            death = (30 + 10 * i, "TRANSPLANT_RELATED")
        elif i in (3, 25, 30):
            death = (400 + i, "MS")
        elif i == 7:
            death = (50, "UNKNOWN")
        cohort.add(f"P{i:02d}", centre=centre, sex="F" if i % 2 else "M", birth_year=1970 + i % 20,
                   visits={-20: 3.0, 200: 3.0, 400: 4.0 if i % 3 == 0 else 3.0, 600: 4.0 if i % 3 == 0 else 3.0},
                   relapses=(150,) if i % 5 == 0 else (), death=death, last_contact_days=900 + i)
    cohort.write(sqlite_engine)
    return sqlite_url


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_compare_trm_gives_grays_test_and_the_cause_specific_log_rank(registry_url: str) -> None:
    code, out, err = run("compare", "trm", "--by", "sex", "--db", registry_url)
    assert code == 0, err
    table = rows(out)
    assert list(table[0]) == COMPARE_COLUMNS
    assert [r["test"] for r in table] == ["gray", "cause-specific log-rank"]
    assert 0 <= float(table[0]["p_value"]) <= 1 and table[0]["df"] == "1"


def test_compare_os_gives_the_log_rank_test_as_json(registry_url: str) -> None:
    code, out, err = run("compare", "os", "--by", "centre_code", "--strata", "sex", "--format", "json", "--db", registry_url)
    assert code == 0, err
    [row] = json.loads(out)
    assert row["test"] == "log-rank" and row["by"] == "centre_code | strata sex"


def test_compare_refuses_an_unknown_column(registry_url: str) -> None:
    code, _, err = run("compare", "os", "--by", "favourite_colour", "--db", registry_url)
    assert code == 2 and "cannot group by" in err


def test_benchmark_lists_every_centre_with_the_contract_columns(registry_url: str) -> None:
    code, out, err = run("benchmark", "trm", "--at", "365", "--crude", "--db", registry_url)
    assert code == 0, err
    table = rows(out)
    assert list(table[0]) == BENCHMARK_COLUMNS
    assert [r["centre_code"] for r in table] == ["C1", "C2", "C3"]
    c3 = table[2]
    assert c3["estimate"] == "" and c3["signal"] == ""  # 4 patients: not tested
    assert "centre C3: fewer than 5 patients" in err
    assert "false signal(s) expected" in err and "overdispersion" in err
    assert sum(int(r["events"]) for r in table) == 3


def test_benchmark_early_mortality_uses_day_100_by_default(registry_url: str) -> None:
    code, out, err = run("benchmark", "early_mortality", "--format", "json", "--db", registry_url)
    assert code == 0, err
    assert "by day 100" in err
    table = json.loads(out)
    assert sum(r["events"] for r in table) == 3  # deaths at days 40, 50, 80


def test_the_unknown_death_sensitivity_setting_changes_trm_and_is_stamped(registry_url: str) -> None:
    code, out, err = run("benchmark", "trm", "--crude", "--unknown-death-trm-days", "100", "--db", registry_url)
    assert code == 0, err
    assert "SENSITIVITY ANALYSIS" in err and "unknown cause within 100 days" in err
    assert sum(int(r["events"]) for r in rows(out)) == 4


def test_cox_prints_the_model_with_its_ph_test(registry_url: str) -> None:
    code, out, err = run("cox", "rfs", "--db", registry_url)
    assert code == 0, err
    table = rows(out)
    assert list(table[0])[:3] == ["model", "term", "hr"]
    assert table[-1]["term"] == "GLOBAL" and table[-1]["ph_p"] != ""
    assert "event(s) in the model" in err
