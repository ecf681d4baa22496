"""Gray's test: equal to R cmprsk 2.2-11 cuminc on mgus2 by sex, and its invariances."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.gray_test import gray_test


@pytest.fixture
def mgus2(reference_dir: Path) -> pd.DataFrame:
    return pd.read_csv(reference_dir / "survival" / "mgus2_competing.csv")


@pytest.fixture
def reference(reference_dir: Path) -> dict:
    return json.loads((reference_dir / "survival" / "r_values.json").read_text())["mgus2_gray_test_by_sex"]


@pytest.mark.parametrize(("cause", "name"), [(1, "pcm"), (2, "death")])
def test_gray_test_equals_cmprsk_cuminc_on_mgus2_by_sex(mgus2: pd.DataFrame, reference: dict, cause: int, name: str) -> None:
    result = gray_test(mgus2["etime"], mgus2["event"], mgus2["sex"], cause=cause)
    assert result.statistic == pytest.approx(reference[name]["statistic"], abs=1e-6)
    assert result.p_value == pytest.approx(reference[name]["p_value"], abs=1e-6)
    assert result.df == reference[name]["df"]


def test_gray_test_does_not_depend_on_row_order_or_label_names(mgus2: pd.DataFrame) -> None:
    base = gray_test(mgus2["etime"], mgus2["event"], mgus2["sex"])
    shuffled = mgus2.sample(frac=1.0, random_state=3)
    relabelled = shuffled["sex"].map({"F": "z", "M": "a"})
    other = gray_test(shuffled["etime"], shuffled["event"], relabelled)
    assert other.statistic == pytest.approx(base.statistic, rel=1e-10)


def test_a_single_stratum_gives_the_unstratified_test(mgus2: pd.DataFrame) -> None:
    base = gray_test(mgus2["etime"], mgus2["event"], mgus2["sex"])
    stratified = gray_test(mgus2["etime"], mgus2["event"], mgus2["sex"], strata=["all"] * len(mgus2))
    assert stratified.statistic == pytest.approx(base.statistic, rel=1e-12)


def test_strata_add_scores_and_variances_of_each_stratum(mgus2: pd.DataFrame) -> None:
    old = np.where(mgus2["age"] >= 70, "old", "young")
    result = gray_test(mgus2["etime"], mgus2["event"], mgus2["sex"], strata=old)
    assert result.df == 1 and 0.0 <= result.p_value <= 1.0
    assert result.statistic != pytest.approx(gray_test(mgus2["etime"], mgus2["event"], mgus2["sex"]).statistic)


def test_three_groups_have_two_degrees_of_freedom(mgus2: pd.DataFrame) -> None:
    band = pd.cut(mgus2["age"], [0, 60, 75, 120]).astype(str)
    result = gray_test(mgus2["etime"], mgus2["event"], band, cause=1)
    assert result.df == 2
    assert len(result.groups) == 3


def test_identical_groups_give_a_statistic_of_zero() -> None:
    t = np.array([1, 2, 3, 4, 5, 6, 7, 8] * 2, dtype=float)
    s = np.array([1, 2, 0, 1, 2, 1, 0, 0] * 2)
    g = ["a"] * 8 + ["b"] * 8
    assert gray_test(t, s, g).statistic == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("status", "groups", "message"),
    [
        ([0, 2, 2, 0], ["a", "a", "b", "b"], "no event of cause 1"),
        ([1, 2, 1, 0], ["a", "a", "a", "a"], "only 1 distinct"),
    ],
)
def test_gray_test_refuses_what_it_cannot_compare(status: list[int], groups: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gray_test([1.0, 2.0, 3.0, 4.0], status, groups)
