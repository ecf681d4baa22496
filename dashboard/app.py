"""The dashboard's entry point: who is acting, the shared sidebar, and the page navigation.

Run with `msreg dashboard` (which sets $MSREG_DATABASE_URL and starts Streamlit in this folder).

Order of a run, and why:
1. The acting user (login) comes first: nothing is read before we know whose scope applies.
2. Endpoint settings come before data, because the endpoint table depends on them; cohort
   filters come after, because their options (centres, years) come from the data.
3. An empty registry (for this user) gets the start page, plus data entry for users who may
   upload a bundle, instead of pages that would fail on no data.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from analytics.settings import EndpointSettings
from dashboard import data
from dashboard.badge import synthetic_badge
from dashboard.context import Filters, PageContext, set_page_context
from dashboard.login import require_actor
from registry.security.access import Actor

HERE = Path(__file__).resolve().parent
PAGES = HERE / "app_pages"
CONFIRMATION_CHOICES = (182, 84)
MRI_REBASELINE_CHOICES = (0, 90, 120, 180, 270, 365)


def settings_sidebar() -> EndpointSettings:
    st.sidebar.subheader("Endpoint settings")
    confirmation = st.sidebar.radio(
        "CDW confirmation (days)", CONFIRMATION_CHOICES, key="s_confirmation", horizontal=True,
        help="Minimum time from a worsened EDSS to the assessment that confirms it (6 or 3 months).",
    )
    rebaseline = st.sidebar.select_slider(
        "MRI re-baseline (day)", MRI_REBASELINE_CHOICES, value=180, key="s_mri_rebaseline",
        help="MRI activity counts for NEDA-3 only on scans after this day (the new MRI baseline).",
    )
    return EndpointSettings(confirmation_days=int(confirmation), mri_rebaseline_days=int(rebaseline),
                            **sensitivity_sidebar())


CENSORING_LABELS = {
    "endpoints": "as defined (PFS: last assessment; NEDA-3: last contact)",
    "last_assessment": "both at the last assessment",
    "last_contact": "both at last contact",
}


def sensitivity_sidebar() -> dict[str, object]:
    """Sensitivity settings (EndpointSettings): off by default; every caption says when one is on."""
    with st.sidebar.expander("Sensitivity analyses"):
        unknown = st.checkbox("Count UNKNOWN deaths as transplant-related", key="s_unknown_trm",
                              help="Deaths of unknown cause within the days below count as TRM instead of competing.")
        days = st.number_input("… within (days)", min_value=0, max_value=3650, value=100, step=10, key="s_unknown_days",
                               disabled=not unknown)
        censoring = st.radio("PFS and NEDA-3 censoring", list(CENSORING_LABELS), format_func=CENSORING_LABELS.get,
                             key="s_pfs_neda_censoring")
        sex_missing = st.checkbox("Sex U treated as missing in models", value=True, key="s_sex_u_missing")
    return {"unknown_death_trm_days": int(days) if unknown else None, "pfs_neda_censoring": str(censoring),
            "sex_unknown_as_missing": bool(sex_missing)}


def filters_sidebar(url: str, actor: Actor, version: str, settings: EndpointSettings) -> Filters:
    df = data.endpoints(url, data.scope_key(actor), version, data.settings_key(settings))
    st.sidebar.subheader("Cohort")
    centre_options = sorted(df["centre_code"].dropna().unique().tolist())
    centres = ()
    if len(centre_options) > 1:
        centres = tuple(st.sidebar.multiselect("Centres", centre_options, key="f_centres", placeholder="All centres"))
    phenotypes = tuple(st.sidebar.multiselect("Phenotype", ["RRMS", "SPMS", "PPMS"], key="f_phenotypes",
                                              placeholder="All phenotypes"))
    years = None
    y = df["transplant_year"].dropna()
    if len(y) and y.min() < y.max():
        lo, hi = int(y.min()), int(y.max())
        chosen = st.sidebar.slider("First transplant year", lo, hi, (lo, hi), key="f_years")
        years = None if chosen == (lo, hi) else (int(chosen[0]), int(chosen[1]))
    return Filters(centres=centres, phenotypes=phenotypes, years=years)


def page(name: str, title: str, icon: str, *, default: bool = False) -> st.Page:
    return st.Page(PAGES / f"{name}.py", title=title, icon=icon, url_path=name, default=default)


def main() -> None:
    st.set_page_config(page_title="AHSCT-MS outcomes registry", page_icon="🩺", layout="wide")
    url = data.database_url()
    synthetic_badge(url)  # before the login form too: a demo must never pass for real data
    actor = require_actor()  # shows the login form and stops until someone is logged in
    version = data.data_version(url)
    counts = data.table_counts(url, data.scope_key(actor), version)
    # Only administrators and centre users write (registry.security.access); others never see the forms.
    entry = [page("entry", "Data entry", ":material/edit_note:")] if actor.role in ("admin", "centre") else []
    if counts["transplants"] == 0:
        set_page_context(PageContext(actor, url, version, EndpointSettings(), Filters()))
        nav = st.navigation([page("start", "Start", ":material/waving_hand:", default=True), *entry])
    else:
        nav = st.navigation(
            [
                page("overview", "Overview", ":material/dashboard:", default=True),
                page("outcomes", "Outcomes", ":material/monitoring:"),
                page("safety", "Safety", ":material/health_and_safety:"),
                page("quality", "Data quality", ":material/rule:"),
                page("timeline", "Patient timeline", ":material/timeline:"),
                page("patient", "Patient", ":material/person:"),
                *entry,
                page("export", "Export", ":material/download:"),
            ]
        )
        settings = settings_sidebar()
        filters = filters_sidebar(url, actor, version, settings)
        set_page_context(PageContext(actor, url, version, settings, filters))
    st.sidebar.caption(
        f"Signed in as **{actor.username}** ({actor.role}{', ' + actor.centre_code if actor.centre_code else ''})."
    )
    nav.run()


main()
