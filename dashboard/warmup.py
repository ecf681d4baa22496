"""Warm the dashboard once, when the server starts, so that the first login does not pay for it.

Why: the first login used to wait for everything a server does only once: importing pandas,
DuckDB, Plotly and the statistics modules, loading the registry into the DuckDB snapshot and
deriving the endpoints. None of it depends on who logs in first, so `dashboard.serve` does it
as the server starts: the imports first, in the main thread, before Streamlit starts serving
(importing pandas in one thread while another uses Plotly fails: Plotly sees a half-imported
pandas), then the caches in a background thread. It fills the same process-wide caches the
pages read (`dashboard.data`, keyed by data version, scope and settings), for the default
settings and cohort of the Overview page (the first page after login), for each scope
(role, centre) that an enabled account has, administrators first, at most `MAX_SCOPES`.

A user who logs in before it has finished simply waits for the part still running (the import
lock, or the same computation), never for more. A failure is logged in one line and never
stops the server: the pages then compute on demand as before.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence

MAX_SCOPES = 12
HEADLINE_ENDPOINTS: tuple[str, ...] = ("rfs", "pfs", "neda", "os", "trm")
DONE_MESSAGE = "msreg warm-up done"
ROLE_ORDER = {"admin": 0, "governance": 1, "researcher": 2, "centre": 3}

Scope = tuple[str, "str | None"]


def import_heavy_modules() -> None:
    """Import what the login form and the pages need, once per process."""
    import argon2  # noqa: F401 - password verification at login
    import plotly.graph_objects  # noqa: F401 - every figure
    import scipy.stats  # noqa: F401 - the Safety page's funnel limits (imported lazily there)
    import lifelines  # noqa: F401 - Kaplan–Meier (KaplanMeierFitter) and Cox models

    import dashboard.analysis  # noqa: F401 - pandas, numpy, DuckDB endpoints, estimators
    import dashboard.data  # noqa: F401
    import dashboard.figures  # noqa: F401 - figure builders
    import registry.security.auth  # noqa: F401


def account_scopes(url: str) -> list[Scope]:
    """(role, centre_code) of every enabled account, administrators first, at most MAX_SCOPES."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from dashboard.data import reader_for
    from registry.models import Centre, User

    with Session(reader_for(url)) as session:
        rows = session.execute(
            select(User.role, Centre.centre_code).outerjoin(Centre, Centre.id == User.centre_id)
            .where(User.disabled.is_(False)).distinct()
        ).all()
    scopes = sorted({(role, code) for role, code in rows}, key=lambda s: (ROLE_ORDER.get(s[0], 9), s[1] or ""))
    return scopes[:MAX_SCOPES] or [("admin", None)]


def warm_scope(url: str, version: str, scope: Scope) -> None:
    """What the Overview page reads after login, for one scope, into the shared caches."""
    from analytics.settings import EndpointSettings
    from dashboard import data
    from dashboard.context import Filters

    counts = data.table_counts(url, scope, version)
    if counts["transplants"] == 0:
        return
    settings = data.settings_key(EndpointSettings())
    data.endpoints(url, scope, version, settings)
    for endpoint in HEADLINE_ENDPOINTS:
        data.survival(url, scope, version, settings, Filters().key(), endpoint, None)
    data.transplants(url, scope, version)


def warm_up(url: str, *, scopes: Sequence[Scope] | None = None, log: Callable[[str], None] | None = None) -> list[Scope]:
    """Import the heavy modules and fill the caches for `scopes` (default: the accounts'); returns the scopes warmed."""
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    import_heavy_modules()  # a no-op after dashboard.serve has imported them
    _wait_for_streamlit_runtime()
    from dashboard import data

    version = data.data_version(url)
    chosen = list(scopes) if scopes is not None else account_scopes(url)
    for scope in chosen:
        warm_scope(url, version, scope)
    log(f"{DONE_MESSAGE} in {time.perf_counter() - t0:.1f} s ({len(chosen)} scope(s))")
    return chosen


def _wait_for_streamlit_runtime(timeout_s: float = 60.0) -> None:
    """Inside the server, let Streamlit create its runtime first, so that the caches filled here
    live in the runtime's cache storage (outside a server, e.g. in tests, return at once)."""
    from streamlit import runtime

    if "streamlit.web.bootstrap" not in sys.modules:
        return
    deadline = time.monotonic() + timeout_s
    while not runtime.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _warm_quietly(url: str) -> None:
    try:
        warm_up(url)
    except Exception as exc:  # noqa: BLE001 - never take the server down; pages compute on demand
        print(f"msreg warm-up skipped: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)


def start_warm_up(url: str) -> threading.Thread:
    """Start `warm_up(url)` in a daemon thread (the server does not wait for it)."""
    thread = threading.Thread(target=_warm_quietly, args=(url,), name="msreg-warm-up", daemon=True)
    thread.start()
    return thread
