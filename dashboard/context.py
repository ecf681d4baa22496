"""What every page receives from the app: the acting user, the database, the data version,
the endpoint settings and the sidebar's cohort filters.

Why one object: each page must pass the actor to the analytics and services, and every figure
must say which cohort and settings made it. Building both once in app.py and handing them over
means no page can forget either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from analytics.settings import DEFINITIONS_VERSION, EndpointSettings
from dashboard import data
from registry.security.access import Actor, sees_patient_codes
from registry.security.disclosure import Release, release_for

_KEY = "_msreg_page_context"


@dataclass(frozen=True, slots=True)
class Filters:
    """The sidebar's cohort selection; empty tuples mean "all"."""

    centres: tuple[str, ...] = ()
    phenotypes: tuple[str, ...] = ()
    years: tuple[int, int] | None = None

    def key(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, int] | None]:
        return (self.centres, self.phenotypes, self.years)

    def describe(self) -> str:
        parts = [
            "centres " + (", ".join(self.centres) if self.centres else "all"),
            "phenotype " + (", ".join(self.phenotypes) if self.phenotypes else "all"),
        ]
        if self.years:
            parts.append(f"first transplant {self.years[0]}–{self.years[1]}")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class PageContext:
    actor: Actor
    url: str
    version: str
    settings: EndpointSettings
    filters: Filters

    @property
    def scope(self) -> data.ScopeKey:
        return data.scope_key(self.actor)

    @property
    def settings_key(self) -> tuple[tuple[str, Any], ...]:
        return data.settings_key(self.settings)

    @property
    def sees_patient_codes(self) -> bool:
        return sees_patient_codes(self.actor)

    @property
    def release(self) -> Release:
        """How counts are released to this actor (registry.security.disclosure): every page formats its
        counts through it, with the threshold of the minimum-group-size setting."""
        return release_for(self.actor, max(2, self.settings.min_group_size))

    def endpoints(self) -> pd.DataFrame:
        """All patients the actor may see (no cohort filter)."""
        return data.endpoints(self.url, self.scope, self.version, self.settings_key)

    def cohort(self) -> pd.DataFrame:
        """The patients selected by the sidebar filters."""
        return data.cohort_frame(self.url, self.scope, self.version, self.settings_key, self.filters.key())

    def settings_text(self) -> str:
        s = self.settings
        return (
            f"Settings: CDW confirmed after ≥{s.confirmation_days} days; MRI activity counted after day "
            f"{s.mri_rebaseline_days}; relapse window {s.relapse_window_days} days; δ(b) cut-off "
            f"{s.delta_cutoff:g}; groups under {s.min_group_size} patients not shown. Definitions: {DEFINITIONS_VERSION}."
            + (f" SENSITIVITY ANALYSIS: {s.sensitivity_note()}." if s.sensitivity_note() else "")
        )

    def caption(self, n_patients: int, extra: str = "") -> str:
        """Plain-language cohort and settings, written under every figure."""
        text = f"Cohort: {self.release.text(n_patients)} patients ({self.filters.describe()}). {self.settings_text()}"
        return f"{text} {extra}".strip()


def set_page_context(ctx: PageContext) -> None:
    st.session_state[_KEY] = ctx


def page_context() -> PageContext:
    """The context app.py built for this run.

    :raises RuntimeError: when a page module is run on its own instead of through app.py.
    """
    ctx = st.session_state.get(_KEY)
    if ctx is None:
        raise RuntimeError("dashboard pages run inside dashboard/app.py: start it with `msreg dashboard`")
    return ctx
