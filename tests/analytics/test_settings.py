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
    }


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
