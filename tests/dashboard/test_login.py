"""The dashboard's login (dashboard/login.py), driven through Streamlit's AppTest."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import login
from registry.security import auth
from registry.security.access import Actor
from registry.db import make_engine, session_scope
from registry.models import Centre
from tests.security.hashing import cheap_argon2  # noqa: F401 - autouse

SCRIPT = """
import streamlit as st
from dashboard.login import require_actor
actor = require_actor()
st.markdown(f"hello {actor.username} {actor.role} {actor.centre_code}")
"""
ADMIN = Actor("boss", "admin")


@pytest.fixture
def registry_with_users(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A registry with the demo accounts; returns username -> password."""
    monkeypatch.setenv("MSREG_DATABASE_URL", sqlite_url)
    monkeypatch.delenv(login.NO_LOGIN_ENV, raising=False)
    monkeypatch.delenv(login.IDLE_MINUTES_ENV, raising=False)
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        s.add_all([Centre(centre_code="AAA", name="A"), Centre(centre_code="BBB", name="B")])
        s.flush()
        logins = auth.create_demo_users(s, ["AAA", "BBB"])
    engine.dispose()
    return {x.username: x.password for x in logins}


def _app() -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    at.run()
    return at


def _submit(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="msreg_login_username").input(username)
    at.text_input(key="msreg_login_password").input(password)
    at.button[0].click()
    return at.run()


def _greeting(at: AppTest) -> str | None:
    hello = [m.value for m in at.markdown if m.value.startswith("hello ")]
    return hello[0] if hello else None


def test_the_form_comes_first_and_nothing_else_runs(registry_with_users: dict[str, str]) -> None:
    at = _app()
    assert not at.exception
    assert at.text_input(key="msreg_login_username") is not None
    assert at.text_input(key="msreg_login_password").proto.type == at.text_input(key="msreg_login_password").proto.PASSWORD
    assert _greeting(at) is None


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("demo-admin", "hello demo-admin admin None"),
        ("demo-governance", "hello demo-governance governance None"),
        ("demo-researcher", "hello demo-researcher researcher None"),
        ("demo-centre-aaa", "hello demo-centre-aaa centre AAA"),
        ("demo-centre-bbb", "hello demo-centre-bbb centre BBB"),
    ],
)
def test_each_demo_role_logs_in(registry_with_users: dict[str, str], username: str, expected: str) -> None:
    at = _submit(_app(), username, registry_with_users[username])
    assert not at.exception
    assert _greeting(at) == expected
    assert at.session_state[login.ACTOR_KEY].username == username


@pytest.mark.parametrize("username", ["demo-admin", "nobody"])
def test_wrong_credentials_show_the_one_message(registry_with_users: dict[str, str], username: str) -> None:
    at = _submit(_app(), username, "not the password")
    assert [e.value for e in at.error] == [auth.LOGIN_FAILED_MESSAGE]
    assert _greeting(at) is None


def test_logout_clears_the_session(registry_with_users: dict[str, str]) -> None:
    at = _submit(_app(), "demo-governance", registry_with_users["demo-governance"])
    at.session_state["some_filter"] = "chosen by this user"
    at.button(key="msreg_logout").click().run()
    assert _greeting(at) is None
    assert "some_filter" not in at.session_state and login.ACTOR_KEY not in at.session_state
    assert [i.value for i in at.info] == ["You have logged out."]


def test_idle_session_expires(registry_with_users: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(login.IDLE_MINUTES_ENV, "30")
    at = _submit(_app(), "demo-admin", registry_with_users["demo-admin"])
    at.session_state[login.LAST_SEEN_KEY] = time.time() - 29 * 60
    at.run()
    assert _greeting(at) == "hello demo-admin admin None", "29 idle minutes: still logged in"
    at.session_state[login.LAST_SEEN_KEY] = time.time() - 31 * 60
    at.run()
    assert _greeting(at) is None
    assert "without activity" in at.info[0].value


def test_disabling_an_account_ends_its_open_session(registry_with_users: dict[str, str], sqlite_url: str) -> None:
    at = _submit(_app(), "demo-centre-aaa", registry_with_users["demo-centre-aaa"])
    assert _greeting(at) is not None
    engine = make_engine(sqlite_url)
    with session_scope(engine) as s:
        auth.disable_user(s, ADMIN, "demo-centre-aaa")
    engine.dispose()
    at.run()
    assert _greeting(at) is None
    assert "no longer active" in at.info[0].value


def test_an_actor_placed_in_session_state_is_used(registry_with_users: dict[str, str]) -> None:
    """How page tests log in: put the Actor of an existing account in session_state."""
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    at.session_state[login.ACTOR_KEY] = Actor("demo-centre-bbb", "centre", "BBB")
    at.run()
    assert _greeting(at) == "hello demo-centre-bbb centre BBB"


def test_a_forged_actor_without_an_account_is_refused(registry_with_users: dict[str, str]) -> None:
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    at.session_state[login.ACTOR_KEY] = Actor("intruder", "admin")
    at.run()
    assert _greeting(at) is None


def test_no_login_switch_acts_as_admin_or_the_given_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(login.NO_LOGIN_ENV, "1")
    monkeypatch.delenv(login.NO_LOGIN_AS_ENV, raising=False)
    at = _app()
    assert _greeting(at) == "hello no-login:admin admin None"
    assert "tests only" in at.sidebar.error[0].value
    monkeypatch.setenv(login.NO_LOGIN_AS_ENV, "centre:AAA")
    assert _greeting(_app()) == "hello no-login:centre centre AAA"


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"email": "demo-admin", "email_verified": True}, "demo-admin"),
        ({"email": "demo-admin"}, "demo-admin"),
        ({"email": "demo-admin", "email_verified": False}, None),
        ({"email": "stranger@example.org"}, None),
        ({}, None),
    ],
)
def test_sso_identity_maps_to_a_registry_account(registry_with_users: dict[str, str], info: dict, expected: str | None) -> None:
    actor = login.actor_for_identity(info)
    assert (actor.username if actor else None) == expected


def test_sso_not_configured_without_secrets() -> None:
    assert login.sso_configured() is False


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_bad_idle_setting_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(login.IDLE_MINUTES_ENV, value)
    with pytest.raises(ValueError, match=f"{login.IDLE_MINUTES_ENV}='{value}'"):
        login.idle_timeout_seconds()
