"""The demo cohort's DMT histories, post-transplant restarts, haematology and aggressive-MS
profile: shaped like the published AHSCT cohorts (docs/demo-cohort.md), and enough spread for
every profile view to have something to show."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter

import pandas as pd
import pytest

from registry.demo import DEFAULT_SEED, generate_cohort
from registry.demo.frames import bundle_frames

TODAY = dt.date(2026, 11, 24)
Bundle = dict[str, list[dict[str, str]]]


@pytest.fixture(scope="module")
def cohort() -> Bundle:
    return generate_cohort(1500, seed=DEFAULT_SEED, today=TODAY)


@pytest.fixture(scope="module")
def endpoints(cohort: Bundle) -> pd.DataFrame:
    from analytics.endpoints import derive_endpoints
    from analytics.snapshot import Snapshot

    return derive_endpoints(Snapshot.from_tables(bundle_frames(cohort)))


def _day0(cohort: Bundle) -> dict[tuple[str, str], dt.date]:
    return {(t["centre_code"], t["patient_code"]): dt.date.fromisoformat(t["transplant_date"])
            for t in cohort["transplants"] if t["transplant_number"] == "1"}


def _pre_and_post(cohort: Bundle) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    day0 = _day0(cohort)
    pre, post = [], []
    for r in cohort["treatments"]:
        (post if dt.date.fromisoformat(r["start_date"]) > day0[(r["centre_code"], r["patient_code"])] else pre).append(r)
    return pre, post


def test_most_patients_had_at_least_one_dmt_before_transplant(cohort: Bundle) -> None:
    pre, _ = _pre_and_post(cohort)
    treated = {(r["centre_code"], r["patient_code"]) for r in pre}
    assert len(treated) / len(cohort["patients"]) > 0.8


def test_the_last_dmt_before_transplant_stopped_mostly_for_inefficacy_or_ahsct(cohort: Bundle) -> None:
    pre, _ = _pre_and_post(cohort)
    last: dict[tuple[str, str], dict[str, str]] = {}
    for r in sorted(pre, key=lambda r: r["start_date"]):
        last[(r["centre_code"], r["patient_code"])] = r
    reasons = Counter(r["stop_reason"] for r in last.values())
    assert (reasons["INEFFICACY"] + reasons["AHSCT"]) / len(last) > 0.8
    assert reasons["AHSCT"] > 0.3 * len(last) and reasons["INEFFICACY"] > 0.3 * len(last)
    assert all(r["stop_date"] for r in last.values())  # stopped before the transplant


def test_dmt_periods_follow_the_approval_of_each_drug(cohort: Bundle) -> None:
    from registry.demo.treatments import FIRST_YEAR

    assert all(int(r["start_date"][:4]) >= FIRST_YEAR[r["drug"]] for r in cohort["treatments"] if r["drug"] in FIRST_YEAR)


def test_post_transplant_dmt_restarts_are_a_minority_and_follow_activity(endpoints: pd.DataFrame) -> None:
    # AHSCT cohorts: most patients stay off treatment; restarts follow renewed activity
    restarted = endpoints["post_dmt_date"].notna()
    assert 0.05 < restarted.mean() < 0.25
    known = restarted & endpoints["baseline_edss"].notna()  # where disease activity (EDA) is judged
    after_activity = endpoints["eda_date"].notna() & (endpoints["eda_date"] < endpoints["post_dmt_date"])
    assert (known & after_activity).sum() > 0.7 * known.sum()


def test_dmt_free_survival_at_5_years_is_high_and_tf_neda_below_neda(endpoints: pd.DataFrame) -> None:
    from analytics.estimates import survival_estimates

    dmt = survival_estimates(endpoints, "dmt_free", at=(1825,)).iloc[0]["estimate"]
    neda = survival_estimates(endpoints, "neda", at=(1825,)).iloc[0]["estimate"]
    tf = survival_estimates(endpoints, "tf_neda", at=(1825,)).iloc[0]["estimate"]
    assert 0.75 < dmt < 0.95
    assert tf <= neda


def test_neutrophil_engraftment_around_day_9_to_12(cohort: Bundle) -> None:
    days = [(dt.date.fromisoformat(t["neutrophil_engraftment_date"]) - dt.date.fromisoformat(t["transplant_date"])).days
            for t in cohort["transplants"] if t["neutrophil_engraftment_date"]]
    assert len(days) > 0.85 * len(cohort["patients"])
    assert 9 <= statistics.median(days) <= 12 and min(days) >= 7


def test_every_aggressive_feature_has_patients_with_and_without_it(endpoints: pd.DataFrame) -> None:
    from analytics.endpoints import AGGRESSIVE_FEATURES

    for feature in AGGRESSIVE_FEATURES:
        share = endpoints[feature].mean()
        assert 0.1 < share < 0.9, (feature, share)
    counts = endpoints["aggressive_factors"].value_counts()
    assert all(counts.get(k, 0) >= 30 for k in (0, 1, 2)) and counts.get(3, 0) + counts.get(4, 0) >= 30


def test_some_patients_cannot_be_assessed_for_a_feature(endpoints: pd.DataFrame) -> None:
    from analytics.endpoints import AGGRESSIVE_FEATURES

    assert all(endpoints[f"{f}_no_data"].sum() > 0 for f in AGGRESSIVE_FEATURES)
