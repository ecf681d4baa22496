"""`msreg health`: the cheap "does the registry answer?" check a process manager runs.

Two probes, each bounded by a timeout: the database answers a trivial query on the schema's
version table (so a database that is up but empty or wrong also fails), and the dashboard's
Streamlit server answers its own health route `/_stcore/health` with 200. Nothing heavier
(no snapshot, no audit verification: that is `msreg doctor`), so it can run every minute.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass

HEALTH_ROUTE = "/_stcore/health"


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    ok: bool
    detail: str


def ping_database(url: str, *, timeout_s: float = 5.0) -> Probe:
    """SELECT the schema revision; never creates a missing SQLite file."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from registry.doctor import sqlite_file

    shown = make_url(url).render_as_string(hide_password=True)
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        return Probe("database", False, f"{path}: no such SQLite registry")
    if make_url(url).get_backend_name() == "postgresql":
        args: dict[str, object] = {"connect_timeout": max(1, int(timeout_s)),
                                   "options": f"-c statement_timeout={int(timeout_s * 1000)}"}
    else:
        args = {"timeout": timeout_s}
    t0 = time.perf_counter()
    engine = None
    try:  # creating the engine is inside: an unknown scheme or missing driver is a FAIL line too
        engine = create_engine(url, connect_args=args, poolclass=NullPool)
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:  # noqa: BLE001 - the probe reports, never raises
        first = (str(exc).strip().splitlines() or [""])[0]
        return Probe("database", False, f"{shown}: {type(exc).__name__}: {first}")
    finally:
        if engine is not None:
            engine.dispose()
    ms = (time.perf_counter() - t0) * 1000
    if revision is None:
        return Probe("database", False, f"{shown}: no schema (run `msreg init`)")
    return Probe("database", True, f"{shown} answers (revision {revision}, {ms:.0f} ms)")


def ping_dashboard(host: str, port: int, *, timeout_s: float = 5.0) -> Probe:
    """GET http://HOST:PORT/_stcore/health, expecting 200."""
    url = f"http://{host}:{port}{HEALTH_ROUTE}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - http to our own server
            body = response.read(64).decode("utf-8", "replace").strip()
            if response.status == 200:
                return Probe("dashboard", True, f"{url}: {response.status} {body}")
            return Probe("dashboard", False, f"{url}: HTTP {response.status} {body}")
    except urllib.error.HTTPError as exc:
        return Probe("dashboard", False, f"{url}: HTTP {exc.code}")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Probe("dashboard", False, f"{url}: {reason}")


def probe(url: str, *, host: str, port: int, dashboard: bool, timeout_s: float) -> list[Probe]:
    probes = [ping_database(url, timeout_s=timeout_s)]
    if dashboard:
        probes.append(ping_dashboard(host, port, timeout_s=timeout_s))
    return probes


def wait_healthy(url: str, *, host: str, port: int, dashboard: bool, timeout_s: float, wait_s: float) -> list[Probe]:
    """Probe until every probe passes or `wait_s` has passed (for ExecStartPost= at start-up)."""
    deadline = time.monotonic() + wait_s
    while True:
        probes = probe(url, host=host, port=port, dashboard=dashboard, timeout_s=timeout_s)
        if all(p.ok for p in probes) or time.monotonic() >= deadline:
            return probes
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
