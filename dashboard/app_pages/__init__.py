"""One module per dashboard page, run by st.navigation in dashboard/app.py."""
