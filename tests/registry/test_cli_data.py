"""`msreg import` and `msreg export bundle` through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from registry.cli import main
from tests.registry.bundle_helpers import base, write


def test_import_prints_a_summary_per_file_and_exits_0(sqlite_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["import", str(write(base(), tmp_path / "b")), "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["file", "inserted", "updated", "unchanged"]
    assert lines[4].split() == ["visits.csv", "3", "0", "0"]
    assert lines[9].split() == ["total", "15", "0", "0"]


def test_a_bad_bundle_exits_1_with_every_error_as_file_line_column(sqlite_url: str, tmp_path: Path) -> None:
    bundle = base()
    bundle["visits"][1]["edss"] = "0.5"
    bundle["patients"][0]["sex"] = "female"
    result = CliRunner().invoke(main, ["--db", sqlite_url, "import", str(write(bundle, tmp_path / "b"))])
    assert result.exit_code == 1
    assert "patients.csv:2: sex: 'female' is not in the code list (F M U)" in result.output
    assert "visits.csv:3: edss: 0.5 is not an EDSS step" in result.output
    assert "bundle rejected: 2 error(s); nothing was imported" in result.output


def test_export_bundle_writes_every_file(sqlite_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["--db", sqlite_url, "import", str(write(base(), tmp_path / "b"))]).exit_code == 0
    result = runner.invoke(main, ["--db", sqlite_url, "export", "bundle", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").glob("*.csv"))) == 9  # treatments.csv too, empty here
    again = runner.invoke(main, ["--db", sqlite_url, "import", str(tmp_path / "out")])
    assert again.exit_code == 0 and again.output.splitlines()[10].split() == ["total", "0", "0", "15"]


def test_a_large_import_shows_a_progress_bar_on_stderr(sqlite_url: str, tmp_path: Path) -> None:
    import datetime as dt

    bundle = {k: v for k, v in base().items() if k in ("centres", "patients")}
    first = dt.date(2005, 1, 1)
    bundle["visits"] = [
        {"centre_code": "OSL", "patient_code": "P2", "visit_date": (first + dt.timedelta(days=i)).isoformat(), "edss": "2.0"}
        for i in range(5_200)
    ]
    result = CliRunner().invoke(main, ["--db", sqlite_url, "import", str(write(bundle, tmp_path / "b"))])
    assert result.exit_code == 0, result.output
    assert "importing" in result.stderr and "5.21k" in result.stderr
    assert "importing" not in result.stdout


def test_a_small_import_shows_no_progress_bar(sqlite_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--db", sqlite_url, "import", str(write(base(), tmp_path / "b"))])
    assert result.exit_code == 0 and result.stderr == ""
