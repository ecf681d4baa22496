"""Log-rank test: R survdiff's numbers on `lung`, lifelines and a naive reference on random
data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from lifelines.datasets import load_lung
from lifelines.statistics import multivariate_logrank_test
from scipy import stats

from analytics.logrank import LogRankResult, logrank_test


@pytest.fixture(scope="module")
def lung() -> pd.DataFrame:
    data = load_lung()
    data["ecog"] = data["ph.ecog"].fillna(9)
    return data


def test_lung_by_sex_matches_r(lung: pd.DataFrame) -> None:
    # tests/reference/README.md: survdiff(Surv(time, status) ~ sex, lung)
    result = logrank_test(lung["time"], lung["status"], lung["sex"])
    assert result.chi2 == pytest.approx(10.32674195, abs=1e-8)
    assert result.p == pytest.approx(0.00131116, abs=5e-9)
    assert result.df == 1


# R survival 3.5-3 on this machine, with lung$ph.ecog NA recoded 9:
#   survdiff(Surv(time, status) ~ ph.ecog, d)$chisq                  29.8202317216 (4 df)
#   survdiff(Surv(time, status) ~ sex + strata(ph.ecog), d)$chisq     10.7950596335
def test_five_groups_match_r(lung: pd.DataFrame) -> None:
    result = logrank_test(lung["time"], lung["status"], lung["ecog"])
    assert (result.chi2, result.df) == (pytest.approx(29.8202317216, abs=1e-9), 4)


def test_stratified_test_matches_r(lung: pd.DataFrame) -> None:
    result = logrank_test(lung["time"], lung["status"], lung["sex"], strata=lung["ecog"])
    assert result.chi2 == pytest.approx(10.7950596335, abs=1e-9)


def naive_logrank(t: np.ndarray, e: np.ndarray, g: np.ndarray) -> tuple[float, int]:
    """By the definition: one event time at a time, V inverted over all groups but the first."""
    levels = np.unique(g)
    k = len(levels)
    o_minus_e, v = np.zeros(k), np.zeros((k, k))
    for time in np.unique(t[e == 1]):
        n_g = np.array([((t >= time) & (g == lv)).sum() for lv in levels], float)
        d_g = np.array([((t == time) & (e == 1) & (g == lv)).sum() for lv in levels], float)
        n, d = n_g.sum(), d_g.sum()
        o_minus_e += d_g - d * n_g / n
        if n > 1:
            v += d * (n - d) / (n - 1) * (np.diag(n_g / n) - np.outer(n_g, n_g) / n**2)
    if np.linalg.matrix_rank(v[1:, 1:]) < k - 1:
        return float("nan"), k - 1  # singular: no test
    return float(o_minus_e[1:] @ np.linalg.solve(v[1:, 1:], o_minus_e[1:])), k - 1


grouped_data = st.integers(6, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 12), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.integers(0, 2), min_size=n, max_size=n),
    )
)


def well_posed(t: np.ndarray, e: np.ndarray, g: np.ndarray) -> bool:
    """Every group has someone at risk at some event time (else R drops it) and V is not
    singular."""
    if e.sum() == 0 or len(np.unique(g)) < 2:
        return False
    first_event = t[e == 1].min()
    if not all(((g == lv) & (t >= first_event)).any() for lv in np.unique(g)):
        return False
    return bool(np.isfinite(naive_logrank(t.astype(float), e, g)[0]))


@settings(max_examples=100, deadline=None)
@given(grouped_data)
def test_equals_naive_definition(data: tuple) -> None:
    t, e, g = (np.array(x) for x in data)
    assume(well_posed(t, e, g))
    expected_chi2, expected_df = naive_logrank(t.astype(float), e, g)
    result = logrank_test(t, e, g)
    assert result.df == expected_df
    assert result.chi2 == pytest.approx(expected_chi2, rel=1e-9, abs=1e-12)
    assert result.p == pytest.approx(stats.chi2.sf(expected_chi2, expected_df), rel=1e-9, abs=1e-15)


@settings(max_examples=30, deadline=None)
@given(grouped_data)
def test_equals_lifelines(data: tuple) -> None:
    t, e, g = (np.array(x) for x in data)
    assume(well_posed(t, e, g))
    theirs = multivariate_logrank_test(t, g, e)
    ours = logrank_test(t, e, g)
    assert ours.chi2 == pytest.approx(theirs.test_statistic, rel=1e-8, abs=1e-10)
    assert ours.df == theirs.degrees_of_freedom


@settings(max_examples=30, deadline=None)
@given(grouped_data, st.permutations(["c", "a", "b"]))
def test_does_not_depend_on_group_labels_or_order(data: tuple, names: list) -> None:
    t, e, g = (np.array(x) for x in data)
    assume(well_posed(t, e, g))
    relabelled = np.array(names)[g]
    assert logrank_test(t, e, relabelled).chi2 == pytest.approx(logrank_test(t, e, g).chi2, rel=1e-9, abs=1e-12)


def test_group_with_no_one_at_risk_at_any_event_is_dropped_as_in_r() -> None:
    """R survdiff keeps only groups with expected > 0, and counts df from them."""
    t, e, g = [1, 2, 3, 4, 5, 6, 7], [0, 1, 1, 0, 1, 0, 1], ["x", "a", "b", "a", "b", "a", "b"]
    with_x = logrank_test(t, e, g)
    without_x = logrank_test(t[1:], e[1:], g[1:])
    assert (with_x.chi2, with_x.df) == (pytest.approx(without_x.chi2), 1)


def test_observed_and_expected_per_group_add_up(lung: pd.DataFrame) -> None:
    groups = logrank_test(lung["time"], lung["status"], lung["sex"]).groups
    assert groups["observed"].sum() == pytest.approx(groups["expected"].sum())
    assert groups["observed"].sum() == lung["status"].sum()
    assert groups["n"].tolist() == lung["sex"].value_counts().sort_index().tolist()


def test_result_unpacks_as_chi2_df_p(lung: pd.DataFrame) -> None:
    result = logrank_test(lung["time"], lung["status"], lung["sex"])
    assert isinstance(result, LogRankResult)
    assert tuple(result) == (result.chi2, result.df, result.p)


@pytest.mark.parametrize(
    ("durations", "events", "groups", "message"),
    [
        ([1, 2, 3], [1, 0, 1], ["a", "a", "a"], "only 1 distinct"),
        ([1, 2, 3], [0, 0, 0], ["a", "b", "a"], "no event"),
        ([1, 2, 3], [1, 0, 1], ["a", "b"], "differ in length"),
        ([1, 2, 3], [1, 0, 1], ["a", None, "b"], "missing"),
        ([1, 2, 3], [1, 0, 2], ["a", "b", "a"], "0 \\(censored\\) or 1"),
        ([1, 1, 1], [1, 1, 1], ["a", "b", "a"], "singular"),
    ],
)
def test_invalid_input_is_rejected_with_the_remedy(durations, events, groups, message) -> None:
    with pytest.raises(ValueError, match=message):
        logrank_test(durations, events, groups)
