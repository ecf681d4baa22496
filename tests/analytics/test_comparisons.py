"""Which test goes with which endpoint, and the numbers equal the tests' own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.comparisons import COMPARE_COLUMNS, compare_endpoint
from analytics.estimates import EstimateError
from analytics.gray_test import gray_test
from analytics.logrank import logrank_test


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 300
    days = rng.integers(1, 2000, n).astype(float)
    status = rng.choice([0, 1, 2], n, p=[0.7, 0.15, 0.15])
    return pd.DataFrame({
        "centre_code": rng.choice(["A", "B"], n), "sex": rng.choice(["F", "M"], n),
        "phenotype": rng.choice(["RRMS", "SPMS"], n),
        "trm_days": days, "trm_status": status, "os_days": days, "os_event": (status > 0).astype(int),
    })


def test_survival_endpoints_get_the_log_rank_test(frame: pd.DataFrame) -> None:
    table = compare_endpoint(frame, "os", "sex")
    assert list(table.columns) == COMPARE_COLUMNS
    assert table["test"].tolist() == ["log-rank"]
    chi2, df, p = logrank_test(frame["os_days"], frame["os_event"], frame["sex"])
    assert table["statistic"].iloc[0] == pytest.approx(chi2) and table["df"].iloc[0] == df


def test_trm_gets_grays_test_and_the_cause_specific_log_rank(frame: pd.DataFrame) -> None:
    table = compare_endpoint(frame, "trm", "sex").set_index("test")
    assert list(table.index) == ["gray", "cause-specific log-rank"]
    gray = gray_test(frame["trm_days"], frame["trm_status"], frame["sex"])
    assert table.loc["gray", "statistic"] == pytest.approx(gray.statistic)
    chi2, _, _ = logrank_test(frame["trm_days"], (frame["trm_status"] == 1).astype(int), frame["sex"])
    assert table.loc["cause-specific log-rank", "statistic"] == pytest.approx(chi2)


def test_strata_are_passed_to_the_tests(frame: pd.DataFrame) -> None:
    table = compare_endpoint(frame, "trm", "sex", strata="phenotype").set_index("test")
    gray = gray_test(frame["trm_days"], frame["trm_status"], frame["sex"], strata=frame["phenotype"])
    assert table.loc["gray", "statistic"] == pytest.approx(gray.statistic)
    assert table["by"].iloc[0] == "sex | strata phenotype"


def test_groups_below_the_minimum_size_are_left_out(frame: pd.DataFrame) -> None:
    frame = frame.copy()
    frame.loc[:2, "sex"] = "U"
    table = compare_endpoint(frame, "os", "sex", min_group_size=5)
    assert table["df"].iloc[0] == 1


def test_a_single_group_gives_an_empty_test_not_an_error(frame: pd.DataFrame) -> None:
    frame = frame.assign(sex="F")
    table = compare_endpoint(frame, "trm", "sex")
    assert table["p_value"].isna().all()


@pytest.mark.parametrize(("endpoint", "by", "strata"), [("xx", "sex", None), ("os", "nope", None), ("os", "sex", "sex")])
def test_unknown_endpoints_and_columns_are_refused(frame: pd.DataFrame, endpoint: str, by: str, strata: str | None) -> None:
    with pytest.raises(EstimateError):
        compare_endpoint(frame, endpoint, by, strata=strata)
