"""The committee safety report: what a transplant-safety committee files after each review.

Sections: the cohort (with the definitions version, settings and data version); TRM and
competing mortality; the centres against the registry (the Safety page's benchmarking:
observed against case-mix expected events, O/E with its exact interval, the one-sided signal
rule and the funnel, for early mortality and for TRM); serious adverse events by category and
by time since transplant; follow-up completeness per centre; the disclosure policy applied.

Decisions:
- The report is written for a committee, so it always applies the disclosure policy of the
  governance role, whoever runs it, and through one object: `committee_release` builds the
  governance `Release` (registry.security.disclosure) once per report and every section formats
  its counts, rates and estimates through it, exactly as the governance Safety, Overview and
  Quality pages do (1 to k-1 as "<k", other counts rounded to k, a rate or estimate resting on
  1 to k-1 events not shown, tables with totals through `Release.table`, serious AEs coarsened
  before hidden, and beside a hidden benchmarking count no estimate, O/E, p-value or funnel
  point). So the same centre's patients read the same in every section and on every page, and
  the "Disclosure policy applied" section is that release's own description (`Release.describe`).
- The period (`--from`/`--to`) selects patients by the date of their first transplant; their
  whole follow-up is reported. Without a period the whole registry is reported.
- Every number comes from the functions the Safety and Overview pages use (analytics and
  dashboard.analysis), so the report and the dashboard agree for the same cohort and settings.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pandas as pd

from analytics import estimates
from analytics.settings import DEFINITIONS_VERSION, EndpointSettings
from dashboard import analysis
from dashboard.figures import cumulative_incidence_figure, serious_ae_figure
from dashboard.figures.counts import serious_ae_counts
from dashboard.labels import column_label
from dashboard.report.document import Report, Section
from registry.security.disclosure import NOT_BROKEN_DOWN, WITHHELD, Release, release_for

HORIZONS: tuple[tuple[str, int], ...] = (("Day 100", 100), ("1 year", 365), ("2 years", 730), ("5 years", 1826))
"""The TRM table's times: day 100, and the Overview page's 1, 2 and 5 years (round(y x 365.25) days)."""
COMMITTEE_ROLE = "governance"
"""Whose release the report applies, whoever runs it or clicks the Safety page's button."""


def committee_release(settings: EndpointSettings) -> Release:
    """The report's one `Release`: the governance role's, with the threshold of the
    minimum-group-size setting, as the governance pages build theirs (dashboard.context)."""
    return release_for(COMMITTEE_ROLE, max(2, settings.min_group_size))


@dataclass(frozen=True, slots=True)
class Period:
    """First-transplant dates from `start` to `end`, both inclusive; None means open."""

    start: dt.date | None = None
    end: dt.date | None = None

    def describe(self) -> str:
        if self.start is None and self.end is None:
            return "all transplants in the registry"
        a = self.start.isoformat() if self.start else "the first"
        b = self.end.isoformat() if self.end else "the latest"
        return f"first transplants from {a} to {b}"

    def select(self, endpoints: pd.DataFrame) -> pd.DataFrame:
        day0 = pd.to_datetime(endpoints["day0"]).dt.date
        mask = pd.Series(True, index=endpoints.index)
        if self.start is not None:
            mask &= day0 >= self.start
        if self.end is not None:
            mask &= day0 <= self.end
        return endpoints[mask.fillna(False).astype(bool)]


def _estimate_text(row: pd.Series, events: int, release: Release) -> str:
    """An estimate at one time as the governance pages write it (Overview's headline table and
    TRM line): "—" where fewer than the minimum are at risk, "fewer than k events" where it rests
    on 1 to k-1 events (with its denominator it would give the count away), else the estimate
    with its 95% interval (analytics.estimates gives an exact bound where no event has happened,
    so no interval has zero width)."""
    if not release.estimate_shown(events):
        return f"fewer than {release.k} events"
    return analysis.format_estimate(row["estimate"], row["lower"], row["upper"])


def _incidence_texts(df: pd.DataFrame, days: list[int], *, min_group_size: int, release: Release) -> list[str]:
    """The transplant-related cumulative incidence at `days`, each as `_estimate_text`: from the
    estimator, times, minimum-at-risk rule and event counts of the Overview and Safety pages
    (analytics.estimates, as dashboard.analysis.survival_curves calls it)."""
    fits = estimates.fit_groups(df, "trm", min_group_size=min_group_size)
    est = estimates.survival_estimates(df, "trm", at=days, min_group_size=min_group_size, fits=fits)
    if not fits or fits[0].fit is None:
        return ["—"] * len(days)
    gf = fits[0]
    return [_estimate_text(row, int(((gf.event == 1) & (gf.time <= t)).sum()), release)
            for t, (_, row) in zip(days, est.iterrows(), strict=True)]


def cohort_section(df: pd.DataFrame, period: Period, settings: EndpointSettings, data_version: str,
                   synthetic: bool, release: Release) -> Section:
    fu = analysis.median_follow_up_years(df)
    years = df["transplant_year"].dropna()
    span = f"{int(years.min())}–{int(years.max())}" if len(years) else "—"
    paragraphs = [
        f"Cohort: {release.text(len(df))} patients from {df['centre_code'].nunique()} centres; "
        f"{period.describe()} (transplant years {span}); median follow-up "
        f"{'—' if math.isnan(fu) else f'{fu:.1f} years'} (reverse Kaplan–Meier).",
        f"Definitions {DEFINITIONS_VERSION}. Settings: {settings.describe()}.",
        f"Data version {data_version}.",
    ]
    if synthetic:
        paragraphs.insert(0, "SYNTHETIC DEMO DATA: this registry was generated by `msreg demo`; no real patient is in it.")
    return Section("Cohort", paragraphs)


def trm_section(df: pd.DataFrame, *, caption: str, release: Release, min_group_size: int) -> Section:
    """TRM and death from other causes at day 100 and 1, 2, 5 years, early mortality and the
    TRM curve. Death from other causes is the same estimator with the two causes swapped
    (status 2 read as the event, TRM competing), so both columns follow one rule for the
    minimum at risk, exact bounds and events behind an estimate."""
    days = [d for _, d in HORIZONS]
    d = df[df["trm_days"].notna() & df["trm_status"].notna()]
    rows = []
    if len(d):
        other_causes = d.assign(trm_status=d["trm_status"].astype(int).map({0: 0, 1: 2, 2: 1}))
        trm = _incidence_texts(d, days, min_group_size=min_group_size, release=release)
        other = _incidence_texts(other_causes, days, min_group_size=min_group_size, release=release)
        rows = [{"Time since transplant": label, "Transplant-related mortality (95% CI)": a,
                 "Death from other causes (95% CI)": b} for (label, _), a, b in zip(HORIZONS, trm, other, strict=True)]
    paras = [
        "Cumulative incidence by the Aalen–Johansen method: deaths from other causes compete with transplant-related "
        f"deaths (never 1 − Kaplan–Meier). Estimates are given only where at least {min_group_size} patients are "
        f"still at risk, and only where the deaths behind them are none or at least {release.k}; — marks too few "
        "at risk.",
    ]
    if len(df):
        early = estimates.early_mortality(df).iloc[0]
        share = release.proportion(early["deaths"], early["patients"])  # the Overview page's metric
        paras.append(
            f"Early mortality (all-cause death within 100 days of the first transplant): "
            f"{release.text(int(early['deaths']))} of {release.text(int(early['patients']))} patients"
            + (f" ({share})." if share != "—" else
               f"; the proportion is not shown (fewer than {release.k} deaths, or survivors)."))
    res = analysis.survival_curves(df, "trm", min_group_size=min_group_size)
    fig = cumulative_incidence_figure(res.curves, res.risk, title="Transplant-related mortality", caption=caption,
                                      min_group_size=min_group_size, release=release)
    return Section("Transplant-related and competing mortality", paras,
                   [("Cumulative incidence", pd.DataFrame(rows))], [fig])


def centres_section(endpoints: pd.DataFrame, *, settings: EndpointSettings, cohort_text: str, release: Release) -> Section:
    """The centres against the registry, as the Safety page benchmarks them: for each measure
    the page offers, observed against expected (indirect standardisation on the case mix),
    O/E with its exact Poisson interval and the one-sided signal rule, from
    analytics.benchmarking with the page's arguments; the page's table builder and funnel
    figure, under the report's release (`committee_release`: counts of 1-4 as "<5", the rest
    rounded, and beside a hidden count no estimate, O/E or p-value, and no funnel point).

    ``endpoints``: the patients benchmarked (the model is fitted on them); ``cohort_text`` says
    who they are, for the figure captions. The table comes from the page's own builder
    (dashboard.safety_views, which imports Streamlit but runs none of it here), so the report
    cannot drift from what the page shows."""
    from analytics.benchmarking import MEASURES, benchmark, centre_sentence
    from dashboard.figures.benchmark import benchmark_funnel_figure
    from dashboard.safety_views import BENCHMARK_MEASURES, benchmark_table

    if endpoints.empty:
        return Section("Centres against the registry", ["No patient to benchmark in this period."])
    subsections = []
    for label, measure in BENCHMARK_MEASURES.items():
        result = benchmark(endpoints, measure, adjusted=True, min_group_size=settings.min_group_size)  # type: ignore[arg-type]
        table, hidden = benchmark_table(result, release)
        spec = MEASURES[measure]
        model = ("a Cox model of the case mix (age, baseline EDSS, phenotype, conditioning intensity; Breslow "
                 "baseline hazard) fitted on every patient benchmarked" if result.adjusted else
                 "the Nelson–Aalen hazard of every patient benchmarked (no case-mix adjustment)")
        paras = [
            f"Observed: the centre's {spec['event']}s by day {result.at}. Expected: the number its own patients would "
            f"have had at the registry's risk, by indirect standardisation — the sum over its patients of the "
            f"cumulative hazard, up to day {result.at} or the end of their follow-up, from {model}. O/E is their "
            "ratio, with Garwood's exact Poisson 95% interval. Estimate: the "
            f"centre's own {'Aalen–Johansen' if measure == 'trm' else 'Kaplan–Meier'} probability by day {result.at} "
            "from every patient (none dropped for short follow-up).",
            f"Signal rule: a centre signals when a count at least as high as its observed one would happen by chance "
            f"with probability below {result.level:g} for a centre at the registry's risk (exact one-sided Poisson "
            f"test, P(X ≥ O) with X ~ Poisson(E)); only an excess is tested. Centres with fewer than "
            f"{settings.min_group_size} patients are not tested. About {result.expected_false_signals:.2f} false "
            f"signal(s) are expected by chance among the {result.n_tested} centres tested. A signal calls for a review "
            "of the centre's cases and data; it is not proof of worse care.",
        ]
        od = result.overdispersion
        spread = ""
        if od["df"] >= 1 and math.isfinite(od["p_value"]):
            spread = (f" Overdispersion check: χ² {od['chisq']:.1f} on {int(od['df'])} df, p = {od['p_value']:.3f}"
                      + (" — centres differ more than chance allows; read single signals with care."
                         if od["p_value"] < 0.05 else " (no excess spread)."))
            paras.append(spread.strip())
        for note in result.notes:
            text = analysis.release_counts_in_text(note, release)
            paras.append(text[:1].upper() + text[1:] + ".")
        paras.append(release.footnote(len(hidden)) + " Beside a hidden count the estimate, O/E and p-value are "
                     "hidden too, and the centre is not drawn in the funnel.")
        signals = result.table[result.table["signal"]]
        if signals.empty:
            paras.append(f"No centre signals on {spec['label']} by day {result.at}.")
        for _, row in signals.iterrows():
            paras.append(centre_sentence(row, result, events_text=release.text(int(row["events"]))))
        fig = benchmark_funnel_figure(
            result.table, level=result.level, title=f"{label}: observed against expected, by centre",
            caption=f"{cohort_text} {result.describe()}.{spread}", hidden=hidden)
        subsections.append(Section(label, paras, [("Observed against expected, by centre", table)], [fig]))
    return Section("Centres against the registry", [
        "Each centre's deaths against the number expected for its own patients, as on the Safety page. Centres "
        f"are benchmarked on {release.text(len(endpoints))} patients; a wide interval means few patients, not a "
        "worse centre."], subsections=subsections)


def adverse_events_section(ae: pd.DataFrame, *, n_patients: int, caption: str, release: Release) -> Section:
    """Serious AEs by category and by time since transplant, counted, coarsened and released as
    the Safety page counts them (dashboard.figures.counts.serious_ae_counts: for the governance
    role grades pooled and windows widened until few events sit in hidden cells, small
    categories pooled), each table with its totals through `Release.table`, as the page's."""
    if ae.empty:
        return Section("Serious adverse events", ["No serious adverse event is recorded for this cohort."])
    events = ae[["category", "grade", "days"]]
    counts = serious_ae_counts(events, release)
    tables, n_hidden, marks = [], 0, set()
    for title, table in (("By category and CTCAE grade", counts.by_category),
                         ("By time since transplant and CTCAE grade", counts.by_time)):
        shown = release.table(table, total_label="Total")
        n_hidden += release.hidden_in(table.to_numpy().ravel())
        marks |= {m for m in (NOT_BROKEN_DOWN, WITHHELD) if (shown == m).any().any()}
        tables.append((title, shown.reset_index(names="")))
    paras = [f"{release.text(len(ae))} serious adverse events in {release.text(int(ae['patient_id'].nunique()))} of "
             f"{release.text(n_patients)} patients. Serious: flagged serious, or CTCAE grade ≥ 3 when the flag is missing."]
    notes = [counts.note, release.footnote(n_hidden)]
    if NOT_BROKEN_DOWN in marks:
        notes.append(f"{NOT_BROKEN_DOWN}: part of a total below {release.k}, not broken down.")
    if WITHHELD in marks:
        notes.append(f"{WITHHELD}: withheld, the totals would otherwise give a count below {release.k} away.")
    notes.append("Every event is in the totals.")
    paras.append(" ".join(n for n in notes if n))
    fig = serious_ae_figure(events, title="Serious adverse events", caption=caption, release=release)
    return Section("Serious adverse events", paras, tables, [fig])


def completeness_section(df: pd.DataFrame, today: dt.date, *, release: Release) -> Section:
    """Follow-up completeness per centre, as the governance Overview page shows it: patients and
    alive released (rounded, so deaths are not their difference), the share of the living seen in
    the last 12 months only where neither the seen nor the not seen are 1 to k-1, Clark's C."""
    table = analysis.follow_up_completeness(df, today)
    # headers as the page names them (dashboard.labels; the share is released text, so no "(%)")
    rows = [{column_label("centre_code"): r.centre_code, column_label("patients"): release.text(r.patients),
             column_label("alive"): release.text(r.alive),
             "Alive, seen ≤12 months": ("—" if math.isnan(r.seen_last_12m_pct) else
                                        release.proportion(round(r.seen_last_12m_pct * r.alive / 100), r.alive, digits=0)),
             column_label("clark_c_pct"): "—" if math.isnan(r.clark_c_pct) else f"{r.clark_c_pct:.0f}"}
            for r in table.itertuples()]
    hidden = release.hidden_in(list(table["patients"]) + list(table["alive"]))
    return Section("Follow-up completeness", [
        "Clark's completeness index C: observed person-time over the person-time that would have been observed had "
        "every living patient been seen on the report date. Living patients seen in the last 12 months: a share of "
        f"the living, not shown where fewer than {release.k} were seen, or not seen. " + release.footnote(hidden)
    ], [("Per centre", pd.DataFrame(rows))])


def disclosure_section(release: Release, sections: list[Section], *, min_group_size: int) -> Section:
    """What the report's release applied: its own rules (`Release.describe`), the report's
    further rules (with the settings' minimum group size), and how many cells of this report's
    tables it hid."""
    cells = [str(v) for s in _all_sections(sections) for _, t in s.tables for v in t.to_numpy().ravel()]
    marked = {mark: cells.count(mark) for mark in (release.small, NOT_BROKEN_DOWN, WITHHELD)}
    tally = (f"In this report's tables: {marked[release.small]} cell(s) shown as {release.small}, "
             f"{marked[NOT_BROKEN_DOWN]} not broken down ({NOT_BROKEN_DOWN}), {marked[WITHHELD]} withheld ({WITHHELD}).")
    return Section("Disclosure policy applied", [
        f"This report is written for a governance committee and applies the registry's disclosure policy for the "
        f"{COMMITTEE_ROLE} role to every number in it, whoever runs it: the release the governance Safety, Overview and "
        "Quality pages apply.",
        *release.describe(),
        f"Curves stop, and estimates are not given, where fewer than {min_group_size} patients remain at risk. "
        "Serious adverse events are coarsened (grades pooled, windows widened, small categories pooled) before any "
        "count is hidden. In the centre benchmarking, beside a hidden count the estimate, O/E and p-value are hidden "
        "too, and the centre is not drawn in the funnel. No patient code, name or calendar date of a patient appears.",
        tally,
    ])


def _all_sections(sections: list[Section]):  # type: ignore[no-untyped-def]
    for s in sections:
        yield s
        yield from _all_sections(s.subsections)


def build_safety_report(
    endpoints: pd.DataFrame,
    serious_aes: pd.DataFrame,
    *,
    settings: EndpointSettings,
    data_version: str,
    period: Period = Period(),
    generated_at: dt.datetime,
    synthetic: bool = False,
    centres_from: pd.DataFrame | None = None,
) -> Report:
    """The whole report as data; `render_html` and `html_to_pdf` turn it into the PDF.

    `centres_from`: the patients the centres are benchmarked on, before the period is applied
    (default `endpoints`). The Safety page passes every patient its viewer may see, because
    its benchmark ignores the sidebar's cohort filter (a filter would change the case-mix
    model), so the PDF's centre section is the page's."""
    release = committee_release(settings)  # the one release every section formats through
    min_group_size = settings.min_group_size
    df = period.select(endpoints)
    benchmarked = df if centres_from is None else period.select(centres_from)
    ae = serious_aes[serious_aes["patient_id"].isin(df["patient_id"])]
    today = generated_at.date()
    caption = f"Cohort: {release.text(len(df))} patients ({period.describe()}). Definitions {DEFINITIONS_VERSION}."
    sections = [cohort_section(df, period, settings, data_version, synthetic, release)]
    if len(df):
        centres_text = (f"Benchmarked: {release.text(len(benchmarked))} patients "
                        f"({period.describe()}). Definitions {DEFINITIONS_VERSION}.")
        sections += [trm_section(df, caption=caption, release=release, min_group_size=min_group_size),
                     centres_section(benchmarked, settings=settings, cohort_text=centres_text, release=release),
                     adverse_events_section(ae, n_patients=len(df), caption=caption, release=release),
                     completeness_section(df, today, release=release)]
    else:
        sections.append(Section("No patients", ["No patient had a first transplant in this period."]))
    sections.append(disclosure_section(release, sections, min_group_size=min_group_size))
    stamp = generated_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Report(title="AHSCT in MS: committee safety report",
                  subtitle=f"{period.describe().capitalize()}. Generated {stamp}.",
                  generated=stamp, sections=sections,
                  footer=("SYNTHETIC DEMO DATA. " if synthetic else "")
                  + _policy_footer(release))


def _policy_footer(release: Release) -> str:
    """The policy in one line for every page's footer (short: the footer shares its line with
    the page number)."""
    base = release.policy.base
    rounding = f"other counts rounded to the nearest {base}" if base > 1 else "other counts exact"
    return f"Disclosure policy of the {COMMITTEE_ROLE} role: 1 to {release.k - 1} shown as {release.small}, {rounding}."


def write_safety_report(report: Report, out) -> None:  # type: ignore[no-untyped-def]
    from dashboard.figures.vector import figure_bytes
    from dashboard.report.document import render_html
    from dashboard.report.pdf import html_to_pdf

    html = render_html(report, figure_svg=lambda fig: figure_bytes(fig, "svg", width=900))
    html_to_pdf(html, out)


def pdf_bytes(report: Report) -> bytes:
    """The report's PDF as bytes (for the Safety page's download button)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="msreg-report-") as tmp:
        out = Path(tmp) / "safety-report.pdf"
        write_safety_report(report, out)
        return out.read_bytes()


__all__ = ["Period", "build_safety_report", "committee_release", "write_safety_report", "pdf_bytes"]
