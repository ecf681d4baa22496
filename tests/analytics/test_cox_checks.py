"""The profile Cox model's checks: sex U, sparse levels, convergence, clustering, PH warning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.cox_checks import MODEL_COLUMNS, profile_model
from analytics.settings import EndpointSettings


def endpoints(n: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    edss = rng.choice([2.0, 3.0, 4.0, 5.5, 6.5], n)
    rate = 0.001 * np.exp(0.2 * (edss - 3))
    t = rng.exponential(1 / rate)
    c = rng.uniform(200, 3000, n)
    other = rng.exponential(1 / 0.0002, n)
    days = np.floor(np.minimum.reduce([t, c, other]))
    status = np.where(days == np.floor(c), 0, np.where(t < other, 1, 2))
    return pd.DataFrame({
        "centre_code": rng.choice(["A", "B", "C", "D"], n),
        "age_at_transplant": rng.integers(22, 50, n),
        "sex": rng.choice(["F", "M"], n),
        "phenotype": rng.choice(["RRMS", "SPMS"], n, p=[0.7, 0.3]),
        "baseline_edss": edss,
        "disease_duration_years": rng.uniform(1, 20, n),
        "relapses_12m": rng.integers(0, 4, n),
        "conditioning_intensity": rng.choice(["INTERMEDIATE", "HIGH"], n),
        "rfs_days": days, "rfs_event": (status > 0).astype(int),
        "trm_days": days, "trm_status": status,
    })


def test_the_model_table_has_hazard_ratios_and_the_ph_test_per_term_and_global() -> None:
    model = profile_model(endpoints(), "rfs")
    assert list(model.table.columns) == MODEL_COLUMNS
    assert model.table["term"].iloc[-1] == "GLOBAL"
    assert model.table.loc[model.table["term"] == "baseline_edss", "hr"].iloc[0] > 1
    assert model.converged


def test_sex_u_is_missing_by_default_and_a_level_when_asked() -> None:
    frame = endpoints()
    frame.loc[0, "sex"] = "U"
    default = profile_model(frame, "rfs")
    assert not default.table["term"].str.contains(r"sex\[U\]").any()
    assert any("sex U" in note for note in default.notes)
    kept = profile_model(frame, "rfs", EndpointSettings(sex_unknown_as_missing=False))
    # one patient is fewer than the minimum group size: the level is dropped with a note, never "0.00 (0.00–inf)"
    assert not kept.table["term"].str.contains(r"sex\[U\]").any()
    assert any("sex U: 1 patient(s)" in note for note in kept.notes)


def test_an_ordered_level_without_events_is_merged_into_its_neighbour() -> None:
    frame = endpoints()
    frame.loc[:30, "age_at_transplant"] = 55  # 50+ band
    frame.loc[:30, "rfs_event"] = 0
    model = profile_model(frame, "rfs")
    assert not model.table["term"].str.contains(r"age_band\[50\+\]").any()
    assert any("age_band 50+" in note and "merged into 40-49" in note for note in model.notes)


def test_a_nominal_level_without_events_is_dropped_with_a_note() -> None:
    frame = endpoints()
    frame.loc[:20, "phenotype"] = "PPMS"
    frame.loc[:20, "rfs_event"] = 0
    model = profile_model(frame, "rfs")
    assert not model.table["term"].str.contains("PPMS").any()
    assert any("phenotype PPMS" in note and "left out" in note for note in model.notes)


def test_clustered_standard_errors_change_the_intervals_not_the_ratios() -> None:
    frame = endpoints()
    plain = profile_model(frame, "rfs").table.set_index("term")
    robust = profile_model(frame, "rfs", cluster_by_centre=True)
    table = robust.table.set_index("term")
    np.testing.assert_allclose(table["hr"].dropna(), plain["hr"].dropna(), rtol=1e-8)
    assert not np.allclose(table["upper"].dropna(), plain["upper"].dropna())
    assert any("clustering by centre" in note for note in robust.notes)


def test_trm_reports_the_cause_specific_and_the_fine_gray_model() -> None:
    model = profile_model(endpoints(800), "trm")
    assert set(model.table["model"]) == {"cause-specific Cox", "Fine–Gray"}


def test_a_ph_violation_gets_a_plain_warning() -> None:
    frame = endpoints(1000, seed=5)
    # SPMS: a high hazard in the first 100 days only
    spms = frame["phenotype"] == "SPMS"
    early = np.random.default_rng(2).exponential(60, spms.sum())
    frame.loc[spms, "rfs_days"] = np.where(early < 100, np.floor(early), frame.loc[spms, "rfs_days"] + 100)
    frame.loc[spms, "rfs_event"] = np.where(early < 100, 1, frame.loc[spms, "rfs_event"])
    model = profile_model(frame, "rfs")
    assert "phenotype" in model.ph_warning and "single hazard ratio" in model.ph_warning


def test_separation_is_reported_to_the_user() -> None:
    frame = endpoints(300)
    # every HIGH-intensity patient has the event at once: the likelihood has no maximum
    high = frame["conditioning_intensity"] == "HIGH"
    frame.loc[high, "rfs_event"] = 1
    frame.loc[high, "rfs_days"] = 1.0
    frame.loc[~high, "rfs_event"] = frame.loc[~high, "rfs_event"] * 0
    frame.loc[~high, "rfs_days"] = 500.0
    frame.loc[frame.index[:3], "rfs_event"] = 1  # a few events elsewhere
    model = profile_model(frame, "rfs")
    assert not model.converged and any(note.startswith("convergence") for note in model.notes)
