"""Kaplan–Meier: R survival 3.5-3's numbers on `lung`, a naive product-limit reference and
lifelines on random data (ties, censoring at event times, day-0 events, all censored)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_lung
from scipy import stats

from analytics.kaplan_meier import KaplanMeier, median_survival

# R survival 3.5-3 on lung, from tests/reference/README.md.
LUNG_SURVIVAL = {180: 0.7216706534, 365: 0.4092416245, 730: 0.1156930983}
LUNG_AT_RISK = {180: 160, 365: 65, 730: 13}


@pytest.fixture(scope="module")
def lung() -> pd.DataFrame:
    return load_lung()


@pytest.fixture(scope="module")
def lung_km(lung: pd.DataFrame) -> KaplanMeier:
    return KaplanMeier().fit(lung["time"], lung["status"])


# --- R's published numbers -------------------------------------------------------------------
@pytest.mark.parametrize("day", sorted(LUNG_SURVIVAL))
def test_survival_matches_r_on_lung(lung_km: KaplanMeier, day: int) -> None:
    row = lung_km.at([day]).iloc[0]
    assert row["estimate"] == pytest.approx(LUNG_SURVIVAL[day], abs=1e-9)


@pytest.mark.parametrize("day", sorted(LUNG_AT_RISK))
def test_number_at_risk_is_count_with_time_at_least_t(lung_km: KaplanMeier, day: int) -> None:
    assert lung_km.at([day]).iloc[0]["n_risk"] == LUNG_AT_RISK[day]


def test_log_log_interval_matches_r_at_365_days(lung_km: KaplanMeier) -> None:
    row = lung_km.at(365).iloc[0]
    assert row["lower"] == pytest.approx(0.338714, abs=5e-7)
    assert row["upper"] == pytest.approx(0.478381, abs=5e-7)


def test_median_and_its_interval_match_r(lung_km: KaplanMeier) -> None:
    assert lung_km.median_ == 310
    assert lung_km.median_ci_ == (284, 361)


@pytest.mark.parametrize(("sex", "median", "ci"), [(1, 270, (210, 306)), (2, 426, (345, 524))])
def test_median_by_sex_matches_r(lung: pd.DataFrame, sex: int, median: float, ci: tuple) -> None:
    group = lung[lung["sex"] == sex]
    km = KaplanMeier().fit(group["time"], group["status"])
    assert km.median_ == median
    assert km.median_ci_ == ci


# --- a naive reference on random data ---------------------------------------------------------
def naive_km(t: np.ndarray, e: np.ndarray) -> pd.DataFrame:
    """Product-limit by the definition, one distinct time at a time."""
    rows, s, greenwood = [], 1.0, 0.0
    for time in np.unique(t):
        n = int((t >= time).sum())
        d = int(((t == time) & (e == 1)).sum())
        s *= 1 - d / n
        if d:
            greenwood = math.inf if d == n else greenwood + d / (n * (n - d))
        rows.append((time, n, d, s, math.sqrt(greenwood)))
    return pd.DataFrame(rows, columns=["time", "n_risk", "n_event", "estimate", "std_err"])


survival_data = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 12), min_size=n, max_size=n),  # small range: many ties, day 0
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
    )
)


@settings(max_examples=100, deadline=None)
@given(survival_data)
def test_estimate_and_greenwood_equal_naive_product_limit(data: tuple) -> None:
    t, e = np.array(data[0], float), np.array(data[1])
    table = KaplanMeier().fit(t, e).table_
    observed = table[table["time"].isin(t)].reset_index(drop=True)
    expected = naive_km(t, e)
    pd.testing.assert_frame_equal(
        observed[expected.columns], expected, check_dtype=False, rtol=1e-12, atol=1e-12
    )


@settings(max_examples=50, deadline=None)
@given(survival_data, st.lists(st.floats(0, 15, allow_nan=False), min_size=1, max_size=6))
def test_at_is_the_step_function_and_r_number_at_risk(data: tuple, query: list) -> None:
    t, e = np.array(data[0], float), np.array(data[1])
    km = KaplanMeier().fit(t, e)
    got = km.at(query)
    expected = naive_km(t, e)
    for _, row in got.iterrows():
        assert row["n_risk"] == (t >= row["time"]).sum()
        past = expected[expected["time"] <= row["time"]]
        assert row["estimate"] == pytest.approx(past["estimate"].iloc[-1] if len(past) else 1.0)


@settings(max_examples=40, deadline=None)
@given(survival_data)
def test_survival_and_log_log_interval_equal_lifelines(data: tuple) -> None:
    t, e = np.array(data[0], float), np.array(data[1])
    ours = KaplanMeier().fit(t, e).table_.set_index("time")
    kmf = KaplanMeierFitter().fit(t, e)
    theirs = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_survival_function_
    common = ours.index.intersection(theirs.index)
    np.testing.assert_allclose(ours.loc[common, "estimate"], theirs.loc[common], atol=1e-12)
    interior = [x for x in common if 0 < ours.loc[x, "estimate"] < 1]
    np.testing.assert_allclose(ours.loc[interior, "lower"], ci.loc[interior].iloc[:, 0], atol=1e-9)
    np.testing.assert_allclose(ours.loc[interior, "upper"], ci.loc[interior].iloc[:, 1], atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(survival_data)
def test_bounds_contain_the_estimate_and_stay_in_unit_interval(data: tuple) -> None:
    table = KaplanMeier().fit(np.array(data[0], float), data[1]).table_
    defined = table.dropna(subset=["lower", "upper"])
    assert (defined["lower"] >= 0).all() and (defined["upper"] <= 1).all()
    assert (defined["lower"] <= defined["estimate"] + 1e-12).all()
    assert (defined["estimate"] <= defined["upper"] + 1e-12).all()
    # the only undefined interval is where the curve has reached 0 (infinite variance)
    assert (table.loc[table["lower"].isna(), "estimate"] == 0).all()


@settings(max_examples=100, deadline=None)
@given(survival_data)
def test_median_is_smallest_time_with_survival_at_most_half(data: tuple) -> None:
    t, e = np.array(data[0], float), np.array(data[1])
    km = KaplanMeier().fit(t, e)
    reached = km.table_[km.table_["estimate"] <= 0.5 + 1e-12]
    if reached.empty:
        assert math.isnan(km.median_)
    else:
        assert km.median_ == reached["time"].iloc[0]
    lower, upper = km.median_ci_
    if not math.isnan(km.median_):
        assert math.isnan(lower) or lower <= km.median_
        assert math.isnan(upper) or upper >= km.median_


@settings(max_examples=100, deadline=None)
@given(survival_data)
def test_median_survival_alone_equals_the_fitted_median(data: tuple) -> None:
    t, e = np.array(data[0], float), np.array(data[1])
    expected, got = KaplanMeier().fit(t, e).median_, median_survival(t, e)
    assert (math.isnan(expected) and math.isnan(got)) or got == expected


def test_median_survival_on_an_exact_half_plateau_and_all_censored() -> None:
    assert median_survival([1, 2, 3, 4], [1, 1, 1, 1]) == 2
    assert math.isnan(median_survival([3, 5, 8], [0, 0, 0]))
    with pytest.raises(ValueError, match="negative"):
        median_survival([-1, 2], [1, 0])


# --- edge cases, each a behaviour ------------------------------------------------------------
def test_all_censored_stays_at_one_without_median() -> None:
    km = KaplanMeier().fit([3, 5, 8], [0, 0, 0])
    assert (km.table_["estimate"] == 1).all()
    assert (km.table_[["lower", "upper"]] == 1).all().all()
    assert math.isnan(km.median_)
    assert all(math.isnan(x) for x in km.median_ci_)


def test_single_subject_with_event_drops_to_zero() -> None:
    km = KaplanMeier().fit([4], [1])
    assert km.at([0, 3.9, 4, 10])["estimate"].tolist() == [1, 1, 0, 0]
    assert km.median_ == 4


def test_day_zero_event_counts_at_time_zero() -> None:
    km = KaplanMeier().fit([0, 1, 2, 3], [1, 0, 1, 0])
    first = km.table_.iloc[0]
    assert first["time"] == 0 and first["n_event"] == 1 and first["estimate"] == pytest.approx(0.75)
    assert km.at(0).iloc[0]["estimate"] == pytest.approx(0.75)


def test_curve_starts_with_a_time_zero_row_when_no_one_has_time_zero() -> None:
    table = KaplanMeier().fit([2, 3], [1, 0]).table_
    assert table.iloc[0][["time", "n_risk", "n_event", "n_censor", "estimate"]].tolist() == [0, 2, 0, 0, 1]


def test_subject_censored_at_an_event_time_is_still_at_risk_then() -> None:
    table = KaplanMeier().fit([5, 5, 5, 9], [1, 0, 0, 1]).table_.set_index("time")
    assert table.loc[5, "n_risk"] == 4
    assert table.loc[5, "estimate"] == pytest.approx(0.75)


def test_at_carries_the_last_value_forward_with_no_one_at_risk() -> None:
    row = KaplanMeier().fit([1, 2, 3], [1, 0, 0]).at(100).iloc[0]
    assert row["n_risk"] == 0 and row["estimate"] == pytest.approx(2 / 3)


def test_median_on_an_exact_half_plateau_is_its_start_not_rs_midpoint() -> None:
    # S = 0.5 on [2, 3): docs/endpoints.md takes the smallest time (R would say 2.5).
    assert KaplanMeier().fit([1, 2, 3, 4], [1, 1, 1, 1]).median_ == 2


@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.32])
def test_alpha_sets_the_confidence_level(lung: pd.DataFrame, alpha: float) -> None:
    row = KaplanMeier(alpha=alpha).fit(lung["time"], lung["status"]).at(365).iloc[0]
    s = row["estimate"]
    se = KaplanMeier().fit(lung["time"], lung["status"]).table_.query("time <= 365")["std_err"].iloc[-1]
    z = stats.norm.ppf(1 - alpha / 2)
    assert row["lower"] == pytest.approx(s ** math.exp(z * se / -math.log(s)))
    assert row["upper"] == pytest.approx(s ** math.exp(-z * se / -math.log(s)))


@pytest.mark.parametrize(
    "kind", [np.array, list, pd.Series], ids=["numpy", "list", "series"]
)
def test_accepts_arrays_lists_and_series(kind) -> None:
    km = KaplanMeier().fit(kind([1.0, 2.0, 3.0]), kind([1, 0, 1]))
    assert km.n_ == 3 and km.n_events_ == 2


@pytest.mark.parametrize(
    ("durations", "events", "message"),
    [
        ([1, 2], [1], "differ in length"),
        ([1, -2], [1, 0], "negative"),
        ([1, float("nan")], [1, 0], "missing"),
        ([1, 2], [1, 2], "0 \\(censored\\) or 1 \\(event\\)"),
        ([1, 2], [1, None], "code it 0"),
        ([], [], "empty"),
    ],
)
def test_invalid_input_is_rejected_with_the_remedy(durations, events, message) -> None:
    with pytest.raises(ValueError, match=message):
        KaplanMeier().fit(durations, events)


def test_at_before_fit_says_to_fit() -> None:
    with pytest.raises(RuntimeError, match="call .fit"):
        KaplanMeier().at(1)


@pytest.mark.parametrize("times", [-1, [1, float("nan")]])
def test_at_rejects_negative_or_missing_times(lung_km: KaplanMeier, times) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        lung_km.at(times)


@pytest.mark.parametrize("alpha", [0, 1, 1.5])
def test_alpha_outside_zero_one_is_rejected(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        KaplanMeier(alpha=alpha)
