"""`msreg report safety`: a dated, paginated PDF a safety committee can file.

The PDF is read back as a reader would: its text extracted page by page and every page rendered
to a picture. Every count in it is checked with the released-payload test's scan and checks
(tests/dashboard/test_released_payload.py: no count of 1–4, every count rounded to 5, no two
counts 1–4 apart, no rate times its denominator giving 1–4, no hidden cell pinned by totals), on
the PDF's own text and on the report's tables and figures, whose rows are found in the PDF. The
numbers shown both on the governance Safety and Overview pages (AppTest) and in the report are
compared, on a registry built so that one centre clearly signals and one has 3 patients.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from analytics.adverse_events import serious_adverse_events
from analytics.endpoints import derive_endpoints
from analytics.settings import DEFINITIONS_VERSION, EndpointSettings
from analytics.snapshot import clear_snapshot_cache, load_snapshot
from dashboard import analysis
from dashboard.figures.vector import chromium_path
from dashboard.report.document import Report, Section
from dashboard.report.safety import Period, build_safety_report, committee_release
from registry import models
from registry.security.access import cli_actor
from registry.cli import main
from registry.db import make_engine, session_scope
from registry.security.disclosure import release_for
from tests.dashboard.demo_registry import fill_with_demo
from tests.dashboard.test_released_payload import (
    K,
    Released,
    _scan_figure,
    close_counts,
    pinned_tables,
    rate_leaks,
    scan_frame,
    scan_texts,
    small_counts,
    unrounded_counts,
)

TODAY = dt.date(2026, 11, 30)
SECTIONS = ("Cohort", "Transplant-related and competing mortality", "Centres against the registry",
            "Serious adverse events", "Follow-up completeness", "Disclosure policy applied")


@pytest.fixture(scope="module")
def demo_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "demo.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    fill_with_demo(url, 1498, today=TODAY)  # not a multiple of 5: an unrounded total would show
    return url


@pytest.fixture(scope="module")
def inputs(demo_url: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    clear_snapshot_cache()
    engine = make_engine(demo_url, read_only=True)
    snap = load_snapshot(engine, cli_actor())
    engine.dispose()
    return derive_endpoints(snap, EndpointSettings()), serious_adverse_events(snap), snap.data_version


GENERATED = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
# Numbers that are not counts of people or events: the completeness index (a ratio of person-time).
NON_COUNT_COLUMNS = frozenset({"df", "Clark's C (%)"})


def _report(inputs, period: Period = Period(), settings: EndpointSettings | None = None,  # type: ignore[no-untyped-def]
            generated_at: dt.datetime = GENERATED) -> Report:
    endpoints, aes, version = inputs
    return build_safety_report(endpoints, aes, settings=settings or EndpointSettings(), data_version=version,
                               period=period, generated_at=generated_at)


@pytest.fixture(scope="module")
def report(inputs) -> Report:  # type: ignore[no-untyped-def]
    """The whole registry's report, built once for the tests that only read it."""
    return _report(inputs)


def _all_sections(sections):  # type: ignore[no-untyped-def]
    for s in sections:
        yield s
        yield from _all_sections(s.subsections)


def _cells(report) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [(caption, str(col), str(v)) for s in _all_sections(report.sections) for caption, t in s.tables
            for col in t.columns for v in t[col]]


def scan_report(report: Report, pdf_text: str | None = None) -> list[Released]:
    """What the report releases, as the payload test scans a page: every section's paragraphs,
    tables (the label column as index, so totals are found) and figures (their Plotly JSON:
    tagged count fields, text, hover text, annotations), plus the PDF's own text when given."""
    views = []
    for section in _all_sections(report.sections):
        r = Released(f"report: {section.title}")
        r.groups.append(scan_texts(r, section.paragraphs))
        for caption, table in section.tables:
            scan_frame(r, table.set_index(table.columns[0]), f"{section.title}: {caption}", non_count_columns=NON_COUNT_COLUMNS)
        for fig in section.figures:
            _scan_figure(r, json.loads(fig.to_json()))
        views.append(r)
    if pdf_text is not None:
        r = Released("report: PDF text")
        r.groups.append(scan_texts(r, [pdf_text]))
        views.append(r)
    return views


def assert_released(views: list[Released]) -> None:
    """The released-payload checks, for the governance role."""
    assert [c for r in views for c in r.counts], "the scan found no count at all"
    assert small_counts(views) == []
    assert unrounded_counts(views) == []
    assert close_counts(views) == []
    assert rate_leaks(views) == []
    assert [t for r in views for t in r.tables], "the serious-AE tables have totals"
    assert pinned_tables(views) == []


def pdf_text(path: Path) -> tuple[list[str], str]:
    """(each page's text, the report's text with whitespace collapsed). Chromium writes each
    page's running header (title, date) and footer (policy, "Page N of M") first: they are taken
    out of the body, so a paragraph broken across pages reads whole, and put after it, without
    the page numbers ("1 of 6" is no count)."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    pages = [doc[i].get_textpage().get_text_range().replace("\ufffe", "") for i in range(len(doc))]
    doc.close()
    body, running = [], []
    for i, page in enumerate(pages, start=1):
        header, footer, rest = page.split("\n", 2)
        assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$", header.strip()), header
        assert footer.strip().endswith(f"Page {i} of {len(pages)}"), footer
        body.append(rest)
        running += [header, footer.strip().removesuffix(f"Page {i} of {len(pages)}")]
    return pages, re.sub(r"\s+", " ", " ".join(body + running))


def assert_tables_in_pdf(report: Report, text: str) -> None:
    """Every row of every table of `report` is in the PDF as printed, so the scanned tables are
    the PDF's."""
    for section in _all_sections(report.sections):
        for caption, table in section.tables:
            for row in table.itertuples(index=False):
                line = re.sub(r"\s+", " ", " ".join(str(v) for v in row)).strip()
                assert line in text, (section.title, caption, line)


def test_the_report_has_every_section_in_order(report) -> None:  # type: ignore[no-untyped-def]
    assert [s.title for s in report.sections] == list(SECTIONS)


def test_every_count_in_the_report_is_released_as_to_governance(report) -> None:  # type: ignore[no-untyped-def]
    views = scan_report(report)
    assert_released(views)
    assert any("<5" in v for _, _, v in _cells(report)), "a count of 1-4 is in the registry, and hidden"


def test_the_checks_catch_counts_not_released(inputs, report) -> None:  # type: ignore[no-untyped-def]
    """Guard: the same scan of a report whose tables hold exact counts finds them."""
    endpoints, aes, _ = inputs
    exact = analysis.follow_up_completeness(endpoints, TODAY)[["centre_code", "patients", "alive"]].astype(str)
    leaked = Report(report.title, report.subtitle, report.generated,
                    [Section("Follow-up completeness", [f"{len(aes):,} serious adverse events."], [("Per centre", exact)])])
    views = scan_report(leaked)
    assert unrounded_counts(views) and close_counts(views)


def test_every_serious_event_is_accounted_for_in_the_totals(inputs, report) -> None:  # type: ignore[no-untyped-def]
    endpoints, aes, _ = inputs
    section = next(s for s in report.sections if s.title == "Serious adverse events")
    for _caption, table in section.tables:
        total_row = table[table[""] == "Total"]
        assert total_row["Total"].iloc[0] == release_for("governance").text(len(aes))
    assert section.paragraphs[0].startswith(f"{release_for('governance').text(len(aes))} serious adverse events")


def test_estimates_equal_the_overview_pages(inputs, report) -> None:  # type: ignore[no-untyped-def]
    """The TRM estimates at 1, 2 and 5 years are the Overview page's (dashboard.analysis, its
    governance text rule)."""
    endpoints, _, _ = inputs
    release = release_for("governance")
    sections = {s.title: s for s in report.sections}
    whole = analysis.survival_curves(endpoints, "trm").estimates.set_index("years")
    (_, trm_table), = sections["Transplant-related and competing mortality"].tables
    for label, years in (("1 year", 1), ("2 years", 2), ("5 years", 5)):
        text = trm_table.loc[trm_table["Time since transplant"] == label].iloc[0, 1]
        est = whole.loc[years]
        expected = (analysis.format_estimate(est["estimate"], est["lower"], est["upper"])
                    if release.estimate_shown(est["events"]) else "fewer than 5 events")
        assert text == expected, label


def test_rates_resting_on_fewer_than_5_events_are_not_given(report) -> None:  # type: ignore[no-untyped-def]
    texts = [v for _, c, v in _cells(report) if "95% CI" in c]
    assert any(v.startswith("fewer than 5 events") for v in texts) or all(re.match(r"\d|—", v) for v in texts)
    assert not any(re.fullmatch(r"0\.0% \(0\.0–0\.0\)", v) for v in texts), "a zero-width interval is never shown"


def test_a_period_selects_patients_by_first_transplant_date(inputs) -> None:  # type: ignore[no-untyped-def]
    endpoints, _, _ = inputs
    period = Period(dt.date(2015, 1, 1), dt.date(2019, 12, 31))
    expected = int(((pd.to_datetime(endpoints["day0"]) >= "2015-01-01") & (pd.to_datetime(endpoints["day0"]) <= "2019-12-31")).sum())
    cohort = _report(inputs, period).sections[0].paragraphs[0]
    assert cohort.startswith(f"Cohort: {release_for('governance').text(expected)} patients")
    assert "from 2015-01-01 to 2019-12-31" in cohort


def test_the_bad_dates_and_names_are_refused_before_anything_is_written(demo_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "r.pdf"
    r = runner.invoke(main, ["--db", demo_url, "report", "safety", str(out), "--from", "2020-01-01", "--to", "2019-01-01"])
    assert r.exit_code == 2 and "--from 2020-01-01 is after --to 2019-01-01" in r.output
    r = runner.invoke(main, ["--db", demo_url, "report", "safety", str(out), "--from", "2020-13-01"])
    assert r.exit_code == 2 and "expected a date as YYYY-MM-DD" in r.output
    r = runner.invoke(main, ["--db", demo_url, "report", "safety", str(tmp_path / "r.docx")])
    assert r.exit_code == 2 and "name it OUT.pdf" in r.output
    assert not any(tmp_path.iterdir())


def _stamp(pages: list[str]) -> dt.datetime:
    """When the CLI made the report, from its running header (to rebuild the very same report)."""
    (stamp,) = set(re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", pages[0]))
    return dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M UTC").replace(tzinfo=dt.UTC)


@pytest.mark.browser
@pytest.mark.skipif(chromium_path() is None, reason="no headless Chromium (apt-get install chromium)")
def test_the_pdf_is_dated_paginated_and_every_count_in_it_released(demo_url: str, inputs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pypdfium2 as pdfium

    endpoints, aes, version = inputs
    release = release_for("governance")
    out = tmp_path / "safety.pdf"
    result = CliRunner().invoke(main, ["--db", demo_url, "report", "safety", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    pages, body = pdf_text(out)
    assert len(pages) >= 2
    for i, page in enumerate(pages, start=1):
        assert f"Page {i} of {len(pages)}" in page
        assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", page), "every page carries the report's date"
    for title in SECTIONS:
        assert title in body
    assert f"Cohort: {release.text(len(endpoints))} patients" in body and f"{len(endpoints):,}" not in body
    assert DEFINITIONS_VERSION in body and version in body
    assert f"{release.text(len(aes))} serious adverse events" in body
    # the same report, rebuilt in-process at the CLI's time: its tables are the PDF's rows
    same = _report(inputs, generated_at=_stamp(pages))
    assert_tables_in_pdf(same, body)
    assert_released(scan_report(same, body))
    for paragraph in same.sections[-1].paragraphs:  # the policy section, as the release describes it
        assert paragraph in body, paragraph
    doc = pdfium.PdfDocument(str(out))
    for i in range(len(doc)):
        picture = np.asarray(doc[i].render(scale=0.5).to_pil().convert("L"))
        body_px = picture[int(0.1 * len(picture)) : int(0.9 * len(picture))]  # without running header and footer
        assert (body_px < 200).mean() > 0.005, f"page {i + 1} renders blank"  # a few lines of text pass
    doc.close()


def test_the_policy_section_describes_the_release_applied(signal_inputs) -> None:  # type: ignore[no-untyped-def]
    """The policy section and every count follow the policy object: with a minimum group size
    of 10 the report hides 1-9 and rounds to 10, and says so."""
    for k in (5, 10):
        settings = EndpointSettings(min_group_size=k)
        built = _report(signal_inputs, settings=settings)
        release = committee_release(settings)
        assert release.k == k and not release.exact
        policy = built.sections[-1]
        assert policy.title == "Disclosure policy applied"
        assert all(sentence in policy.paragraphs for sentence in release.describe())
        text = " ".join(policy.paragraphs)
        assert f"reads <{k}" in text and f"rounded to the nearest {k}" in text and f"{9 * k + 2} reads {release.text(9 * k + 2)}" in text
        marked = sum(v == f"<{k}" for _, _, v in _cells(built))
        assert f"{marked} cell(s) shown as <{k}" in text and marked > 0
        endpoints = signal_inputs[0]
        assert built.sections[0].paragraphs[0].startswith(f"Cohort: {release.text(len(endpoints))} patients")
        assert f"1 to {k - 1} shown as <{k}, other counts rounded to the nearest {k}." in built.footer


# ------------------------------------------------------------------------------------------------
# The report against the governance pages, on a registry where one centre clearly signals and
# one (TNY) has 3 patients.
SIGNAL_CENTRE = "BAD"
# centre: (patients, early transplant-related deaths): BAD has 14 of 40 against about 4 expected
SIGNAL_CENTRES = {"BAD": (40, 14), "OSL": (60, 5), "UPP": (60, 2), "SHF": (40, 0), "TNY": (3, 0)}
SIGNAL_TODAY = dt.date(2026, 6, 30)
# Serious AEs (grade >= 3): (category, grade, share of the patients alive at day 100, onset days)
SIGNAL_AES = (("FEBRILE_NEUTROPENIA", 3, 0.5, (5, 12)), ("INFECTION", 3, 0.35, (20, 90)),
              ("ORGAN_TOXICITY", 4, 0.05, (20, 90)), ("VIRAL_REACTIVATION", 3, 0.15, (40, 200)),
              ("SECONDARY_AUTOIMMUNITY", 3, 0.06, (400, 800)), ("MALIGNANCY", 4, 0.01, (900, 1500)))


def build_signal_registry(url: str) -> None:
    """Transplants 2014-2024 followed for at least a year; early deaths (days 15-90, transplant
    related) only as `SIGNAL_CENTRES` says; serious AEs in survivors as `SIGNAL_AES` says (drawn
    from their own generator, so the benchmark's patients do not depend on them)."""
    rng = np.random.default_rng(16)
    ae_rng = np.random.default_rng(17)
    engine = make_engine(url)
    with session_scope(engine) as s:
        for code, (n, deaths) in SIGNAL_CENTRES.items():
            centre = models.Centre(centre_code=code, name=f"Centre {code}", country="NO")
            s.add(centre)
            for i in range(n):
                day0 = dt.date(2014, 1, 1) + dt.timedelta(days=int(rng.integers(0, 10 * 365)))
                died = i < deaths
                last = min(SIGNAL_TODAY, day0 + dt.timedelta(days=int(rng.integers(400, 3000))))
                p = models.Patient(centre=centre, patient_code=f"{code}-{i:03d}", study_id=f"S{code}{i:04d}",
                                   sex="F" if i % 3 else "M", birth_year=day0.year - int(rng.integers(20, 55)),
                                   ms_onset_date=day0 - dt.timedelta(days=int(rng.integers(400, 5000))),
                                   last_contact_date=None if died else last)
                s.add(models.Transplant(
                    patient=p, transplant_number=1, transplant_date=day0, phenotype=("RRMS", "SPMS")[i % 2],
                    baseline_edss=float(rng.choice([2.0, 3.5, 5.0, 6.0])), relapses_12m=1, gd_lesions_baseline=0,
                    conditioning="CY_ATG", conditioning_intensity=("INTERMEDIATE", "HIGH")[i % 2]))
                if died:
                    s.add(models.Death(patient=p, death_date=day0 + dt.timedelta(days=int(rng.integers(15, 90))),
                                       cause="TRANSPLANT_RELATED"))
                    continue
                for category, grade, share, (lo, hi) in SIGNAL_AES:
                    onset = day0 + dt.timedelta(days=int(ae_rng.integers(lo, hi + 1)))
                    if ae_rng.random() < share and onset <= last:
                        s.add(models.AdverseEvent(patient=p, onset_date=onset, category=category, grade=grade))
    engine.dispose()


@pytest.fixture(scope="module")
def signal_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("signal") / "signal.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    build_signal_registry(url)
    return url


@pytest.fixture(scope="module")
def signal_inputs(signal_url: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    clear_snapshot_cache()
    engine = make_engine(signal_url, read_only=True)
    snap = load_snapshot(engine, cli_actor())
    engine.dispose()
    return derive_endpoints(snap, EndpointSettings()), serious_adverse_events(snap), snap.data_version


@pytest.fixture(scope="module")
def signal_report(signal_inputs) -> Report:  # type: ignore[no-untyped-def]
    """Made today, as the pages compute follow-up completeness on today's date."""
    return _report(signal_inputs, generated_at=dt.datetime.combine(dt.date.today(), dt.time(12, 0), tzinfo=dt.UTC))


@pytest.fixture(scope="module")
def governance_pages(signal_url: str) -> Iterator[dict[str, Any]]:
    """What the governance Safety and Overview pages show on the signal registry (one AppTest run
    each, the Safety page's benchmark under both measures): the centre tables, the serious-AE
    table, the Overview's metrics, markdown and follow-up completeness table."""
    from streamlit.testing.v1 import AppTest

    from dashboard.safety_views import BENCHMARK_MEASURES
    from tests.dashboard.test_pages import benchmark_frame, open_page

    app = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
    mp = pytest.MonkeyPatch()
    mp.setenv("MSREG_DATABASE_URL", signal_url)
    mp.setenv("MSREG_DASHBOARD_NO_LOGIN", "1")
    mp.setenv("MSREG_DASHBOARD_NO_LOGIN_AS", "governance")
    try:
        safety = open_page(AppTest.from_file(app, default_timeout=60), "safety")
        (ae_table,) = [d.value for d in safety.dataframe if "total" in [str(i).lower() for i in d.value.index]]
        benchmark = {}
        for label in BENCHMARK_MEASURES:
            safety.radio(key="sf_metric").set_value(label).run()
            assert not safety.exception, safety.exception
            benchmark[label] = benchmark_frame(safety).reset_index()
        overview = open_page(AppTest.from_file(app, default_timeout=60), "overview")
        (completeness,) = [d.value for d in overview.dataframe
                           if any(str(c).lower() == "alive" for c in d.value.columns)]
        yield {"benchmark": benchmark, "serious_aes": ae_table, "completeness": completeness,
               "metrics": {m.label: str(m.value) for m in overview.metric},
               "markdown": [str(m.value) for m in overview.markdown]}
    finally:
        mp.undo()


def _centre_subsections(report) -> dict[str, object]:  # type: ignore[no-untyped-def]
    (centres,) = [s for s in report.sections if s.title == "Centres against the registry"]
    return {sub.title: sub for sub in centres.subsections}


def _section(report: Report, title: str):  # type: ignore[no-untyped-def]
    (section,) = [s for s in report.sections if s.title == title]
    return section


def test_numbers_on_the_governance_pages_read_the_same_in_the_report(governance_pages, signal_report) -> None:  # type: ignore[no-untyped-def]
    metrics = governance_pages["metrics"]
    cohort = _section(signal_report, "Cohort").paragraphs[0]
    assert cohort.startswith(f"Cohort: {metrics['Patients']} patients "), (cohort, metrics["Patients"])

    trm = _section(signal_report, "Transplant-related and competing mortality")
    early = next(p for p in trm.paragraphs if p.startswith("Early mortality"))
    assert f"({metrics['Early mortality (≤100 days)']})." in early, (early, metrics)
    (line,) = [m for m in governance_pages["markdown"] if m.startswith("**Transplant-related mortality**")]
    page_trm = dict(re.findall(r"(\d+ years?): (.+?)(?=, \d+ years?:|$)", line.split(": ", 1)[1]))
    ((_, trm_table),) = trm.tables
    report_trm = dict(zip(trm_table["Time since transplant"], trm_table.iloc[:, 1], strict=True))
    assert set(page_trm) == {"1 year", "2 years", "5 years"}
    assert {y: report_trm[y] for y in page_trm} == page_trm

    page = governance_pages["completeness"]
    ((_, table),) = _section(signal_report, "Follow-up completeness").tables
    clark = "Clark's C (%)"  # a number the page formats as "%.0f"
    shown = page.assign(**{clark: ["—" if pd.isna(v) else f"{v:.0f}" for v in page[clark]]}).astype(str)
    pd.testing.assert_frame_equal(table.reset_index(drop=True), shown.reset_index(drop=True), check_dtype=False)
    assert table.set_index("Centre").loc["TNY", "Patients"] == "<5"

    page_ae = governance_pages["serious_aes"]
    by_category = _section(signal_report, "Serious adverse events").tables[0][1].set_index("")
    assert [str(i).lower() for i in by_category.index] == [str(i).lower() for i in page_ae.index]
    assert [str(c).lower() for c in by_category.columns] == [str(c).lower() for c in page_ae.columns]
    assert by_category.astype(str).to_numpy().tolist() == page_ae.astype(str).to_numpy().tolist()


def test_the_centre_section_is_the_safety_pages_benchmark(signal_report, governance_pages) -> None:  # type: ignore[no-untyped-def]
    page = governance_pages["benchmark"]
    subsections = _centre_subsections(signal_report)
    assert list(subsections) == list(page)  # early mortality, then TRM: the page's measures
    for label, shown in page.items():
        ((_, table),) = subsections[label].tables
        pd.testing.assert_frame_equal(table.reset_index(drop=True), shown, check_dtype=False)
        assert shown.set_index("Centre").loc[SIGNAL_CENTRE, "Signal"] == "yes", label
        assert (shown["Signal"] == "yes").sum() == 1, f"{label}: only the constructed centre signals"
        assert subsections[label].figures, "the funnel the page draws is in the report too"
    # the same centre's patients read the same in the benchmark and in the completeness table
    ((_, completeness),) = _section(signal_report, "Follow-up completeness").tables
    patients = completeness.set_index("Centre")["Patients"]
    for label, shown in page.items():
        assert shown.set_index("Centre")["Patients"].to_dict() == patients.loc[shown["Centre"]].to_dict(), label


def test_the_centre_section_states_the_method_and_the_signal_rule(signal_report) -> None:  # type: ignore[no-untyped-def]
    for label, sub in _centre_subsections(signal_report).items():
        text = " ".join(sub.paragraphs)
        assert "indirect standardisation" in text and "Garwood's exact Poisson 95% interval" in text, label
        assert "Signal rule:" in text and "below 0.025" in text and "P(X ≥ O) with X ~ Poisson(E)" in text, label
        assert "false signal(s) are expected by chance" in text, label
        (sentence,) = [p for p in sub.paragraphs if p.startswith(f"{SIGNAL_CENTRE}:")]
        assert "is a signal to review the centre's cases and data" in sentence
        (_, table), = sub.tables
        row = table.set_index("Centre")
        # governance release: 1-4 hidden with what would reveal it, other counts rounded to 5
        assert row.loc["UPP", "Events"] == "<5" and row.loc["UPP", "O/E (95% CI)"] == "—"
        assert row.loc[SIGNAL_CENTRE, "Events"] == "15" and row.loc["TNY", "Signal"] == "not tested"
        assert "rounded to the nearest 5" in text


def test_every_count_in_the_small_registrys_report_is_released(signal_report) -> None:  # type: ignore[no-untyped-def]
    assert_released(scan_report(signal_report))


@pytest.mark.browser
@pytest.mark.skipif(chromium_path() is None, reason="no headless Chromium (apt-get install chromium)")
def test_the_pdf_says_what_the_governance_pages_show(signal_url: str, signal_inputs, governance_pages,  # type: ignore[no-untyped-def]
                                                     tmp_path: Path) -> None:
    out = tmp_path / "signal.pdf"
    result = CliRunner().invoke(main, ["--db", signal_url, "report", "safety", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    pages, text = pdf_text(out)
    same = _report(signal_inputs, generated_at=_stamp(pages))
    assert_tables_in_pdf(same, text)
    assert_released(scan_report(same, text))
    assert f"Cohort: {governance_pages['metrics']['Patients']} patients" in text
    centres = text[text.index("Centres against the registry Each centre"):text.index("Serious adverse events")]
    page = governance_pages["benchmark"]
    early_label, trm_label = list(page)
    trm_at = centres.index(f"{trm_label} Observed:")  # the TRM subsection's heading
    parts = {early_label: centres[:trm_at], trm_label: centres[trm_at:]}
    for label, shown in page.items():
        part = parts[label]
        assert f"{label}: observed against expected, by centre" in part, "the funnel figure is there"
        for row in shown.itertuples(index=False):
            line = re.sub(r"\s+", " ", " ".join(str(v) for v in row))
            assert line in part, (label, line)
        flagged = shown.set_index("Centre").loc[SIGNAL_CENTRE]
        assert flagged["Signal"] == "yes" and f"{SIGNAL_CENTRE} {flagged['Patients']} 15 " in part, "flagged in its row"
        assert f"{SIGNAL_CENTRE}: 15 " in part and "is a signal to review the centre's cases and data" in part
        assert "Signal rule: a centre signals when" in part
