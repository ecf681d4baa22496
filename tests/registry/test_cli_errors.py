"""A bad `--db` gets one or two clear lines and exit status 1: never a traceback, never a new
empty database. Only `msreg init` (and `msreg restore`) create a registry; `--debug` or
MSREG_DEBUG=1 show the traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from registry.cli import main
from registry.migrate import downgrade

MSREG = str(Path(sys.executable).with_name("msreg"))
MAX_LINES = 3


def _commands(tmp_path: Path) -> dict[str, list[str]]:
    """Every command that opens an existing registry, with valid arguments otherwise.

    Not `doctor` or `health`: they report a missing, unreachable or empty database in their own
    format (a "FAIL  database: ..." line, or JSON), not with the generic error; see
    tests/ops/test_doctor.py and tests/ops/test_health.py (which also check nothing is created).
    """
    bundle = tmp_path / "bundle"  # the missing registry is found before the bundle is read
    return {
        "survival": ["survival", "pfs", "--by", "phenotype"],
        "quality": ["quality"],
        "export survival": ["export", "survival", str(tmp_path / "out.csv")],
        "export bundle": ["export", "bundle", str(tmp_path / "out")],
        "import": ["import", str(bundle)],
        "demo": ["demo", "--patients", "10"],
        "user list": ["user", "list"],
        "user add": ["user", "add", "someone", "--role", "researcher"],
        "audit verify": ["audit", "verify"],
        "audit show": ["audit", "show"],
        "backup": ["backup", str(tmp_path / "b.bak")],
        "dashboard": ["dashboard", "--port", "8799"],
    }


COMMAND_NAMES = sorted(_commands(Path("/nonexistent")))


def _run(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real console script, as a user runs it."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("MSREG_DEBUG", "MSREG_DATABASE_URL")}
    return subprocess.run([MSREG, *args], capture_output=True, text=True, env={**full_env, **(env or {})},
                          cwd=cwd, timeout=120)


def _assert_short_error(output: str, *expected: str) -> None:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert "Traceback" not in output
    assert 1 <= len(lines) <= MAX_LINES, output
    for text in expected:
        assert text in output, output


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", COMMAND_NAMES)
@pytest.mark.parametrize("spelling", ["path", "url"])
def test_a_missing_sqlite_file_is_named_and_not_created(tmp_path: Path, command: str, spelling: str) -> None:
    missing = tmp_path / "typo.db"
    db = str(missing) if spelling == "path" else f"sqlite:///{missing}"
    result = CliRunner().invoke(main, ["--db", db, *_commands(tmp_path)[command]])
    assert result.exit_code == 1
    _assert_short_error(result.output, f"no registry at {missing}; create one with `msreg init`")
    assert not missing.exists()
    assert not list(tmp_path.glob("typo.db*"))


def test_the_real_cli_says_so_in_one_line_and_creates_nothing(tmp_path: Path) -> None:
    result = _run(["--db", "typo.db", "survival", "pfs", "--by", "phenotype"], cwd=tmp_path)
    assert result.returncode == 1
    _assert_short_error(result.stderr, f"no registry at {tmp_path / 'typo.db'}", "msreg init")
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_the_default_registry_file_is_not_created_either(tmp_path: Path) -> None:
    result = _run(["quality"], cwd=tmp_path)
    assert result.returncode == 1
    _assert_short_error(result.stderr, "no registry at", "registry.db")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", COMMAND_NAMES)
def test_a_folder_is_not_a_registry(tmp_path: Path, command: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    result = CliRunner().invoke(main, ["--db", str(folder), *_commands(tmp_path)[command]])
    assert result.exit_code == 1
    _assert_short_error(result.output, f"{folder} is a folder, not a registry file")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresq://u@h/db", "foo://bar", "http://example.org/registry"])
def test_an_unknown_url_scheme_lists_the_ones_that_work(tmp_path: Path, url: str) -> None:
    result = _run(["--db", url, "survival", "os"], cwd=tmp_path)
    assert result.returncode == 1
    _assert_short_error(result.stderr, "unknown database URL scheme", "postgresql://")


def test_init_refuses_a_folder_and_a_missing_parent_folder(tmp_path: Path) -> None:
    for db, text in [(tmp_path, "is a folder"), (tmp_path / "no" / "such" / "r.db", "does not exist")]:
        result = _run(["--db", str(db), "init"])
        assert result.returncode == 1
        _assert_short_error(result.stderr, text)
    assert not (tmp_path / "no").exists()


def test_only_init_creates_a_registry(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    assert _run(["--db", str(db), "init"]).returncode == 0
    assert db.is_file()
    result = _run(["--db", str(db), "user", "list"])
    assert result.returncode == 0, result.stderr


def test_a_server_that_refuses_the_connection(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/msreg_i9_none"
    result = _run(["--db", url, "survival", "os"])
    assert result.returncode == 1
    _assert_short_error(result.stderr, "cannot open the registry at", "Connection refused", "server running")


def test_a_password_in_the_url_is_never_printed(tmp_path: Path) -> None:
    url = f"postgresql://someone:s3cret-pw@127.0.0.1:{_closed_port()}/msreg_i9_none"
    result = _run(["--db", url, "quality"])
    assert result.returncode == 1
    assert "s3cret-pw" not in result.stderr + result.stdout
    _assert_short_error(result.stderr, "cannot open the registry at")


def test_a_login_the_server_refuses(pg_admin) -> None:  # type: ignore[no-untyped-def]
    host, port = pg_admin.url.host, pg_admin.url.port or 5432
    result = _run(["--db", f"postgresql://msreg_i9_nobody@{host}:{port}/postgres", "user", "list"])
    assert result.returncode == 1
    _assert_short_error(result.stderr, "msreg_i9_nobody", "user name and password")


def test_a_database_that_does_not_exist_on_the_server(pg_admin) -> None:  # type: ignore[no-untyped-def]
    url = pg_admin.url.set(database="msreg_i9_no_such_db").render_as_string(hide_password=False)
    result = _run(["--db", url, "audit", "verify"])
    assert result.returncode == 1
    _assert_short_error(result.stderr, "msreg_i9_no_such_db", "database name")


def test_a_schema_older_than_the_code_says_to_upgrade(db_url: str) -> None:
    url = db_url
    downgrade(url, "-1")
    result = _run(["--db", url, "survival", "os"])
    assert result.returncode == 1
    _assert_short_error(result.stderr, "older than this msreg", "run `msreg init` to upgrade")
    # ... and that is what fixes it
    assert _run(["--db", url, "init"]).returncode == 0
    assert _run(["--db", url, "survival", "os"]).returncode == 0


def test_a_backup_works_on_an_older_schema(sqlite_url: str, tmp_path: Path) -> None:
    downgrade(sqlite_url, "-1")
    result = _run(["--db", sqlite_url, "backup", str(tmp_path / "before-upgrade.bak")])
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("content", [b"", b"this is not a database, just a text file\n"])
def test_a_file_that_is_not_a_registry(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "notes.db"
    db.write_bytes(content)
    result = _run(["--db", str(db), "quality"])
    assert result.returncode == 1
    _assert_short_error(result.stderr, str(db))
    assert db.read_bytes() == content


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(tmp_path: Path, how: str) -> None:
    db = tmp_path / "notes.db"
    db.write_bytes(b"this is not a database, just a text file\n")
    args = ["--debug", "--db", str(db), "quality"] if how == "flag" else ["--db", str(db), "quality"]
    result = _run(args, env={"MSREG_DEBUG": "1"} if how == "env" else None)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "DatabaseError" in result.stderr


def test_an_unexpected_error_is_one_line_with_the_debug_hint(sqlite_url: str, tmp_path: Path) -> None:
    """An error the commands do not anticipate still reaches the user as one line."""
    out = tmp_path / "out"
    (out / "centres.csv").mkdir(parents=True)  # the export cannot write its first file
    result = _run(["--db", sqlite_url, "export", "bundle", str(out)])
    assert result.returncode == 1
    _assert_short_error(result.stderr, "IsADirectoryError", "centres.csv", "--debug")


def test_help_needs_no_registry(tmp_path: Path) -> None:
    for args in (["--help"], ["survival", "--help"], ["init", "--help"], ["--db", "typo.db", "quality", "--help"]):
        result = _run(args, cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
    assert list(tmp_path.iterdir()) == []


def test_the_schema_check_reads_the_same_revisions_as_alembic() -> None:
    from alembic.script import ScriptDirectory

    from registry.cli.errors import migration_revisions
    from registry.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    known, heads = migration_revisions()
    assert known == {rev.revision for rev in scripts.walk_revisions()}
    assert heads == set(scripts.get_heads())


def test_the_cli_database_variable_is_the_engines() -> None:
    from registry import db
    from registry import cli

    assert cli.ENV_VAR == db.ENV_VAR
