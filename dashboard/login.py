"""Who is using the dashboard: the login form, the idle timeout, logout, and single sign-on.

`require_actor()` is the first call of dashboard/app.py. It returns the logged-in `Actor`, or
shows the login form and stops the script run: no page code runs, and nothing is read, before
we know whose scope applies.

How it behaves, and why:
- Password login authenticates against the registry's own accounts (`registry.security.auth`): the same
  Argon2id hashes, lockout after 5 failures and one message for every refusal.
- The Actor lives in `st.session_state` (server side; a browser cannot write it). Every run
  re-reads the account, so an account disabled, locked or changed by an administrator stops
  or follows existing sessions at the next click, not at the next login.
- Idle timeout: after `MSREG_DASHBOARD_IDLE_MINUTES` (default 30) without any interaction the
  session is cleared and the login form comes back, with a note why. A clinician leaving a
  workstation on the ward should not leave the registry open, so the server does not wait for
  the next click: a small fragment (`_idle_watch`, `st.fragment(run_every=...)`) re-checks the
  clock every few seconds and, once the time is up, reruns the app, which replaces every page's
  content with the login form. Its own runs are not activity.
- Access log (`registry.security.access_log`): logins, failed logins, lockouts and throttled attempts
  (recorded by `registry.security.auth.authenticate` with the client's address), logouts and timeouts.
  The address comes from `st.context.ip_address` ("localhost" for local connections).
- Logout (sidebar) clears the *whole* session state, so no filter, cached selection or form
  value of one user is seen by the next one at the same browser.
- Single sign-on: when `.streamlit/secrets.toml` has an `[auth]` section (Streamlit's OIDC
  support: `redirect_uri`, `cookie_secret`, `client_id`, `client_secret`,
  `server_metadata_url`), the form offers "Log in with single sign-on" (`st.login()`). The
  identity provider's e-mail address is then looked up as a registry *username*: an
  administrator creates the account first, e.g.
  `msreg user add alice@hospital.example --role centre --centre OSL` (its generated password
  can simply be discarded). An e-mail the provider marks as unverified, or one with no enabled
  registry account, is refused. Roles and centres always come from the registry, never from
  the identity provider.
- `MSREG_DASHBOARD_NO_LOGIN=1` skips login, for automated tests only: the user is an
  administrator, or the role in `MSREG_DASHBOARD_NO_LOGIN_AS` ("governance", "researcher",
  "centre:CODE"), the switch the dashboard's own tests use. A red banner says so on every
  page. Never set it on a server that others can reach.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from registry.security.access import Actor


NO_LOGIN_ENV = "MSREG_DASHBOARD_NO_LOGIN"
NO_LOGIN_AS_ENV = "MSREG_DASHBOARD_NO_LOGIN_AS"
IDLE_MINUTES_ENV = "MSREG_DASHBOARD_IDLE_MINUTES"
DEFAULT_IDLE_MINUTES = 30.0

ACTOR_KEY = "msreg_actor"
LAST_SEEN_KEY = "msreg_last_seen"
NOTICE_KEY = "msreg_login_notice"
VIA_SSO_KEY = "msreg_via_sso"


def registry_engine() -> Engine:
    """The dashboard's one pooled engine ($MSREG_DATABASE_URL, else ./registry.db)."""
    from dashboard.data import database_url, engine_for

    return engine_for(database_url())


def _session() -> Session:
    """A plain Session (not session_scope): `authenticate` commits its own bookkeeping."""
    from registry.db import make_session_factory

    return make_session_factory(registry_engine())()


def _read_session() -> Session:
    """A Session on the read-only engine, for the identity check of every click.

    Why not the writing engine: on SQLite it begins with BEGIN IMMEDIATE, so during a long
    import every logged-in user's next click waited for the write lock and failed after the
    busy timeout ("database is locked"). Reading the account needs no lock (WAL).
    """
    from dashboard.data import database_url, reader_for
    from registry.db import make_session_factory

    return make_session_factory(reader_for(database_url()))()


def idle_timeout_seconds() -> float:
    raw = os.environ.get(IDLE_MINUTES_ENV)
    if not raw:
        return DEFAULT_IDLE_MINUTES * 60
    try:
        minutes = float(raw)
    except ValueError as exc:
        raise ValueError(f"{IDLE_MINUTES_ENV}={raw!r} is not a number of minutes") from exc
    if minutes <= 0:
        raise ValueError(f"{IDLE_MINUTES_ENV}={raw!r} must be more than 0 minutes")
    return minutes * 60


def _no_login_actor() -> Actor:
    role, _, centre = os.environ.get(NO_LOGIN_AS_ENV, "admin").partition(":")
    return Actor(username=f"no-login:{role}", role=role, centre_code=centre or None)


def sso_configured() -> bool:
    """True when secrets.toml has an [auth] section (Streamlit OIDC)."""
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all, or an unreadable one
        return False


def actor_for_identity(user_info: Mapping[str, Any]) -> Actor | None:
    """The registry account of an identity-provider login (`st.user`), or None if refused."""
    email = str(user_info.get("email") or "").strip()
    if not email or user_info.get("email_verified") is False:
        return None
    from registry.security.auth import active_actor

    with _read_session() as session:
        return active_actor(session, email) or active_actor(session, email.lower())


def _current_account(actor: Actor) -> Actor | None:
    from registry.security.auth import active_actor

    with _read_session() as session:
        return active_actor(session, actor.username)


def _end_session(notice: str | None) -> None:
    """Forget the user and everything the session held; sign out of SSO too, or its cookie
    would log the person straight back in (defeating logout and the idle timeout)."""
    via_sso = bool(st.session_state.get(VIA_SSO_KEY))
    st.session_state.clear()
    if notice:
        st.session_state[NOTICE_KEY] = notice
    if via_sso:
        st.logout()


def client_address() -> str:
    """The browser's address as the server sees it ("localhost" when local)."""
    try:
        address = st.context.ip_address
    except Exception:  # noqa: BLE001 - no request context
        address = None
    return address if isinstance(address, str) and address else "localhost"  # AppTest gives a mock


def _record(actor: Actor, event: str, details: dict[str, Any] | None = None) -> None:
    from registry.security.access_log import record_access

    record_access(registry_engine(), actor, event, details or {}, door="dashboard", client=client_address())


def logout() -> None:
    actor = st.session_state.get(ACTOR_KEY)
    if isinstance(actor, Actor):
        _record(actor, "logout")
    _end_session("You have logged out.")


def _logout_button() -> None:
    with st.sidebar:
        if st.button("Log out", key="msreg_logout", icon=":material/logout:"):
            logout()
            st.rerun()


def _login_form() -> None:
    st.title("AHSCT-MS outcomes registry")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(notice)
    with st.form("msreg_login", clear_on_submit=True):
        username = st.text_input("Username", key="msreg_login_username", autocomplete="username")
        password = st.text_input("Password", type="password", key="msreg_login_password", autocomplete="current-password")
        submitted = st.form_submit_button("Log in", type="primary")
    if submitted:
        from registry.security.auth import LoginFailed, authenticate

        try:
            with _session() as session:
                actor = authenticate(session, username.strip(), password, client=client_address(), door="dashboard")
        except LoginFailed as exc:
            st.error(str(exc))
        else:
            _start_session(actor, via_sso=False)
            st.rerun()
    if sso_configured():
        st.divider()
        if st.button("Log in with single sign-on", key="msreg_sso"):
            st.login()


def _start_session(actor: Actor, *, via_sso: bool) -> None:
    st.session_state.clear()
    st.session_state[ACTOR_KEY] = replace(actor, door="dashboard")
    st.session_state[LAST_SEEN_KEY] = time.time()
    st.session_state[VIA_SSO_KEY] = via_sso


def idle_check_seconds() -> float:
    """How often the server re-checks an open session's idle time: a quarter of the timeout,
    between 1 and 30 seconds, so content disappears at most that long after the time is up."""
    return min(30.0, max(1.0, idle_timeout_seconds() / 4))


def _idle_watch() -> None:
    """A fragment that reruns itself on the server's clock (no click needed); once the session
    has been idle too long it reruns the whole app, whose login check then ends the session."""

    @st.fragment(run_every=idle_check_seconds())
    def watch() -> None:
        last_seen = st.session_state.get(LAST_SEEN_KEY)
        if last_seen is not None and time.time() - last_seen > idle_timeout_seconds():
            st.rerun(scope="app")

    with st.sidebar:
        watch()


def require_actor() -> Actor:
    """The logged-in user; otherwise show the login form and stop this script run."""
    if os.environ.get(NO_LOGIN_ENV) == "1":
        actor = _no_login_actor()
        st.sidebar.error(f"Login is switched off ({NO_LOGIN_ENV}=1): tests only. Acting as {actor.username}.")
        return actor

    actor = st.session_state.get(ACTOR_KEY)
    if actor is None and sso_configured() and getattr(st.user, "is_logged_in", False):
        mapped = actor_for_identity(st.user.to_dict())
        if mapped is None:
            st.error(
                f"Your single sign-on identity ({st.user.get('email') or 'no e-mail'}) has no active "
                "account in this registry. Ask an administrator to add one."
            )
            if st.button("Sign out of single sign-on", key="msreg_sso_out"):
                st.logout()
            st.stop()
        _start_session(mapped, via_sso=True)
        _record(mapped, "login", {"via": "single sign-on"})
        actor = mapped

    if isinstance(actor, Actor):
        last_seen = st.session_state.get(LAST_SEEN_KEY, time.time())
        idle = time.time() - last_seen
        if idle > idle_timeout_seconds():
            _record(actor, "timeout", {"idle_seconds": int(idle)})
            _end_session("Your session ended after a period without activity. Please log in again.")
        else:
            current = _current_account(actor)
            if current is None:
                _end_session("Your account is no longer active. Ask an administrator.")
            else:
                current = replace(current, door="dashboard")
                st.session_state[ACTOR_KEY] = current
                st.session_state[LAST_SEEN_KEY] = time.time()
                _logout_button()
                _idle_watch()
                return current

    _login_form()
    st.stop()
    raise AssertionError("unreachable: st.stop() ends the script run")
