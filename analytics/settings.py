"""Endpoint settings: the named parameters of docs/endpoints.md in one typed, immutable object.

Why one frozen dataclass: every number the registry shows or exports depends on these values,
so each output records `settings.to_dict()` next to `DEFINITIONS_VERSION`, and caches key on the
settings object itself (hashable because frozen). Values are checked when the object is built,
so a nonsensical setting (a negative window, an EDSS cut-off of 12) fails loudly at the door
(CLI option, dashboard widget) instead of silently producing empty curves.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

DEFINITIONS_VERSION = "ENDPOINTS.md/2026-11 v1"
"""Identifies the endpoint definitions implemented by `analytics.endpoints`.

Bump it whenever a definition changes (not when a setting changes: settings are recorded
separately), so that two exports with the same version and settings are comparable.
"""

# Upper bounds keep typos (182 entered as 1820) from passing silently; they are generous.
_MAX_DAYS = 3650


class SettingsError(ValueError):
    """A setting has a value the endpoint definitions cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """Parameters of the endpoint definitions, with the defaults of docs/endpoints.md.

    - `confirmation_days`: minimum distance from a worsened (or improved) assessment to the
      assessment that confirms it (182; 84 is the other common choice).
    - `relapse_window_days`: an assessment is relapse-affected when a relapse onset lies
      0 ≤ assessment − onset < this many days before it (30).
    - `delta_cutoff`: baseline EDSS above which the minimum change δ(b) is 0.5 instead of 1.0
      (5.5).
    - `mri_rebaseline_days`: MRI activity counts for NEDA-3 only on scans later than
      day 0 + this many days; the scan near six months is the new baseline (180).
    - `baseline_lookback_days`: when the transplant has no baseline EDSS, the latest visit with
      an EDSS in [day 0 − this, day 0] is used (365).
    - `min_group_size`: groups with fewer patients get no estimates (5): too few to estimate,
      and a disclosure risk.
    """

    confirmation_days: int = 182
    relapse_window_days: int = 30
    delta_cutoff: float = 5.5
    mri_rebaseline_days: int = 180
    baseline_lookback_days: int = 365
    min_group_size: int = 5

    def __post_init__(self) -> None:
        _check_int("confirmation_days", self.confirmation_days, low=1, high=_MAX_DAYS)
        _check_int("relapse_window_days", self.relapse_window_days, low=0, high=_MAX_DAYS)
        _check_int("mri_rebaseline_days", self.mri_rebaseline_days, low=0, high=_MAX_DAYS)
        _check_int("baseline_lookback_days", self.baseline_lookback_days, low=0, high=_MAX_DAYS)
        _check_int("min_group_size", self.min_group_size, low=1, high=1_000_000)
        value = self.delta_cutoff
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SettingsError(f"delta_cutoff must be a number on the EDSS scale (0 to 10), got {value!r}")
        if not 0 <= value <= 10:
            raise SettingsError(f"delta_cutoff must be on the EDSS scale (0 to 10), got {value!r}")
        # Store a float so that 5.5 and 5.5 (int vs float input) compare and hash alike.
        object.__setattr__(self, "delta_cutoff", float(value))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, recorded with every export and estimate."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EndpointSettings:
        """Rebuild settings from `to_dict()` output (e.g. an export's sidecar JSON).

        :raises SettingsError: for a key that is not a setting, naming the valid ones.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SettingsError(f"unknown setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        return cls(**values)

    def describe(self) -> str:
        """One plain-language sentence, for captions and export sidecars."""
        return (
            f"CDW/CDI confirmed after ≥{self.confirmation_days} days, assessments within "
            f"{self.relapse_window_days} days after a relapse onset not used as event or confirmation, "
            f"δ(b) = 1.5 if b = 0, 1.0 if 0 < b ≤ {self.delta_cutoff:g}, 0.5 above; "
            f"baseline EDSS from the transplant record, else the latest visit in the "
            f"{self.baseline_lookback_days} days up to day 0; MRI activity counted after day "
            f"{self.mri_rebaseline_days}; groups under {self.min_group_size} patients not estimated"
        )


def _check_int(name: str, value: Any, *, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(f"{name} must be a whole number of days/patients, got {value!r}")
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
