"""`msreg report safety`: a dated, paginated PDF a safety committee can file.

The PDF is read back as a reader would: its text extracted page by page and every page rendered
to a picture. Its numbers are checked against the functions the dashboard pages use, and its
tables against the disclosure policy (no count from 1 to 4). The centre section is checked
against the Safety page itself (AppTest, governance role) on a registry built so that one
centre clearly signals.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

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
from dashboard.report.safety import Period, build_safety_report, released_count
from registry import models
from registry.security.access import cli_actor
from registry.cli import main
from registry.db import make_engine, session_scope
from tests.dashboard.demo_registry import fill_with_demo

TODAY = dt.date(2026, 11, 30)
SECTIONS = ("Cohort", "Transplant-related and competing mortality", "Centres against the registry",
            "Serious adverse events", "Follow-up completeness", "Disclosure policy applied")


@pytest.fixture(scope="module")
def demo_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("report") / "demo.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    fill_with_demo(url, 1500, today=TODAY)
    return url


@pytest.fixture(scope="module")
def inputs(demo_url: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    clear_snapshot_cache()
    engine = make_engine(demo_url, read_only=True)
    snap = load_snapshot(engine, cli_actor())
    engine.dispose()
    return derive_endpoints(snap, EndpointSettings()), serious_adverse_events(snap), snap.data_version


def _report(inputs, period: Period = Period()):  # type: ignore[no-untyped-def]
    endpoints, aes, version = inputs
    return build_safety_report(endpoints, aes, settings=EndpointSettings(), data_version=version, period=period,
                               generated_at=dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC))


def _all_sections(sections):  # type: ignore[no-untyped-def]
    for s in sections:
        yield s
        yield from _all_sections(s.subsections)


def _cells(report) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [(caption, str(col), str(v)) for s in _all_sections(report.sections) for caption, t in s.tables
            for col in t.columns for v in t[col]]


def test_the_report_has_every_section_in_order(inputs) -> None:  # type: ignore[no-untyped-def]
    assert [s.title for s in _report(inputs).sections] == list(SECTIONS)


def test_no_count_from_1_to_4_is_released_in_any_table(inputs) -> None:  # type: ignore[no-untyped-def]
    count_columns = re.compile(r"Patients|Events|deaths|Grade|Total|^$")
    for caption, column, value in _cells(_report(inputs)):
        if count_columns.search(column) and re.fullmatch(r"[\d,]+", value):
            assert int(value.replace(",", "")) == 0 or int(value.replace(",", "")) >= 5, (caption, column, value)


def test_every_serious_event_is_accounted_for_in_the_totals(inputs) -> None:  # type: ignore[no-untyped-def]
    endpoints, aes, _ = inputs
    section = next(s for s in _report(inputs).sections if s.title == "Serious adverse events")
    for _caption, table in section.tables:
        total_row = table[table[""] == "Total"]
        assert total_row["Total"].iloc[0] == f"{len(aes):,}"


def test_estimates_equal_the_safety_pages(inputs) -> None:  # type: ignore[no-untyped-def]
    endpoints, _, _ = inputs
    sections = {s.title: s for s in _report(inputs).sections}
    compared = 0
    whole = analysis.survival_curves(endpoints, "trm").estimates.set_index("years")
    (_, trm_table), = sections["Transplant-related and competing mortality"].tables
    for label, years in (("1 year", 1), ("2 years", 2), ("5 years", 5)):
        text = trm_table.loc[trm_table["Time since transplant"] == label].iloc[0, 1]
        if re.match(r"\d", text):
            est = whole.loc[years]
            assert text == analysis.format_estimate(est["estimate"], est["lower"], est["upper"])
            compared += 1
    assert compared > 0


def test_rates_resting_on_fewer_than_5_events_are_not_given(inputs) -> None:  # type: ignore[no-untyped-def]
    texts = [v for _, c, v in _cells(_report(inputs)) if "95% CI" in c]
    assert any(v.startswith("fewer than 5 events") for v in texts) or all(re.match(r"\d|not|no ", v) for v in texts)
    assert not any(re.fullmatch(r"0\.0% \(0\.0–0\.0\)", v) for v in texts), "a zero-width interval is never shown"


def test_a_period_selects_patients_by_first_transplant_date(inputs) -> None:  # type: ignore[no-untyped-def]
    endpoints, _, _ = inputs
    period = Period(dt.date(2015, 1, 1), dt.date(2019, 12, 31))
    expected = int(((pd.to_datetime(endpoints["day0"]) >= "2015-01-01") & (pd.to_datetime(endpoints["day0"]) <= "2019-12-31")).sum())
    cohort = _report(inputs, period).sections[0].paragraphs[0]
    assert cohort.startswith(f"Cohort: {released_count(expected, 5)} patients")
    assert "from 2015-01-01 to 2019-12-31" in cohort


@pytest.mark.parametrize(("n", "text"), [(0, "0"), (1, "<5"), (4, "<5"), (5, "5"), (1234, "1,234")])
def test_released_count(n: int, text: str) -> None:
    assert released_count(n, 5) == text


def test_bad_dates_and_names_are_refused_before_anything_is_written(demo_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "r.pdf"
    r = runner.invoke(main, ["--db", demo_url, "report", "safety", str(out), "--from", "2020-01-01", "--to", "2019-01-01"])
    assert r.exit_code == 2 and "--from 2020-01-01 is after --to 2019-01-01" in r.output
    r = runner.invoke(main, ["--db", demo_url, "report", "safety", str(out), "--from", "2020-13-01"])
    assert r.exit_code == 2 and "expected a date as YYYY-MM-DD" in r.output
    r = runner.invoke(main, ["--db", demo_url, "report", "safety", str(tmp_path / "r.docx")])
    assert r.exit_code == 2 and "name it OUT.pdf" in r.output
    assert not any(tmp_path.iterdir())


@pytest.mark.browser
@pytest.mark.skipif(chromium_path() is None, reason="no headless Chromium (apt-get install chromium)")
def test_the_pdf_is_dated_paginated_and_says_what_the_dashboard_says(demo_url: str, inputs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pypdfium2 as pdfium

    endpoints, aes, version = inputs
    out = tmp_path / "safety.pdf"
    result = CliRunner().invoke(main, ["--db", demo_url, "report", "safety", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = pdfium.PdfDocument(str(out))
    pages = [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    text = "\n".join(pages)
    assert len(doc) >= 2
    for i, page in enumerate(pages, start=1):
        assert f"Page {i} of {len(doc)}" in page
        assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", page), "every page carries the report's date"
    flat = re.sub(r"\s+", " ", text.replace("\ufffe", ""))
    for title in SECTIONS:
        assert title in flat
    assert f"Cohort: {len(endpoints):,} patients" in flat
    assert DEFINITIONS_VERSION in flat and version in flat
    assert f"{len(aes):,} serious adverse events" in flat
    for i in range(len(doc)):
        picture = np.asarray(doc[i].render(scale=0.5).to_pil().convert("L"))
        body = picture[int(0.1 * len(picture)) : int(0.9 * len(picture))]  # without running header and footer
        assert (body < 128).mean() > 0.0005, f"page {i + 1} renders blank"
    doc.close()


# ------------------------------------------------------------------------------------------------
# The centre section against the Safety page, on a registry where one centre clearly signals.
SIGNAL_CENTRE = "BAD"
# centre: (patients, early transplant-related deaths): BAD has 14 of 40 against about 4 expected
SIGNAL_CENTRES = {"BAD": (40, 14), "OSL": (60, 5), "UPP": (60, 2), "SHF": (40, 0), "TNY": (3, 0)}
SIGNAL_TODAY = dt.date(2026, 6, 30)


def build_signal_registry(url: str) -> None:
    """Transplants 2014-2024 followed for at least a year; early deaths (days 15-90, transplant
    related) only as `SIGNAL_CENTRES` says."""
    rng = np.random.default_rng(16)
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
    engine.dispose()


@pytest.fixture(scope="module")
def signal_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("signal") / "signal.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    build_signal_registry(url)
    return url


@pytest.fixture(scope="module")
def signal_report(signal_url: str):  # type: ignore[no-untyped-def]
    clear_snapshot_cache()
    engine = make_engine(signal_url, read_only=True)
    snap = load_snapshot(engine, cli_actor())
    engine.dispose()
    return build_safety_report(derive_endpoints(snap, EndpointSettings()), serious_adverse_events(snap),
                               settings=EndpointSettings(), data_version=snap.data_version,
                               generated_at=dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.UTC))


def _page_benchmark_tables(app_factory, url: str) -> dict[str, pd.DataFrame]:  # type: ignore[no-untyped-def]
    """The Safety page's centre table for each measure, as the governance role sees it."""
    from dashboard.safety_views import BENCHMARK_MEASURES
    from tests.dashboard.test_pages import benchmark_frame, open_page

    at = open_page(app_factory(url, role="governance"), "safety")
    tables = {}
    for label in BENCHMARK_MEASURES:
        at.radio(key="sf_metric").set_value(label).run()
        assert not at.exception, at.exception
        tables[label] = benchmark_frame(at).reset_index()
    return tables


def _centre_subsections(report) -> dict[str, object]:  # type: ignore[no-untyped-def]
    (centres,) = [s for s in report.sections if s.title == "Centres against the registry"]
    return {sub.title: sub for sub in centres.subsections}


def test_the_centre_section_is_the_safety_pages_benchmark(signal_report, signal_url, app_factory) -> None:  # type: ignore[no-untyped-def]
    page = _page_benchmark_tables(app_factory, signal_url)
    subsections = _centre_subsections(signal_report)
    assert list(subsections) == list(page)  # early mortality, then TRM: the page's measures
    for label, shown in page.items():
        ((_, table),) = subsections[label].tables
        pd.testing.assert_frame_equal(table.reset_index(drop=True), shown, check_dtype=False)
        assert shown.set_index("Centre").loc[SIGNAL_CENTRE, "Signal"] == "yes", label
        assert (shown["Signal"] == "yes").sum() == 1, f"{label}: only the constructed centre signals"
        assert subsections[label].figures, "the funnel the page draws is in the report too"


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


@pytest.mark.browser
@pytest.mark.skipif(chromium_path() is None, reason="no headless Chromium (apt-get install chromium)")
def test_the_pdfs_centre_section_says_what_the_safety_page_shows(signal_url: str, app_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pypdfium2 as pdfium

    out = tmp_path / "signal.pdf"
    result = CliRunner().invoke(main, ["--db", signal_url, "report", "safety", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = pdfium.PdfDocument(str(out))
    text = re.sub(r"\s+", " ", " ".join(doc[i].get_textpage().get_text_range() for i in range(len(doc))).replace("\ufffe", ""))
    doc.close()
    centres = text[text.index("Centres against the registry Each centre"):text.index("Serious adverse events")]
    page = _page_benchmark_tables(app_factory, signal_url)
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
