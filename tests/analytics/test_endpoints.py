"""Endpoints of docs/endpoints.md on hand-built patients, one edge per row.

Each case is a patient described in days since day 0 (see endpoint_cohort.py) and the endpoint
values expected for it; `None` means the value must be empty (undefined).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from analytics.endpoints import ENDPOINT_COLUMNS, SURVIVAL_EXPORT_COLUMNS, derive_endpoints
from analytics.settings import EndpointSettings
from tests.analytics.cdw_reference import naive_confirmed_change
from tests.analytics.endpoint_cohort import DAY0, Cohort


def d(n: int) -> dt.date:
    return DAY0 + dt.timedelta(days=n)


def endpoints_of(settings: EndpointSettings | None = None, **patient: Any) -> dict[str, Any]:
    """The endpoint row of a single patient built from keyword arguments."""
    df = derive_endpoints(Cohort().add("P1", **patient).snapshot(), settings or EndpointSettings())
    assert len(df) == 1
    return {k: (None if v is pd.NA or (isinstance(v, float) and pd.isna(v)) or v is None else v)
            for k, v in df.iloc[0].to_dict().items()}


def check(row: dict[str, Any], expected: dict[str, Any]) -> None:
    got = {k: row[k] for k in expected}
    assert got == expected


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "alive, stable: everything censored",
        dict(visits={-30: 3.0, 100: 3.0, 400: 3.0}, last_contact_days=500),
        dict(os_days=500, os_event=0, rfs_days=500, rfs_event=0, pfs_days=400, pfs_event=0,
             neda_days=500, neda_event=0, trm_days=500, trm_status=0, cdi_days=400, cdi_event=0,
             cdw_date=None, lc_date=d(500)),
    ),
    (
        "day-0 death from transplant: OS time 0 with event, TRM status 1 at 0",
        dict(death=(0, "TRANSPLANT_RELATED")),
        dict(os_days=0, os_event=1, trm_days=0, trm_status=1, rfs_days=0, rfs_event=1,
             pfs_days=0, pfs_event=1, neda_days=0, neda_event=1),
    ),
    (
        "day-0 death from another cause: TRM status 2 at 0",
        dict(death=(0, "OTHER")),
        dict(os_days=0, os_event=1, trm_days=0, trm_status=2),
    ),
    (
        "death before any assessment: PFS event at death, CDI censored at day 0",
        dict(baseline_edss=4.0, death=(40, "TRANSPLANT_RELATED"), adverse_events=(10,)),
        dict(os_days=40, os_event=1, pfs_days=40, pfs_event=1, cdi_days=0, cdi_event=0,
             neda_days=40, neda_event=1, trm_days=40, trm_status=1, death_date=d(40),
             death_cause="TRANSPLANT_RELATED"),
    ),
    (
        "death after assessments: CDI censored at the last assessment",
        dict(baseline_edss=4.0, visits={100: 4.0, 300: 4.0}, death=(700, "MS")),
        dict(cdi_days=300, cdi_event=0, pfs_days=700, pfs_event=1, trm_status=2, os_days=700),
    ),
    (
        "relapse on day 0 is not post-transplant",
        dict(relapses=(0,), visits={200: 3.0}, last_contact_days=300),
        dict(rfs_days=300, rfs_event=0, neda_days=300, neda_event=0),
    ),
    (
        "first relapse after day 0 ends RFS and NEDA",
        dict(relapses=(-100, 150, 400), visits={200: 3.0}, last_contact_days=600),
        dict(rfs_days=150, rfs_event=1, neda_days=150, neda_event=1, eda_date=d(150), lc_date=d(600)),
    ),
    (
        "relapse 29 days before the candidate: relapse-affected, no CDW",
        dict(baseline_edss=3.0, relapses=(61,), visits={90: 4.0, 300: 4.0}),
        dict(cdw_date=None, pfs_event=0, pfs_days=300),
    ),
    (
        "relapse 30 days before the candidate: CDW",
        dict(baseline_edss=3.0, relapses=(60,), visits={90: 4.0, 300: 4.0}),
        dict(cdw_date=d(90), pfs_event=1, pfs_days=90),
    ),
    (
        "pre-transplant relapse makes an early assessment relapse-affected",
        dict(baseline_edss=3.0, relapses=(-5,), visits={20: 4.0, 250: 4.0}),
        dict(cdw_date=None, pfs_event=0, rfs_event=0),
    ),
    ("baseline EDSS 0: δ 1.5", dict(baseline_edss=0.0, visits={90: 1.5, 300: 1.5}), dict(cdw_date=d(90))),
    ("baseline EDSS 0: 1.0 is not enough", dict(baseline_edss=0.0, visits={90: 1.0, 300: 1.0}), dict(cdw_date=None)),
    ("baseline EDSS 5.5: δ 1.0", dict(baseline_edss=5.5, visits={90: 6.0, 300: 6.0}), dict(cdw_date=None)),
    ("baseline EDSS 5.5: 6.5 worsens", dict(baseline_edss=5.5, visits={90: 6.5, 300: 6.5}), dict(cdw_date=d(90))),
    ("baseline EDSS 6.0: δ 0.5", dict(baseline_edss=6.0, visits={90: 6.5, 300: 6.5}), dict(cdw_date=d(90))),
    (
        "worsening at the last visit is unconfirmed: censored there",
        dict(baseline_edss=3.0, visits={100: 3.0, 400: 4.0}, last_contact_days=450),
        dict(cdw_date=None, pfs_event=0, pfs_days=400),
    ),
    (
        "worsening that reverts before confirmation",
        dict(baseline_edss=3.0, visits={100: 4.0, 200: 3.0, 300: 4.0}),
        dict(cdw_date=None, pfs_event=0, pfs_days=300),
    ),
    (
        "missing baseline, a pre-transplant visit in the window is used",
        dict(baseline_edss=None, visits={-400: 1.0, -200: 3.0, 0: 2.0, 100: 3.0, 300: 3.0}),
        dict(baseline_edss=2.0, baseline_source="visit", cdw_date=d(100), pfs_event=1),
    ),
    (
        "missing baseline, visit exactly 365 days before day 0 is used",
        dict(baseline_edss=None, visits={-365: 2.0, 100: 3.0, 300: 3.0}),
        dict(baseline_edss=2.0, cdw_date=d(100)),
    ),
    (
        "missing baseline and no visit in the window: no CDW/PFS/NEDA/CDI",
        dict(baseline_edss=None, visits={-366: 2.0, 100: 3.0, 300: 3.0}, relapses=(50,)),
        dict(baseline_edss=None, baseline_source=None, cdw_date=None, pfs_days=None, pfs_event=None,
             neda_days=None, neda_event=None, cdi_days=None, cdi_event=None, eda_date=None,
             rfs_event=1, rfs_days=50),
    ),
    (
        "recorded baseline wins over visits",
        dict(baseline_edss=4.0, visits={-10: 2.0, 100: 5.0, 300: 5.0}),
        dict(baseline_edss=4.0, baseline_source="transplant", cdw_date=d(100)),
    ),
    (
        "baseline below 2.0: CDI undefined",
        dict(baseline_edss=1.5, visits={100: 1.5}),
        dict(cdi_days=None, cdi_event=None, cdi_date=None, pfs_event=0),
    ),
    (
        "confirmed improvement",
        dict(baseline_edss=4.0, visits={100: 3.0, 300: 3.0, 500: 3.0}),
        dict(cdi_date=d(100), cdi_event=1, cdi_days=100),
    ),
    (
        "MRI activity just inside the window (day 180) is ignored",
        dict(mri=[(180, 2, 1)], last_contact_days=400),
        dict(neda_event=0, neda_days=400, eda_date=None),
    ),
    (
        "MRI activity just outside the window (day 181) counts",
        dict(mri=[(181, 1, 0)], last_contact_days=400),
        dict(neda_event=1, neda_days=181, eda_date=d(181)),
    ),
    (
        "MRI without new or enhancing lesions is not activity",
        dict(mri=[(300, 0, 0), (350, None, None)], last_contact_days=400),
        dict(neda_event=0, neda_days=400, lc_date=d(400)),
    ),
    (
        "Gd-enhancing lesion alone is activity",
        dict(mri=[(300, None, 1)], last_contact_days=400),
        dict(neda_event=1, neda_days=300),
    ),
    (
        "CDW is evidence of disease activity",
        dict(baseline_edss=3.0, visits={100: 4.0, 300: 4.0}, mri=[(250, 1, 0)]),
        dict(eda_date=d(100), neda_days=100, neda_event=1),
    ),
    (
        "death counts for NEDA when no activity was seen",
        dict(visits={100: 3.0}, death=(200, "UNKNOWN")),
        dict(neda_event=1, neda_days=200, eda_date=None, trm_status=2),
    ),
    (
        "second transplant ignored: day 0 stays the first, but it is a contact",
        dict(second_transplant_days=400, visits={100: 3.0}),
        dict(day0=DAY0, os_days=400, lc_date=d(400), transplant_year=DAY0.year),
    ),
    (
        "last contact is the latest of all dated records",
        dict(visits={100: 3.0}, relapses=(150,), mri=[(300, 0, 0)], adverse_events=(350,), last_contact_days=320),
        dict(lc_date=d(350), os_days=350),
    ),
    (
        "covariates: age top-coded at 90, duration in years with one decimal",
        dict(birth_year=1920, onset_days=-1000),
        dict(age_at_transplant=90, transplant_year=2020, disease_duration_years=2.7),
    ),
    (
        "covariates: no onset date, no disease duration",
        dict(birth_year=1985, onset_days=None),
        dict(age_at_transplant=35, disease_duration_years=None),
    ),
]


@pytest.mark.parametrize(("case", "patient", "expected"), CASES, ids=[c[0] for c in CASES])
def test_endpoint_edge(case: str, patient: dict[str, Any], expected: dict[str, Any]) -> None:
    check(endpoints_of(**patient), expected)


@pytest.mark.parametrize(("confirmation_days", "cdw_day"), [(84, 90), (182, None)])
def test_confirmation_days_setting_changes_cdw(confirmation_days: int, cdw_day: int | None) -> None:
    row = endpoints_of(EndpointSettings(confirmation_days=confirmation_days),
                       baseline_edss=3.0, visits={90: 4.0, 180: 4.0, 300: 3.0})
    assert row["cdw_date"] == (None if cdw_day is None else d(cdw_day))


@pytest.mark.parametrize(("rebaseline", "event"), [(180, 1), (250, 0)])
def test_mri_rebaseline_setting(rebaseline: int, event: int) -> None:
    row = endpoints_of(EndpointSettings(mri_rebaseline_days=rebaseline), mri=[(200, 1, 0)], last_contact_days=400)
    assert row["neda_event"] == event


@pytest.mark.parametrize(("lookback", "baseline"), [(365, 2.0), (100, None)])
def test_baseline_lookback_setting(lookback: int, baseline: float | None) -> None:
    row = endpoints_of(EndpointSettings(baseline_lookback_days=lookback), baseline_edss=None, visits={-200: 2.0})
    assert row["baseline_edss"] == baseline


@pytest.mark.parametrize(
    ("cause", "death_day", "days_setting", "status"),
    [
        ("UNKNOWN", 80, None, 2),  # docs/endpoints.md: an unknown cause competes
        ("UNKNOWN", 80, 100, 1),  # sensitivity: within 100 days counts as transplant-related
        ("UNKNOWN", 100, 100, 1),  # the boundary day is within
        ("UNKNOWN", 101, 100, 2),
        ("MS", 50, 100, 2),  # only UNKNOWN causes move
        ("TRANSPLANT_RELATED", 500, 100, 1),
    ],
)
def test_unknown_death_sensitivity_setting(cause: str, death_day: int, days_setting: int | None, status: int) -> None:
    row = endpoints_of(EndpointSettings(unknown_death_trm_days=days_setting), death=(death_day, cause))
    assert row["trm_status"] == status and row["trm_days"] == death_day


@pytest.mark.parametrize(
    ("censoring", "pfs_days", "neda_days"),
    [("endpoints", 300, 700), ("last_assessment", 300, 300), ("last_contact", 700, 700)],
)
def test_pfs_and_neda_censoring_sensitivity_setting(censoring: str, pfs_days: int, neda_days: int) -> None:
    row = endpoints_of(EndpointSettings(pfs_neda_censoring=censoring), visits={-10: 3.0, 300: 3.0}, last_contact_days=700)
    assert (row["pfs_days"], row["pfs_event"], row["neda_days"], row["neda_event"]) == (pfs_days, 0, neda_days, 0)


def test_an_event_after_the_last_assessment_still_counts_when_censoring_there() -> None:
    row = endpoints_of(EndpointSettings(pfs_neda_censoring="last_assessment"), visits={-10: 3.0, 300: 3.0},
                       relapses=(500,), last_contact_days=700)
    assert (row["neda_days"], row["neda_event"]) == (500, 1)


def test_patient_without_first_transplant_is_excluded() -> None:
    cohort = Cohort().add("A").add("B", first_transplant=False, second_transplant_days=100)
    df = derive_endpoints(cohort.snapshot())
    assert list(df["patient_code"]) == ["A"]


def test_one_row_per_patient_with_the_documented_columns() -> None:
    cohort = Cohort()
    for i in range(7):
        cohort.add(f"P{i}", centre="C1" if i % 2 else "C2", visits={100: 3.0, 200: 3.5}, relapses=(50, 60))
    df = derive_endpoints(cohort.snapshot())
    assert list(df.columns) == list(ENDPOINT_COLUMNS)
    assert df["patient_id"].is_unique and len(df) == 7
    assert set(SURVIVAL_EXPORT_COLUMNS) <= set(df.columns)
    assert SURVIVAL_EXPORT_COLUMNS[0] == "study_id" and SURVIVAL_EXPORT_COLUMNS[-1] == "aggressive_factors"


def test_whole_number_columns_are_nullable_integers() -> None:
    df = derive_endpoints(Cohort().add("A").add("B", baseline_edss=None).snapshot())
    for col in ("os_days", "os_event", "pfs_days", "pfs_event", "trm_status", "age_at_transplant"):
        assert str(df[col].dtype) == "Int64", col


def test_results_are_cached_per_settings_on_the_snapshot_and_copies_are_returned() -> None:
    snap = Cohort().add("A", visits={90: 4.0, 180: 4.0}).snapshot()
    first = derive_endpoints(snap, EndpointSettings(confirmation_days=84))
    first.loc[0, "os_days"] = -1
    again = derive_endpoints(snap, EndpointSettings(confirmation_days=84))
    assert again.loc[0, "os_days"] != -1
    assert derive_endpoints(snap, EndpointSettings())["cdw_date"].iloc[0] is None


def test_accepts_a_plain_duckdb_connection() -> None:
    snap = Cohort().add("A").snapshot()
    assert len(derive_endpoints(snap.cursor(), EndpointSettings())) == 1


# ------------------------------------------------------------------------------------------
# The whole derivation (day 0, baseline fallback, assessments) against a naive reading

EDSS_VALUES = [0.0, 1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5]


@st.composite
def registry_patient(draw: st.DrawFn) -> dict[str, Any]:
    days = draw(st.lists(st.integers(-400, 1200), max_size=10, unique=True))
    return dict(
        baseline_edss=draw(st.one_of(st.none(), st.sampled_from(EDSS_VALUES))),
        visits={d: draw(st.one_of(st.none(), st.sampled_from(EDSS_VALUES))) for d in days},
        relapses=tuple(draw(st.lists(st.integers(-60, 1200), max_size=3, unique=True))),
    )


def naive_endpoint_dates(patient: dict[str, Any], settings: EndpointSettings) -> tuple[Any, Any]:
    """CDW and CDI dates read straight from docs/endpoints.md for one patient."""
    b = patient["baseline_edss"]
    if b is None:
        window = [(day, e) for day, e in patient["visits"].items()
                  if e is not None and -settings.baseline_lookback_days <= day <= 0]
        b = max(window)[1] if window else None
    assessments = pd.DataFrame(
        [(1, d(day), e) for day, e in sorted(patient["visits"].items()) if day > 0 and e is not None],
        columns=["patient_id", "assessment_date", "edss"])
    relapses = pd.DataFrame([(1, d(day)) for day in patient["relapses"]], columns=["patient_id", "onset_date"])
    baselines = pd.DataFrame([(1, b)], columns=["patient_id", "baseline_edss"])
    cdw = naive_confirmed_change(assessments, relapses, baselines, settings, "worsening").get(1)
    cdi = naive_confirmed_change(assessments, relapses, baselines, settings, "improvement").get(1)
    return cdw, cdi


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients=st.lists(registry_patient(), min_size=1, max_size=6), confirmation_days=st.sampled_from([84, 182]))
def test_derived_cdw_and_cdi_equal_a_naive_reading(patients: list[dict[str, Any]], confirmation_days: int) -> None:
    settings = EndpointSettings(confirmation_days=confirmation_days)
    cohort = Cohort()
    for i, patient in enumerate(patients):
        cohort.add(f"P{i}", **patient)
    df = derive_endpoints(cohort.snapshot(), settings).set_index("patient_code")
    for i, patient in enumerate(patients):
        assert (df.at[f"P{i}", "cdw_date"], df.at[f"P{i}", "cdi_date"]) == naive_endpoint_dates(patient, settings)


@st.composite
def followed_patient(draw: st.DrawFn) -> dict[str, Any]:
    patient = draw(registry_patient())
    patient["mri"] = [(day, draw(st.sampled_from([None, 0, 1])), draw(st.sampled_from([None, 0, 2])))
                      for day in draw(st.lists(st.integers(1, 1200), max_size=3, unique=True))]
    patient["last_contact_days"] = draw(st.one_of(st.none(), st.integers(0, 1300)))
    latest = max([0, *patient["visits"], *patient["relapses"], *(m[0] for m in patient["mri"]),
                  patient["last_contact_days"] or 0])
    if draw(st.booleans()):
        patient["death"] = (latest + draw(st.integers(0, 200)), draw(st.sampled_from(["TRANSPLANT_RELATED", "MS"])))
    return patient


def naive_times(patient: dict[str, Any], settings: EndpointSettings) -> dict[str, Any]:
    """OS, RFS, PFS, NEDA-3 and TRM read straight from docs/endpoints.md (days since day 0)."""
    cdw, _ = naive_endpoint_dates(patient, settings)
    cdw_day = None if cdw is None else (cdw - DAY0).days
    death = patient.get("death")
    death_day = None if death is None else death[0]
    lc = max([0, *patient["visits"], *patient["relapses"], *(m[0] for m in patient["mri"]),
              patient["last_contact_days"] or 0, death_day or 0])
    relapse = min([r for r in patient["relapses"] if r > 0], default=None)
    mri = min([m[0] for m in patient["mri"] if m[0] > settings.mri_rebaseline_days and ((m[1] or 0) >= 1 or (m[2] or 0) >= 1)],
              default=None)
    assessments = [day for day, e in patient["visits"].items() if day > 0 and e is not None]
    has_baseline = patient["baseline_edss"] is not None or any(
        e is not None and -settings.baseline_lookback_days <= day <= 0 for day, e in patient["visits"].items())

    def first(*days: int | None) -> int | None:
        present = [x for x in days if x is not None]
        return min(present) if present else None

    out: dict[str, Any] = {
        "os_days": death_day if death_day is not None else lc, "os_event": int(death_day is not None),
        "rfs_days": first(relapse, death_day) if first(relapse, death_day) is not None else lc,
        "rfs_event": int(first(relapse, death_day) is not None),
        "trm_days": death_day if death_day is not None else lc,
        "trm_status": 0 if death is None else (1 if death[1] == "TRANSPLANT_RELATED" else 2),
        "pfs_days": None, "pfs_event": None, "neda_days": None, "neda_event": None,
    }
    if has_baseline:
        pfs_end = first(cdw_day, death_day)
        out["pfs_days"] = pfs_end if pfs_end is not None else max(assessments, default=0)
        out["pfs_event"] = int(pfs_end is not None)
        neda_end = first(relapse, mri, cdw_day, death_day)
        out["neda_days"] = neda_end if neda_end is not None else lc
        out["neda_event"] = int(neda_end is not None)
    return out


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patients=st.lists(followed_patient(), min_size=1, max_size=6))
def test_derived_times_equal_a_naive_reading(patients: list[dict[str, Any]]) -> None:
    assert_derived_equal_naive(patients, naive_times)


def assert_derived_equal_naive(
    patients: list[dict[str, Any]], naive: Callable[[dict[str, Any], EndpointSettings], dict[str, Any]]
) -> None:
    """The endpoint SQL gives every patient the values `naive` reads off that patient alone
    (the columns `naive` returns), under the default settings."""
    settings = EndpointSettings()
    cohort = Cohort()
    for i, patient in enumerate(patients):
        cohort.add(f"P{i}", **patient)
    df = derive_endpoints(cohort.snapshot(), settings).set_index("patient_code")
    for i, patient in enumerate(patients):
        expected = naive(patient, settings)
        got = {k: (None if pd.isna(df.at[f"P{i}", k]) else int(df.at[f"P{i}", k])) for k in expected}
        assert got == expected, f"P{i}: {patient}"
