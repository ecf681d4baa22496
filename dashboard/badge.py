"""The "synthetic demo data" badge: on the login form and at the top of every page.

Why: the demo's centre codes and patients look real. A registry built by `msreg demo` says so in
the registry itself (registry.synthetic), and the dashboard shows it wherever someone could take
a number for a real one, including screenshots of a single page.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from registry.synthetic import BADGE_TEXT

BADGE_HELP = "This registry was built by `msreg demo`: every centre, patient and outcome is invented."


@st.cache_data(ttl=dt.timedelta(seconds=30), max_entries=4, show_spinner=False)
def is_synthetic(url: str) -> bool:
    """The registry's own `synthetic` marker, re-read at most every 30 s (a cheap query)."""
    from dashboard.data import reader_for
    from registry.synthetic import is_synthetic as _is_synthetic

    return _is_synthetic(reader_for(url))


def synthetic_badge(url: str) -> None:
    """Show the badge (main area and sidebar) when the registry is a synthetic demo."""
    if not is_synthetic(url):
        return
    st.badge(BADGE_TEXT, icon=":material/science:", color="orange", help=BADGE_HELP)
    st.sidebar.badge(BADGE_TEXT, icon=":material/science:", color="orange")
