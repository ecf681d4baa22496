"""Endpoint settings: docs/endpoints.md defaults, validation with errors that name the setting."""

from __future__ import annotations

import dataclasses

import pytest

from analytics.settings import DEFINITIONS_VERSION, EndpointSettings, SettingsError


def test_defaults_are_those_of_endpoints_md() -> None:
    assert EndpointSettings().to_dict() == {
        "confirmation_days": 182,
        "relapse_window_days": 30,
        "delta_cutoff": 5.5,
        "mri_rebaseline_days": 180,
        "baseline_lookback_days": 365,
        "min_group_size": 5,
        "unknown_death_trm_days": None,
        "pfs_neda_censoring": "endpoints",
        "sex_unknown_as_missing": True,
    }


def test_defaults_are_not_a_sensitivity_analysis() -> None:
    assert EndpointSettings().sensitivity_note() == ""
    assert "sensitivity" not in EndpointSettings().describe()


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"unknown_death_trm_days": 100}, "unknown cause within 100 days"),
        ({"pfs_neda_censoring": "last_assessment"}, "censored at the last assessment"),
        ({"pfs_neda_censoring": "last_contact"}, "censored at last contact"),
        ({"sex_unknown_as_missing": False}, "sex U kept as a level"),
    ],
)
def test_a_sensitivity_setting_is_stamped_on_the_description(changes: dict, words: str) -> None:
    settings = EndpointSettings(**changes)
    assert words in settings.sensitivity_note()
    assert "sensitivity analysis" in settings.describe()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("unknown_death_trm_days", -1, "between 0"),
        ("pfs_neda_censoring", "sometimes", "must be one of"),
        ("sex_unknown_as_missing", "yes", "true or false"),
    ],
)
def test_invalid_sensitivity_settings_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        EndpointSettings(**{field: value})


def test_definitions_version_is_a_non_empty_string() -> None:
    assert isinstance(DEFINITIONS_VERSION, str) and DEFINITIONS_VERSION.strip()


def test_settings_are_immutable_and_hashable() -> None:
    s = EndpointSettings(confirmation_days=84)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.confirmation_days = 182  # type: ignore[misc]
    assert {s: 1}[EndpointSettings(confirmation_days=84)] == 1


def test_integer_cutoff_equals_float_cutoff() -> None:
    assert EndpointSettings(delta_cutoff=5) == EndpointSettings(delta_cutoff=5.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("confirmation_days", 0),
        ("confirmation_days", -84),
        ("confirmation_days", 18200),
        ("confirmation_days", 182.5),
        ("confirmation_days", True),
        ("relapse_window_days", -1),
        ("mri_rebaseline_days", -1),
        ("baseline_lookback_days", -1),
        ("min_group_size", 0),
        ("delta_cutoff", -0.5),
        ("delta_cutoff", 10.5),
        ("delta_cutoff", float("nan")),
        ("delta_cutoff", "5.5"),
    ],
)
def test_invalid_values_are_refused_naming_the_setting(field: str, value: object) -> None:
    with pytest.raises(SettingsError, match=field):
        EndpointSettings(**{field: value})


def test_round_trip_through_dict() -> None:
    s = EndpointSettings(confirmation_days=84, delta_cutoff=4.5, min_group_size=10)
    assert EndpointSettings.from_dict(s.to_dict()) == s


def test_unknown_key_lists_valid_settings() -> None:
    with pytest.raises(SettingsError, match="confirmation_days"):
        EndpointSettings.from_dict({"confirm_days": 84})


def test_description_mentions_the_values() -> None:
    text = EndpointSettings(confirmation_days=84).describe()
    assert "84" in text and "5.5" in text
