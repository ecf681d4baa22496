"""`msreg demo` says truthfully where the demo logins are kept: only in its output, or (with
--logins-file, as `make demo` does) also in a file only the user can read."""

from __future__ import annotations

import stat
from pathlib import Path

from click.testing import CliRunner

from registry.security import auth
from registry.cli import main
from tests.security.hashing import CHEAP_HASHER


def _demo(tmp_path: Path, *extra: str) -> str:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    with auth.use_hasher(CHEAP_HASHER):
        assert CliRunner().invoke(main, ["--db", url, "init"]).exit_code == 0
        result = CliRunner().invoke(main, ["--db", url, "demo", "--patients", "20", "--no-progress", *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_without_a_file_the_logins_are_said_to_be_stored_nowhere(tmp_path: Path) -> None:
    out = _demo(tmp_path)
    assert "shown only now and stored nowhere else" in out
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("demo.db")) == []


def test_with_a_logins_file_the_output_names_it_and_it_holds_the_same_logins(tmp_path: Path) -> None:
    logins = tmp_path / "demo-logins.txt"
    out = _demo(tmp_path, "--logins-file", str(logins))
    assert f"also kept in {logins}" in out
    assert stat.S_IMODE(logins.stat().st_mode) == 0o600
    printed = [line for line in out.splitlines() if line.startswith("  demo-")]
    assert printed and printed == [line for line in logins.read_text().splitlines() if line.startswith("  demo-")]


def test_make_demo_keeps_the_logins_in_the_file_it_shows_again() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    assert "demo --logins-file $(DEMO_LOGINS)" in makefile
    assert "cat $(DEMO_LOGINS)" in makefile
