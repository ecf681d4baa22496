"""The DuckDB snapshot of the registry: faithful, scoped to the actor, reused while unchanged."""

from __future__ import annotations

from registry.db import make_engine

import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, update

from analytics.endpoints import derive_endpoints
from analytics.snapshot import SNAPSHOT_SCHEMA, Snapshot, clear_snapshot_cache, data_version, load_snapshot
from registry import models
from registry.security.access import Actor
from registry.db import session_scope
from tests.analytics.endpoint_cohort import DAY0, Cohort


def small_cohort() -> Cohort:
    return (
        Cohort()
        .add("A1", centre="C1", visits={-10: 2.0, 100: 3.0, 300: 3.0}, relapses=(50,), mri=[(200, 1, 0)],
             adverse_events=(5,), last_contact_days=400)
        .add("A2", centre="C1", baseline_edss=None, death=(30, "TRANSPLANT_RELATED"))
        .add("B1", centre="C2", second_transplant_days=500, onset_days=None, treatments=[("NATALIZUMAB", -900, -60)])
    )


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_snapshot_cache()


def test_snapshot_holds_the_registry_rows_with_their_types(engine: Engine) -> None:
    small_cohort().write(engine)
    snap = load_snapshot(engine)
    con = snap.cursor()
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in SNAPSHOT_SCHEMA}
    assert counts == {"centres": 2, "patients": 3, "transplants": 4, "visits": 3, "relapses": 1,
                      "mri_scans": 1, "adverse_events": 1, "deaths": 1, "treatments": 1}
    visits = con.execute("SELECT visit_date, edss FROM visits ORDER BY visit_date").fetchall()
    assert visits[0] == (DAY0 - dt.timedelta(days=10), 2.0)
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'patients'").fetchall())
    assert types["ms_onset_date"] == "DATE" and types["birth_year"] == "BIGINT"


def test_endpoints_from_the_registry_equal_endpoints_from_the_same_tables(sqlite_engine: Engine) -> None:
    cohort = small_cohort()
    cohort.write(sqlite_engine)
    from_registry = derive_endpoints(load_snapshot(sqlite_engine)).drop(columns=["patient_id"])
    from_tables = derive_endpoints(cohort.snapshot()).drop(columns=["patient_id"])
    assert from_registry.sort_values("patient_code").reset_index(drop=True).equals(
        from_tables.sort_values("patient_code").reset_index(drop=True)
    )


def test_centre_user_sees_only_their_centre(sqlite_engine: Engine) -> None:
    small_cohort().write(sqlite_engine)
    snap = load_snapshot(sqlite_engine, Actor("dm", "centre", "C2"))
    con = snap.cursor()
    assert con.execute("SELECT patient_code FROM patients").fetchall() == [("B1",)]
    assert con.execute("SELECT centre_code FROM centres").fetchall() == [("C2",)]
    assert con.execute("SELECT count(*) FROM transplants").fetchone() == (2,)
    assert con.execute("SELECT count(*) FROM visits").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM deaths").fetchone() == (0,)


@pytest.mark.parametrize(("role", "codes_visible"), [("researcher", False), ("governance", False), ("admin", True)])
def test_patient_codes_only_for_roles_that_may_see_them(sqlite_engine: Engine, role: str, codes_visible: bool) -> None:
    small_cohort().write(sqlite_engine)
    snap = load_snapshot(sqlite_engine, Actor("u", role))
    codes = [c for (c,) in snap.cursor().execute("SELECT patient_code FROM patients").fetchall()]
    assert len(codes) == 3
    assert all(c is not None for c in codes) is codes_visible
    assert all(c is None for c in codes) is not codes_visible


def test_snapshot_is_reused_while_data_are_unchanged(sqlite_engine: Engine) -> None:
    small_cohort().write(sqlite_engine)
    first = load_snapshot(sqlite_engine)
    assert load_snapshot(sqlite_engine) is first
    assert load_snapshot(sqlite_engine, Actor("dm", "centre", "C1")) is not first


def test_new_snapshot_after_an_update(sqlite_engine: Engine) -> None:
    small_cohort().write(sqlite_engine)
    first = load_snapshot(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        session.execute(update(models.Visit).where(models.Visit.edss == 2.0).values(
            edss=2.5, updated_at=models.utcnow() + dt.timedelta(seconds=1)))
    second = load_snapshot(sqlite_engine)
    assert second is not first and second.data_version != first.data_version
    assert second.cursor().execute("SELECT max(edss) FROM visits WHERE edss < 3").fetchone() == (2.5,)


def test_new_snapshot_after_an_insert(sqlite_engine: Engine) -> None:
    small_cohort().write(sqlite_engine)
    before = data_version(sqlite_engine)
    Cohort().add("Z9", centre="C9").write(sqlite_engine)
    assert data_version(sqlite_engine) != before
    assert load_snapshot(sqlite_engine).cursor().execute("SELECT count(*) FROM patients").fetchone() == (4,)


def test_cursors_serve_concurrent_threads(sqlite_engine: Engine) -> None:
    small_cohort().write(sqlite_engine)
    snap = load_snapshot(sqlite_engine)
    results: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            con = snap.cursor()
            for _ in range(20):
                results.append(con.execute("SELECT count(*) FROM visits").fetchone()[0])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [3] * 80


def test_from_tables_refuses_unknown_tables() -> None:
    with pytest.raises(KeyError, match="visitz"):
        Snapshot.from_tables({"visitz": None})  # type: ignore[dict-item]


def test_from_tables_fills_missing_tables_and_columns() -> None:
    import pandas as pd

    snap = Snapshot.from_tables({"visits": pd.DataFrame({"patient_id": [1], "visit_date": [DAY0]})})
    assert snap.cursor().execute("SELECT edss FROM visits").fetchall() == [(None,)]
    assert snap.cursor().execute("SELECT count(*) FROM deaths").fetchone() == (0,)


def test_endpoints_of_an_imported_demo_registry_equal_those_of_its_bundle(sqlite_engine: Engine, tmp_path) -> None:
    """End to end: demo bundle → `import_bundle` (the real write path) → snapshot → endpoints,
    against the same bundle fed straight into DuckDB."""
    from registry.security.access import cli_actor
    from registry.io.bundle import import_bundle, write_bundle
    from registry.demo import generate_cohort
    from registry.demo.frames import bundle_frames

    today = dt.date(2026, 11, 1)
    bundle = generate_cohort(60, 11, today)
    write_bundle(bundle, tmp_path / "bundle")
    result = import_bundle(sqlite_engine, tmp_path / "bundle", cli_actor(), today=today)
    assert not result.errors, result.errors[:3]
    frames = {k: v for k, v in bundle_frames(bundle).items() if k in SNAPSHOT_SCHEMA}

    key = ["centre_code", "patient_code"]
    imported = derive_endpoints(load_snapshot(sqlite_engine)).drop(columns=["patient_id", "study_id"])
    direct = derive_endpoints(Snapshot.from_tables(frames)).drop(columns=["patient_id", "study_id"])
    imported = imported.sort_values(key).reset_index(drop=True)
    direct = direct.sort_values(key).reset_index(drop=True)
    assert len(imported) == 60
    assert imported.equals(direct)


def test_reading_a_snapshot_does_not_block_registry_writers(sqlite_engine: Engine) -> None:
    """The read transaction is deferred (a WAL read snapshot), not the application's BEGIN
    IMMEDIATE: a write commits while a snapshot is being read, and the reader does not see it."""
    from analytics.snapshot import _read_cursor

    small_cohort().write(sqlite_engine)
    with _read_cursor(sqlite_engine) as cursor:
        cursor.execute("SELECT count(*) FROM patients")
        assert cursor.fetchone() == (3,)
        Cohort().add("W1", centre="C7").write(sqlite_engine)  # would wait for the lock otherwise
        cursor.execute("SELECT count(*) FROM patients")
        assert cursor.fetchone() == (3,)
    assert load_snapshot(sqlite_engine).cursor().execute("SELECT count(*) FROM patients").fetchone() == (4,)


def test_derived_results_kept_per_snapshot_are_bounded() -> None:
    snap = Snapshot.from_tables({})
    for i in range(40):
        snap.cached(("k", i), lambda i=i: i)
    assert snap.cached(("k", 39), lambda: -1) == 39  # recent: kept
    assert snap.cached(("k", 0), lambda: -1) == -1  # oldest: recomputed


def test_arrow_reads_keep_the_schema_types_on_each_backend(engine: Engine) -> None:
    """The ADBC read returns exactly SNAPSHOT_SCHEMA: dates as dates, booleans as booleans,
    integers as int64, also for a column that is NULL in every row."""
    from analytics import arrow_reader
    from analytics.snapshot import read_tables

    small_cohort().write(engine)
    assert arrow_reader.supports(engine) == (engine.dialect.name == "postgresql")  # SQLite: see supports()
    tables = read_tables(engine)
    for name, schema in SNAPSHOT_SCHEMA.items():
        assert tables[name].schema.equals(schema), name
    [a1] = [r for r in tables["patients"].to_pylist() if r["patient_code"] == "A1"]
    assert isinstance(a1["ms_onset_date"], dt.date) and isinstance(a1["birth_year"], int)
    assert {type(v) for v in tables["transplants"].column("cd34_selection").to_pylist()} <= {bool, type(None)}
    assert tables["visits"].column("visit_date").to_pylist()[0] == DAY0 - dt.timedelta(days=10)
    assert tables["relapses"].column("steroids").type == "bool"


def test_arrow_read_of_a_column_null_in_every_row_is_typed(sqlite_engine: Engine) -> None:
    from analytics.snapshot import read_tables

    Cohort().add("N1", centre="C1", visits={10: None, 20: None}).write(sqlite_engine)
    visits = read_tables(sqlite_engine)["visits"]
    assert visits.column("edss").type == "double" and visits.column("edss").null_count == 2


def test_arrow_read_transaction_is_one_consistent_read_only_snapshot(engine: Engine) -> None:
    """A write committed while the snapshot is being read is not seen by its later queries,
    and the read neither blocks the writer nor can write itself."""
    from sqlalchemy import select

    from analytics import arrow_reader

    if not arrow_reader.supports(engine):
        pytest.skip("SQLite snapshots are read through the engine's own connection (arrow_reader.supports)")
    small_cohort().write(engine)
    count = select(models.Patient.id)
    with arrow_reader.read_transaction(engine) as reader:
        assert reader.fetch(count).num_rows == 3
        Cohort().add("W1", centre="C7").write(engine)
        assert reader.fetch(count).num_rows == 3
    with arrow_reader.read_transaction(engine) as reader:
        assert reader.fetch(count).num_rows == 4
        with pytest.raises(Exception, match="(?i)read.only|readonly"):
            reader.fetch(update(models.Visit).values(edss=9.5))  # type: ignore[arg-type]


@pytest.mark.parametrize("role_scope", [("centre", "C1"), ("researcher", None)])
def test_arrow_reads_keep_the_scope(engine: Engine, role_scope: tuple[str, str | None]) -> None:
    role, centre = role_scope
    small_cohort().write(engine)
    snap = load_snapshot(engine, Actor("u", role, centre))
    rows = snap.cursor().execute("SELECT patient_code FROM patients ORDER BY id").fetchall()
    if role == "centre":
        assert rows == [("A1",), ("A2",)]
    else:
        assert rows == [(None,), (None,), (None,)]


def test_reads_and_writes_in_one_process_keep_working_on_sqlite(sqlite_engine: Engine) -> None:
    """The dashboard's pattern: snapshot, save, then read the data version, in one process.
    A second copy of SQLite in the process (the ADBC driver's) broke this with "disk I/O error"."""
    from analytics.snapshot import data_version, read_tables

    reader = make_engine(str(sqlite_engine.url), read_only=True)
    try:
        small_cohort().write(sqlite_engine)
        before = data_version(reader)
        read_tables(reader)
        Cohort().add("W2", centre="C8").write(sqlite_engine)
        read_tables(reader)
        assert data_version(reader) != before
    finally:
        reader.dispose()
