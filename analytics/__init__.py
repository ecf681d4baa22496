"""Read-only analytics: a DuckDB snapshot of the registry, the endpoints of ENDPOINTS.md,
survival estimators checked against R, the data-quality report and the research exports."""
