"""The Streamlit dashboard: one module per page in app_pages/, figures as pure functions."""
