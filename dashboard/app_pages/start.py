"""Start page for an empty registry: how to get data in, instead of empty charts or errors."""

from __future__ import annotations

import streamlit as st

from dashboard.context import page_context

ctx = page_context()
st.title("AHSCT-MS outcomes registry")
if ctx.actor.role == "centre":
    st.info(f"No transplants recorded yet for centre **{ctx.actor.centre_code}**.")
else:
    st.info("The registry has no transplants yet.")
st.markdown(
    """
**Get started in one of three ways**

1. **Try the demo cohort** (synthetic, multi-centre) in an empty registry:
   ```
   msreg demo
   msreg dashboard
   ```
2. **Import a bundle** exported from your local system (a folder or .zip of CSV files; the
   files and columns are listed on the **Data entry** page's Upload tab and in
   docs/bundle-format.md):
   ```
   msreg import path/to/bundle.zip
   ```
   or upload it on the **Data entry** page.
3. **Enter patients by hand** on the **Data entry** page: a patient, then the first transplant,
   then follow-up visits.
"""
)
if ctx.actor.role not in ("admin", "centre"):
    st.caption("Your role reads the registry; ask a centre data manager or administrator to add data.")
