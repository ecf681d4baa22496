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
    # sensitivity settings: outputs say so (EndpointSettings.sensitivity_note)
    ("--unknown-death-trm-days", "unknown_death_trm_days", click.INT,
     "Sensitivity: deaths of UNKNOWN cause within this many days count as transplant-related [default: never]."),
    ("--pfs-neda-censoring", "pfs_neda_censoring", click.Choice(["endpoints", "last_assessment", "last_contact"]),
     "Sensitivity: censor PFS and NEDA-3 as docs/endpoints.md says, at the last assessment, or at last contact "
     "[default: endpoints]."),
    ("--sex-unknown-as-missing", "sex_unknown_as_missing", click.BOOL,
     "Treat sex U as missing in models (true/false) [default: true]."),
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


def _snapshot(url: str, actor: Any = None) -> Any:
    from analytics.snapshot import load_snapshot
    from registry.cli import acting_actor
    from registry.db import make_engine

    actor = actor or acting_actor(url)  # `msreg --as NAME` reads with that account's scope
    engine = make_engine(url, read_only=True)  # never queued behind a writer's lock
    try:
        return load_snapshot(engine, actor)
    finally:
        engine.dispose()


def _account(url: str, username: str | None) -> Any:
    """The Actor of `--as USERNAME`, or None (the CLI's administrator)."""
    if username is None:
        return None
    from registry.security.access import AccessDenied
    from registry.db import make_engine, session_scope
    from registry.security.export_policy import actor_for_user

    engine = make_engine(url, read_only=True)
    try:
        with session_scope(engine) as session:
            return actor_for_user(session, username)
    except AccessDenied as exc:
        raise click.ClickException(str(exc)) from exc
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
    if settings.sensitivity_note():
        click.echo(f"SENSITIVITY ANALYSIS: {settings.sensitivity_note()}", err=True)


def _emit(frame: Any, fmt: str) -> None:
    from registry.security.disclosure import csv_safe_frame

    if fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso", force_ascii=False))
    else:
        click.echo(csv_safe_frame(frame).to_csv(index=False, na_rep="", lineterminator="\n"), nl=False)


def register(main: click.Group, export: click.Group) -> None:
    """Attach this module's commands to the `msreg` group (and its `export` subgroup)."""
    from registry.cli import CliContext, acting_actor, db_option, pass_cli, record_cli_access

    @export.command("survival")
    @click.argument("out", type=click.Path(dir_okay=False, writable=True))
    @click.option("--k", "k", type=int, default=5, show_default=True,
                  help="Every combination of quasi-identifiers (centre, sex, age, transplant year, phenotype) "
                       "occurs at least k times.")
    @click.option("--full-detail", is_flag=True,
                  help="Write the ungeneralised dataset (administrators only; needs --reason; audited).")
    @click.option("--reason", default=None, metavar="TEXT", help="Why a full-detail export is needed (audit trail).")
    @click.option("--as", "as_user", default=None, metavar="USERNAME",
                  help="Export as this registry account: its role and centre decide what may be written "
                       "[default: the operating-system user, an administrator].")
    @endpoint_options
    @db_option
    @pass_cli
    def export_survival(cli: CliContext, out: str, k: int, full_detail: bool, reason: str | None,
                        as_user: str | None, settings: Any) -> None:
        """Write the analysis-ready survival dataset (docs/endpoints.md) to OUT.csv or OUT.parquet.

        One de-identified row per patient (no dates, no patient codes), k-anonymous by default
        (age bands, transplant periods, small centres pooled, values blanked last; no patient
        dropped), with per-export pseudonymous study ids; plus OUT.json recording k, each
        generalisation, the blanked values, the settings, definitions and data version.
        """
        from pathlib import Path

        from analytics.snapshot import load_snapshot
        from analytics.survival_export import ExportError, export_format, write_survival_export
        from registry.security.access import AccessDenied
        from registry.db import make_engine, session_scope
        from registry.security.export_policy import (
            actor_for_user,
            record_full_detail_export,
            require_full_detail,
            require_row_level_export,
            stable_study_ids,
        )

        try:
            export_format(Path(out))
        except ExportError as exc:
            raise click.BadParameter(str(exc), param_hint="OUT") from exc
        if k < 2:
            raise click.BadParameter(f"k = {k}: k-anonymity needs k of at least 2; nothing was written", param_hint="--k")
        engine = make_engine(cli.url)
        try:
            with session_scope(engine) as session:
                actor = actor_for_user(session, as_user) if as_user else acting_actor(cli.url)
                stable = stable_study_ids(session)
            require_row_level_export(actor)
            if full_detail:
                reason = require_full_detail(actor, reason)
            reader = make_engine(cli.url, read_only=True)  # never queued behind a writer's lock
            try:
                snapshot = load_snapshot(reader, actor)
            finally:
                reader.dispose()
            try:
                result = write_survival_export(snapshot, out, settings, k=k, full_detail=full_detail,
                                               stable_study_ids=stable)
            except ExportError as exc:
                raise click.ClickException(f"{exc}; nothing was written") from exc
            if full_detail:
                try:
                    with session_scope(engine) as session:
                        record_full_detail_export(session, actor, file_name=Path(out).name, rows=result.rows,
                                                  reason=reason or "", details={"settings": settings.to_dict()})
                except Exception:
                    result.path.unlink(missing_ok=True)  # an export that is not audited is not left behind
                    result.sidecar.unlink(missing_ok=True)
                    raise
        except AccessDenied as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            engine.dispose()
        disclosure = result.metadata.get("disclosure", {})
        record_cli_access(
            cli.url, "export",
            {"what": "survival dataset", "file": str(Path(result.path).resolve()), "settings": settings.to_dict(),
             "rows": result.rows, "k": None if full_detail else k, "full_detail": full_detail},
            actor=actor,
        )
        click.echo(f"wrote {result.rows} patient(s) to {result.path} ({disclosure.get('mode', '')}; "
                   f"description: {result.sidecar})", err=True)

    @main.command("survival")
    @click.argument("endpoint", type=click.Choice(["os", "rfs", "pfs", "cdi", "neda", "trm", "dmt_free", "tf_neda"]))
    @click.option("--by", "by", metavar="COLUMN", default=None, help="Group by a covariate of the survival export (centre_code, sex, phenotype, conditioning, "
                       "aggressive_factors, …; numeric ones such as age_at_transplant in bands) or an "
                       "aggressive-MS feature (f1_frequent_relapses, f2_incomplete_recovery, f3_rapid_disability, "
                       "f4_mri_activity).")
    @click.option("--at", "at", metavar="DAYS", default="365,730,1095,1825", show_default=True,
                  help="Days since transplant, comma-separated.")
    @click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
    @click.option("--min-group-size", type=click.IntRange(min=1), default=None,
                  help="Groups with fewer patients get no estimate [default: 5].")
    @click.option("--as", "as_user", default=None, metavar="USERNAME",
                  help="Print what this registry account may see (governance and researchers: counts released "
                       "under the disclosure policy) [default: the operating-system user, an administrator].")
    @endpoint_options
    @db_option
    @pass_cli
    def survival(cli: CliContext, endpoint: str, by: str | None, at: str, fmt: str,
                 min_group_size: int | None, as_user: str | None, settings: Any) -> None:
        """Kaplan–Meier survival (os, rfs, pfs, cdi, neda, dmt_free, tf_neda) or cumulative incidence (trm) at DAYS.

        Columns: endpoint, group, days (since the first transplant), n_risk, n_event, n_censor
        (since the previous DAYS, as R's summary.survfit), estimate, std_err (of the estimate;
        Greenwood for survival), lower, upper (95% CI); 4 decimals. Groups with fewer than 5
        patients, and times with fewer than 5 at risk (where the curves stop), get no estimate.
        """
        import dataclasses

        from analytics.endpoints import derive_endpoints
        from analytics.estimates import EstimateError, check_by, printed_estimates, survival_estimates

        days = _parse_days(at)
        try:
            check_by(by)
        except EstimateError as exc:
            raise click.BadParameter(str(exc), param_hint="--by") from exc
        if min_group_size is not None:
            settings = dataclasses.replace(settings, min_group_size=min_group_size)
        actor = _account(cli.url, as_user) or acting_actor(cli.url)  # else the OS user, or `msreg --as NAME`
        snapshot = _snapshot(cli.url, actor)
        endpoints = derive_endpoints(snapshot, settings)
        _provenance(settings, snapshot)
        table = survival_estimates(endpoints, endpoint, by=by, at=days, min_group_size=settings.min_group_size)
        for group in table.loc[table["suppressed"], "group"].unique():
            click.echo(f"group {group}: fewer than {settings.min_group_size} patients, not estimated", err=True)
        if actor is not None and actor.role != "admin":
            from analytics.released_estimates import release_estimates
            from registry.security.disclosure import release_for

            release = release_for(actor, max(2, settings.min_group_size))
            table, hidden = release_estimates(table, endpoints, endpoint, by, release)
            if hidden:
                click.echo(f"{hidden} estimate(s) left empty: they rest on fewer than {release.k} events", err=True)
            if release.footnote():
                click.echo(release.footnote(), err=True)
        record_cli_access(
            cli.url, "report",
            {"what": f"survival {endpoint}", "by": by, "at": list(days), "format": fmt, "settings": settings.to_dict(), "rows": len(table)},
        )
        _emit(printed_estimates(table), fmt)

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
        record_cli_access(
            cli.url, "report",
            {"what": "quality issues" if issues else "quality", "format": fmt, "settings": settings.to_dict(),
             "rows": len(report.issues) + (0 if issues else len(report.per_centre))},
        )
        if fmt == "json":
            payload = {
                "per_centre": json.loads(report.per_centre.to_json(orient="records", force_ascii=False)),
                "issues": json.loads(report.issues.to_json(orient="records", force_ascii=False)),
            }
            click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        else:
            _emit(report.issues if issues else report.per_centre, "csv")
