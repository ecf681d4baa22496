"""Fine–Gray subdistribution hazards: equal to R cmprsk 2.2-11 crr on mgus2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.fine_gray import fine_gray


@pytest.fixture
def mgus2(reference_dir: Path) -> pd.DataFrame:
    data = pd.read_csv(reference_dir / "survival" / "mgus2_competing.csv")
    data["sexM"] = (data["sex"] == "M").astype(float)
    return data


@pytest.fixture
def reference(reference_dir: Path) -> dict:
    return json.loads((reference_dir / "survival" / "r_values.json").read_text())["mgus2_fine_gray_pcm"]


@pytest.mark.parametrize("term", ["age", "sexM"])
@pytest.mark.parametrize("column", ["coef", "se", "p_value"])
def test_fine_gray_equals_cmprsk_crr_on_mgus2(mgus2: pd.DataFrame, reference: dict, term: str, column: str) -> None:
    result = fine_gray(mgus2, "etime", "event", ["age", "sexM"], cause=1)
    row = result.table.set_index("term").loc[term]
    value = row["p"] if column == "p_value" else row[column]
    assert value == pytest.approx(reference["terms"][term][column], abs=reference["tolerance"])
    assert result.converged


def test_a_categorical_sex_gives_the_same_model_as_the_indicator(mgus2: pd.DataFrame) -> None:
    numeric = fine_gray(mgus2, "etime", "event", ["age", "sexM"]).table
    categorical = fine_gray(mgus2, "etime", "event", ["age", "sex"]).table
    assert categorical["term"].tolist() == ["age", "sex[M]"]
    np.testing.assert_allclose(categorical["coef"], numeric["coef"], rtol=1e-10)


def test_without_competing_events_fine_gray_is_the_breslow_cox_model() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=200)
    t = np.round(rng.exponential(np.exp(-0.5 * x)) * 20)  # ties on purpose
    c = np.round(rng.exponential(2.0, size=200) * 20)
    status = (t <= c).astype(int)
    time = np.minimum(t, c)
    data = pd.DataFrame({"time": time, "status": status, "x": x})
    fg = fine_gray(data, "time", "status", ["x"])
    # Breslow partial likelihood, maximised by direct search, for an independent check
    from scipy.optimize import minimize_scalar

    def negloglik(b: float) -> float:
        value = 0.0
        for s in np.unique(time[status == 1]):
            risk = time >= s
            d = (time == s) & (status == 1)
            value -= b * x[d].sum() - d.sum() * np.log(np.exp(b * x[risk]).sum())
        return value

    best = minimize_scalar(negloglik, bounds=(-5, 5), method="bounded", options={"xatol": 1e-10})
    assert fg.table["coef"].iloc[0] == pytest.approx(best.x, abs=1e-6)


def test_missing_covariates_are_dropped_and_counted(mgus2: pd.DataFrame) -> None:
    data = mgus2.copy()
    data.loc[:9, "age"] = np.nan
    result = fine_gray(data, "etime", "event", ["age", "sexM"])
    assert result.n_dropped == 10 and result.n == len(data) - 10


def test_no_event_of_the_cause_is_a_clear_error(mgus2: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no event of cause 3"):
        fine_gray(mgus2, "etime", "event", ["age"], cause=3)
