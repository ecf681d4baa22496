"""Export: the analysis-ready survival dataset (CSV and Parquet), its data dictionary and the
settings JSON that made it.

Why the dataset is the same as `msreg export survival`: one definition of what may leave the
registry (analytics.survival_export: study_id, no dates, no patient codes), whichever door is
used. The dashboard restricts it to the actor's scope and the sidebar's cohort and records both.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from analytics.survival_export import COLUMN_DESCRIPTIONS
from dashboard import data
from dashboard.context import page_context

ctx = page_context()
st.title("Export")
csv, parquet, meta = data.survival_export_files(
    ctx.url, ctx.scope, ctx.version, ctx.settings_key, ctx.filters.key(), ctx.filters.describe()
)
st.markdown(f"**{meta['rows']:,} patients.** {meta['cohort']}")
st.caption(f"Cohort filters: {ctx.filters.describe()}. {ctx.settings_text()}")
stem = f"ahsct_ms_survival_{meta['generated_at'][:10]}"


def _recorded(file_name: str) -> None:
    """Every download is an access event: who, which file, the settings and cohort, rows."""
    from dashboard.login import client_address, registry_engine
    from registry.access_log import record_access

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
    pd.DataFrame({"column": meta["columns"], "meaning": [COLUMN_DESCRIPTIONS[c] for c in meta["columns"]]}),
    hide_index=True, width="stretch",
)
st.subheader("Definitions and settings")
st.markdown(meta["definitions"])
st.json(meta["settings"], expanded=False)
