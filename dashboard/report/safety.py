"""The committee safety report: what a transplant-safety committee files after each review.

Sections: the cohort (with the definitions version, settings and data version); TRM and
competing mortality; the centres against the registry (the Safety page's benchmarking:
observed against case-mix expected events, O/E with its exact interval, the one-sided signal
rule and the funnel, for early mortality and for TRM); serious adverse events by category and
by time since transplant; follow-up completeness per centre; the disclosure policy applied.

Decisions:
- The report is written for a committee, so it always applies the disclosure policy of the
  governance role, whoever runs it: counts of 1 to k-1 are shown as "<k", and tables of counts
  go through the same complementary suppression as the pages (registry.security.disclosure), so no
  hidden count can be worked out from totals. Percentages and estimates of groups under k are
  not shown either. The centre benchmarking is released exactly as the Safety page releases
  it to the governance role (`Release` of registry.security.disclosure: 1 to k-1 as "<k",
  other counts rounded to k, and beside a hidden count no estimate, O/E, p-value or funnel
  point).
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
from analytics.aalen_johansen import cumulative_incidence
from analytics.settings import DEFINITIONS_VERSION, EndpointSettings
from dashboard import analysis
from dashboard.figures import cumulative_incidence_figure, serious_ae_figure
from dashboard.figures.counts import TIME_WINDOWS, time_window
from dashboard.report.document import Report, Section
from registry.security.disclosure import release_for, suppress_counts

HORIZONS: tuple[tuple[str, int], ...] = (("Day 100", 100), ("1 year", 365), ("2 years", 730), ("5 years", 1826))


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


def released_count(n: int, k: int) -> str:
    """A count as the governance role may see it: exact from k on, and 0; "<k" for 1..k-1."""
    return f"<{k}" if 0 < n < k else f"{n:,}"


def _pct(value: float) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def _estimate_text(fit, days: int, n_total: int, k: int) -> str:  # type: ignore[no-untyped-def]
    """A cumulative incidence at `days` as the committee may read it.

    Why events are counted too: an incidence with its denominator gives the number of events
    away (0.8% of 400 is 3), so an estimate resting on 1 to k-1 events is not shown; and with no
    event the interval would have zero width, so "no event" is written instead.
    """
    row = fit.at([days]).iloc[0]
    if n_total < k or int(row["n_risk"]) < k:
        return f"not estimable (fewer than {k} at risk)"
    events = int(fit.table_.loc[fit.table_["time"] <= days, "n_event"].sum())
    if events == 0:
        return "no event"
    if events < k:
        return f"fewer than {k} events"
    return analysis.format_estimate(float(row["estimate"]), float(row["lower"]), float(row["upper"]))


def cohort_section(df: pd.DataFrame, period: Period, settings: EndpointSettings, data_version: str,
                   synthetic: bool, k: int) -> Section:
    fu = analysis.median_follow_up_years(df)
    years = df["transplant_year"].dropna()
    span = f"{int(years.min())}–{int(years.max())}" if len(years) else "—"
    paragraphs = [
        f"Cohort: {released_count(len(df), k)} patients from {df['centre_code'].nunique()} centres; "
        f"{period.describe()} (transplant years {span}); median follow-up "
        f"{'—' if math.isnan(fu) else f'{fu:.1f} years'} (reverse Kaplan–Meier).",
        f"Definitions {DEFINITIONS_VERSION}. Settings: {settings.describe()}.",
        f"Data version {data_version}.",
    ]
    if synthetic:
        paragraphs.insert(0, "SYNTHETIC DEMO DATA: this registry was generated by `msreg demo`; no real patient is in it.")
    return Section("Cohort", paragraphs)


def trm_section(df: pd.DataFrame, *, caption: str, k: int) -> Section:
    d = df[df["trm_days"].notna()]
    time = d["trm_days"].to_numpy(dtype=float)
    status = d["trm_status"].to_numpy(dtype=int)
    rows = []
    if len(d):
        trm = cumulative_incidence(time, status, cause=1)
        other = cumulative_incidence(time, status, cause=2)
        for label, days in HORIZONS:
            rows.append({"Time since transplant": label,
                         "Transplant-related mortality (95% CI)": _estimate_text(trm, days, len(d), k),
                         "Death from other causes (95% CI)": _estimate_text(other, days, len(d), k)})
    early = estimates.early_mortality(df).iloc[0] if len(df) else None
    paras = [
        "Cumulative incidence by the Aalen–Johansen method: deaths from other causes compete with transplant-related "
        "deaths (never 1 − Kaplan–Meier). Estimates are given only where at least %d patients are still at risk." % k,
    ]
    if early is not None:
        paras.append(
            f"Early mortality (all-cause death within 100 days of the first transplant): "
            f"{released_count(int(early['deaths']), k)} of {released_count(int(early['patients']), k)} patients"
            + (f" ({_pct(float(early['proportion']))})." if int(early["deaths"]) == 0 or int(early["deaths"]) >= k else ".")
        )
    res = analysis.survival_curves(df, "trm", min_group_size=k)
    fig = cumulative_incidence_figure(res.curves, res.risk, title="Transplant-related mortality", caption=caption,
                                      min_group_size=k, hide_small_counts=True)
    return Section("Transplant-related and competing mortality", paras,
                   [("Cumulative incidence", pd.DataFrame(rows))], [fig])


def centres_section(endpoints: pd.DataFrame, *, settings: EndpointSettings, cohort_text: str) -> Section:
    """The centres against the registry, as the Safety page benchmarks them: for each measure
    the page offers, observed against expected (indirect standardisation on the case mix),
    O/E with its exact Poisson interval and the one-sided signal rule, from
    analytics.benchmarking with the page's arguments; the page's table builder and funnel
    figure, under the governance role's release (counts of 1-4 as "<5", the rest rounded, and
    beside a hidden count no estimate, O/E or p-value, and no funnel point).

    ``endpoints``: the patients benchmarked (the model is fitted on them); ``cohort_text`` says
    who they are, for the figure captions. The table comes from the page's own builder
    (dashboard.safety_views, which imports Streamlit but runs none of it here), so the report
    cannot drift from what the page shows."""
    from analytics.benchmarking import MEASURES, benchmark, centre_sentence
    from dashboard.figures.benchmark import benchmark_funnel_figure
    from dashboard.safety_views import BENCHMARK_MEASURES, benchmark_table

    release = release_for("governance", max(2, settings.min_group_size))
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


def adverse_events_section(ae: pd.DataFrame, *, n_patients: int, caption: str, k: int) -> Section:
    if ae.empty:
        return Section("Serious adverse events", ["No serious adverse event is recorded for this cohort."])
    windows = [label for label, *_ in TIME_WINDOWS]
    ev = ae.assign(window=time_window(ae["days"].astype(int)))
    tables = []
    for title, by, order in (("By category and CTCAE grade", "category", sorted(ev["category"].unique())),
                             ("By time since transplant and CTCAE grade", "window", [w for w in windows if w in set(ev["window"])])):
        counts = ev.groupby([by, ev["grade"].astype(int)]).size().unstack(fill_value=0).reindex(order)
        counts.columns = [f"Grade {c}" for c in counts.columns]
        shown = suppress_counts(counts, k, total_label="Total")
        text = shown.astype(object).where(shown.notna(), f"<{k}").map(lambda v: v if isinstance(v, str) else f"{int(v):,}")
        text.index = [str(i).replace("_", " ").capitalize() if by == "category" else str(i) for i in text.index]
        tables.append((title, text.reset_index(names="")))
    hidden = sum(int((t == f"<{k}").to_numpy().sum()) for _, t in tables)
    paras = [f"{len(ae):,} serious adverse events in {released_count(int(ae['patient_id'].nunique()), k)} patients "
             f"(of {released_count(n_patients, k)}). Serious: flagged serious, or CTCAE grade ≥ 3 when the flag is missing."]
    if hidden:
        paras.append(f"{hidden} cell(s) shown as <{k}: counts below {k}, and the cells that would reveal them from the totals; "
                     "every event is in the totals.")
    fig = serious_ae_figure(ae[["category", "grade", "days"]], title="Serious adverse events", caption=caption, min_cell=k)
    return Section("Serious adverse events", paras, tables, [fig])


def completeness_section(df: pd.DataFrame, today: dt.date, *, k: int) -> Section:
    table = analysis.follow_up_completeness(df, today)
    rows = [{"Centre": r.centre_code, "Patients": released_count(int(r.patients), k),
             "Living patients seen in the last 12 months": "—" if r.patients < k else _pct(r.seen_last_12m_pct / 100),
             "Completeness of follow-up (Clark's C)": "—" if r.patients < k else _pct(r.clark_c_pct / 100)}
            for r in table.itertuples()]
    return Section("Follow-up completeness", [
        "Clark's completeness index C: observed person-time over the person-time that would have been observed had "
        "every living patient been seen on the report date. The number alive is not shown per centre: with the "
        "number of patients it would give the number of deaths."
    ], [("Per centre", pd.DataFrame(rows))])


def disclosure_section(k: int) -> Section:
    return Section("Disclosure policy applied", [
        f"This report is written for a governance committee and applies the registry's disclosure policy for that "
        f"role: no count from 1 to {k - 1} is shown (written <{k}); further cells are hidden where a hidden count could "
        f"otherwise be worked out from totals; percentages and estimates are not given for groups under {k} patients "
        f"or where fewer than {k} remain at risk. No patient code, name or calendar date of a patient appears.",
    ])


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
    k = settings.min_group_size
    df = period.select(endpoints)
    benchmarked = df if centres_from is None else period.select(centres_from)
    ae = serious_aes[serious_aes["patient_id"].isin(df["patient_id"])]
    today = generated_at.date()
    caption = (f"Cohort: {len(df):,} patients ({period.describe()})." if len(df) >= k else f"Cohort: fewer than {k} patients.")
    caption += f" Definitions {DEFINITIONS_VERSION}."
    sections = [cohort_section(df, period, settings, data_version, synthetic, k)]
    if len(df):
        centres_text = (f"Benchmarked: {release_for('governance', max(2, k)).text(len(benchmarked))} patients "
                        f"({period.describe()}). Definitions {DEFINITIONS_VERSION}.")
        sections += [trm_section(df, caption=caption, k=k),
                     centres_section(benchmarked, settings=settings, cohort_text=centres_text),
                     adverse_events_section(ae, n_patients=len(df), caption=caption, k=k),
                     completeness_section(df, today, k=k)]
    else:
        sections.append(Section("No patients", ["No patient had a first transplant in this period."]))
    sections.append(disclosure_section(k))
    stamp = generated_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Report(title="AHSCT in MS: committee safety report",
                  subtitle=f"{period.describe().capitalize()}. Generated {stamp}.",
                  generated=stamp, sections=sections,
                  footer=("SYNTHETIC DEMO DATA. " if synthetic else "")
                  + f"Disclosure policy: counts below {k} are not shown (governance role).")


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


__all__ = ["Period", "build_safety_report", "write_safety_report", "pdf_bytes", "released_count"]
