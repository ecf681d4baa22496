"""Confirmed disability worsening (and its mirror, improvement) on plain tables.

Checked three ways: against msprog's results on its toy data (reference/README.md), against
hand-made sequences for each clause of the rule, and against a naive per-patient loop on random
patients (hypothesis).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from analytics.endpoints import confirmed_change, confirmed_improvement, confirmed_worsening
from analytics.settings import EndpointSettings
from tests.analytics.cdw_reference import naive_confirmed_change

D0 = dt.date(2021, 1, 1)


def load(
    assessments: list[tuple[int, dt.date, float]],
    relapses: list[tuple[int, dt.date]],
    baselines: list[tuple[int, float | None]],
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE assessments (patient_id BIGINT, assessment_date DATE, edss DOUBLE)")
    con.execute("CREATE TABLE relapses (patient_id BIGINT, onset_date DATE)")
    con.execute("CREATE TABLE baselines (patient_id BIGINT, baseline_edss DOUBLE)")
    if assessments:
        con.executemany("INSERT INTO assessments VALUES (?, ?, ?)", assessments)
    if relapses:
        con.executemany("INSERT INTO relapses VALUES (?, ?)", relapses)
    if baselines:
        con.executemany("INSERT INTO baselines VALUES (?, ?)", baselines)
    return con


def one_patient(
    baseline: float | None, visits: dict[int, float], relapse_days: tuple[int, ...] = ()
) -> duckdb.DuckDBPyConnection:
    """Patient 1: baseline at day 0, assessments at the given days after it."""
    return load(
        [(1, D0 + dt.timedelta(days=d), e) for d, e in visits.items()],
        [(1, D0 + dt.timedelta(days=d)) for d in relapse_days],
        [(1, baseline)],
    )


def first_date(df: pd.DataFrame) -> dt.date | None:
    if df.empty:
        return None
    return pd.Timestamp(df["event_date"].iloc[0]).date()


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


# ------------------------------------------------------------------------------------------
# msprog reference

def msprog_tables(reference_dir: Path) -> duckdb.DuckDBPyConnection:
    """msprog's toy data with each subject's first visit as day 0 and fixed baseline."""
    ref = reference_dir / "msprog_toy"
    visits = pd.read_csv(ref / "toydata_visits.csv", parse_dates=["date"])
    relapses = pd.read_csv(ref / "toydata_relapses.csv", parse_dates=["date"])
    con = duckdb.connect()
    con.register("toy_visits", visits)
    con.register("toy_relapses", relapses)
    con.execute("""
        CREATE TABLE baselines AS
        SELECT id AS patient_id, arg_min("EDSS", date) AS baseline_edss FROM toy_visits GROUP BY id
    """)
    con.execute("""
        CREATE TABLE assessments AS
        SELECT id AS patient_id, date::DATE AS assessment_date, "EDSS" AS edss
        FROM toy_visits
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY date) > 1
    """)
    con.execute("CREATE TABLE relapses AS SELECT id AS patient_id, date::DATE AS onset_date FROM toy_relapses")
    return con


@pytest.mark.parametrize("confirmation_days", [182, 84])
def test_cdw_dates_equal_msprog_for_every_toy_subject(reference_dir: Path, confirmation_days: int) -> None:
    expected = pd.read_csv(reference_dir / "msprog_toy" / f"toy_cdw_conf{confirmation_days}.csv")
    con = msprog_tables(reference_dir)
    got = confirmed_worsening(con, "assessments", "relapses", "baselines",
                              EndpointSettings(confirmation_days=confirmation_days))
    got_by_id = {int(r.patient_id): pd.Timestamp(r.event_date).date().isoformat() for r in got.itertuples()}
    for row in expected.itertuples():
        want = None if pd.isna(row.date) else row.date
        assert got_by_id.get(int(row.id)) == want, f"subject {row.id}"
    assert set(got_by_id) <= set(expected["id"].astype(int))


# ------------------------------------------------------------------------------------------
# Each clause of the rule

@pytest.mark.parametrize(
    ("case", "baseline", "visits", "relapse_days", "expected"),
    [
        ("confirmed at 182 days", 3.0, {90: 4.0, 272: 4.0}, (), day(90)),
        ("confirming visit one day short", 3.0, {90: 4.0, 271: 4.0}, (), None),
        ("worsening at the last visit is unconfirmed", 3.0, {90: 3.0, 400: 4.0}, (), None),
        ("worsening that reverts before confirmation", 3.0, {90: 4.0, 180: 3.5, 300: 4.0}, (), None),
        ("reverting candidate, later candidate confirmed", 3.0, {90: 4.0, 180: 3.5, 300: 4.0, 500: 4.5}, (), day(300)),
        ("change below delta is not worsening", 3.0, {90: 3.5, 300: 3.5}, (), None),
        ("baseline 0 needs 1.5", 0.0, {90: 1.0, 300: 1.0}, (), None),
        ("baseline 0 worsens at 1.5", 0.0, {90: 1.5, 300: 1.5}, (), day(90)),
        ("baseline 5.5 needs 1.0", 5.5, {90: 6.0, 300: 6.0}, (), None),
        ("baseline 5.5 worsens at 6.5", 5.5, {90: 6.5, 300: 6.5}, (), day(90)),
        ("baseline 6.0 worsens at 6.5", 6.0, {90: 6.5, 300: 6.5}, (), day(90)),
        ("missing baseline: no event", None, {90: 6.5, 300: 6.5}, (), None),
        ("candidate 29 days after a relapse is relapse-affected", 3.0, {90: 4.0, 300: 4.0}, (61,), None),
        ("candidate 30 days after a relapse counts", 3.0, {90: 4.0, 300: 4.0}, (60,), day(90)),
        ("candidate on the relapse day is relapse-affected", 3.0, {90: 4.0, 300: 4.0}, (90,), None),
        ("relapse after the candidate does not affect it", 3.0, {90: 4.0, 300: 4.0}, (91,), day(90)),
        ("relapse-affected confirming visit is skipped", 3.0, {90: 4.0, 280: 4.0, 400: 4.0}, (270,), day(90)),
        ("skipped confirming visit must still be worsened", 3.0, {90: 4.0, 280: 3.0, 400: 4.0}, (270,), None),
        ("relapse-affected visit in between must be worsened too", 3.0, {90: 4.0, 150: 3.0, 300: 4.0}, (140,), None),
    ],
)
def test_confirmation_rule_clause(case: str, baseline, visits, relapse_days, expected) -> None:
    con = one_patient(baseline, visits, relapse_days)
    assert first_date(confirmed_worsening(con, "assessments", "relapses", "baselines", EndpointSettings())) == expected


@pytest.mark.parametrize(("confirmation_days", "expected"), [(84, day(90)), (182, None)])
def test_confirmation_days_setting(confirmation_days: int, expected: dt.date | None) -> None:
    con = one_patient(3.0, {90: 4.0, 180: 4.0, 250: 3.0})
    got = confirmed_worsening(con, "assessments", "relapses", "baselines",
                              EndpointSettings(confirmation_days=confirmation_days))
    assert first_date(got) == expected


@pytest.mark.parametrize(("cutoff", "expected"), [(5.5, None), (4.5, day(90))])
def test_delta_cutoff_setting(cutoff: float, expected: dt.date | None) -> None:
    con = one_patient(5.0, {90: 5.5, 300: 5.5})
    got = confirmed_worsening(con, "assessments", "relapses", "baselines", EndpointSettings(delta_cutoff=cutoff))
    assert first_date(got) == expected


@pytest.mark.parametrize(
    ("case", "baseline", "visits", "expected"),
    [
        ("improvement confirmed", 4.0, {90: 3.0, 300: 3.0}, day(90)),
        ("improvement by 0.5 above 5.5", 6.5, {90: 6.0, 300: 6.0}, day(90)),
        ("improvement not held", 4.0, {90: 3.0, 200: 4.0, 300: 3.0}, None),
        ("baseline below 2.0: no improvement", 1.5, {90: 0.0, 300: 0.0}, None),
        ("baseline exactly 2.0 improves to 1.0", 2.0, {90: 1.0, 300: 1.0}, day(90)),
    ],
)
def test_confirmed_improvement_mirrors_the_rule(case: str, baseline: float, visits, expected) -> None:
    con = one_patient(baseline, visits)
    assert first_date(confirmed_improvement(con, "assessments", "relapses", "baselines", EndpointSettings())) == expected


def test_table_names_must_be_plain_identifiers() -> None:
    con = one_patient(3.0, {90: 4.0})
    with pytest.raises(ValueError, match="not a plain table name"):
        confirmed_change(con, "assessments; DROP TABLE x", "relapses", "baselines", EndpointSettings())


# ------------------------------------------------------------------------------------------
# SQL equals the naive per-patient loop on random patients

EDSS = [0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0]


@st.composite
def random_patient(draw: st.DrawFn) -> tuple[float | None, list[tuple[int, float]], list[int]]:
    baseline = draw(st.one_of(st.none(), st.sampled_from(EDSS)))
    days = draw(st.lists(st.integers(1, 1500), min_size=0, max_size=12, unique=True))
    visits = [(d, draw(st.sampled_from(EDSS))) for d in sorted(days)]
    relapses = draw(st.lists(st.integers(-100, 1500), max_size=4, unique=True))
    return baseline, visits, relapses


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    patients=st.lists(random_patient(), min_size=1, max_size=8),
    confirmation_days=st.sampled_from([84, 182]),
    relapse_window_days=st.sampled_from([0, 30]),
    direction=st.sampled_from(["worsening", "improvement"]),
)
def test_sql_equals_naive_per_patient_loop(patients, confirmation_days, relapse_window_days, direction) -> None:
    assessments, relapses, baselines = [], [], []
    for pid, (baseline, visits, relapse_days) in enumerate(patients, start=1):
        baselines.append((pid, baseline))
        assessments += [(pid, day(d), e) for d, e in visits]
        relapses += [(pid, day(d)) for d in relapse_days]
    settings = EndpointSettings(confirmation_days=confirmation_days, relapse_window_days=relapse_window_days)
    con = load(assessments, relapses, baselines)
    got = confirmed_change(con, "assessments", "relapses", "baselines", settings, direction=direction)
    sql_result = {int(r.patient_id): pd.Timestamp(r.event_date).date() for r in got.itertuples()}
    naive = naive_confirmed_change(
        pd.DataFrame(assessments, columns=["patient_id", "assessment_date", "edss"]),
        pd.DataFrame(relapses, columns=["patient_id", "onset_date"]),
        pd.DataFrame(baselines, columns=["patient_id", "baseline_edss"]),
        settings,
        direction,
    )
    assert sql_result == naive


@pytest.mark.parametrize("confirmation_days", [182, 84])
def test_full_endpoint_pipeline_reproduces_msprog(reference_dir: Path, confirmation_days: int) -> None:
    """The toy subjects as registry patients: day 0 (the transplant) on the first visit, no
    recorded baseline, so the day-0 visit is the baseline through the fallback."""
    from analytics.endpoints import derive_endpoints
    from tests.analytics.endpoint_cohort import Cohort

    ref = reference_dir / "msprog_toy"
    visits = pd.read_csv(ref / "toydata_visits.csv", parse_dates=["date"])
    relapses = pd.read_csv(ref / "toydata_relapses.csv", parse_dates=["date"])
    cohort = Cohort()
    for subject, rows in visits.groupby("id"):
        day0 = rows["date"].min().date()
        cohort.add(
            str(subject),
            day0=day0,
            baseline_edss=None,
            visits={(d.date() - day0).days: float(e) for d, e in zip(rows["date"], rows["EDSS"])},
            relapses=tuple((d.date() - day0).days for d in relapses.loc[relapses["id"] == subject, "date"]),
        )
    got = derive_endpoints(cohort.snapshot(), EndpointSettings(confirmation_days=confirmation_days))
    got_by_code = {r.patient_code: (None if r.cdw_date is None else r.cdw_date.isoformat()) for r in got.itertuples()}
    expected = pd.read_csv(ref / f"toy_cdw_conf{confirmation_days}.csv")
    assert got_by_code == {str(r.id): (None if pd.isna(r.date) else r.date) for r in expected.itertuples()}
