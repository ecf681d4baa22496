"""`msreg` commands for review and scripts: compare, cox, benchmark.

Same conventions as `analytics.cli`: endpoint settings as options (sensitivity settings
included), the table on stdout (CSV or JSON), provenance and notes on stderr.
"""

from __future__ import annotations

from typing import Any

import click

from analytics.cli import _emit, _provenance, _snapshot, endpoint_options

_ENDPOINT_HELP = "os, rfs, pfs, cdi, neda or trm (and any endpoint the registry defines later)."


def _endpoints(cli: Any, settings: Any) -> Any:
    from analytics.endpoints import derive_endpoints

    snapshot = _snapshot(cli.url)
    frame = derive_endpoints(snapshot, settings)
    _provenance(settings, snapshot)
    return frame


def register(main: click.Group, export: click.Group) -> None:
    """Attach compare, cox and benchmark to the `msreg` group."""
    from registry.cli import CliContext, db_option, pass_cli

    del export

    @main.command("compare")
    @click.argument("endpoint", metavar="ENDPOINT")
    @click.option("--by", "by", metavar="COLUMN", required=True, help="Covariate whose groups are compared (as `msreg survival --by`).")
    @click.option("--strata", "strata", metavar="COLUMN", default=None, help="Compare within the strata of this covariate.")
    @click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
    @click.option("--min-group-size", type=click.IntRange(min=1), default=None,
                  help="Groups with fewer patients are left out of the tests [default: 5].")
    @endpoint_options
    @db_option
    @pass_cli
    def compare(cli: CliContext, endpoint: str, by: str, strata: str | None, fmt: str,
                min_group_size: int | None, settings: Any) -> None:
        """Test whether ENDPOINT differs between the groups of --by.

        One row per test: endpoint, by, test, statistic, df, p_value. Survival endpoints get the
        log-rank test; trm gets Gray's test of the cumulative incidence and the cause-specific
        log-rank test.
        """
        import dataclasses

        from analytics.comparisons import compare_endpoint
        from analytics.estimates import EstimateError, check_by, check_endpoint

        try:
            check_endpoint(endpoint)
        except EstimateError as exc:
            raise click.BadParameter(str(exc), param_hint="ENDPOINT") from exc
        for value, hint in ((by, "--by"), (strata, "--strata")):
            try:
                check_by(value)
            except EstimateError as exc:
                raise click.BadParameter(str(exc), param_hint=hint) from exc
        if min_group_size is not None:
            settings = dataclasses.replace(settings, min_group_size=min_group_size)
        frame = _endpoints(cli, settings)
        try:
            table = compare_endpoint(frame, endpoint, by, strata=strata, min_group_size=settings.min_group_size)
        except EstimateError as exc:
            raise click.UsageError(str(exc)) from exc
        if table["p_value"].isna().any():
            click.echo("a test is empty: fewer than two groups with enough patients, or no event", err=True)
        _emit(table, fmt)

    @main.command("cox")
    @click.argument("endpoint", metavar="ENDPOINT")
    @click.option("--cluster-centre", is_flag=True, help="Robust standard errors clustered by centre.")
    @click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
    @endpoint_options
    @db_option
    @pass_cli
    def cox(cli: CliContext, endpoint: str, cluster_centre: bool, fmt: str, settings: Any) -> None:
        """The patient-profile Cox model of ENDPOINT with its proportional-hazards test.

        Columns: model, term, hr, lower, upper (95% CI), p, ph_chisq, ph_df, ph_p (R's cox.zph,
        per term on the term's first row, and a GLOBAL row). For trm the Cox model is of the
        cause-specific hazard and the Fine–Gray model follows. Merged or dropped levels and
        convergence problems are listed on stderr.
        """
        from analytics.cox_checks import profile_model
        from analytics.estimates import EstimateError, check_endpoint

        try:
            check_endpoint(endpoint)
        except EstimateError as exc:
            raise click.BadParameter(str(exc), param_hint="ENDPOINT") from exc
        frame = _endpoints(cli, settings)
        try:
            model = profile_model(frame, endpoint, settings, cluster_by_centre=cluster_centre)
        except EstimateError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"{model.n} patient(s), {model.n_events} event(s) in the model", err=True)
        for note in model.notes:
            click.echo(f"note: {note}", err=True)
        if model.ph_warning:
            click.echo(f"warning: {model.ph_warning}", err=True)
        _emit(model.table, fmt)

    @main.command("benchmark")
    @click.argument("measure", type=click.Choice(["trm", "early_mortality"]))
    @click.option("--at", "at", type=click.IntRange(min=1), default=None,
                  help="Horizon in days [default: 365 for trm, 100 for early_mortality].")
    @click.option("--adjusted/--crude", default=True, show_default=True,
                  help="Expected numbers from the case-mix model, or from the registry as a whole.")
    @click.option("--level", type=click.FloatRange(min=0, max=0.5, min_open=True, max_open=True), default=0.025,
                  show_default=True, help="One-sided significance level of a signal.")
    @click.option("--mid-p", is_flag=True, help="Use the mid-p instead of the exact tail probability.")
    @click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
    @click.option("--min-group-size", type=click.IntRange(min=1), default=None,
                  help="Centres with fewer patients are listed without estimate or test [default: 5].")
    @endpoint_options
    @db_option
    @pass_cli
    def benchmark(cli: CliContext, measure: str, at: int | None, adjusted: bool, level: float, mid_p: bool,
                  fmt: str, min_group_size: int | None, settings: Any) -> None:
        """Each centre's observed events against those expected for its patients (O/E).

        Columns: centre_code, patients, events (observed by the horizon), estimate, lower, upper
        (the centre's own Aalen–Johansen or Kaplan–Meier probability by the horizon, 95% CI; an
        exact one-sided bound where it is 0), expected, o_e, p_value (exact one-sided Poisson),
        signal. The method, the number of false signals expected by chance and the
        overdispersion check are printed on stderr.
        """
        import dataclasses

        from analytics.benchmarking import BENCHMARK_COLUMNS
        from analytics.benchmarking import benchmark as run_benchmark

        if min_group_size is not None:
            settings = dataclasses.replace(settings, min_group_size=min_group_size)
        frame = _endpoints(cli, settings)
        result = run_benchmark(frame, measure, at=at, adjusted=adjusted, level=level, mid_p=mid_p,  # type: ignore[arg-type]
                               min_group_size=settings.min_group_size)
        click.echo(result.describe(), err=True)
        od = result.overdispersion
        if od["df"] >= 1:
            verdict = "more spread between centres than chance allows" if od["p_value"] < 0.05 else "no excess spread"
            click.echo(f"overdispersion: chi2 {od['chisq']:.2f} on {int(od['df'])} df, phi {od['phi']:.2f}, "
                       f"p {od['p_value']:.3f} ({verdict})", err=True)
        for note in result.notes:
            click.echo(f"note: {note}", err=True)
        untested = result.table.loc[~result.table["tested"], "centre_code"].tolist()
        for centre in untested:
            click.echo(f"centre {centre}: fewer than {settings.min_group_size} patients, not tested", err=True)
        table = result.table[BENCHMARK_COLUMNS].copy()
        table = table.astype({"signal": object})
        table.loc[~result.table["tested"], "signal"] = None
        _emit(table, fmt)
