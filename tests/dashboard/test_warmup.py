"""The start-up warm-up fills the caches the Overview reads after login, for every scope an
account has, so the first login does not derive anything; failures never stop the server."""

from __future__ import annotations

import pytest
import streamlit as st

from analytics.settings import EndpointSettings
from dashboard import data, warmup
from dashboard.context import Filters
from registry.security import auth
from registry.security.access import cli_actor
from registry.db import make_engine, session_scope
from tests.security.hashing import CHEAP_HASHER


@pytest.fixture
def fresh_caches():  # type: ignore[no-untyped-def]
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def _forbid_recomputing(monkeypatch: pytest.MonkeyPatch) -> None:
    import analytics.endpoints
    import analytics.snapshot

    def recomputed(*_a, **_k):  # type: ignore[no-untyped-def]
        raise AssertionError("computed after the warm-up: the cache was not filled")

    monkeypatch.setattr(analytics.endpoints, "derive_endpoints", recomputed)
    monkeypatch.setattr(analytics.snapshot, "load_snapshot", recomputed)


def test_after_the_warm_up_the_overview_data_come_from_the_cache(small_registry_url, fresh_caches, monkeypatch):  # type: ignore[no-untyped-def]
    scope = ("admin", None)
    messages: list[str] = []
    assert warmup.warm_up(small_registry_url, scopes=[scope], log=messages.append) == [scope]
    assert messages and messages[0].startswith(warmup.DONE_MESSAGE)
    _forbid_recomputing(monkeypatch)
    version = data.data_version(small_registry_url)
    settings = data.settings_key(EndpointSettings())
    assert len(data.endpoints(small_registry_url, scope, version, settings)) > 0
    for endpoint in warmup.HEADLINE_ENDPOINTS:
        data.survival(small_registry_url, scope, version, settings, Filters().key(), endpoint, None)
    data.table_counts(small_registry_url, scope, version)
    data.transplants(small_registry_url, scope, version)


def test_without_the_warm_up_the_check_above_fails(small_registry_url, fresh_caches, monkeypatch):  # type: ignore[no-untyped-def]
    _forbid_recomputing(monkeypatch)
    version = data.data_version(small_registry_url)
    with pytest.raises(AssertionError, match="computed after the warm-up"):
        data.endpoints(small_registry_url, ("admin", None), version, data.settings_key(EndpointSettings()))


def test_the_scopes_are_those_of_enabled_accounts_administrators_first(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        with auth.use_hasher(CHEAP_HASHER), session_scope(engine) as session:
            auth.create_demo_users(session, [])
            actor = cli_actor()
            auth.add_user(session, actor, "gone", role="researcher")
            auth.add_user(session, actor, "boss", role="admin")
            auth.disable_user(session, actor, "gone")
    finally:
        engine.dispose()
    scopes = warmup.account_scopes(sqlite_url)
    assert scopes[0] == ("admin", None)
    assert set(scopes) == {("admin", None), ("governance", None), ("researcher", None)}


def test_a_registry_without_accounts_warms_the_administrator_scope(sqlite_url: str) -> None:
    assert warmup.account_scopes(sqlite_url) == [("admin", None)]


def test_a_failing_warm_up_is_one_log_line_not_a_crash(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    thread = warmup.start_warm_up(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    thread.join(timeout=120)
    assert not thread.is_alive()
    err = capsys.readouterr().err
    assert "msreg warm-up skipped" in err and "Traceback" not in err
