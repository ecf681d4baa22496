"""Centre benchmarking: per-centre estimates against R, observed/expected bookkeeping, exact
limits, case-mix adjustment, and a signal rule whose false-alarm rate stays at its level."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analytics.benchmarking import benchmark, centre_sentence, signal_threshold, signal_thresholds, tail_p_value
from analytics.intervals import poisson_ratio_limits

LEVEL = 0.025


def registry(n_per_centre: dict[str, int], *, seed: int = 1, hazard=None, horizon: float = 400.0) -> pd.DataFrame:
    """Synthetic endpoint table: exponential TRM and other-death times, uniform censoring."""
    rng = np.random.default_rng(seed)
    rows = []
    for centre, n in n_per_centre.items():
        age = rng.integers(20, 60, n).astype(float)
        rate = np.full(n, 0.0002) if hazard is None else hazard(centre, age)
        trm = rng.exponential(1 / rate)
        other = rng.exponential(1 / 0.0001, n)
        censor = rng.uniform(50, 2 * horizon, n)
        days = np.floor(np.minimum.reduce([trm, other, censor]))
        status = np.where(days == np.floor(censor), 0, np.where(trm < other, 1, 2))
        rows.append(pd.DataFrame({
            "centre_code": centre, "trm_days": days, "trm_status": status,
            "os_days": days, "os_event": (status > 0).astype(int),
            "age_at_transplant": age, "baseline_edss": rng.choice([2.0, 3.0, 4.5, 6.0], n),
            "phenotype": "RRMS", "conditioning_intensity": "INTERMEDIATE",
        }))
    return pd.concat(rows, ignore_index=True)


def test_the_estimate_is_the_aalen_johansen_incidence_of_r_survival(reference_dir: Path) -> None:
    mgus2 = pd.read_csv(reference_dir / "survival" / "mgus2_competing.csv")
    ref = json.loads((reference_dir / "survival" / "r_values.json").read_text())["mgus2_aalen_johansen"]
    frame = pd.DataFrame({"centre_code": "ONE", "trm_days": mgus2["etime"], "trm_status": mgus2["event"],
                          "age_at_transplant": mgus2["age"], "baseline_edss": np.nan, "phenotype": None,
                          "conditioning_intensity": None})
    for month, expected in zip(ref["months"], ref["cif_pcm"], strict=True):
        result = benchmark(frame, "trm", at=month, adjusted=False, min_group_size=1)  # R reports the tail too
        assert result.table["estimate"].iloc[0] == pytest.approx(expected, abs=1e-8)
        assert result.registry[0] == pytest.approx(expected, abs=1e-8)


@pytest.mark.parametrize("adjusted", [False, True])
@pytest.mark.parametrize("measure", ["trm", "early_mortality"])
def test_expected_numbers_add_up_to_the_observed_over_the_registry(adjusted: bool, measure: str) -> None:
    frame = registry({"A": 300, "B": 200, "C": 150}, hazard=lambda c, age: 0.00005 * np.exp(0.05 * (age - 20)))
    table = benchmark(frame, measure, adjusted=adjusted).table
    assert table["expected"].sum() == pytest.approx(table["events"].sum(), rel=1e-9)


def test_observed_counts_events_up_to_the_horizon_whatever_the_later_follow_up() -> None:
    frame = registry({"A": 100})
    horizon = 200
    table = benchmark(frame, "trm", at=horizon, adjusted=False).table
    assert table["events"].iloc[0] == int(((frame["trm_status"] == 1) & (frame["trm_days"] <= horizon)).sum())


def test_a_centre_whose_patients_are_older_is_not_signalled_once_age_is_allowed_for() -> None:
    def hazard(centre: str, age: np.ndarray) -> np.ndarray:
        older = age + (25 if centre == "OLD" else 0)
        return 0.00003 * np.exp(0.09 * (older - 20))

    frame = registry({"OLD": 150, "B": 400, "C": 400}, seed=4, hazard=hazard)
    frame.loc[frame["centre_code"] == "OLD", "age_at_transplant"] += 25
    crude = benchmark(frame, "trm", adjusted=False).table.set_index("centre_code")
    adjusted = benchmark(frame, "trm", adjusted=True)
    assert adjusted.adjusted
    table = adjusted.table.set_index("centre_code")
    assert crude.loc["OLD", "signal"]
    assert not table.loc["OLD", "signal"]
    assert table.loc["OLD", "o_e"] < crude.loc["OLD", "o_e"]


def test_too_few_events_for_the_case_mix_model_falls_back_to_crude_with_a_note() -> None:
    frame = registry({"A": 30, "B": 30})
    result = benchmark(frame, "trm", adjusted=True)
    assert not result.adjusted
    assert any("crude" in note for note in result.notes)


def test_small_centres_are_listed_without_estimate_or_test() -> None:
    frame = registry({"A": 200, "TINY": 4})
    table = benchmark(frame, "trm", min_group_size=5).table.set_index("centre_code")
    assert not table.loc["TINY", "tested"] and np.isnan(table.loc["TINY", "estimate"]) and not table.loc["TINY", "signal"]
    assert table.loc["A", "tested"]


def test_a_centre_without_events_gets_an_exact_upper_bound_not_a_zero_width_interval() -> None:
    frame = registry({"A": 300, "NONE": 40}, seed=2)
    frame.loc[frame["centre_code"] == "NONE", "trm_status"] = 0
    row = benchmark(frame, "trm", adjusted=False).table.set_index("centre_code").loc["NONE"]
    assert row["estimate"] == 0.0 and row["lower"] == 0.0
    assert row["upper"] > 0.05  # exact one-sided bound from at most 40 patients: >= 1 - 0.025^(1/40)


@pytest.mark.parametrize(
    ("observed", "lower", "upper"),
    [(0, 0.0, 3.6889), (2, 0.24221, 7.22468), (10, 4.79539, 18.39036)],
)
def test_observed_over_expected_has_garwood_exact_limits(observed: int, lower: float, upper: float) -> None:
    # R: poisson.test(observed)$conf.int (stats, exact Garwood limits), with expected 1
    lo, up = poisson_ratio_limits(observed, 1.0)
    assert lo == pytest.approx(lower, abs=1e-4) and up == pytest.approx(upper, abs=1e-4)


def test_the_exact_tail_probability_is_one_sided_poisson() -> None:
    assert tail_p_value(3, 1.2) == pytest.approx(1 - stats.poisson.cdf(2, 1.2))
    assert tail_p_value(0, 1.2) == 1.0
    assert tail_p_value(3, 1.2, mid_p=True) == pytest.approx(1 - stats.poisson.cdf(3, 1.2) + 0.5 * stats.poisson.pmf(3, 1.2))


def test_two_deaths_where_half_a_death_was_expected_is_no_signal() -> None:
    # the review's example: 2 early deaths in 34 patients, exact one-sided p about 0.12
    expected = 34 * 0.0155
    p = tail_p_value(2, expected)
    assert 0.08 < p < 0.15
    assert signal_threshold(expected, LEVEL) > 2


@pytest.mark.parametrize("mid_p", [False, True])
@pytest.mark.parametrize("level", [0.025, 0.001, 0.2])
def test_thresholds_array_wise_equal_the_scalar_rule(mid_p: bool, level: float) -> None:
    rng = np.random.default_rng(7)
    expected = np.concatenate([[0.0, 1e-9, 0.5, 1.0, 2.0, 7.0], rng.uniform(0.01, 3, 60), rng.uniform(3, 2000, 60)])
    got = signal_thresholds(expected, level, mid_p=mid_p)
    assert got.tolist() == [signal_threshold(float(e), level, mid_p=mid_p) for e in expected]


@pytest.mark.parametrize("n", [10, 20, 34, 50, 75, 100, 150, 200, 300])
@pytest.mark.parametrize("risk", [0.005, 0.01, 0.02, 0.05, 0.1, 0.2])
def test_the_false_alarm_rate_is_at_most_the_level_for_binomial_centres(n: int, risk: float) -> None:
    """Exact: a centre of n patients followed to the horizon, each with the registry's risk,
    has Binomial(n, risk) events; the rule flags at least the threshold count."""
    k = signal_threshold(n * risk, LEVEL)
    assert stats.binom.sf(k - 1, n, risk) <= LEVEL
    assert stats.poisson.sf(k - 1, n * risk) <= LEVEL


def test_the_false_alarm_rate_is_at_most_the_level_with_censored_follow_up() -> None:
    """Bounded simulation: every centre has the registry's hazard, follow-up is censored; the
    share of centre-tests that signal stays within sampling error of at most the level."""
    sizes = {f"C{n}": n for n in (10, 25, 50, 100, 150, 200, 300)}
    signals = tests = 0
    for seed in range(60):
        table = benchmark(registry(sizes, seed=100 + seed, hazard=lambda c, a: np.full(a.size, 0.0004)), "trm",
                          adjusted=False).table
        signals += int(table["signal"].sum())
        tests += int(table["tested"].sum())
    rate = signals / tests
    assert rate <= LEVEL + 3 * np.sqrt(LEVEL * (1 - LEVEL) / tests)


def test_the_expected_number_of_false_signals_is_the_sum_of_each_centres_size() -> None:
    frame = registry({"A": 100, "B": 200, "C": 300})
    result = benchmark(frame, "trm", adjusted=False)
    manual = sum(stats.poisson.sf(signal_threshold(e, LEVEL) - 1, e) for e in result.table["expected"])
    assert result.expected_false_signals == pytest.approx(manual)
    assert result.expected_false_signals <= LEVEL * result.n_tested


def test_overdispersion_is_detected_when_centres_truly_differ() -> None:
    rates = {"A": 0.0001, "B": 0.0001, "C": 0.002, "D": 0.0001, "E": 0.003}
    frame = registry({c: 300 for c in rates}, hazard=lambda c, a: np.full(a.size, rates[c]))
    assert benchmark(frame, "trm", adjusted=False).overdispersion["p_value"] < 0.01
    same = registry({c: 300 for c in rates}, seed=9)
    assert benchmark(same, "trm", adjusted=False).overdispersion["p_value"] > 0.001


def test_each_centre_gets_a_sentence_saying_what_a_signal_means_and_what_it_does_not() -> None:
    frame = registry({"A": 300, "B": 300}, hazard=lambda c, a: np.full(a.size, 0.003 if c == "A" else 0.0002))
    result = benchmark(frame, "trm", adjusted=False)
    rows = result.table.set_index("centre_code")
    assert rows.loc["A", "signal"] and not rows.loc["B", "signal"]
    signal = centre_sentence(result.table.iloc[0], result)
    quiet = centre_sentence(result.table.iloc[1], result, events_text="<5")
    assert "signal" in signal and "not proof" in signal
    assert "does not show" in quiet and "<5" in quiet


@pytest.mark.parametrize(("kwargs", "message"), [({"at": 0}, "positive"), ({"level": 0.7}, "between 0 and 0.5")])
def test_invalid_benchmark_settings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        benchmark(registry({"A": 20}), "trm", **kwargs)


def test_a_centre_with_fewer_than_five_followed_to_the_horizon_has_no_estimate_but_is_tested() -> None:
    frame = registry({"A": 300, "YOUNG": 30}, seed=3)
    young = frame["centre_code"] == "YOUNG"
    frame.loc[young, "trm_days"] = np.minimum(frame.loc[young, "trm_days"], 200)
    frame.loc[young & (frame["trm_days"] == 200), "trm_status"] = 0
    frame.loc[frame.index[young][:4], ["trm_days", "trm_status"]] = [400, 0]
    row = benchmark(frame, "trm", at=365, adjusted=False).table.set_index("centre_code").loc["YOUNG"]
    assert np.isnan(row["estimate"]) and row["tested"] and row["expected"] > 0
