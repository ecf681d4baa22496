"""`msreg export survival`, `msreg survival` and `msreg quality` on a small registry."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from analytics.endpoints import SURVIVAL_EXPORT_COLUMNS
from analytics.snapshot import clear_snapshot_cache
from registry.cli import main
from tests.analytics.endpoint_cohort import Cohort


@pytest.fixture
def registry_url(sqlite_url: str, sqlite_engine: Engine) -> str:
    """Twelve patients at two centres (eight and four), one transplant-related death."""
    clear_snapshot_cache()
    cohort = Cohort()
    for i in range(12):
        cohort.add(
            f"P{i:02d}",
            centre="C1" if i < 8 else "C2",
            sex="F" if i % 2 else "M",
            # every third patient worsens at day 100, confirmed at 84 days but not at 182
            visits={-20: 3.0, 100: 4.0, 190: 4.0, 300: 3.0} if i % 3 == 0 else {-20: 3.0, 100: 3.0, 300: 4.0},
            relapses=(150,) if i % 4 == 0 else (),
            death=(60, "TRANSPLANT_RELATED") if i == 5 else None,
            last_contact_days=700,
        )
    cohort.write(sqlite_engine)
    return sqlite_url


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_export_survival_csv_with_sidecar(registry_url: str, tmp_path: Path) -> None:
    out = tmp_path / "survival.csv"
    code, _, err = run("export", "survival", str(out), "--db", registry_url, "--confirmation-days", "84")
    assert code == 0, err
    assert "wrote 12 patient(s)" in err
    assert list(rows(out.read_text(encoding="utf-8"))[0]) == list(SURVIVAL_EXPORT_COLUMNS)
    meta = json.loads((tmp_path / "survival.json").read_text(encoding="utf-8"))
    assert meta["settings"]["confirmation_days"] == 84 and meta["rows"] == 12


def test_export_survival_parquet(registry_url: str, tmp_path: Path) -> None:
    code, _, err = run("--db", registry_url, "export", "survival", str(tmp_path / "s.parquet"))
    assert code == 0, err
    assert (tmp_path / "s.parquet").stat().st_size > 0 and (tmp_path / "s.json").exists()


def test_export_survival_refuses_unknown_ending(registry_url: str, tmp_path: Path) -> None:
    code, _, err = run("export", "survival", str(tmp_path / "s.xlsx"), "--db", registry_url)
    assert code == 2 and ".csv or .parquet" in err


def test_survival_defaults(registry_url: str) -> None:
    code, out, err = run("survival", "os", "--db", registry_url)
    assert code == 0, err
    table = rows(out)
    assert list(table[0]) == ["endpoint", "group", "days", "n_risk", "n_event", "n_censor", "estimate", "std_err",
                              "lower", "upper"]
    assert [r["days"] for r in table] == ["365", "730", "1095", "1825"]
    assert table[0]["group"] == "all" and table[0]["estimate"] == f"{11 / 12:.4f}"


def test_survival_by_centre_suppresses_small_groups(registry_url: str) -> None:
    code, out, err = run("survival", "trm", "--by", "centre_code", "--at", "100,365", "--db", registry_url,
                         "--format", "json")
    assert code == 0, err
    table = json.loads(out)
    c1 = [r for r in table if r["group"] == "C1"]
    c2 = [r for r in table if r["group"] == "C2"]
    assert [r["days"] for r in c1] == [100, 365] and c1[0]["estimate"] == pytest.approx(round(1 / 8, 4))
    assert [(r["n_event"], r["n_censor"]) for r in c1] == [(1, 0), (0, 0)]
    assert all(r["estimate"] is None and r["n_risk"] is None and r["std_err"] is None and r["n_event"] is None
               for r in c2)
    assert "group C2: fewer than 5 patients" in err


def test_survival_min_group_size_option(registry_url: str) -> None:
    code, out, _ = run("survival", "os", "--by", "centre_code", "--min-group-size", "3", "--db", registry_url,
                       "--format", "json")
    assert code == 0
    assert all(r["estimate"] is not None for r in json.loads(out) if r["days"] == 365)


def test_survival_settings_change_the_result(registry_url: str) -> None:
    _, default, _ = run("survival", "pfs", "--at", "200", "--db", registry_url, "--format", "json")
    _, short, _ = run("survival", "pfs", "--at", "200", "--db", registry_url, "--format", "json",
                      "--confirmation-days", "84")
    assert json.loads(default)[0]["estimate"] == round(11 / 12, 4)  # the day-60 death
    assert json.loads(short)[0]["estimate"] == round(11 / 12 * 7 / 11, 4)  # and 4 CDWs at day 100


def test_survival_by_unknown_column_lists_valid_ones(registry_url: str) -> None:
    code, _, err = run("survival", "os", "--by", "patient_code", "--db", registry_url)
    assert code == 2
    assert "valid columns" in err and "conditioning_intensity" in err


@pytest.mark.parametrize("at", ["1y", "-5", ""])
def test_survival_bad_days(registry_url: str, at: str) -> None:
    code, _, err = run("survival", "os", "--at", at, "--db", registry_url)
    assert code == 2 and "days" in err


def test_invalid_setting_names_it(registry_url: str) -> None:
    code, _, err = run("survival", "os", "--confirmation-days", "0", "--db", registry_url)
    assert code == 2 and "confirmation_days" in err


def test_quality_csv_and_issues(registry_url: str) -> None:
    code, out, err = run("quality", "--db", registry_url)
    assert code == 0, err
    summary = rows(out)
    assert [r["centre_code"] for r in summary] == ["C1", "C2"] and summary[0]["patients"] == "8"
    code, out, _ = run("quality", "--issues", "--db", registry_url)
    assert code == 0
    assert set(rows(out)[0]) == {"centre_code", "patient_code", "problem", "detail"}


def test_quality_json_holds_both_tables(registry_url: str) -> None:
    code, out, _ = run("quality", "--format", "json", "--db", registry_url, "--relapse-window-days", "20")
    assert code == 0
    payload = json.loads(out)
    assert set(payload) == {"per_centre", "issues"} and len(payload["per_centre"]) == 2


def test_endpoint_options_are_documented_on_every_endpoint_command() -> None:
    for args in (["export", "survival"], ["survival"], ["quality"]):
        help_text = CliRunner().invoke(main, [*args, "--help"]).stdout
        for option in ("--confirmation-days", "--relapse-window-days", "--delta-cutoff", "--mri-rebaseline-days"):
            assert option in help_text, (args, option)


def test_settings_and_versions_are_recorded_on_stderr(registry_url: str) -> None:
    from analytics.settings import DEFINITIONS_VERSION

    for args in (["survival", "os"], ["quality"]):
        code, out, err = run(*args, "--db", registry_url, "--delta-cutoff", "6.0")
        assert code == 0
        assert DEFINITIONS_VERSION in err and '"delta_cutoff":6.0' in err and "data version audit-" in err
        assert DEFINITIONS_VERSION not in out


@pytest.fixture
def lung_url(sqlite_url: str, sqlite_engine: Engine) -> str:
    """R's `lung` data (lifelines ships it) as a registry: death on its day, else last contact."""
    from lifelines.datasets import load_lung

    clear_snapshot_cache()
    cohort = Cohort()
    for i, (days, status, sex) in enumerate(load_lung()[["time", "status", "sex"]].astype(int).to_numpy()):
        cohort.add(f"L{i:03d}", sex="M" if sex == 1 else "F", visits={},
                   death=(int(days), "OTHER") if status else None, last_contact_days=None if status else int(days))
    cohort.write(sqlite_engine)
    return sqlite_url


def test_survival_prints_rs_summary_rounded_to_4_decimals(lung_url: str, reference_dir: Path) -> None:
    """`msreg survival os` on lung is R's `summary(survfit(...), times = c(180, 365, 730))`:
    counts since the previous day asked, Greenwood's std.err of S(t), log-log bounds, 4 decimals."""
    ref = json.loads((reference_dir / "survival" / "r_values.json").read_text())["lung"]["km_summary_at_times"]
    for by, groups in ((None, {"all": "all"}), ("sex", {"M": "1", "F": "2"})):
        args = ["survival", "os", "--at", ",".join(map(str, ref["times"])), "--db", lung_url]
        code, out, err = run(*args, *(["--by", by] if by else []))
        assert code == 0, err
        table = rows(out)
        for group, key in groups.items():
            printed = [r for r in table if r["group"] == group]
            assert [int(r["days"]) for r in printed] == ref["times"]
            for column in ("n_risk", "n_event", "n_censor"):
                assert [int(r[column]) for r in printed] == ref[key][column], (group, column)
            for column in ("estimate", "std_err", "lower", "upper"):
                assert [r[column] for r in printed] == [f"{v:.4f}".rstrip("0").rstrip(".") for v in ref[key][column]], (
                    group, column)


def test_survival_and_the_export_print_one_data_version(registry_url: str, tmp_path: Path) -> None:
    """The same string, in the same format, on stderr of `msreg survival` and in the export's JSON."""
    import re

    _, _, err = run("survival", "os", "--db", registry_url)
    (printed,) = re.findall(r"data version (\S+);", err)
    code, _, err = run("export", "survival", str(tmp_path / "s.csv"), "--db", registry_url)
    assert code == 0, err
    meta = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert meta["data_version"] == printed and re.fullmatch(r"audit-\d+:[0-9a-f]{16}", printed)
