"""Read-only analytics: a DuckDB snapshot of the registry, the endpoints of docs/endpoints.md,
survival estimators checked against R, the data-quality report and the research exports."""
