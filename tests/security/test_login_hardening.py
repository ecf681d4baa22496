"""Logins leave access rows; guessing is throttled per client and overall, so nobody can keep
every account locked; absurd passwords are refused before hashing."""

from __future__ import annotations

import json

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select

from registry.security import auth
from registry.security.access import Actor
from registry.db import make_session_factory, session_scope
from registry.models import AccessEvent, User
from tests.security.hashing import CHEAP_HASHER

ADMIN = Actor("boss", "admin")
PASSWORD = "correct horse battery"


def _add(engine: Engine, *names: str) -> None:
    with session_scope(engine) as s:
        for name in names:
            auth.add_user(s, ADMIN, name, "researcher", None, PASSWORD)


def _login(engine: Engine, username: str, password: str, client: str | None = "10.0.0.1") -> Actor:
    with make_session_factory(engine)() as session:
        return auth.authenticate(session, username, password, client=client)


def _refused(engine: Engine, username: str, password: str, client: str | None = "10.0.0.1") -> auth.LoginFailed:
    with pytest.raises(auth.LoginFailed) as info:
        _login(engine, username, password, client)
    return info.value


def _events(engine: Engine, event: str) -> list[AccessEvent]:
    with make_session_factory(engine)() as s:
        return list(s.execute(select(AccessEvent).where(AccessEvent.event == event).order_by(AccessEvent.id)).scalars())


def _locked(engine: Engine) -> set[str]:
    with make_session_factory(engine)() as s:
        return {u.username for u in s.execute(select(User)).scalars() if u.locked_until is not None}


def test_a_good_login_is_an_access_row(engine: Engine) -> None:
    _add(engine, "ann")
    _login(engine, "ann", PASSWORD)
    (row,) = _events(engine, "login")
    assert (row.actor, row.role, row.door, row.client) == ("ann", "researcher", "dashboard", "10.0.0.1")


@pytest.mark.parametrize("username", ["ann", "nobody"])
def test_a_failed_login_is_an_access_row_with_its_cause(engine: Engine, username: str) -> None:
    _add(engine, "ann")
    _refused(engine, username, "wrong password!!")
    (row,) = _events(engine, "login.failed")
    assert row.actor == username and row.client == "10.0.0.1"
    assert json.loads(row.details)["cause"] == ("wrong password" if username == "ann" else "unknown user")
    assert "wrong password!!" not in row.details, "the password never enters the log"


def test_a_lockout_is_an_access_row(engine: Engine) -> None:
    _add(engine, "ann")
    for _ in range(auth.MAX_FAILED_LOGINS):
        _refused(engine, "ann", "wrong password!!")
    (row,) = _events(engine, "lockout")
    assert row.actor == "ann" and json.loads(row.details)["failed_logins"] == auth.MAX_FAILED_LOGINS
    assert _locked(engine) == {"ann"}


class CountingHasher(PasswordHasher):
    """The tests' cheap Argon2, counting how often a password is verified."""

    verified = 0

    def verify(self, hash: str, password: str | bytes) -> bool:  # noqa: A002 - argon2's name
        CountingHasher.verified += 1
        return super().verify(hash, password)


def test_an_overlong_password_is_refused_before_hashing(engine: Engine) -> None:
    _add(engine, "ann")
    hasher = CountingHasher(time_cost=CHEAP_HASHER.time_cost, memory_cost=CHEAP_HASHER.memory_cost, parallelism=1)
    CountingHasher.verified = 0
    with auth.use_hasher(hasher):
        failure = _refused(engine, "ann", "x" * (auth.MAX_PASSWORD_LENGTH + 1))
    assert failure.cause is auth.FailureCause.TOO_LONG and CountingHasher.verified == 0
    assert f"at most {auth.MAX_PASSWORD_LENGTH} characters" in str(failure)
    assert _locked(engine) == set()
    with auth.use_hasher(hasher):
        _refused(engine, "ann", "x" * auth.MAX_PASSWORD_LENGTH)  # at the limit: checked as usual
    assert CountingHasher.verified == 1


def test_one_client_is_throttled_without_locking_the_accounts_it_tries(engine: Engine) -> None:
    _add(engine, "ann", "bob")
    for i in range(auth.CLIENT_MAX_FAILURES):
        _refused(engine, "nobody" if i % 2 else "bob", "wrong password!!", client="10.6.6.6")
    throttled = _refused(engine, "ann", PASSWORD, client="10.6.6.6")  # even the right password
    assert throttled.cause is auth.FailureCause.THROTTLED and "Wait 15 minutes" in str(throttled)
    assert _login(engine, "ann", PASSWORD, client="10.0.0.2").username == "ann"  # others are not
    assert len(_events(engine, "login.throttled")) == 1
    assert _locked(engine) == {"bob"}  # bob's 5 failures locked him; the throttle stopped the rest


def test_nobody_can_keep_every_account_locked(engine: Engine) -> None:
    """Many addresses guessing at 20 accounts: the global throttle stops counting failures at
    GLOBAL_MAX_FAILURES, so at most GLOBAL_MAX_FAILURES / MAX_FAILED_LOGINS accounts lock."""
    names = [f"user{i:02d}" for i in range(20)]
    _add(engine, *names)
    attempts = 0
    for round_ in range(auth.MAX_FAILED_LOGINS):
        for i, name in enumerate(names):
            client = f"10.1.{round_}.{i}"  # a fresh address each time: no per-client limit applies
            failure = _refused(engine, name, "wrong password!!", client=client)
            attempts += failure.cause is not auth.FailureCause.THROTTLED
    assert attempts == auth.GLOBAL_MAX_FAILURES
    locked = _locked(engine)
    assert len(locked) <= auth.GLOBAL_MAX_FAILURES // auth.MAX_FAILED_LOGINS < len(names)
