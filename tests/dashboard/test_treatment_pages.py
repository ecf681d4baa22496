"""The dashboard on the demo cohort: DMT-free survival and treatment-free NEDA-3 on the Outcomes
page, outcomes by aggressive-MS profile with the not-assessable statement and the features in
the Cox model, engraftment on the Safety page, DMT bars on the timeline, and the treatment form."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from registry import models
from registry.db import session_scope
from tests.dashboard.demo_registry import fill_with_demo
from tests.dashboard.test_app import plotly_specs, text_of
from tests.dashboard.test_pages import names, open_page


@pytest.fixture(scope="module")
def demo_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    fill_with_demo(url, 400, today=dt.date(2026, 11, 24))
    return url


def _title(spec: dict) -> str:
    return spec["layout"]["title"]["text"]


def test_outcomes_shows_dmt_free_survival_for_the_demo(app_factory, demo_url):
    at = open_page(app_factory(demo_url), "outcomes")
    at.selectbox(key="o_endpoint").set_value("dmt_free").run()
    assert not at.exception
    km = plotly_specs(at)[0]
    assert _title(km) == "DMT-free survival"
    curve = next(t for t in km["data"] if t["name"] == "All patients")["y"]
    assert curve[0] == 1.0 and 0.5 < min(curve) < 1.0  # some restart a DMT, most do not
    at.selectbox(key="o_endpoint").set_value("tf_neda").run()
    assert not at.exception and _title(plotly_specs(at)[0]) == "Treatment-free NEDA-3"


def test_outcomes_by_number_of_aggressive_features_and_by_each_feature(app_factory, demo_url):
    at = open_page(app_factory(demo_url), "outcomes")
    profile = plotly_specs(at)[1]
    assert _title(profile) == "Relapse-free survival by number of features"
    assert {"0 features", "1 feature", "2 features", "3-4 features"} <= set(names(profile))
    at.radio(key="o_profile").set_value("F4 high MRI activity").run()
    assert not at.exception
    assert {"Present", "Not shown"} <= set(names(plotly_specs(at)[1]))
    statement = text_of(at)
    for label in ("F1 frequent early relapses", "F2 incomplete recovery", "F3 rapid disability", "F4 high MRI activity"):
        assert label in statement
    assert "could not be assessed for lack of data" in statement


def test_the_aggressive_features_enter_the_cox_model_on_request(app_factory, demo_url):
    at = open_page(app_factory(demo_url), "outcomes")
    at.selectbox(key="o_endpoint").set_value("neda").run()
    at.checkbox(key="o_cox_features").check().run()
    assert not at.exception
    forest = plotly_specs(at)[-1]
    assert any(str(t).startswith("F") and "present vs not" in str(t) for t in forest["data"][0]["y"])


def test_outcomes_compare_by_a_feature(app_factory, demo_url):
    at = open_page(app_factory(demo_url), "outcomes")
    at.selectbox(key="o_by").set_value("Aggressive-MS features (number)").run()
    assert not at.exception
    assert "0 features" in names(plotly_specs(at)[0])


def test_safety_shows_engraftment_by_centre_and_regimen(app_factory, demo_url):
    at = open_page(app_factory(demo_url), "safety")
    fig = next(s for s in plotly_specs(at) if _title(s).startswith("Neutrophil engraftment"))
    # twelve centres: small multiples, the time axis named once under the panels
    (x_title,) = [a["text"] for a in fig["layout"]["annotations"] if a.get("name") == "x title"]
    assert x_title == "Days since transplant"
    shown = [t for t in fig["data"] if "hovertemplate" in t and t.get("name") and "CI" not in t["name"]]
    assert len(shown) >= 3 and all(max(t["y"]) > 0.5 for t in shown)  # curves stop when < 5 remain at risk
    at.radio(key="sf_engraft_by").set_value("Whole cohort").run()
    (whole,) = [t for t in next(s for s in plotly_specs(at) if _title(s).startswith("Neutrophil"))["data"] if t.get("name") == "All patients"]
    assert max(whole["y"]) > 0.9 and whole["x"][list(whole["y"]).index(next(y for y in whole["y"] if y >= 0.5))] <= 12
    at.radio(key="sf_engraft_by").set_value("Conditioning regimen").run()
    assert not at.exception
    fig = next(s for s in plotly_specs(at) if _title(s).startswith("Neutrophil engraftment"))
    assert "BEAM + ATG" in names(fig) and "BEAM_ATG" not in names(fig)  # regimens in words
    table = at.dataframe[-1].value
    assert list(table.columns) == ["Conditioning regimen", "Patients", "By day 14", "By day 21", "By day 28"]


def test_timeline_draws_the_dmt_periods_of_a_demo_patient(app_factory, demo_url):
    from sqlalchemy import create_engine

    engine = create_engine(demo_url)
    with session_scope(engine) as s:
        centre, code = s.execute(
            select(models.Centre.centre_code, models.Patient.patient_code)
            .join(models.Patient).join(models.Treatment).limit(1)
        ).one()
    engine.dispose()
    at = open_page(app_factory(demo_url), "timeline")
    at.selectbox(key="t_centre").set_value(centre).run()
    at.selectbox(key="t_patient").set_value(code).run()
    assert not at.exception
    fig = plotly_specs(at)[0]
    assert any(list(t.get("y") or []) == ["DMT", "DMT"] for t in fig["data"])


def test_entry_form_refuses_a_stop_before_start_then_saves_a_treatment(app_factory, writable_registry):
    url, engine = writable_registry
    at = open_page(app_factory(url), "entry")
    at.selectbox(key="entry_entity").set_value("treatments").run()
    at.selectbox(key="new_treatments_centre_code").set_value("OSL")
    at.text_input(key="new_treatments_patient_code").set_value("OSL-001")
    at.selectbox(key="new_treatments_drug").set_value("NATALIZUMAB")
    at.text_input(key="new_treatments_start_date").set_value("2010-03-01")  # dates are typed (dashboard.forms)
    at.text_input(key="new_treatments_stop_date").set_value("2010-02-01")
    at.button[0].click().run()
    errors = [e.value for e in at.error if "Login is switched off" not in e.value]
    assert len(errors) == 1 and "before its start" in errors[0]
    at.text_input(key="new_treatments_stop_date").set_value("2011-02-01")
    at.selectbox(key="new_treatments_stop_reason").set_value("INEFFICACY")
    at.button[0].click().run()
    assert not at.exception
    assert any("Saved treatment" in s.value for s in at.success)
    with session_scope(engine) as s:
        saved = s.execute(select(models.Treatment.drug, models.Treatment.stop_reason)).all()
    assert [tuple(r) for r in saved] == [("NATALIZUMAB", "INEFFICACY")]
