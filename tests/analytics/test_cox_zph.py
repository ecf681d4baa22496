"""PH test: equal to R survival 3.5-3 cox.zph (transform "km") on lung ~ age + sex + ph.ecog."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_lung

from analytics.cox_zph import proportional_hazards_test


@pytest.fixture(scope="module")
def lung() -> pd.DataFrame:
    return load_lung()


@pytest.fixture
def reference(reference_dir: Path) -> dict:
    return json.loads((reference_dir / "survival" / "r_values.json").read_text())["lung"]["cox_zph_age_sex_ecog"]["terms"]


@pytest.mark.parametrize("term", ["age", "sex", "ph.ecog", "GLOBAL"])
def test_ph_test_equals_r_cox_zph_on_lung(lung: pd.DataFrame, reference: dict, term: str) -> None:
    table = proportional_hazards_test(lung, "time", "status", ["age", "sex", "ph.ecog"]).table.set_index("term")
    assert table.loc[term, "chisq"] == pytest.approx(reference[term]["chisq"], abs=1e-6)
    assert table.loc[term, "p_value"] == pytest.approx(reference[term]["p_value"], abs=1e-6)
    assert table.loc[term, "df"] == reference[term]["df"]


def test_a_categorical_covariate_is_one_term_with_one_df_per_level(lung: pd.DataFrame) -> None:
    data = lung.dropna(subset=["ph.ecog"]).copy()
    data["ecog"] = data["ph.ecog"].clip(upper=2).astype(int).astype(str)
    table = proportional_hazards_test(data, "time", "status", ["age", "ecog"]).table.set_index("term")
    assert table.loc["ecog", "df"] == 2
    assert table.loc["GLOBAL", "df"] == 3


def test_hazards_that_cross_are_flagged_and_proportional_ones_are_not() -> None:
    rng = np.random.default_rng(11)
    n = 600
    group = rng.integers(0, 2, n)
    # group 1: high early hazard that vanishes; group 0: constant hazard
    early = rng.exponential(0.3, n)
    late = rng.exponential(3.0, n)
    t_cross = np.where(group == 1, np.where(early < 0.5, early, 0.5 + late), rng.exponential(1.0, n))
    t_ph = rng.exponential(np.where(group == 1, 0.5, 1.0))
    for times, violated in ((t_cross, True), (t_ph, False)):
        data = pd.DataFrame({"time": np.minimum(times, 4.0), "status": (times < 4.0).astype(int), "group": group})
        result = proportional_hazards_test(data, "time", "status", ["group"])
        assert ("group" in result.violated(0.01)) is violated
