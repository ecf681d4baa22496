"""`msreg` commands: export survival, survival, quality.

The endpoint settings are the same four options on every command that computes endpoints
(`endpoint_options`, defined once), so `--confirmation-days 84` means the same thing wherever
it is typed. Commands run as the CLI actor (an administrator of the local registry).
Output goes to stdout (CSV or JSON); messages meant for a person go to stderr, so the output can
be piped into another program unchanged.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import click

# Endpoint setting options: (option, field, type, help). Defaults come from EndpointSettings.
_SETTING_OPTIONS: tuple[tuple[str, str, Any, str], ...] = (
    ("--confirmation-days", "confirmation_days", click.INT, "Days from a worsening to its confirmation [default: 182]."),
    ("--relapse-window-days", "relapse_window_days", click.INT,
     "Assessments this many days after a relapse onset are relapse-affected [default: 30]."),
    ("--delta-cutoff", "delta_cutoff", click.FLOAT, "Baseline EDSS above which δ is 0.5 instead of 1.0 [default: 5.5]."),
    ("--mri-rebaseline-days", "mri_rebaseline_days", click.INT,
     "MRI activity counts for NEDA-3 only after this many days [default: 180]."),
)


def endpoint_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the endpoint-setting options; the command receives one `settings: EndpointSettings`."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from analytics.settings import EndpointSettings, SettingsError

        values = {field: kwargs.pop(field) for _, field, _, _ in _SETTING_OPTIONS}
        try:
            kwargs["settings"] = EndpointSettings(**{k: v for k, v in values.items() if v is not None})
        except SettingsError as exc:
            raise click.BadParameter(str(exc)) from exc
        return f(*args, **kwargs)

    for option, field, type_, help_ in reversed(_SETTING_OPTIONS):
        wrapper = click.option(option, field, type=type_, default=None, help=help_)(wrapper)
    return wrapper


def _parse_days(value: str) -> tuple[int, ...]:
    try:
        days = tuple(int(part.strip()) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected whole days separated by commas (e.g. 365,730), got {value!r}") from None
    if not days or any(d < 0 for d in days):
        raise click.BadParameter(f"expected whole days >= 0 separated by commas (e.g. 365,730), got {value!r}")
    return days


def _snapshot(url: str) -> Any:
    from analytics.snapshot import load_snapshot
    from registry.access import cli_actor
    from registry.db import make_engine

    engine = make_engine(url, read_only=True)  # never queued behind a writer's lock
    try:
        return load_snapshot(engine, cli_actor())
    finally:
        engine.dispose()


def _provenance(settings: Any, snapshot: Any) -> None:
    """What made the output, on stderr (docs/architecture.md: every output records its settings)."""
    from analytics.settings import DEFINITIONS_VERSION

    click.echo(
        f"definitions {DEFINITIONS_VERSION}; data version {snapshot.data_version}; "
        f"settings {json.dumps(settings.to_dict(), separators=(',', ':'))}",
        err=True,
    )


def _emit(frame: Any, fmt: str) -> None:
    from registry.disclosure import csv_safe_frame

    if fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso", force_ascii=False))
    else:
        click.echo(csv_safe_frame(frame).to_csv(index=False, na_rep="", lineterminator="\n"), nl=False)


def register(main: click.Group, export: click.Group) -> None:
    """Attach this module's commands to the `msreg` group (and its `export` subgroup)."""
    from registry.cli import CliContext, db_option, pass_cli

    @export.command("survival")
    @click.argument("out", type=click.Path(dir_okay=False, writable=True))
    @endpoint_options
    @db_option
    @pass_cli
    def export_survival(cli: CliContext, out: str, settings: Any) -> None:
        """Write the analysis-ready survival dataset to OUT.csv or OUT.parquet (docs/endpoints.md).

        One de-identified row per patient (no dates, no patient codes), plus OUT.json recording
        the settings, definitions version, data version and a description of the cohort.
        """
        from pathlib import Path

        from analytics.survival_export import ExportError, export_format, write_survival_export

        try:
            export_format(Path(out))
        except ExportError as exc:
            raise click.BadParameter(str(exc), param_hint="OUT") from exc
        result = write_survival_export(_snapshot(cli.url), out, settings)
        click.echo(f"wrote {result.rows} patient(s) to {result.path} (description: {result.sidecar})", err=True)

    @main.command("survival")
    @click.argument("endpoint", type=click.Choice(["os", "rfs", "pfs", "cdi", "neda", "trm"]))
    @click.option("--by", "by", metavar="COLUMN", default=None, help="Group by a covariate of the survival export (centre_code, sex, phenotype, conditioning, "
                       "…; numeric ones such as age_at_transplant in bands).")
    @click.option("--at", "at", metavar="DAYS", default="365,730,1095,1825", show_default=True,
                  help="Days since transplant, comma-separated.")
    @click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
    @click.option("--min-group-size", type=click.IntRange(min=1), default=None,
                  help="Groups with fewer patients get no estimate [default: 5].")
    @endpoint_options
    @db_option
    @pass_cli
    def survival(cli: CliContext, endpoint: str, by: str | None, at: str, fmt: str,
                 min_group_size: int | None, settings: Any) -> None:
        """Kaplan–Meier survival (os, rfs, pfs, cdi, neda) or cumulative incidence (trm) at DAYS.

        Columns: endpoint, group, time, n_risk, estimate, lower, upper (95% CI). Groups with
        fewer than 5 patients are listed with empty values (too few to estimate).
        """
        import dataclasses

        from analytics.endpoints import derive_endpoints
        from analytics.estimates import EstimateError, check_by, survival_estimates

        days = _parse_days(at)
        try:
            check_by(by)
        except EstimateError as exc:
            raise click.BadParameter(str(exc), param_hint="--by") from exc
        if min_group_size is not None:
            settings = dataclasses.replace(settings, min_group_size=min_group_size)
        snapshot = _snapshot(cli.url)
        endpoints = derive_endpoints(snapshot, settings)
        _provenance(settings, snapshot)
        table = survival_estimates(endpoints, endpoint, by=by, at=days, min_group_size=settings.min_group_size)
        for group in table.loc[table["suppressed"], "group"].unique():
            click.echo(f"group {group}: fewer than {settings.min_group_size} patients, not estimated", err=True)
        _emit(table.drop(columns=["suppressed"]), fmt)

    @main.command("quality")
    @click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
    @click.option("--issues", is_flag=True, help="List the records to fix instead of the per-centre summary (csv).")
    @endpoint_options
    @db_option
    @pass_cli
    def quality(cli: CliContext, fmt: str, issues: bool, settings: Any) -> None:
        """Data-quality report: per-centre completeness and overdue follow-up, and records to fix.

        CSV prints the per-centre summary (or, with --issues, the records to fix); JSON prints
        both: {"per_centre": [...], "issues": [...]}.
        """
        from analytics.quality import quality_report

        snapshot = _snapshot(cli.url)
        report = quality_report(snapshot, settings)
        _provenance(settings, snapshot)
        if fmt == "json":
            payload = {
                "per_centre": json.loads(report.per_centre.to_json(orient="records", force_ascii=False)),
                "issues": json.loads(report.issues.to_json(orient="records", force_ascii=False)),
            }
            click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        else:
            _emit(report.issues if issues else report.per_centre, "csv")
