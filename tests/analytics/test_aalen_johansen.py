"""Aalen–Johansen cumulative incidence: R survival 3.5-3 on mgus2, a naive reference, the
infinitesimal-jackknife standard error against numerical differentiation, and lifelines where
lifelines is right (distinct times, none at 0)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import AalenJohansenFitter

from analytics.aalen_johansen import cumulative_incidence
from analytics.kaplan_meier import KaplanMeier

MONTHS = [12, 60, 120, 240, 360]
# tests/reference/README.md: summary(survfit(Surv(etime, factor(event)) ~ 1), times = MONTHS)
CIF_PCM = [0.0094012593, 0.034103713, 0.063722168, 0.0998137159, 0.1340416443]
CIF_DEATH = [0.122185, 0.320367, 0.531818, 0.724028, 0.784208]  # given to 6 digits
NAIVE_ONE_MINUS_KM_PCM = [0.010282, 0.042154, 0.095222, 0.209562, 0.424837]

# R survival 3.5-3 (Debian r-cran-survival 3.5-3-1, R 4.2.2), same call, on this machine:
#   s <- summary(survfit(Surv(etime, factor(event)) ~ 1, data = mgus2_competing), times = MONTHS)
#   s$std.err[, "1"]; s$lower[, "1"]; s$upper[, "1"]     (conf.type "log", R's default)
#   and the same with conf.type = "log-log".
R_STD_ERR = {
    1: [0.00259515576302, 0.00488925790767, 0.00679684842396, 0.00978484679339, 0.02012756251332],
    2: [0.00880608437086, 0.01256737154756, 0.01405964516203, 0.01560634506776, 0.02093346953571],
}
R_LOG_CI = {
    1: (
        [0.00547289920755, 0.02574955197427, 0.05170090607593, 0.08236562797438, 0.09986749435243],
        [0.0161493340026, 0.0451682902988, 0.0785385596594, 0.1209579545966, 0.1799100150669],
    ),
    2: (
        [0.106089391662, 0.296658513169, 0.504963057458, 0.694077218431, 0.744234215311],
        [0.140723520295, 0.345970254389, 0.560100518634, 0.755271166258, 0.826329348676],
    ),
}
R_LOGLOG_CI = {
    1: (
        [0.00529731206955, 0.02544199074435, 0.05128167608490, 0.08168995070740, 0.09763167695186],
        [0.0156691729433, 0.0446577215453, 0.0779330245960, 0.1200191317174, 0.1762530710296],
    ),
    2: (
        [0.105575683639, 0.295871610783, 0.503860774822, 0.692075590788, 0.739740013167],
        [0.140071888800, 0.345092906957, 0.558942898815, 0.753274752562, 0.822004758104],
    ),
}


@pytest.fixture
def mgus2(reference_dir: Path) -> pd.DataFrame:
    return pd.read_csv(reference_dir / "survival" / "mgus2_competing.csv")


def std_err_at(table: pd.DataFrame, times: list[float]) -> np.ndarray:
    rows = np.searchsorted(table["time"].to_numpy(), times, side="right") - 1
    return table["std_err"].to_numpy()[rows]


# --- R's numbers -------------------------------------------------------------------------------
@pytest.mark.parametrize(("cause", "expected", "tol"), [(1, CIF_PCM, 1e-9), (2, CIF_DEATH, 5e-7)])
def test_incidence_matches_r_on_mgus2(mgus2: pd.DataFrame, cause: int, expected: list, tol: float) -> None:
    got = cumulative_incidence(mgus2["etime"], mgus2["event"], cause=cause).at(MONTHS)
    np.testing.assert_allclose(got["estimate"], expected, rtol=0, atol=tol)


@pytest.mark.parametrize("cause", [1, 2])
def test_std_err_is_rs_infinitesimal_jackknife(mgus2: pd.DataFrame, cause: int) -> None:
    table = cumulative_incidence(mgus2["etime"], mgus2["event"], cause=cause).table_
    np.testing.assert_allclose(std_err_at(table, MONTHS), R_STD_ERR[cause], rtol=0, atol=1e-11)


@pytest.mark.parametrize(("conf_type", "reference"), [("log", R_LOG_CI), ("log-log", R_LOGLOG_CI)])
@pytest.mark.parametrize("cause", [1, 2])
def test_interval_matches_r(mgus2: pd.DataFrame, cause: int, conf_type: str, reference: dict) -> None:
    got = cumulative_incidence(mgus2["etime"], mgus2["event"], cause=cause, conf_type=conf_type).at(MONTHS)
    np.testing.assert_allclose(got["lower"], reference[cause][0], rtol=0, atol=1e-11)
    np.testing.assert_allclose(got["upper"], reference[cause][1], rtol=0, atol=1e-11)


def test_naive_one_minus_km_overstates_incidence(mgus2: pd.DataFrame) -> None:
    """Why Aalen–Johansen: censoring deaths as if the patient could still get PCM inflates the
    incidence, more and more as deaths accumulate (0.42 against 0.13 at 30 years)."""
    naive = 1 - KaplanMeier().fit(mgus2["etime"], mgus2["event"] == 1).at(MONTHS)["estimate"]
    aj = cumulative_incidence(mgus2["etime"], mgus2["event"], cause=1).at(MONTHS)["estimate"]
    np.testing.assert_allclose(naive, NAIVE_ONE_MINUS_KM_PCM, rtol=0, atol=5e-7)
    assert (naive.to_numpy() > aj.to_numpy()).all()


# R on a toy with a day-0 event of cause 1, ties of both causes and censoring at event times:
#   t <- c(0,0,1,2,2,3,5,5,6); s <- c(0,1,0,2,2,1,0,1,2)
#   g <- survfit(Surv(t, factor(s)) ~ 1); g$pstate[, 2]; g$std.err[, 2]
TOY_T = [0, 0, 1, 2, 2, 3, 5, 5, 6]
TOY_S = [0, 1, 0, 2, 2, 1, 0, 1, 2]
TOY_R = pd.DataFrame(
    {
        "time": [0, 1, 2, 3, 5, 6],
        "n_risk": [9, 7, 6, 4, 3, 1],
        "estimate": [1 / 9, 1 / 9, 1 / 9, 0.259259259259, 0.407407407407, 0.407407407407],
        "std_err": [0.104756560176, 0.104756560176, 0.104756560176, 0.160967960622, 0.184773204285, 0.184773204285],
    }
)


def test_day_zero_event_counts_at_time_zero_as_in_r() -> None:
    table = cumulative_incidence(TOY_T, TOY_S, cause=1).table_
    pd.testing.assert_frame_equal(table[TOY_R.columns], TOY_R, check_dtype=False, atol=1e-11)
    first = cumulative_incidence(TOY_T, TOY_S, cause=1).at(0).iloc[0]
    assert first["estimate"] == pytest.approx(1 / 9)
    assert first["lower"] == pytest.approx(0.0175080177972, abs=1e-11)  # R's log interval
    assert first["upper"] == pytest.approx(0.705144303333, abs=1e-11)


# --- naive references on random data --------------------------------------------------------------
def naive_aj(t: np.ndarray, s: np.ndarray, cause: int, w: np.ndarray | None = None) -> pd.DataFrame:
    """The estimator by its definition, with optional case weights, one time at a time."""
    w = np.ones(t.size) if w is None else w
    rows, surv, cif = [], 1.0, 0.0
    for time in np.unique(t):
        n = w[t >= time].sum()
        d_k = w[(t == time) & (s == cause)].sum()
        d = w[(t == time) & (s != 0)].sum()
        cif += surv * d_k / n
        surv *= 1 - d / n
        rows.append((time, cif))
    return pd.DataFrame(rows, columns=["time", "estimate"])


def numerical_ij_std_err(t: np.ndarray, s: np.ndarray, cause: int, eps: float = 1e-6) -> np.ndarray:
    """sqrt(sum_i (dF/dw_i)^2), each derivative by central differences."""
    influence = []
    for i in range(t.size):
        up, down = np.ones(t.size), np.ones(t.size)
        up[i] += eps
        down[i] -= eps
        diff = naive_aj(t, s, cause, up)["estimate"] - naive_aj(t, s, cause, down)["estimate"]
        influence.append(diff.to_numpy() / (2 * eps))
    return np.sqrt((np.array(influence) ** 2).sum(axis=0))


competing_data = st.integers(1, 30).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 10), min_size=n, max_size=n),  # many ties, day-0 events
        st.lists(st.integers(0, 3), min_size=n, max_size=n),
    )
)


@settings(max_examples=80, deadline=None)
@given(competing_data, st.integers(1, 3))
def test_estimate_equals_naive_definition(data: tuple, cause: int) -> None:
    t, s = np.array(data[0], float), np.array(data[1])
    table = cumulative_incidence(t, s, cause=cause).table_
    observed = table[table["time"].isin(t)].reset_index(drop=True)
    pd.testing.assert_frame_equal(observed[["time", "estimate"]], naive_aj(t, s, cause), atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(competing_data)
def test_std_err_equals_numerical_infinitesimal_jackknife(data: tuple) -> None:
    t, s = np.array(data[0], float), np.array(data[1])
    table = cumulative_incidence(t, s, cause=1).table_
    observed = table[table["time"].isin(t)]["std_err"].to_numpy()
    np.testing.assert_allclose(observed, numerical_ij_std_err(t, s, 1), rtol=1e-5, atol=1e-7)


@settings(max_examples=40, deadline=None)
@given(competing_data)
def test_incidences_and_all_cause_survival_add_up_to_one(data: tuple) -> None:
    t, s = np.array(data[0], float), np.array(data[1])
    query = np.unique(t)
    total = KaplanMeier().fit(t, s != 0).at(query)["estimate"].to_numpy()
    for cause in (1, 2, 3):
        total = total + cumulative_incidence(t, s, cause=cause).at(query)["estimate"].to_numpy()
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(competing_data)
def test_without_competing_events_it_is_one_minus_kaplan_meier(data: tuple) -> None:
    t, s = np.array(data[0], float), np.minimum(np.array(data[1]), 1)
    query = np.unique(t)
    km = KaplanMeier().fit(t, s).at(query)
    aj = cumulative_incidence(t, s, cause=1).at(query)
    np.testing.assert_allclose(aj["estimate"], 1 - km["estimate"], atol=1e-12)
    assert (aj["n_risk"] == km["n_risk"]).all()


@settings(max_examples=60, deadline=None)
@given(competing_data, st.sampled_from(["log", "log-log"]))
def test_bounds_contain_the_estimate_and_stay_in_unit_interval(data: tuple, conf_type: str) -> None:
    table = cumulative_incidence(np.array(data[0], float), data[1], conf_type=conf_type).table_
    assert table[["lower", "upper"]].notna().all().all()
    assert ((table["lower"] >= 0) & (table["upper"] <= 1)).all()
    assert (table["lower"] <= table["estimate"] + 1e-12).all()
    assert (table["estimate"] <= table["upper"] + 1e-12).all()


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0.01, 100, allow_nan=False), min_size=2, max_size=40, unique=True),
    st.data(),
)
def test_agrees_with_lifelines_where_lifelines_is_right(times: list, data) -> None:
    """Distinct times and none at 0: lifelines neither jitters nor drops the first event."""
    s = np.array(data.draw(st.lists(st.integers(0, 2), min_size=len(times), max_size=len(times))))
    t = np.array(times)
    ours = cumulative_incidence(t, s, cause=1).table_.set_index("time")["estimate"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = AalenJohansenFitter(calculate_variance=False).fit(t, s, event_of_interest=1)
    theirs = theirs.cumulative_density_.iloc[:, 0]
    np.testing.assert_allclose(theirs.reindex(ours.index).to_numpy(), ours.to_numpy(), atol=1e-12)


# --- edge cases ---------------------------------------------------------------------------------
def test_all_censored_has_zero_incidence_with_zero_width_interval() -> None:
    table = cumulative_incidence([1, 2, 3], [0, 0, 0]).table_
    assert (table[["estimate", "lower", "upper"]] == 0).all().all()


def test_single_subject_with_the_event() -> None:
    got = cumulative_incidence([4], [1]).at([0, 4])
    assert got["estimate"].tolist() == [0, 1]
    assert got["n_risk"].tolist() == [1, 1]


def test_competing_events_are_counted_separately_from_the_cause() -> None:
    row = cumulative_incidence([2, 2, 2, 2, 5], [1, 2, 3, 0, 1], cause=1).table_.set_index("time").loc[2]
    assert (row["n_risk"], row["n_event"], row["n_competing"], row["n_censor"]) == (5, 1, 2, 1)


def test_table_starts_at_time_zero_with_zero_incidence() -> None:
    first = cumulative_incidence([3, 4], [1, 2]).table_.iloc[0]
    assert first[["time", "n_risk", "estimate"]].tolist() == [0, 2, 0]


def test_at_has_the_same_columns_as_kaplan_meier() -> None:
    assert list(cumulative_incidence([1, 2], [1, 2]).at([1])) == list(KaplanMeier().fit([1, 2], [1, 0]).at([1]))


@pytest.mark.parametrize(
    ("durations", "status", "kwargs", "message"),
    [
        ([1, 2], [1], {}, "differ in length"),
        ([1, -2], [1, 0], {}, "negative"),
        ([1, 2], [1, -1], {}, "non-negative|positive integer cause code"),
        ([1, 2], [1, 1.5], {}, "positive integer cause code"),
        ([1, 2], [1, 0], {"cause": 0}, "cause must be a positive integer"),
        ([1, 2], [1, 0], {"conf_type": "plain"}, "conf_type"),
        ([1, 2], [1, 0], {"alpha": 0}, "alpha"),
    ],
)
def test_invalid_input_is_rejected_with_the_remedy(durations, status, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        cumulative_incidence(durations, status, **kwargs)
