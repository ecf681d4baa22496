"""Accounts: hashing, login, lockout, and user management, as specifications."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select

from registry.security import auth
from registry.security.access import AccessDenied, Actor
from registry.security.audit import verify_chain
from registry.db import make_session_factory, session_scope
from registry.models import AuditEntry, User

ADMIN = Actor("boss", "admin")
PASSWORD = "correct horse battery"


def _login(engine: Engine, username: str, password: str, now: dt.datetime | None = None) -> Actor:
    with make_session_factory(engine)() as session:
        return auth.authenticate(session, username, password, now=now)


def _add(engine: Engine, username: str, role: str = "researcher", centre: str | None = None, password: str | None = PASSWORD) -> str | None:
    with session_scope(engine) as session:
        return auth.add_user(session, ADMIN, username, role, centre, password)


def _failure(engine: Engine, username: str, password: str, now: dt.datetime | None = None) -> auth.LoginFailed:
    with pytest.raises(auth.LoginFailed) as info:
        _login(engine, username, password, now)
    return info.value


# --- hashing ---------------------------------------------------------------------------------


def test_hash_verifies_only_its_password() -> None:
    h = auth.hash_password(PASSWORD)
    assert h.startswith("$argon2id$")
    assert auth.verify_password(h, PASSWORD)
    assert not auth.verify_password(h, PASSWORD + "x")
    assert auth.hash_password(PASSWORD) != h, "each hash has its own salt"


@pytest.mark.parametrize("bad_hash", [None, "", "plaintext", "$argon2id$v=19$m=8,t=1,p=1$garbage"])
def test_missing_or_malformed_hash_never_verifies(bad_hash: str | None) -> None:
    assert auth.verify_password(bad_hash, PASSWORD) is False


def test_production_parameters_are_owasp_argon2id() -> None:
    with auth.use_hasher(auth.production_hasher()):
        h = auth.hash_password(PASSWORD)
        assert auth.verify_password(h, PASSWORD)
    assert h.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


# --- login -----------------------------------------------------------------------------------


def test_good_login_returns_the_actor_with_centre_and_records_it(centres_engine: Engine) -> None:
    _add(centres_engine, "ann", "centre", "AAA")
    actor = _login(centres_engine, "ann", PASSWORD)
    assert actor == Actor("ann", "centre", "AAA")
    with session_scope(centres_engine) as s:
        assert s.execute(select(User.last_login_at).where(User.username == "ann")).scalar_one() is not None


def test_every_refusal_has_the_same_message_but_its_own_cause(centres_engine: Engine) -> None:
    _add(centres_engine, "ann")
    _add(centres_engine, "dis")
    with session_scope(centres_engine) as s:
        auth.disable_user(s, ADMIN, "dis")
    unknown = _failure(centres_engine, "nobody", PASSWORD)
    wrong = _failure(centres_engine, "ann", "wrong password!")
    disabled = _failure(centres_engine, "dis", PASSWORD)
    assert str(unknown) == str(wrong) == str(disabled) == auth.LOGIN_FAILED_MESSAGE
    assert (unknown.cause, wrong.cause, disabled.cause) == (
        auth.FailureCause.UNKNOWN_USER,
        auth.FailureCause.WRONG_PASSWORD,
        auth.FailureCause.DISABLED,
    )


def test_five_failures_lock_the_account_for_fifteen_minutes_even_for_the_right_password(sqlite_engine: Engine) -> None:
    _add(sqlite_engine, "ann")
    t0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    for i in range(auth.MAX_FAILED_LOGINS):
        assert _failure(sqlite_engine, "ann", f"wrong-{i}", t0).cause is auth.FailureCause.WRONG_PASSWORD
    locked = _failure(sqlite_engine, "ann", PASSWORD, t0 + dt.timedelta(minutes=14))
    assert locked.cause is auth.FailureCause.LOCKED
    assert str(locked) == auth.LOGIN_FAILED_MESSAGE
    # attempts while locked do not extend the lock
    assert _login(sqlite_engine, "ann", PASSWORD, t0 + auth.LOCKOUT + dt.timedelta(seconds=1)).username == "ann"


def test_success_resets_the_failure_counter(sqlite_engine: Engine) -> None:
    _add(sqlite_engine, "ann")
    for _ in range(auth.MAX_FAILED_LOGINS - 1):
        _failure(sqlite_engine, "ann", "nope nope nope")
    _login(sqlite_engine, "ann", PASSWORD)
    for _ in range(auth.MAX_FAILED_LOGINS - 1):
        _failure(sqlite_engine, "ann", "nope nope nope")
    assert _login(sqlite_engine, "ann", PASSWORD).username == "ann"


def test_login_rehashes_a_password_stored_with_weaker_parameters(sqlite_engine: Engine) -> None:
    _add(sqlite_engine, "ann")
    with auth.use_hasher(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)):
        _login(sqlite_engine, "ann", PASSWORD)
    with session_scope(sqlite_engine) as s:
        stored = s.execute(select(User.password_hash).where(User.username == "ann")).scalar_one()
    assert "m=16,t=2,p=1" in stored
    assert _login(sqlite_engine, "ann", PASSWORD).username == "ann"


# --- user management -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "actor",
    [Actor("c", "centre", "AAA"), Actor("g", "governance"), Actor("r", "researcher")],
    ids=lambda a: a.role,
)
@pytest.mark.parametrize("operation", ["add", "disable", "enable", "reset", "list"])
def test_only_admins_manage_users(sqlite_engine: Engine, actor: Actor, operation: str) -> None:
    from tests.security.conftest import add_centres

    add_centres(sqlite_engine)
    _add(sqlite_engine, "victim")
    calls = {
        "add": lambda s: auth.add_user(s, actor, "new", "admin"),
        "disable": lambda s: auth.disable_user(s, actor, "victim"),
        "enable": lambda s: auth.enable_user(s, actor, "victim"),
        "reset": lambda s: auth.reset_password(s, actor, "victim"),
        "list": lambda s: auth.list_users(s, actor),
    }
    with session_scope(sqlite_engine) as s, pytest.raises(AccessDenied, match=actor.username):
        calls[operation](s)


@pytest.mark.parametrize(
    ("username", "role", "centre", "password", "message"),
    [
        ("has space", "admin", None, PASSWORD, "no spaces"),
        ("x", "superuser", None, PASSWORD, "role 'superuser'"),
        ("x", "centre", None, PASSWORD, "centre users need a centre"),
        ("x", "researcher", "AAA", PASSWORD, "centre users need a centre"),
        ("x", "centre", "ZZZ", PASSWORD, "no centre 'ZZZ'"),
        ("x", "admin", None, "short", "needs 12"),
        ("taken", "admin", None, PASSWORD, "already exists"),
    ],
)
def test_add_user_refuses_with_a_message_naming_the_problem(
    centres_engine: Engine, username: str, role: str, centre: str | None, password: str, message: str
) -> None:
    _add(centres_engine, "taken")
    with session_scope(centres_engine) as s, pytest.raises(auth.UserError, match=message):
        auth.add_user(s, ADMIN, username, role, centre, password)


def test_generated_password_logs_in_and_user_changes_are_audited_without_secrets(centres_engine: Engine) -> None:
    generated = _add(centres_engine, "ann", "centre", "BBB", password=None)
    assert generated and len(generated) >= 20
    assert _login(centres_engine, "ann", generated) == Actor("ann", "centre", "BBB")
    with session_scope(centres_engine) as s:
        new_password = auth.reset_password(s, ADMIN, "ann")
        auth.disable_user(s, ADMIN, "ann", reason="left the centre")
    assert new_password and new_password != generated
    _failure(centres_engine, "ann", new_password)
    with session_scope(centres_engine) as s:
        auth.enable_user(s, ADMIN, "ann")
    _failure(centres_engine, "ann", generated)
    assert _login(centres_engine, "ann", new_password).username == "ann"
    with session_scope(centres_engine) as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.entity == "users").order_by(AuditEntry.id)).scalars().all()
        assert verify_chain(s) == []
        hashes = s.execute(select(User.password_hash)).scalars().all()
    assert [(r.action, json.loads(r.entity_key), r.actor) for r in rows] == [("INSERT", {"username": "ann"}, "boss")] + [
        ("UPDATE", {"username": "ann"}, "boss")
    ] * 3
    assert json.loads(rows[0].new_values) == {"role": "centre", "centre_code": "BBB", "disabled": False}
    assert rows[2].reason == "left the centre"
    dumped = " ".join(f"{r.old_values} {r.new_values} {r.reason}" for r in rows)
    for secret in [generated, new_password, *hashes]:
        assert secret not in dumped


def test_reset_password_lifts_a_lock(sqlite_engine: Engine) -> None:
    _add(sqlite_engine, "ann")
    for _ in range(auth.MAX_FAILED_LOGINS):
        _failure(sqlite_engine, "ann", "wrong wrong wrong")
    assert _failure(sqlite_engine, "ann", PASSWORD).cause is auth.FailureCause.LOCKED
    with session_scope(sqlite_engine) as s:
        auth.reset_password(s, ADMIN, "ann", "a brand new password")
    assert _login(sqlite_engine, "ann", "a brand new password").username == "ann"


def test_admin_cannot_disable_themselves(sqlite_engine: Engine) -> None:
    _add(sqlite_engine, "boss", "admin")
    with session_scope(sqlite_engine) as s, pytest.raises(auth.UserError, match="own account"):
        auth.disable_user(s, ADMIN, "boss")


def test_unknown_user_management_target_is_named(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as s, pytest.raises(auth.UserError, match="no user 'ghost'"):
        auth.reset_password(s, ADMIN, "ghost")


def test_demo_users_one_per_role_log_in_as_themselves(centres_engine: Engine) -> None:
    with session_scope(centres_engine) as s:
        logins = auth.create_demo_users(s, ["AAA", "BBB"])
    assert sorted(login.role for login in logins) == ["admin", "centre", "centre", "governance", "researcher"]
    assert {login.centre_code for login in logins if login.role == "centre"} == {"AAA", "BBB"}
    assert len({login.password for login in logins}) == len(logins)
    for login in logins:
        assert _login(centres_engine, login.username, login.password) == Actor(login.username, login.role, login.centre_code)


def test_concurrent_failed_logins_are_all_counted(engine: Engine) -> None:
    """Ten wrong passwords at once must lock the account, not be lost to a read-modify-write race."""
    import threading

    _add(engine, "ann")
    barrier = threading.Barrier(10)
    causes: list[auth.FailureCause] = []

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            _login(engine, "ann", f"wrong password {i}")
        except auth.LoginFailed as exc:
            causes.append(exc.cause)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert causes.count(auth.FailureCause.WRONG_PASSWORD) == auth.MAX_FAILED_LOGINS
    assert causes.count(auth.FailureCause.LOCKED) == 10 - auth.MAX_FAILED_LOGINS
    assert _failure(engine, "ann", PASSWORD).cause is auth.FailureCause.LOCKED
