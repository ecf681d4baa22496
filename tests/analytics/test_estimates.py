"""Survival estimates from endpoint tables: hand-computed values, R's values, suppression, grouping."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.estimates import (
    ESTIMATE_COLUMNS,
    EstimateError,
    PRINTED_COLUMNS,
    compare_groups,
    cox_profile,
    drawn_part,
    early_mortality,
    enough_at_risk,
    printed_estimates,
    survival_curves,
    survival_estimates,
)
from analytics.endpoints import derive_endpoints
from tests.analytics.endpoint_cohort import Cohort


def table(rows: list[dict]) -> pd.DataFrame:
    """An endpoint table with only the columns a test needs (others default)."""
    df = pd.DataFrame(rows)
    for col in ("os_days", "os_event", "pfs_days", "pfs_event", "trm_days", "trm_status"):
        if col in df:
            df[col] = df[col].astype("Int64")
    return df


def os_rows(spec: list[tuple[int, int]], **extra) -> list[dict]:
    return [dict(os_days=t, os_event=e, **extra) for t, e in spec]


def test_kaplan_meier_by_hand() -> None:
    df = table(os_rows([(100, 1), (200, 1), (800, 0), (800, 0), (900, 0)]))
    est = survival_estimates(df, "os", at=(365,), min_at_risk=1)
    row = est.iloc[0]
    assert list(est.columns) == list(ESTIMATE_COLUMNS)
    assert (row["endpoint"], row["group"], row["time"], row["n_risk"]) == ("os", "all", 365, 3)
    assert row["estimate"] == pytest.approx(4 / 5 * 3 / 4)
    assert row["lower"] < row["estimate"] < row["upper"]
    assert not row["suppressed"]


R_COLUMNS = ("n_risk", "n_event", "n_censor", "estimate", "std_err", "lower", "upper")


def _r(reference_dir: Path, *keys: str) -> dict:
    value = json.loads((reference_dir / "survival" / "r_values.json").read_text())
    for key in keys:
        value = value[key]
    return value


@pytest.mark.parametrize("group", ["all", "1", "2"])
def test_kaplan_meier_table_is_rs_summary_at_the_times(reference_dir: Path, group: str) -> None:
    """`summary(survfit(Surv(time, status) ~ sex, lung, conf.type = "log-log"), times = ...)`:
    counts since the previous time, Greenwood's standard error of S(t), the log-log bounds."""
    from lifelines.datasets import load_lung

    lung = load_lung()
    ref = _r(reference_dir, "lung", "km_summary_at_times")
    df = table([dict(os_days=int(t), os_event=int(e), sex=str(int(x))) for t, e, x in lung[["time", "status", "sex"]].to_numpy()])
    est = survival_estimates(df, "os", by=None if group == "all" else "sex", at=ref["times"])
    est = est[est["group"] == group]
    assert est["time"].tolist() == ref["times"]
    for column in R_COLUMNS:
        expected = ref[group][column]
        if column.startswith("n_"):
            assert est[column].astype(int).tolist() == expected, column
        else:
            # n_risk 6-13 at day 730 is shown (>= 5); R to 1e-8
            assert est[column].astype(float).tolist() == pytest.approx(expected, abs=1e-8), column


def test_cumulative_incidence_table_is_rs_summary_at_the_times(reference_dir: Path) -> None:
    """mgus2, PCM with death competing: R's n.event of the cause, n.censor, and the std.err of
    the incidence (infinitesimal jackknife); at 360 months 3 are at risk: no estimate (the rule)."""
    ref = _r(reference_dir, "mgus2_aalen_johansen")
    data = pd.read_csv(reference_dir / "survival" / "mgus2_competing.csv")
    df = table([dict(trm_days=int(t), trm_status=int(e)) for t, e in data[["etime", "event"]].to_numpy()])
    est = survival_estimates(df, "trm", at=ref["months"])
    summary = ref["summary_pcm"]
    for column in ("n_risk", "n_event", "n_censor"):
        assert est[column].astype(int).tolist() == summary[column], column
    shown = est["n_risk"].astype(int).to_numpy() >= 5
    assert shown.tolist() == [True, True, True, True, False]
    for column, expected in (("estimate", ref["cif_pcm"]), ("std_err", summary["std_err"]),
                             ("lower", summary["lower"]), ("upper", summary["upper"])):
        assert est.loc[shown, column].tolist() == pytest.approx(list(np.array(expected)[shown]), abs=1e-8), column
        assert est.loc[~shown, column].isna().all(), column


def test_counts_are_since_the_previous_time_asked_in_any_order() -> None:
    df = table(os_rows([(100, 1), (150, 0), (200, 1), (400, 1), (500, 0), (800, 0), (900, 0)]))
    est = survival_estimates(df, "os", at=(365, 0, 730), min_at_risk=1)
    assert est["n_event"].tolist() == [2, 0, 1] and est["n_censor"].tolist() == [1, 0, 1]


def test_printed_estimates_are_labelled_in_days_and_rounded_to_4_decimals() -> None:
    df = table(os_rows([(100, 1), (200, 1), (800, 0), (800, 0), (900, 0), (950, 0)]))
    printed = printed_estimates(survival_estimates(df, "os", at=(365,), min_at_risk=1))
    assert tuple(printed.columns) == PRINTED_COLUMNS and printed["days"].tolist() == [365]
    row = printed.iloc[0]
    assert row["estimate"] == round(4 / 6, 4) == 0.6667
    assert row["std_err"] == round(4 / 6 * math.sqrt(1 / (6 * 5) + 1 / (5 * 4)), 4)  # Greenwood, of S


def test_the_minimum_at_risk_rule_is_the_figures_and_the_tables() -> None:
    """One rule: the rows a figure draws are those where an estimate is given."""
    df = table(os_rows([(10 * i, i % 3 == 0) for i in range(1, 30)]))
    curve = survival_curves(df, "os")
    drawn = drawn_part(curve, 5)
    assert drawn["n_risk"].min() >= 5 and (curve["n_risk"] < 5).any()
    est = survival_estimates(df, "os", at=curve["time"].tolist())
    assert (est["estimate"].notna() == enough_at_risk(est["n_risk"], 5)).all()
    assert est.loc[est["estimate"].notna(), "time"].max() == drawn["time"].max()


def test_trm_is_cumulative_incidence_not_one_minus_km() -> None:
    # A competing death at 50, a transplant-related death at 60: CIF = 4/5 x 1/4 = 0.2,
    # whereas 1 - KM (competing death censored) would say 0.25.
    df = table([dict(trm_days=50, trm_status=2), dict(trm_days=60, trm_status=1)]
               + [dict(trm_days=800, trm_status=0)] * 3)
    est = survival_estimates(df, "trm", at=(365,), min_at_risk=1)
    assert est["estimate"].iloc[0] == pytest.approx(0.2)


def test_day_0_transplant_death_counts_at_time_0() -> None:
    df = table([dict(trm_days=0, trm_status=1)] + [dict(trm_days=500, trm_status=0)] * 4)
    est = survival_estimates(df, "trm", at=(0, 100), min_at_risk=1)
    assert list(est["estimate"]) == pytest.approx([0.2, 0.2])


@pytest.mark.parametrize(("size", "suppressed"), [(4, True), (5, False)])
def test_groups_below_min_size_are_suppressed(size: int, suppressed: bool) -> None:
    df = table(os_rows([(300, 0)] * 10, centre_code="BIG") + os_rows([(300, 0)] * size, centre_code="SMALL"))
    est = survival_estimates(df, "os", by="centre_code", at=(100, 200))
    small = est[est["group"] == "SMALL"]
    assert len(small) == 2 and small["suppressed"].all() == suppressed
    if suppressed:
        assert small["estimate"].isna().all() and small["n_risk"].isna().all()
    else:
        assert (small["estimate"] == 1.0).all()


def test_min_group_size_is_a_parameter() -> None:
    df = table(os_rows([(300, 0)] * 6))
    assert survival_estimates(df, "os", at=(100,), min_group_size=7)["suppressed"].all()


def test_undefined_endpoint_values_are_left_out() -> None:
    df = table([dict(pfs_days=100, pfs_event=1)] + [dict(pfs_days=900, pfs_event=0)] * 4
               + [dict(pfs_days=None, pfs_event=None)] * 5)
    est = survival_estimates(df, "pfs", at=(365,), min_at_risk=1)
    assert est["n_risk"].iloc[0] == 4 and est["estimate"].iloc[0] == pytest.approx(0.8)


def test_no_estimate_past_the_longest_follow_up() -> None:
    df = table(os_rows([(100, 1), (300, 0), (300, 0), (400, 0), (500, 0)]))
    est = survival_estimates(df, "os", at=(365, 730), min_at_risk=1)
    assert est["n_risk"].tolist() == [2, 0]
    assert not math.isnan(est["estimate"].iloc[0]) and math.isnan(est["estimate"].iloc[1])


@pytest.mark.parametrize(("at_risk", "shown"), [(4, False), (5, True)])
def test_no_estimate_where_fewer_than_five_are_at_risk_as_the_curves_stop(at_risk: int, shown: bool) -> None:
    df = table(os_rows([(100, 1)] * 3 + [(200, 0)] * 3 + [(900, 0)] * at_risk))
    est = survival_estimates(df, "os", at=(365,))
    assert est["n_risk"].iloc[0] == at_risk
    assert math.isnan(est["estimate"].iloc[0]) is not shown


@pytest.mark.parametrize("n", [5, 28, 82])
def test_survival_of_one_gets_an_exact_lower_bound_not_a_zero_width_interval(n: int) -> None:
    df = table(os_rows([(900, 0)] * n))
    row = survival_estimates(df, "os", at=(365,)).iloc[0]
    assert row["estimate"] == 1.0 and row["upper"] == 1.0
    assert row["lower"] == pytest.approx(0.025 ** (1 / n))  # exact one-sided 97.5% bound
    assert row["lower"] < 1.0


def test_incidence_of_zero_gets_an_exact_upper_bound() -> None:
    df = table([dict(trm_days=50, trm_status=2)] + [dict(trm_days=900, trm_status=0)] * 27)
    row = survival_estimates(df, "trm", at=(365,)).iloc[0]
    assert row["estimate"] == 0.0 and row["lower"] == 0.0
    assert row["upper"] == pytest.approx(1 - 0.025 ** (1 / 28))  # 27 at risk + 1 known not to have had TRM


def test_estimate_known_past_follow_up_when_everyone_had_the_event() -> None:
    df = table(os_rows([(10, 1), (20, 1), (30, 1), (40, 1), (50, 1)]))
    assert survival_estimates(df, "os", at=(365,))["estimate"].iloc[0] == 0.0


def test_numeric_covariates_are_banded_and_missing_is_a_group() -> None:
    ages = [25, 29, 31, 35, 39, 45, 52, 60, None]
    df = table([dict(os_days=100, os_event=0, age_at_transplant=a) for a in ages])
    df["age_at_transplant"] = df["age_at_transplant"].astype("Int64")
    est = survival_estimates(df, "os", by="age_at_transplant", at=(50,), min_group_size=1)
    assert est["group"].tolist() == ["<30", "30-39", "40-49", "50+", "missing"]


def test_categorical_covariate_groups_by_value_in_order() -> None:
    df = table(os_rows([(100, 0)] * 2, sex="M") + os_rows([(100, 0)] * 2, sex="F"))
    assert survival_estimates(df, "os", by="sex", at=(50,), min_group_size=1)["group"].tolist() == ["F", "M"]


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(endpoint="dfs"), "unknown endpoint 'dfs'; valid: os, rfs, pfs, cdi, neda, trm"),
    (dict(endpoint="os", by="patient_code"), "valid columns"),
    (dict(endpoint="os", by="study_id"), "valid columns"),
    (dict(endpoint="os", at=(-1,)), "days >= 0"),
])
def test_invalid_requests_name_the_valid_values(kwargs: dict, message: str) -> None:
    df = table(os_rows([(100, 0)] * 5))
    with pytest.raises(EstimateError, match=message.replace("(", r"\(")):
        survival_estimates(df, **kwargs)


def test_error_lists_every_groupable_column() -> None:
    with pytest.raises(EstimateError) as info:
        survival_estimates(table(os_rows([(1, 0)])), "os", by="nope")
    for col in ("centre_code", "sex", "conditioning_intensity", "baseline_edss"):
        assert col in str(info.value)


def test_curves_are_whole_step_functions_for_shown_groups() -> None:
    df = table(os_rows([(100, 1), (200, 0), (300, 1), (400, 0), (500, 0)], centre_code="A")
               + os_rows([(100, 1)] * 3, centre_code="B"))
    curves = survival_curves(df, "os", by="centre_code")
    assert set(curves["group"]) == {"A"}
    assert curves["time"].tolist() == [0, 100, 200, 300, 400, 500]
    assert curves["estimate"].iloc[-1] == pytest.approx(0.8 * 2 / 3)


def test_log_rank_compares_shown_groups_only() -> None:
    df = table(os_rows([(100, 1)] * 5, sex="M") + os_rows([(900, 0)] * 5, sex="F") + os_rows([(5, 1)] * 2, sex="U"))
    result = compare_groups(df, "os", "sex")
    assert result is not None and result.df == 1 and result.p < 0.01
    assert set(result.groups["group"]) == {"F", "M"}


def test_log_rank_needs_two_groups() -> None:
    df = table(os_rows([(100, 1)] * 5, sex="M") + os_rows([(900, 0)] * 2, sex="F"))
    assert compare_groups(df, "os", "sex") is None


def test_early_mortality_counts_deaths_up_to_day_100() -> None:
    df = table(os_rows([(0, 1), (100, 1), (101, 1), (50, 0), (400, 0)], centre_code="A"))
    out = early_mortality(df)
    assert out.to_dict("records") == [dict(group="all", patients=5, deaths=2, proportion=0.4)]


def test_estimates_from_derived_endpoints() -> None:
    cohort = Cohort()
    for i in range(6):
        cohort.add(f"P{i}", death=(200, "TRANSPLANT_RELATED") if i == 0 else None, last_contact_days=800)
    est = survival_estimates(derive_endpoints(cohort.snapshot()), "trm", at=(100, 365))
    assert est["estimate"].tolist() == pytest.approx([0.0, 1 / 6])
    assert np.all(est["n_risk"].to_numpy() == [6, 5])


def profile_cohort(n: int = 300, seed: int = 7) -> pd.DataFrame:
    """Patients whose hazard of the event doubles per EDSS point and is equal across sexes."""
    rng = np.random.default_rng(seed)
    edss = rng.choice([2.0, 3.0, 4.0, 5.0, 6.0], size=n)
    time = rng.exponential(1000 / np.exp(np.log(2) * (edss - 4)))
    censor = rng.uniform(200, 3000, size=n)
    return pd.DataFrame({
        "os_days": np.minimum(time, censor).round().astype(int),
        "os_event": (time <= censor).astype(int),
        "age_at_transplant": rng.integers(20, 60, size=n),
        "sex": rng.choice(["F", "F", "M"], size=n),
        "phenotype": rng.choice(["RRMS", "RRMS", "SPMS"], size=n),
        "baseline_edss": edss,
        "disease_duration_years": rng.uniform(1, 20, size=n).round(1),
        "relapses_12m": rng.integers(0, 4, size=n),
        "conditioning_intensity": "INTERMEDIATE",
    })


def test_cox_profile_recovers_the_edss_effect_and_uses_common_references() -> None:
    result = cox_profile(profile_cohort(), "os")
    table = result.table.set_index("term")
    assert table.loc["baseline_edss", "hr"] == pytest.approx(2.0, rel=0.25)
    assert table.loc["baseline_edss", "p"] < 0.001
    assert result.reference_levels["sex"] == "F" and result.reference_levels["phenotype"] == "RRMS"
    assert "sex[M]" in table.index and any(t.startswith("age_band[") for t in table.index)


def test_cox_profile_leaves_out_covariates_that_do_not_vary() -> None:
    result = cox_profile(profile_cohort(), "os")
    assert not any(t.startswith("conditioning_intensity") for t in result.table["term"])


def test_cox_profile_drops_patients_with_missing_covariates() -> None:
    df = profile_cohort()
    df.loc[:9, "disease_duration_years"] = np.nan
    assert cox_profile(df, "os").n == len(df) - 10


def test_cox_profile_for_trm_models_transplant_related_deaths_only() -> None:
    df = profile_cohort().rename(columns={"os_days": "trm_days"})
    df["trm_status"] = np.where(df.pop("os_event") == 1, np.where(np.arange(len(df)) % 2 == 0, 1, 2), 0)
    result = cox_profile(df, "trm", covariates=("baseline_edss",))
    assert result.n_events == int((df["trm_status"] == 1).sum())


def test_cox_profile_without_events_is_an_error() -> None:
    df = profile_cohort().assign(os_event=0)
    with pytest.raises(EstimateError, match="no os event"):
        cox_profile(df, "os")
