"""`msreg report safety OUT.pdf [--from DATE --to DATE]`: the committee safety report."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click


def _date(_ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date as YYYY-MM-DD, got {value!r}", param=param) from None


def is_synthetic(url: str) -> bool:
    """True for a registry built by `msreg demo` (registry.synthetic)."""
    from registry.db import make_engine
    from registry.synthetic import is_synthetic as registry_is_synthetic

    engine = make_engine(url, read_only=True)
    try:
        return registry_is_synthetic(engine)
    finally:
        engine.dispose()


def register(main: click.Group, export: click.Group) -> None:
    from analytics.cli import _snapshot, endpoint_options
    from registry.cli import CliContext, db_option, pass_cli, record_cli_access

    @main.group("report")
    def report() -> None:
        """Reports a committee can file (PDF)."""

    @report.command("safety")
    @click.argument("out", type=click.Path(dir_okay=False, writable=True))
    @click.option("--from", "start", metavar="DATE", callback=_date, default=None,
                  help="First transplants on or after this date (YYYY-MM-DD).")
    @click.option("--to", "end", metavar="DATE", callback=_date, default=None,
                  help="First transplants on or before this date (YYYY-MM-DD).")
    @endpoint_options
    @db_option
    @pass_cli
    def safety(cli: CliContext, out: str, start: dt.date | None, end: dt.date | None, settings: Any) -> None:
        """Write the committee safety report to OUT.pdf: a dated, paginated PDF.

        Cohort, definitions and settings; TRM and competing mortality; centres against the
        registry; serious adverse events by category and time; follow-up completeness; the
        disclosure policy applied (the governance role's, whoever runs it).
        """
        from pathlib import Path

        from analytics.adverse_events import serious_adverse_events
        from analytics.endpoints import derive_endpoints
        from dashboard.report.pdf import ReportError
        from dashboard.report.safety import Period, build_safety_report, write_safety_report

        if not out.lower().endswith(".pdf"):
            raise click.BadParameter(f"the report is a PDF: name it OUT.pdf, not {out!r}", param_hint="OUT")
        if start and end and start > end:
            raise click.BadParameter(f"--from {start} is after --to {end}", param_hint="--from")
        snapshot = _snapshot(cli.url)
        report = build_safety_report(
            derive_endpoints(snapshot, settings), serious_adverse_events(snapshot), settings=settings,
            data_version=snapshot.data_version, period=Period(start, end),
            generated_at=dt.datetime.now(dt.UTC), synthetic=is_synthetic(cli.url),
        )
        try:
            write_safety_report(report, Path(out))
        except ReportError as exc:
            raise click.ClickException(str(exc)) from exc
        record_cli_access(cli.url, "report", {"what": "committee safety report", "file": str(Path(out).resolve()),
                                              "period": report.subtitle, "settings": settings.to_dict()})
        click.echo(f"wrote the safety report to {out}", err=True)
