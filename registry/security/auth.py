"""Accounts: password hashing, logging in, and user management (admins only).

Decisions, and why:
- Passwords are hashed with Argon2id at the OWASP Password Storage Cheat Sheet's first
  recommended setting (m = 19 MiB, t = 2, p = 1). The parameters travel inside each hash, so a
  stronger setting later needs no migration: `authenticate` re-hashes on the next good login.
  Tests swap in a cheap hasher with `use_hasher(...)`; there is deliberately no environment
  variable for that, so a production process cannot be weakened by its environment.
- Every failed login raises `LoginFailed` with the *same* message, whether the username is
  unknown, the password wrong, the account disabled or locked: the login form must not tell an
  attacker which usernames exist. The precise cause is in `LoginFailed.cause` (for logs and
  tests, never for the screen). An unknown username still costs one hash verification, so
  timing does not tell either.
- Lockout: `MAX_FAILED_LOGINS` (5) failures in a row lock the account for `LOCKOUT` (15 min).
  While locked, attempts are refused without checking the password and do not extend the lock
  (otherwise anyone could keep a colleague locked out for ever). Locking restarts the counter,
  so after the lock expires the user has 5 more attempts; a good login resets the counter.
- The account row is locked (SELECT … FOR UPDATE on PostgreSQL) while a login is checked, so
  parallel guesses are all counted; without it ten simultaneous wrong passwords could each
  read a count of 0 and never lock the account.
- `authenticate` commits its own bookkeeping (failed-login counter, lock, last login) because a
  failed login must be remembered although the caller sees an exception: give it a plain
  Session, not one inside `session_scope`, which would roll the counter back.
- Every login, refusal, lockout and throttled attempt is an access-log event
  (`registry.security.access_log.record_access`: who, door, client address, cause), written in the
  same commit as the account's bookkeeping; they are also logged under `registry.security.auth`.
- Throttling besides the per-account lockout: more than `CLIENT_MAX_FAILURES` failed logins
  from one client address, or `GLOBAL_MAX_FAILURES` from everywhere, within `THROTTLE_WINDOW`
  refuse further attempts *before* any password is checked and without counting them against
  an account. So one address cannot lock more than a few accounts per window, and a
  distributed attack cannot lock more than `GLOBAL_MAX_FAILURES / MAX_FAILED_LOGINS` of them:
  nobody can keep every account locked. The counts come from the access log itself, so they
  hold across dashboard processes.
- A password longer than `MAX_PASSWORD_LENGTH` is refused before hashing: a
  hundred-million-character "password" must not cost seconds of CPU per attempt.
- User management (`add_user`, `disable_user`, `enable_user`, `reset_password`) is for admins,
  and each change appends an audit row for entity `users` keyed by username. Password hashes
  never enter the audit trail: a reset is recorded as `{"password": "reset"}`.
- Generated passwords are 20 URL-safe characters (about 120 bits); chosen ones need at least
  `MIN_PASSWORD_LENGTH` characters (12; no composition rules, as NIST SP 800-63B advises).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, NoReturn

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.security import audit
from registry.security.access import ROLES, AccessDenied, Actor
from registry.security.access_log import record_access
from registry.models import AccessEvent, Centre, User, utcnow

log = logging.getLogger(__name__)

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # Argon2 accepts more; this only stops absurd inputs.
THROTTLE_WINDOW = dt.timedelta(minutes=15)
CLIENT_MAX_FAILURES = 10
GLOBAL_MAX_FAILURES = 50

THROTTLED_MESSAGE = (
    "Login refused: too many failed logins recently (from this address or overall). "
    f"Wait {int(THROTTLE_WINDOW.total_seconds() // 60)} minutes and try again, or ask an administrator."
)
TOO_LONG_MESSAGE = f"Login refused: a password has at most {MAX_PASSWORD_LENGTH} characters."

OWASP_ARGON2 = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1, "hash_len": 32, "salt_len": 16}
"""OWASP Password Storage Cheat Sheet: Argon2id, m=19456 KiB, t=2, p=1."""

LOGIN_FAILED_MESSAGE = (
    "Login failed: unknown username or wrong password. After "
    f"{MAX_FAILED_LOGINS} failed attempts in a row an account is locked for "
    f"{int(LOCKOUT.total_seconds() // 60)} minutes; an administrator can reset it."
)

SYSTEM_ACTOR = Actor(username="system:demo", role="admin")
"""Who creates the demo users in the audit trail."""


def production_hasher() -> PasswordHasher:
    return PasswordHasher(type=Type.ID, **OWASP_ARGON2)


_hasher: PasswordHasher = production_hasher()


@contextmanager
def use_hasher(hasher: PasswordHasher) -> Iterator[None]:
    """Hash with `hasher` inside the block (tests: a cheap one; Argon2 at full cost is slow)."""
    global _hasher
    previous, _hasher = _hasher, hasher
    try:
        yield
    finally:
        _hasher = previous


def hash_password(password: str) -> str:
    """An Argon2id hash (PHC string with its own salt and parameters)."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; False for a mismatch, a missing or a malformed hash."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A valid hash to verify against when the username is unknown, so timing does not tell.
_DUMMY_HASH_BY_PARAMS: dict[tuple[int, int, int], str] = {}


def _dummy_hash() -> str:
    key = (_hasher.time_cost, _hasher.memory_cost, _hasher.parallelism)
    if key not in _DUMMY_HASH_BY_PARAMS:
        _DUMMY_HASH_BY_PARAMS[key] = _hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH_BY_PARAMS[key]


class FailureCause(Enum):
    UNKNOWN_USER = "unknown user"
    WRONG_PASSWORD = "wrong password"
    DISABLED = "account disabled"
    LOCKED = "account locked"
    TOO_LONG = "password too long"
    THROTTLED = "throttled"


class LoginFailed(Exception):
    """A refused login. `str()` is the same for every cause that concerns the account (it must
    not tell which usernames exist); only throttling and an absurd password length, which
    tell nothing about accounts, say so. `cause` says which, for logs only."""

    def __init__(self, cause: FailureCause, username: str) -> None:
        message = {FailureCause.THROTTLED: THROTTLED_MESSAGE, FailureCause.TOO_LONG: TOO_LONG_MESSAGE}.get(cause, LOGIN_FAILED_MESSAGE)
        super().__init__(message)
        self.cause = cause
        self.username = username


class UserError(ValueError):
    """A user-management request that cannot be done as asked; the message says why."""


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def _check_password_strength(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise UserError(
            f"password of {len(password)} characters refused: it needs {MIN_PASSWORD_LENGTH} to "
            f"{MAX_PASSWORD_LENGTH} characters"
        )


def _find_user(session: Session, username: str, *, lock: bool = False) -> User | None:
    """The account, optionally row-locked (PostgreSQL) so that concurrent failed logins are all
    counted; SQLite serialises writing transactions anyway (BEGIN IMMEDIATE)."""
    query = select(User).where(User.username == username)
    return session.execute(query.with_for_update() if lock else query).scalar_one_or_none()


def _actor_of(user: User) -> Actor:
    return Actor(username=user.username, role=user.role, centre_code=user.centre.centre_code if user.centre else None)


def recent_failures(session: Session, now: dt.datetime, *, client: str | None = None) -> int:
    """Failed logins in the last `THROTTLE_WINDOW`, from `client` or (None) from everywhere."""
    query = select(func.count()).select_from(AccessEvent).where(
        AccessEvent.event == "login.failed", AccessEvent.occurred_at > now - THROTTLE_WINDOW
    )
    if client is not None:
        query = query.where(AccessEvent.client == client)
    return int(session.execute(query).scalar_one())


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    now: dt.datetime | None = None,
    client: str | None = None,
    door: str = "dashboard",
) -> Actor:
    """Check a username and password; return the Actor, or raise `LoginFailed`.

    Refused before anything else: a password over `MAX_PASSWORD_LENGTH` (never hashed) and,
    when too many logins failed recently from `client` or overall, every attempt (not checked,
    not counted against the account). Otherwise the password is verified (against a dummy hash
    for an unknown user) before any account state is looked at, so every refusal costs the same
    time and tells nothing. Each outcome is an access-log event. Commits the session (see the
    module docstring: a failure must be remembered).
    :raises LoginFailed: unknown user, wrong password, disabled or locked account, throttled.
    """
    now = now or utcnow()
    where = {"door": door, "client": client}
    if len(password) > MAX_PASSWORD_LENGTH:
        _refuse(session, FailureCause.TOO_LONG, username, where, {"length": len(password)})
    if (client is not None and recent_failures(session, now, client=client) >= CLIENT_MAX_FAILURES) or (
        recent_failures(session, now) >= GLOBAL_MAX_FAILURES
    ):
        _refuse(session, FailureCause.THROTTLED, username, where)
    user = _find_user(session, username, lock=True)
    password_ok = verify_password(user.password_hash if user and user.password_hash else _dummy_hash(), password)
    if user is None:
        _refuse(session, FailureCause.UNKNOWN_USER, username, where)
    if user.disabled:
        _refuse(session, FailureCause.DISABLED, username, where)
    if user.locked_until is not None and user.locked_until > now:
        _refuse(session, FailureCause.LOCKED, username, where)
    if not password_ok or not user.password_hash:
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            log.warning("account %r locked until %s after %d failed logins", username, user.locked_until, MAX_FAILED_LOGINS)
            record_access(
                session, _actor_of(user), "lockout",
                {"locked_until": user.locked_until.isoformat(), "failed_logins": MAX_FAILED_LOGINS}, **where,
            )
        _refuse(session, FailureCause.WRONG_PASSWORD, username, where)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    actor = _actor_of(user)
    record_access(session, actor, "login", {}, **where)
    session.commit()
    log.info("login %r (%s)", username, user.role)
    return actor


def _refuse(
    session: Session, cause: FailureCause, username: str, where: dict[str, Any], details: dict[str, Any] | None = None
) -> NoReturn:
    event = "login.throttled" if cause is FailureCause.THROTTLED else "login.failed"
    record_access(session, username.strip()[:64] or "(empty)", event, {"cause": cause.value, **(details or {})}, **where)
    session.commit()
    log.warning("login refused for %r: %s", username, cause.value)
    raise LoginFailed(cause, username)


def cli_actor_as(session: Session, username: str) -> Actor:
    """`msreg --as NAME`: the registry account NAME acting from the command line, recorded
    with the OS account that ran it. Refused unless the account exists and is enabled.

    :raises UserError: no such account, or it is disabled.
    """
    from registry.security.access import os_account

    user = _find_user(session, username)
    if user is None:
        raise UserError(f"--as {username}: no registry user {username!r} (see `msreg user list`)")
    if user.disabled:
        raise UserError(f"--as {username}: the account {username!r} is disabled")
    account = os_account()
    return replace(_actor_of(user), door="cli", os_account=account)


def active_actor(session: Session, username: str) -> Actor | None:
    """The Actor of an existing, enabled, unlocked account, else None.

    The dashboard calls this on every run so that disabling an account (or changing its role)
    takes effect in sessions that are already logged in, and to map an identity-provider login
    (OIDC) to a registry account: the registry username is the person's e-mail address there.
    """
    user = _find_user(session, username)
    if user is None or user.disabled:
        return None
    if user.locked_until is not None and user.locked_until > utcnow():
        return None
    return _actor_of(user)


# --- user management (admins) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserInfo:
    """What `list_users` shows: never the hash."""

    username: str
    role: str
    centre_code: str | None
    disabled: bool
    locked_until: dt.datetime | None
    last_login_at: dt.datetime | None


def _require_admin(actor: Actor, what: str) -> None:
    if actor.role != "admin":
        raise AccessDenied(f"user {actor.username!r} (role {actor.role}) may not {what}: only admins manage users")


def _get_user(session: Session, username: str) -> User:
    user = _find_user(session, username)
    if user is None:
        raise UserError(f"no user {username!r}")
    return user


def _user_key(username: str) -> dict[str, str]:
    return {"username": username}


def add_user(
    session: Session,
    actor: Actor,
    username: str,
    role: str,
    centre_code: str | None = None,
    password: str | None = None,
) -> str | None:
    """Create an account; returns the generated password when none was given (show it once).

    :raises AccessDenied: `actor` is not an admin.
    :raises UserError: bad username, role/centre mismatch, unknown centre, taken username, weak password.
    """
    _require_admin(actor, f"add user {username!r}")
    username = username.strip()
    if not username or len(username) > 64 or any(ch.isspace() for ch in username):
        raise UserError(f"username {username!r} refused: 1 to 64 characters, no spaces")
    if role not in ROLES:
        raise UserError(f"role {role!r} refused for user {username!r}: expected one of {', '.join(ROLES)}")
    if (role == "centre") != (centre_code is not None):
        raise UserError(
            f"user {username!r}: role {role!r} with centre {centre_code!r} refused; "
            "centre users need a centre and other roles have none"
        )
    centre_id = None
    if centre_code is not None:
        centre_id = session.execute(select(Centre.id).where(Centre.centre_code == centre_code)).scalar_one_or_none()
        if centre_id is None:
            raise UserError(f"user {username!r}: no centre {centre_code!r} in the registry")
    if session.execute(select(User.id).where(User.username == username)).first() is not None:
        raise UserError(f"user {username!r} already exists")
    generated = None
    if password is None:
        password = generated = generate_password()
    _check_password_strength(password)
    session.add(
        User(username=username, role=role, centre_id=centre_id, password_hash=hash_password(password), disabled=False, failed_logins=0)
    )
    session.flush()
    new = {"role": role, "centre_code": centre_code, "disabled": False}
    audit.record(session, actor, [audit.Change("INSERT", "users", _user_key(username), None, new)], reason="add user")
    record_access(session, actor, "user.add", {"user": username, **new})
    return generated


def _set_disabled(session: Session, actor: Actor, username: str, disabled: bool, reason: str | None) -> None:
    verb = "disable" if disabled else "enable"
    _require_admin(actor, f"{verb} user {username!r}")
    if disabled and username == actor.username:
        raise UserError(f"user {username!r} may not disable their own account")
    user = _get_user(session, username)
    if user.disabled == disabled:
        return
    user.disabled = disabled
    session.flush()
    change = audit.Change("UPDATE", "users", _user_key(username), {"disabled": not disabled}, {"disabled": disabled})
    audit.record(session, actor, [change], reason=reason or f"{verb} user")
    record_access(session, actor, f"user.{verb}", {"user": username, "reason": reason})


def disable_user(session: Session, actor: Actor, username: str, *, reason: str | None = None) -> None:
    """Refuse all future logins of `username` (the account and its history stay)."""
    _set_disabled(session, actor, username, True, reason)


def enable_user(session: Session, actor: Actor, username: str, *, reason: str | None = None) -> None:
    _set_disabled(session, actor, username, False, reason)


def reset_password(
    session: Session, actor: Actor, username: str, password: str | None = None, *, reason: str | None = None
) -> str | None:
    """Set a new password and lift any lock; returns the generated password when none was given."""
    _require_admin(actor, f"reset the password of {username!r}")
    user = _get_user(session, username)
    generated = None
    if password is None:
        password = generated = generate_password()
    _check_password_strength(password)
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    change = audit.Change("UPDATE", "users", _user_key(username), {"password": "(previous)"}, {"password": "reset"})
    audit.record(session, actor, [change], reason=reason or "reset password")
    record_access(session, actor, "user.reset-password", {"user": username, "reason": reason})
    return generated


def list_users(session: Session, actor: Actor) -> list[UserInfo]:
    _require_admin(actor, "list users")
    rows = session.execute(select(User).order_by(User.username)).scalars()
    return [
        UserInfo(u.username, u.role, u.centre.centre_code if u.centre else None, u.disabled, u.locked_until, u.last_login_at)
        for u in rows
    ]


# --- demo -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    password: str
    role: str
    centre_code: str | None


DEMO_CENTRE_USERS = 2


def create_demo_users(session: Session, centre_codes: Sequence[str]) -> list[DemoLogin]:
    """One admin, governance and researcher account, and a centre account for each of the first
    two centres, with fresh random passwords (print them: they are stored only as hashes).

    :raises UserError: one of the usernames exists already, or a centre is unknown.
    """
    wanted: list[tuple[str, str, str | None]] = [
        ("demo-admin", "admin", None),
        ("demo-governance", "governance", None),
        ("demo-researcher", "researcher", None),
    ]
    wanted += [(f"demo-centre-{code.lower()}", "centre", code) for code in list(centre_codes)[:DEMO_CENTRE_USERS]]
    logins = []
    for username, role, code in wanted:
        password = add_user(session, SYSTEM_ACTOR, username, role, code)
        assert password is not None
        logins.append(DemoLogin(username, password, role, code))
    return logins
