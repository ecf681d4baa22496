"""Export: the analysis-ready survival dataset (CSV and Parquet), its data dictionary and the
settings JSON that made it.

Why the dataset is the same as `msreg export survival`: one definition of what may leave the
registry (analytics.survival_export: study_id, no dates, no patient codes), whichever door is
used. The dashboard restricts it to the actor's scope and the sidebar's cohort and records both.

Disclosure (docs/disclosure.md): the download is the k-anonymous export (k = the minimum group
size, 5), with per-export pseudonymous study ids; governance accounts get no row-level
download at all; the ungeneralised export is only `msreg export survival --full-detail`.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from analytics.survival_export import COLUMN_DESCRIPTIONS, ExportError
from dashboard import data
from dashboard.context import page_context

ctx = page_context()
st.title("Export")
if ctx.actor.role == "governance":
    st.info("Governance accounts see aggregates only: the row-level research export is for researchers, centre "
            "users and administrators (see the disclosure policy in the README).")
    st.stop()
try:
    csv, parquet, meta = data.survival_export_files(
        ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), ctx.filters.describe()
    )
except ExportError as exc:
    st.warning(f"No export for this cohort: {exc}.")
    st.stop()
# The cohort description quotes exact counts (deaths, missing baselines): exact roles only.
st.markdown(f"**{ctx.release.text(meta['rows'])} patients.** " + (meta["cohort"] if ctx.release.exact else ""))
d = meta["disclosure"]
generalised = "; ".join(f"{c}: {how}" for c, how in d["generalisations"].items()) or "none needed"
blanked = sum(d["blanked_values"].values())
st.markdown(f"**k-anonymous (k = {d['k']})**: every combination of {', '.join(d['quasi_identifiers'])} occurs at "
            f"least {d['k']} times. Generalised: {generalised}. "
            + (f"Blanked: {ctx.release.text(blanked)} value(s) (see the JSON). " if blanked else "")
            + f"Study ids: {d['study_ids']}.")
st.caption(f"Cohort filters: {ctx.filters.describe()}. {ctx.settings_text()}")
stem = f"ahsct_ms_survival_{meta['generated_at'][:10]}"


def _recorded(file_name: str) -> None:
    """Every download is an access event: who, which file, the settings and cohort, rows."""
    from dashboard.login import client_address, registry_engine
    from registry.security.access_log import record_access

    record_access(
        registry_engine(), ctx.actor, "download",
        {"what": "survival dataset", "file": file_name, "rows": meta["rows"], "cohort": ctx.filters.describe(),
         "settings": meta["settings"]},
        door="dashboard", client=client_address(),
    )


c1, c2, c3 = st.columns(3)
c1.download_button("Dataset (CSV)", csv, file_name=f"{stem}.csv", mime="text/csv", key="x_csv",
                   on_click=_recorded, args=(f"{stem}.csv",))
c2.download_button("Dataset (Parquet)", parquet, file_name=f"{stem}.parquet", mime="application/vnd.apache.parquet",
                   key="x_parquet", on_click=_recorded, args=(f"{stem}.parquet",))
settings_json = json.dumps(meta, indent=2, ensure_ascii=False)
c3.download_button("Settings and definitions (JSON)", settings_json, file_name=f"{stem}.json", mime="application/json",
                   key="x_json", on_click=_recorded, args=(f"{stem}.json",))

st.subheader("Data dictionary")
st.dataframe(
    # The file's own column names (the export's documented contract) beside their meaning.
    pd.DataFrame({"Column in the file": meta["columns"],
                  "Meaning": [meta["column_descriptions"].get(c, COLUMN_DESCRIPTIONS.get(c, "")) for c in meta["columns"]]}),
    hide_index=True, width="stretch",
)
st.subheader("Definitions and settings")
st.markdown(meta["definitions"])
st.json(meta["settings"], expanded=False)
