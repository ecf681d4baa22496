"""Each page, through AppTest: it renders, its key elements are there, and the controls change
what it shows. The registry is the small fixed cohort of tests/dashboard/cohort.py (4 centres,
one of them with 3 patients)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from registry import models
from registry.db import session_scope

from tests.dashboard.test_app import plotly_specs, text_of


def open_page(at, name: str):  # type: ignore[no-untyped-def]
    at.run()
    at.switch_page(f"app_pages/{name}.py").run()
    assert not at.exception, at.exception
    return at


def names(spec: dict) -> list[str]:
    return [t.get("name") for t in spec["data"]]


def test_outcomes_shows_km_with_risk_table_and_estimates(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "outcomes")
    (km, _profile) = plotly_specs(at)  # RFS: 42 events for 11 Cox terms, too few for a model
    assert km["layout"]["title"]["text"] == "Relapse-free survival"
    assert "All patients" in names(km) and "All patients 95% CI" in names(km) and "All patients at risk" in names(km)
    estimates = at.dataframe[0].value
    assert list(estimates.columns) == ["Group", "Patients", "Events", "Median (years)", "1 year", "2 years", "3 years",
                                       "5 years"]
    assert estimates.loc[0, "Group"] == "All patients" and estimates.loc[0, "Patients"] == "78"
    assert any("No Cox model" in i.value for i in at.info)


def test_outcomes_cox_forest_plot_when_events_allow(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "outcomes")
    at.selectbox(key="o_endpoint").set_value("neda").run()  # 68 events for 11 terms
    (km, _profile, forest) = plotly_specs(at)
    assert forest["layout"]["xaxis"]["type"] == "log"
    assert any(t.startswith("Phenotype: ") and " vs " in t for t in forest["data"][0]["y"])
    # levels in words (the data dictionary's), not codes
    assert any(t.startswith("Phenotype: ") and t.endswith(" vs Relapsing-remitting MS") for t in forest["data"][0]["y"])


def test_outcomes_cox_model_shows_the_ph_test_and_can_cluster_by_centre(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "outcomes")
    at.selectbox(key="o_endpoint").set_value("neda").run()
    ph = next(d.value for d in at.dataframe if "Chi-square" in d.value.columns)
    assert ph["Term"].iloc[-1] == "Global" and ph["p-value"].between(0, 1).all()
    def forest_spec():  # type: ignore[no-untyped-def]
        return next(s for s in plotly_specs(at) if "Cox proportional hazards" in s["layout"]["title"]["text"])

    plain = forest_spec()["data"][0]["error_x"]["array"]
    at.toggle(key="o_cluster").set_value(True).run()
    assert not at.exception
    forest = forest_spec()
    assert forest["data"][0]["error_x"]["array"] != plain
    assert not any("Sex: Unknown" in t for t in forest["data"][0]["y"])


def test_outcomes_by_centre_has_logrank_and_no_curve_for_the_tiny_centre(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "outcomes")
    at.selectbox(key="o_by").set_value("Centre").run()
    assert not at.exception
    km = plotly_specs(at)[0]
    assert {"OSL", "SHF", "UPP"} <= set(names(km)) and "TNY" not in names(km)
    assert set(next(t for t in km["data"] if t["name"] == "TNY at risk")["text"]) == {"<5"}
    assert any("Log-rank p" in a["text"] for a in km["layout"]["annotations"])
    table = at.dataframe[0].value.set_index("Centre")
    assert table.loc["TNY", "Patients"] == "<5" and table.loc["TNY", "1 year"] == "—"
    assert [m.label for m in at.metric] == ["Log-rank p"]


def test_outcomes_endpoint_choice_changes_the_curve(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "outcomes")
    rfs = next(t for t in plotly_specs(at)[0]["data"] if t["name"] == "All patients")["y"]
    at.selectbox(key="o_endpoint").set_value("os").run()
    os_ = next(t for t in plotly_specs(at)[0]["data"] if t["name"] == "All patients")["y"]
    assert rfs != os_
    at.selectbox(key="o_endpoint").set_value("trm").run()
    assert not at.exception
    trm = plotly_specs(at)[0]
    assert trm["layout"]["title"]["text"] == "Transplant-related mortality"
    assert next(t for t in trm["data"] if t["name"] == "All patients")["y"][0] == 0.0
    assert len(plotly_specs(at)) == 2  # the curve and the profile view; no Cox model for a competing-risks endpoint


def test_outcomes_confirmation_setting_changes_pfs(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "outcomes")
    at.selectbox(key="o_endpoint").set_value("pfs").run()
    events_182 = at.dataframe[0].value.loc[0, "Events"]
    at.sidebar.radio(key="s_confirmation").set_value(84).run()
    assert not at.exception
    events_84 = at.dataframe[0].value.loc[0, "Events"]
    assert int(events_84) >= int(events_182)
    assert any("≥84 days" in a["text"] for a in plotly_specs(at)[0]["layout"]["annotations"])


def test_safety_shows_trm_incidence_funnel_and_serious_aes(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "safety")
    specs = plotly_specs(at)
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert titles[0] == "Transplant-related mortality"
    assert titles[1].startswith("Deaths after transplant")
    assert titles[2].startswith("Transplant-related mortality by")
    assert titles[3].endswith("observed against expected, by centre")
    assert titles[4].startswith("Serious adverse events")
    funnel = specs[3]
    centres = next(t for t in funnel["data"] if t["name"] == "Centres")
    assert [c[2] for c in centres["customdata"]] == ["OSL", "SHF", "UPP"]  # every centre in its hover text
    assert [t for t in centres["text"] if t] == [c[2] for c in centres["customdata"] if c[0] == "signal"]  # labels: signals only
    assert funnel["layout"]["xaxis"]["title"]["text"] == "Expected number of events"
    by_centre = benchmark_frame(at)
    assert by_centre.loc["TNY", "Signal"] == "not tested" and by_centre.loc["OSL", "Patients"] == "30"
    at.radio(key="sf_metric").set_value("Transplant-related mortality by 1 year").run()
    assert not at.exception
    assert plotly_specs(at)[3]["layout"]["title"]["text"].startswith("Transplant-related mortality by 1 year")


def benchmark_frame(at):  # type: ignore[no-untyped-def]
    return next(d.value for d in at.dataframe if "Signal" in d.value.columns).set_index("Centre")


def test_safety_benchmark_is_the_same_as_msreg_benchmark(app_factory, small_registry_url):
    from analytics.benchmarking import benchmark
    from analytics.endpoints import derive_endpoints
    from analytics.snapshot import load_snapshot
    from registry.security.access import cli_actor
    from registry.db import make_engine

    engine = make_engine(small_registry_url, read_only=True)
    expected = benchmark(derive_endpoints(load_snapshot(engine, cli_actor())), "early_mortality").table.set_index("centre_code")
    engine.dispose()
    shown = benchmark_frame(open_page(app_factory(small_registry_url), "safety"))
    for centre in ("OSL", "SHF", "UPP"):
        assert shown.loc[centre, "Expected"] == f"{expected.loc[centre, 'expected']:.1f}"
        assert shown.loc[centre, "Signal"] == ("yes" if expected.loc[centre, "signal"] else "no")


def test_safety_explains_each_centres_result_in_one_sentence(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "safety")
    sentences = [m.value for m in at.markdown if m.value.startswith("- ")]
    assert {s[2:5] for s in sentences} >= {"OSL", "SHF", "UPP", "TNY"}
    assert all(("not proof" in s) or ("does not show" in s) or ("too few" in s) for s in sentences)


def test_safety_compares_trm_between_groups_with_grays_test(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "safety")
    at.selectbox(key="sf_trm_by").set_value("Sex").run()
    assert not at.exception
    tests = next(d.value for d in at.dataframe if "Test" in d.value.columns)
    assert tests["Test"].tolist() == ["Gray's test", "Cause-specific log-rank test"]
    assert list(tests.columns) == ["Test", "Statistic", "Degrees of freedom", "p-value"]


def test_safety_hides_small_death_counts_from_governance(app_factory, small_registry_url):
    admin = benchmark_frame(open_page(app_factory(small_registry_url), "safety"))
    gov_at = open_page(app_factory(small_registry_url, role="governance"), "safety")
    gov = benchmark_frame(gov_at)
    small = [c for c in admin.index if admin.loc[c, "Events"] in {"1", "2", "3", "4"}]
    assert small, "the test cohort should have a centre with 1-4 early deaths"
    for c in small:
        assert gov.loc[c, "Events"] == "<5"
        assert gov.loc[c, "O/E (95% CI)"] == "—" and gov.loc[c, "p (one-sided)"] == "—"
        assert gov.loc[c, "Estimate (95% CI)"] == "—"
    funnel = next(s for s in plotly_specs(gov_at) if s["layout"]["title"]["text"].endswith("by centre"))
    drawn = next((t["text"] for t in funnel["data"] if t["name"] == "Centres"), [])
    assert not set(small) & set(drawn)
    sentences = {m.value[2:].split(":")[0]: m.value for m in gov_at.markdown if m.value.startswith("- ")}
    for c in small:
        assert f"{c}: <5 " in sentences[c] and "O/E" not in sentences[c] and "p =" not in sentences[c]


def test_a_sensitivity_setting_in_the_sidebar_is_stamped_on_the_figures(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "safety")
    assert not any("SENSITIVITY" in a["text"] for s in plotly_specs(at) for a in s["layout"].get("annotations", []))
    at.sidebar.checkbox(key="s_unknown_trm").check().run()
    assert not at.exception
    captions = [a["text"] for s in plotly_specs(at) for a in s["layout"].get("annotations", []) if a.get("name") == "caption"]
    assert captions and all("SENSITIVITY ANALYSIS" in c.replace("<br>", " ") for c in captions)


def test_quality_page_lists_per_centre_and_records_to_fix(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "quality")
    assert at.title[0].value == "Data quality"
    assert set(at.dataframe[0].value["Centre"]) == {"OSL", "SHF", "UPP", "TNY"}
    issues = at.dataframe[1].value
    assert list(issues.columns) == ["Centre", "Patient", "Problem", "Detail", "Open"]  # open: the patient page
    assert "no baseline EDSS" in set(issues["Problem"])  # the cohort has patients without one
    at.multiselect(key="q_problems").set_value(["no baseline EDSS"]).run()
    assert set(at.dataframe[1].value["Problem"]) == {"no baseline EDSS"}


def test_quality_page_gives_researchers_counts_per_centre_and_problem_not_records(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url, role="researcher"), "quality")
    table = at.dataframe[1].value
    assert "Patient" not in table.columns and "Detail" not in table.columns  # details quote dates
    assert "no baseline EDSS" in set(table.columns)  # problems as columns, centres as rows: counts only
    assert set(table.to_numpy().ravel()) <= {"0", "<5"} | {str(5 * i) for i in range(1, 100)}


def test_timeline_uses_patient_codes_for_admin(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "timeline")
    assert at.selectbox(key="t_patient").value.startswith("OSL-")
    (fig,) = plotly_specs(at)
    assert "EDSS" in names(fig) and "Day 0" in names(fig)
    assert fig["layout"]["title"]["text"].startswith("Patient code OSL-")
    first = fig["layout"]["title"]["text"]
    at.selectbox(key="t_patient").set_value("OSL-001").run()
    assert plotly_specs(at)[0]["layout"]["title"]["text"] != first


@pytest.mark.parametrize("role", ["governance", "researcher"])
def test_timeline_is_not_shown_to_aggregate_roles(app_factory, small_registry_url, role):
    at = open_page(app_factory(small_registry_url, role=role), "timeline")
    assert plotly_specs(at) == [] and not at.selectbox
    assert any("aggregates only" in i.value for i in at.info)


def test_export_offers_csv_parquet_and_settings_json_without_identifiers(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "export")
    dictionary = at.dataframe[0].value
    assert list(dictionary.columns) == ["Column in the file", "Meaning"]  # the file's own column names, explained
    assert list(dictionary["Column in the file"])[:2] == ["study_id", "centre_code"]
    assert "patient_code" not in set(dictionary["Column in the file"])
    assert "78 patients" in text_of(at)
    at.sidebar.multiselect(key="f_centres").set_value(["SHF"]).run()
    assert "25 patients" in text_of(at)


def test_entry_new_visit_errors_at_the_field_then_saves_and_resets(app_factory, writable_registry):
    url, engine = writable_registry
    with session_scope(engine) as s:
        day0 = s.execute(select(models.Transplant.transplant_date).join(models.Patient)
                         .where(models.Patient.patient_code == "OSL-001")).scalar_one()
    at = open_page(app_factory(url), "entry")
    at.selectbox(key="entry_entity").set_value("visits").run()
    at.selectbox(key="new_visits_centre_code").set_value("OSL")
    at.text_input(key="new_visits_patient_code").set_value("OSL-999")
    at.button[0].click().run()  # no visit date
    assert not at.exception
    errors = [e.value for e in at.error if "Login is switched off" not in e.value]
    assert errors == ["required value is missing"]
    assert at.text_input(key="new_visits_patient_code").value == "OSL-999"  # kept for fixing

    at.text_input(key="new_visits_visit_date").set_value((day0 + dt.timedelta(days=10)).isoformat())
    at.button[0].click().run()  # the patient does not exist
    errors = [e.value for e in at.error if "Login is switched off" not in e.value]
    assert len(errors) == 1 and "OSL-999" in errors[0]

    at.text_input(key="new_visits_patient_code").set_value("OSL-001")
    at.selectbox(key="new_visits_edss").set_value(4.5)
    at.button[0].click().run()
    assert not at.exception
    assert any("Saved visit" in s.value for s in at.success)
    assert at.text_input(key="new_visits_patient_code").value == ""
    with session_scope(engine) as s:
        saved = s.execute(select(models.Visit.edss).where(models.Visit.visit_date == day0 + dt.timedelta(days=10))).scalars().all()
    assert saved == [4.5]


def test_entry_bundle_upload_rejects_a_bad_bundle_with_row_level_errors(app_factory, small_registry_url):
    at = open_page(app_factory(small_registry_url), "entry")
    assert [t.label for t in at.tabs] == ["New record", "Correct a record", "Upload bundle"]
    bad = b"centre_code,patient_code,visit_date,edss\nOSL,OSL-001,2020-01-01,0.5\nOSL,NOBODY,2020-01-01,2.0\n"
    at.file_uploader(key="upload_file_0").set_value(("visits.csv", bad, "text/csv")).run()
    assert not at.exception
    assert any("cannot be imported: 2 error(s)" in e.value for e in at.error)  # found by the preview
    assert [b.label for b in at.get("download_button")] == ["Download the errors (CSV)"]
    errors = at.dataframe[0].value
    assert list(errors.columns) == ["File", "Line", "Column", "Value", "Message"]
    assert list(errors["Line"]) == [2, 3] and list(errors["Column"]) == ["edss", "patient_code"]  # the file's columns


def test_entry_bundle_upload_imports_a_good_bundle_into_an_empty_registry(app_factory, sqlite_url):
    at = open_page(app_factory(sqlite_url), "entry")
    at.file_uploader(key="upload_file_0").set_value(("bundle.zip", _zip({
        "centres.csv": "centre_code,name,country\nAAA,Alpha,NO\n",
        "patients.csv": "centre_code,patient_code,sex,birth_year\nAAA,P1,F,1980\n"}), "application/zip")).run()
    assert not at.exception
    preview = at.dataframe[0].value  # before anything is written
    assert list(preview["File"]) == ["centres.csv", "patients.csv"] and list(preview["New records"]) == [1, 1]
    at.button(key="upload_go").click().run()
    assert not at.exception
    assert any("Bundle imported: centres.csv 1 new, 0 updated; patients.csv 1 new, 0 updated." in s.value for s in at.success)


def _zip(files: dict[str, str]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


@pytest.mark.parametrize("role", ["governance", "researcher"])
def test_overview_and_outcomes_render_for_roles_without_patient_codes(app_factory, small_registry_url, role):
    at = open_page(app_factory(small_registry_url, role=role), "outcomes")
    assert plotly_specs(at)


def save_correction(at):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == "Save correction")


def test_entry_correction_needs_a_reason_then_updates_with_an_audit_row(app_factory, writable_registry):
    url, engine = writable_registry
    at = open_page(app_factory(url, role="centre:SHF"), "entry")
    at.selectbox(key="fix_entity").set_value("visits").run()
    assert at.selectbox(key="fix_centre").value == "SHF" and at.selectbox(key="fix_centre").disabled
    at.text_input(key="fix_patient").set_value("SHF-002").run()
    assert not at.exception
    rec_prefix = next(w.key for w in at.selectbox if w.key and w.key.startswith("fix_visits_") and w.key.endswith("_edss"))
    rec_prefix = rec_prefix[: -len("edss")]
    old = at.selectbox(key=f"{rec_prefix}edss").value
    new = 8.0 if old != 8.0 else 7.5
    at.selectbox(key=f"{rec_prefix}edss").set_value(new)
    save_correction(at).click().run()  # no reason
    assert any("reason is needed" in e.value for e in at.error)
    at.text_input(key=f"{rec_prefix}reason").set_value("transcription error")
    save_correction(at).click().run()
    assert not at.exception
    assert any("Corrected visit" in s.value for s in at.success)
    with session_scope(engine) as s:
        entry = s.execute(select(models.AuditEntry).where(models.AuditEntry.action == "UPDATE")).scalars().one()
        assert entry.reason == "transcription error" and entry.actor == "no-login:centre"
        assert str(new) in entry.new_values


PAGES = ("overview", "outcomes", "safety", "quality", "timeline", "patient", "entry", "export")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_copes_with_a_tiny_or_empty_cohort(app_factory, small_registry_url, page):
    at = open_page(app_factory(small_registry_url), page)
    at.sidebar.multiselect(key="f_centres").set_value(["TNY"]).run()  # 3 patients: below the group size
    assert not at.exception, at.exception
    for spec in plotly_specs(at):
        assert not any(t.get("name") == "TNY" for t in spec["data"] if t.get("type") == "scatter" and t.get("line", {}).get("shape") == "hv")
    at.sidebar.multiselect(key="f_phenotypes").set_value(["PPMS"])
    at.sidebar.multiselect(key="f_centres").set_value(["TNY", "UPP"]).run()
    at.sidebar.slider(key="f_years").set_value((2012, 2012)).run()  # very likely nobody
    assert not at.exception, at.exception


def test_export_files_are_the_survival_export_of_the_selected_cohort(small_registry_url):
    import io

    import pandas as pd
    import pyarrow.parquet as pq

    from analytics.endpoints import SURVIVAL_EXPORT_COLUMNS
    from analytics.settings import EndpointSettings
    from analytics.snapshot import data_version
    from dashboard import data
    from registry.db import make_engine

    engine = make_engine(small_registry_url)
    version = data_version(engine)
    engine.dispose()
    csv, parquet, meta = data.survival_export_files(
        small_registry_url, ("researcher", None), version, data.settings_key(EndpointSettings()),
        (("OSL", "UPP"), (), None), "centres OSL, UPP",
    )
    frame = pd.read_csv(io.BytesIO(csv))
    assert list(frame.columns) == list(SURVIVAL_EXPORT_COLUMNS)
    # every patient of the cohort, centres generalised (pooled or blanked) for k-anonymity only
    assert set(frame["centre_code"].dropna()) <= {"OSL", "UPP", "other centres"} and len(frame) == 50
    assert meta["disclosure"]["k"] == 5 and meta["disclosure"]["smallest_group"] >= 5
    table = pq.read_table(io.BytesIO(parquet))
    assert table.num_rows == 50 and b"msreg" in table.schema.metadata
    assert meta["settings"]["confirmation_days"] == 182 and meta["cohort_filters"] == "centres OSL, UPP"


def _figure_counts(at) -> list[str]:  # type: ignore[no-untyped-def]
    """Every count a page's figures draw: risk-table texts and bar values."""
    out: list[str] = []
    for spec in plotly_specs(at):
        for t in spec["data"]:
            if t.get("mode") == "text":
                out += [str(v) for v in t.get("text", [])]
            elif t.get("type") == "bar":
                out += [str(v) for v in (t.get("x") if t.get("orientation") == "h" else t.get("y")) or [] if v is not None]
    return out


@pytest.mark.parametrize("page", ["outcomes", "safety"])
def test_figures_show_governance_no_count_from_1_to_4(app_factory, small_registry_url, page):
    admin = _figure_counts(open_page(app_factory(small_registry_url), page))
    assert {"1", "2", "3", "4"} & set(admin), "the test cohort should have small counts for the admin"
    gov = _figure_counts(open_page(app_factory(small_registry_url, role="governance"), page))
    assert gov and not {"1", "2", "3", "4"} & set(gov)


def test_a_large_upload_imports_beside_the_session_and_reports_when_done(app_factory, sqlite_url, monkeypatch):
    from dashboard import import_job

    monkeypatch.setattr(import_job, "BACKGROUND_ROWS", 0)  # every bundle counts as large here
    at = open_page(app_factory(sqlite_url), "entry")
    at.file_uploader(key="upload_file_0").set_value(("bundle.zip", _zip({
        "centres.csv": "centre_code,name,country\nAAA,Alpha,NO\n",
        "patients.csv": "centre_code,patient_code,sex,birth_year\nAAA,P1,F,1980\nAAA,P2,M,1970\n"}), "application/zip")).run()
    at.button(key="upload_go").click().run()
    assert not at.exception, at.exception
    job = at.session_state["_upload_job"]
    job.wait(30)
    assert job.finished and job.error is None and (job.done, job.total) == (3, 3)
    at.run()
    assert not at.exception, at.exception
    assert any("Bundle imported: centres.csv 1 new, 0 updated; patients.csv 2 new, 0 updated." in s.value for s in at.success)
    assert "_upload_job" not in at.session_state
