"""Cox model (Efron ties): R coxph's numbers on `lung`, a naive Efron partial likelihood on
random data with ties, categorical encoding, missing values and errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines.datasets import load_lung
from scipy import optimize, stats

from analytics.cox import TABLE_COLUMNS, CoxResult, cox_model


@pytest.fixture(scope="module")
def lung() -> pd.DataFrame:
    return load_lung()


def row(result: CoxResult, term: str) -> pd.Series:
    return result.table.set_index("term").loc[term]


# --- R's numbers ------------------------------------------------------------------------------
def test_sex_model_matches_r(lung: pd.DataFrame) -> None:
    # tests/reference/README.md: coxph(Surv(time, status) ~ sex, lung)
    sex = row(cox_model(lung, "time", "status", ["sex"]), "sex")
    assert sex["coef"] == pytest.approx(-0.5310235, abs=5e-8)
    assert sex["hr"] == pytest.approx(0.5880028, abs=5e-8)
    assert sex["se"] == pytest.approx(0.1671786, abs=5e-8)
    assert sex["p"] == pytest.approx(0.0014912, abs=5e-8)


def test_sex_model_interval_and_concordance_match_r(lung: pd.DataFrame) -> None:
    # R survival 3.5-3 on this machine: summary(fit)$conf.int, fit$concordance["concordance"]
    result = cox_model(lung, "time", "status", ["sex"])
    sex = row(result, "sex")
    assert sex["lower"] == pytest.approx(0.423717830354, abs=1e-8)
    assert sex["upper"] == pytest.approx(0.815984813171, abs=1e-8)
    assert result.concordance == pytest.approx(0.578644948536, abs=1e-11)
    assert (result.n, result.n_events, result.n_dropped) == (228, 165, 0)


def test_three_covariate_model_matches_r_and_drops_the_incomplete_row(lung: pd.DataFrame) -> None:
    # README: coefs; R on this machine: se, fit$n 227, fit$nevent 164, concordance
    result = cox_model(lung, "time", "status", ["age", "sex", "ph.ecog"])
    np.testing.assert_allclose(result.table["coef"], [0.011066765, -0.552612396, 0.463728475], atol=1e-9)
    np.testing.assert_allclose(
        result.table["se"], [0.0092674110137, 0.1677390537873, 0.1135772661620], atol=1e-9
    )
    assert (result.n, result.n_events, result.n_dropped) == (227, 164, 1)
    assert result.concordance == pytest.approx(0.637135493, abs=1e-9)


def test_stratified_model_matches_r(lung: pd.DataFrame) -> None:
    # R: coxph(Surv(time, status) ~ age + sex + strata(ph.ecog), lung)
    result = cox_model(lung, "time", "status", ["age", "sex"], strata="ph.ecog")
    np.testing.assert_allclose(result.table["coef"], [0.0107721611223, -0.5535169257964], atol=1e-9)
    np.testing.assert_allclose(result.table["se"], [0.00925380366046, 0.17087281318338], atol=1e-9)
    assert result.concordance == pytest.approx(0.582737845033, abs=1e-11)
    assert result.strata == ("ph.ecog",)


def test_categorical_covariate_matches_r_factor(lung: pd.DataFrame) -> None:
    # R: d$ecog <- factor(d$ph.ecog); coxph(Surv(time, status) ~ age + ecog, d)
    data = lung.assign(ecog=lung["ph.ecog"].astype("Int64").astype("category"))
    result = cox_model(data, "time", "status", ["age", "ecog"])
    assert result.table["term"].tolist() == ["age", "ecog[1]", "ecog[2]", "ecog[3]"]
    np.testing.assert_allclose(
        result.table["coef"], [0.0107905056581, 0.3587224651653, 0.8568008812098, 2.1073311278223], atol=1e-8
    )
    assert result.reference_levels == {"ecog": 0}


# --- a naive reference: Efron's partial likelihood, maximised by Brent's method -----------------
def efron_loglik(beta: float, t: np.ndarray, e: np.ndarray, x: np.ndarray) -> float:
    """Efron (1977): at a time with d tied events D, sum_{l<d} log(sum_R r - l/d sum_D r)."""
    r = np.exp(beta * x)
    total = 0.0
    for time in np.unique(t[e == 1]):
        dead = (t == time) & (e == 1)
        d = int(dead.sum())
        risk, tied = r[t >= time].sum(), r[dead].sum()
        total += beta * x[dead].sum() - sum(math.log(risk - l / d * tied) for l in range(d))
    return total


random_cohort = st.tuples(st.integers(0, 10_000), st.integers(20, 60))


def simulate(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = np.ceil(rng.exponential(10 * np.exp(-0.5 * x)))  # integer times: many ties
    c = np.ceil(rng.exponential(15, size=n))
    return pd.DataFrame({"t": np.minimum(t, c), "e": (t <= c).astype(int), "x": x})


@settings(max_examples=25, deadline=None)
@given(random_cohort)
def test_coefficient_and_se_equal_naive_efron_likelihood(cohort: tuple) -> None:
    data = simulate(*cohort)
    t, e, x = data["t"].to_numpy(), data["e"].to_numpy(), data["x"].to_numpy()
    best = optimize.minimize_scalar(lambda b: -efron_loglik(b, t, e, x), bounds=(-10, 10), method="bounded",
                                    options={"xatol": 1e-10})
    h = 1e-4
    curvature = -(efron_loglik(best.x + h, t, e, x) - 2 * efron_loglik(best.x, t, e, x) + efron_loglik(best.x - h, t, e, x)) / h**2
    got = row(cox_model(data, "t", "e", ["x"]), "x")
    assert got["coef"] == pytest.approx(best.x, abs=1e-6)
    assert got["se"] == pytest.approx(1 / math.sqrt(curvature), rel=1e-4)
    z = stats.norm.ppf(0.975)
    assert (got["lower"], got["upper"]) == (
        pytest.approx(math.exp(got["coef"] - z * got["se"])),
        pytest.approx(math.exp(got["coef"] + z * got["se"])),
    )


# --- encoding and missing values ------------------------------------------------------------------
def test_string_covariate_equals_its_manual_dummy_with_sorted_first_level_as_reference(lung: pd.DataFrame) -> None:
    data = lung.assign(sex_label=lung["sex"].map({1: "male", 2: "female"}), male=(lung["sex"] == 1).astype(int))
    encoded = cox_model(data, "time", "status", ["sex_label"])
    manual = cox_model(data, "time", "status", ["male"])
    assert encoded.reference_levels == {"sex_label": "female"}
    assert row(encoded, "sex_label[male]")["coef"] == pytest.approx(row(manual, "male")["coef"], abs=1e-10)


def test_category_order_chooses_the_reference(lung: pd.DataFrame) -> None:
    labels = lung["sex"].map({1: "male", 2: "female"})
    data = lung.assign(sex_label=pd.Categorical(labels, categories=["male", "female"]))
    result = cox_model(data, "time", "status", ["sex_label"])
    assert result.reference_levels == {"sex_label": "male"}
    assert row(result, "sex_label[female]")["coef"] == pytest.approx(-0.5310235, abs=5e-8)


@pytest.mark.parametrize("n_missing", [1, 10, 50])
def test_rows_with_missing_values_are_dropped_and_counted(lung: pd.DataFrame, n_missing: int) -> None:
    data = lung[["time", "status", "sex"]].copy()
    data.loc[data.index[:n_missing], "sex"] = np.nan
    result = cox_model(data, "time", "status", ["sex"])
    assert (result.n, result.n_dropped) == (len(lung) - n_missing, n_missing)
    expected = cox_model(data.dropna(), "time", "status", ["sex"])
    pd.testing.assert_frame_equal(result.table, expected.table)


def test_table_has_the_documented_columns(lung: pd.DataFrame) -> None:
    assert list(cox_model(lung, "time", "status", ["age"]).table.columns) == TABLE_COLUMNS


# --- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "covariates", "message"),
    [
        (lambda d: d.assign(k=1.0), ["k"], "single value 1.0"),
        (lambda d: d.assign(k="a"), ["k"], "single value 'a'"),
        (lambda d: d.assign(k=np.where(d["ph.ecog"].isna(), 5.0, 2.0)), ["k", "ph.ecog"], "single value 2.0"),
        (lambda d: d.assign(status=0), ["sex"], "no event"),
        (lambda d: d, [], "at least one covariate"),
        (lambda d: d.assign(status=d["status"] + 1), ["sex"], "0 \\(censored\\) or 1"),
        (lambda d: d.assign(time=-d["time"]), ["sex"], "negative"),
        (lambda d: d.assign(sex=np.nan), ["sex"], "no row has all"),
    ],
    ids=["constant-number", "constant-label", "constant-after-dropping-missing", "no-events",
         "no-covariates", "non-binary-event", "negative-time", "all-missing"],
)
def test_invalid_models_are_rejected_with_the_remedy(lung: pd.DataFrame, change, covariates, message) -> None:
    with pytest.raises(ValueError, match=message):
        cox_model(change(lung), "time", "status", covariates)


def test_unknown_column_is_named(lung: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match="edss"):
        cox_model(lung, "time", "status", ["edss"])
