"""Data access for the pages: one engine per process, results cached by data version.

Why caching is keyed by the registry's data version (analytics.snapshot.data_version, one cheap
query per rerun): a cached result can never be stale, because any write moves the version and
so changes the key; and repeated reruns (every widget click) cost a dictionary look-up instead
of a snapshot and endpoint derivation. Writes from the dashboard additionally call
`clear_after_write()` to free the entries they made obsolete.

The acting user's scope is part of every key (role and centre), so a centre user's cached
cohort can never be served to another centre. Sessions are never cached: each user action opens
its own through `registry.db.session_scope`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from analytics.settings import EndpointSettings
from dashboard import analysis
from registry.security.access import Actor
from registry.db import make_engine, resolve_url

TTL = dt.timedelta(hours=1)
ScopeKey = tuple[str, str | None]  # (role, centre_code): all that decides what a user sees


def database_url() -> str:
    """$MSREG_DATABASE_URL (set by `msreg dashboard`), else ./registry.db, as the CLI does."""
    return resolve_url(None)


@st.cache_resource(show_spinner=False)
def engine_for(url: str) -> Engine:
    """One pooled engine per database for the whole server process (thread-safe), for writes."""
    return make_engine(url)


@st.cache_resource(show_spinner=False)
def reader_for(url: str) -> Engine:
    """The engine every page reads through.

    Why a second engine: on SQLite the writing engine begins with BEGIN IMMEDIATE, which would
    queue each page load behind a running import; a read-only engine's deferred BEGIN reads the
    last committed state at once (WAL), and it cannot write by mistake.
    """
    return make_engine(url, read_only=True)


def scope_key(actor: Actor) -> ScopeKey:
    return (actor.role, actor.centre_code)


def _actor(scope: ScopeKey) -> Actor:
    return Actor(username="dashboard", role=scope[0], centre_code=scope[1])


@st.cache_data(ttl=dt.timedelta(seconds=3), max_entries=4, show_spinner=False)
def data_version(url: str) -> str:
    """The registry's data version, re-read at most every 3 seconds.

    The version query is two primary-key look-ups (O(1), well under a millisecond at any
    size); the short TTL only spares a database round trip per widget click. A write from this
    dashboard clears the cache at once (`clear_after_write`); one from elsewhere shows up
    within 3 seconds.
    """
    from analytics.snapshot import data_version as _version

    return _version(reader_for(url))


def settings_key(settings: EndpointSettings) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(settings.to_dict().items()))


def _settings(key: tuple[tuple[str, Any], ...]) -> EndpointSettings:
    return EndpointSettings(**dict(key))


def _snapshot(url: str, scope: ScopeKey):  # type: ignore[no-untyped-def]
    from analytics.snapshot import load_snapshot

    return load_snapshot(reader_for(url), _actor(scope))


@st.cache_data(ttl=TTL, max_entries=16, show_spinner=False)
def table_counts(url: str, scope: ScopeKey, version: str) -> dict[str, int]:
    """Rows per registry table as the actor sees them (to tell an empty registry apart)."""
    snap = _snapshot(url, scope)
    con = snap.cursor()
    names = ("centres", "patients", "transplants", "visits", "relapses", "mri_scans", "adverse_events", "deaths")
    return {n: int(con.execute(f"SELECT count(*) FROM {n}").fetchone()[0]) for n in names}


@st.cache_data(ttl=TTL, max_entries=16, show_spinner=False)
def centres(url: str, scope: ScopeKey, version: str) -> pd.DataFrame:
    """centre_code, name, country of the centres the actor may see."""
    return _snapshot(url, scope).table("centres")[["centre_code", "name", "country"]].sort_values("centre_code")


@st.cache_data(ttl=TTL, max_entries=16, show_spinner="Deriving endpoints…")
def endpoints(url: str, scope: ScopeKey, version: str, settings: tuple[tuple[str, Any], ...]) -> pd.DataFrame:
    """One row per transplanted patient (analytics.endpoints)."""
    from analytics.endpoints import derive_endpoints

    return derive_endpoints(_snapshot(url, scope), _settings(settings))


@st.cache_data(ttl=TTL, max_entries=64, show_spinner=False)
def survival(
    url: str,
    scope: ScopeKey,
    version: str,
    settings: tuple[tuple[str, Any], ...],
    cohort: tuple[tuple[str, ...], tuple[str, ...], tuple[int, int] | None],
    endpoint: str,
    by: str | None,
) -> analysis.SurvivalResult:
    df = cohort_frame(url, scope, version, settings, cohort)
    return analysis.survival_curves(df, endpoint, by=by, min_group_size=_settings(settings).min_group_size)


@st.cache_data(ttl=TTL, max_entries=32, show_spinner=False)
def engraftment(
    url: str,
    scope: ScopeKey,
    version: str,
    settings: tuple[tuple[str, Any], ...],
    cohort: tuple[tuple[str, ...], tuple[str, ...], tuple[int, int] | None],
    kind: str,
    by: str | None,
) -> tuple[analysis.SurvivalResult, pd.DataFrame] | None:
    """Cumulative incidence of neutrophil or platelet engraftment (death competing) for the
    cohort, and the estimates at days 14, 21 and 28 (analytics.engraftment); None when no
    patient of the cohort has a recorded engraftment."""
    from analytics import estimates
    from analytics.engraftment import engraftment_dates, engraftment_times

    frame = engraftment_times(cohort_frame(url, scope, version, settings, cohort), engraftment_dates(_snapshot(url, scope)))
    endpoint = f"{kind}_engraftment"
    if not (frame[f"{kind}_status"] == 1).any():
        return None
    size = _settings(settings).min_group_size
    result = analysis.survival_curves(frame, endpoint, by=by, min_group_size=size, years=(1,))
    table = estimates.survival_estimates(frame, endpoint, by=by, at=(14, 21, 28), min_group_size=size)
    return result, table


@st.cache_data(ttl=TTL, max_entries=32, show_spinner=False)
def cox_checked(
    url: str,
    scope: ScopeKey,
    version: str,
    settings: tuple[tuple[str, Any], ...],
    cohort: tuple[tuple[str, ...], tuple[str, ...], tuple[int, int] | None],
    endpoint: str,
    cluster_by_centre: bool,
    aggressive_features: bool = False,
) -> analysis.CheckedCox:
    return analysis.cox_checked(cohort_frame(url, scope, version, settings, cohort), endpoint, _settings(settings),
                                cluster_by_centre=cluster_by_centre, aggressive_features=aggressive_features)


@st.cache_data(ttl=TTL, max_entries=16, show_spinner="Benchmarking centres…")
def benchmark(url: str, scope: ScopeKey, version: str, settings: tuple[tuple[str, Any], ...], measure: str,
              adjusted: bool):  # type: ignore[no-untyped-def]
    """analytics.benchmarking on every patient the actor may see (no cohort filter)."""
    from analytics.benchmarking import benchmark as run

    return run(endpoints(url, scope, version, settings), measure, adjusted=adjusted,  # type: ignore[arg-type]
               min_group_size=_settings(settings).min_group_size)


def cohort_frame(
    url: str,
    scope: ScopeKey,
    version: str,
    settings: tuple[tuple[str, Any], ...],
    cohort: tuple[Sequence[str], Sequence[str], tuple[int, int] | None],
) -> pd.DataFrame:
    centres_, phenotypes, years = cohort
    return analysis.filter_cohort(endpoints(url, scope, version, settings), centres=centres_, phenotypes=phenotypes, years=years)


@st.cache_data(ttl=TTL, max_entries=16, show_spinner=False)
def serious_adverse_events(url: str, scope: ScopeKey, version: str) -> pd.DataFrame:
    """Serious AEs with days since day 0 (analytics.adverse_events: the report counts the same)."""
    from analytics.adverse_events import serious_adverse_events as query

    return query(_snapshot(url, scope))


@st.cache_data(ttl=TTL, max_entries=16, show_spinner=False)
def transplants(url: str, scope: ScopeKey, version: str) -> pd.DataFrame:
    """Every transplant (first and later): patient_id, centre_code, transplant_year, transplant_number."""
    con = _snapshot(url, scope).cursor()
    return con.sql(
        """
        SELECT t.patient_id, c.centre_code, year(t.transplant_date) AS transplant_year, t.transplant_number
        FROM transplants t JOIN patients p ON p.id = t.patient_id JOIN centres c ON c.id = p.centre_id
        """
    ).df()


@st.cache_data(ttl=TTL, max_entries=16, show_spinner=False)
def patient_records(url: str, scope: ScopeKey, version: str, patient_id: int) -> dict[str, pd.DataFrame]:
    """One patient's visits, relapses, MRI, AEs and DMT periods (dates kept server-side; the page turns
    them into days since transplant before anything is drawn)."""
    con = _snapshot(url, scope).cursor()
    out = {}
    for name, cols in (("visits", "visit_date AS date, edss"), ("relapses", "onset_date AS date, severity"),
                       ("mri_scans", "scan_date AS date, new_t2, gd_enhancing"),
                       ("adverse_events", "onset_date AS date, category, grade, serious"),
                       ("treatments", "start_date AS date, stop_date, drug, stop_reason")):
        out[name] = con.execute(f"SELECT {cols} FROM {name} WHERE patient_id = ? ORDER BY 1", [int(patient_id)]).df()
    return out


@st.cache_data(ttl=TTL, max_entries=16, show_spinner="Checking data quality…")
def quality(url: str, scope: ScopeKey, version: str, settings: tuple[tuple[str, Any], ...], today: dt.date):  # type: ignore[no-untyped-def]
    from analytics.quality import quality_report

    return quality_report(_snapshot(url, scope), _settings(settings), today=today)


def clear_after_write() -> None:
    """Drop cached results after a write; the next rerun sees the new data version anyway."""
    st.cache_data.clear()


@st.cache_data(ttl=TTL, max_entries=8, show_spinner="Preparing the export…")
def survival_export_files(
    url: str,
    scope: ScopeKey,
    version: str,
    settings: tuple[tuple[str, Any], ...],
    cohort: tuple[tuple[str, ...], tuple[str, ...], tuple[int, int] | None],
    cohort_text: str,
) -> tuple[bytes, bytes, dict[str, Any]]:
    """The k-anonymous research export of the selected cohort as (CSV, Parquet, sidecar metadata).

    :raises AccessDenied: for governance (aggregates only).
    :raises ExportError: the cohort is too small for k-anonymity.

    Built by analytics.survival_export (its columns, order, CSV escaping and metadata), so a
    download from the dashboard is the same dataset as `msreg export survival`, restricted to
    the sidebar's cohort, which the metadata records.
    """
    import io
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from analytics.survival_export import export_metadata, research_dataset, survival_dataset
    from registry.db import session_scope
    from registry.security.disclosure import csv_safe_frame
    from registry.security.export_policy import require_row_level_export, stable_study_ids

    require_row_level_export(_actor(scope))  # governance: aggregates only
    with session_scope(reader_for(url)) as session:
        stable = stable_study_ids(session)
    from analytics.consent import without_withdrawn_consent

    # consent withdrawn: never in a research download (analytics/consent.py)
    full = survival_dataset(without_withdrawn_consent(cohort_frame(url, scope, version, settings, cohort), _snapshot(url, scope)))
    # k = the minimum group size (5 by default): the same threshold as every count on the pages.
    dataset, disclosure = research_dataset(full, k=max(2, _settings(settings).min_group_size), stable_study_ids=stable)
    now = dt.datetime.now(dt.UTC)
    meta = export_metadata(dataset, _settings(settings), version, file_name="ahsct_ms_survival",
                           file_format="csv+parquet", generated_at=now, disclosure=disclosure, cohort_dataset=full)
    meta["cohort_filters"] = cohort_text
    csv = csv_safe_frame(dataset).to_csv(index=False, na_rep="", lineterminator="\n").encode("utf-8")
    table = pa.Table.from_pandas(dataset, preserve_index=False)
    table = table.replace_schema_metadata({"msreg": json.dumps(meta, ensure_ascii=False)})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return csv, buf.getvalue(), meta
