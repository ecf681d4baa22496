"""A new user's first steps: `msreg demo` prints logins, and each one opens the dashboard."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from dashboard import login
from registry.security import auth
from registry.cli import main
from tests.security.hashing import CHEAP_HASHER

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
LOGIN_LINE = re.compile(r"^\s+(demo-\S+)\s+(\S+)\s+(admin|governance|researcher|centre \S+)\s*$")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    """A demo registry and the (username, password, role) lines `msreg demo` printed."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'registry.db'}"
    with auth.use_hasher(CHEAP_HASHER):
        runner = CliRunner()
        assert runner.invoke(main, ["--db", url, "init"]).exit_code == 0
        result = runner.invoke(main, ["--db", url, "demo", "--patients", "60", "--no-progress"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        logins = [m.groups() for line in result.output.splitlines() if (m := LOGIN_LINE.match(line))]
        yield url, logins


def test_demo_prints_one_login_per_role(demo: tuple[str, list[tuple[str, str, str]]]) -> None:
    roles = sorted(role.split()[0] for _, _, role in demo[1])
    assert roles == ["admin", "centre", "centre", "governance", "researcher"]


@pytest.mark.parametrize("role", ["admin", "governance", "researcher", "centre"])
def test_each_demo_login_opens_the_dashboard(demo: tuple[str, list[tuple[str, str, str]]], role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url, logins = demo
    username, password, shown_role = next(x for x in logins if x[2].split()[0] == role)
    monkeypatch.setenv("MSREG_DATABASE_URL", url)
    monkeypatch.delenv(login.NO_LOGIN_ENV, raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.text_input(key="msreg_login_username").input(username)
    at.text_input(key="msreg_login_password").input(password)
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    actor = at.session_state[login.ACTOR_KEY]
    assert (actor.username, actor.role) == (username, role)
    if role == "centre":
        assert shown_role == f"centre {actor.centre_code}"
    assert [e.value for e in at.error] == []
    assert any(f"Signed in as **{username}**" in c.value for c in at.sidebar.caption)
