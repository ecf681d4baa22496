"""The app as a whole: start page for an empty registry, navigation and shared sidebar, roles."""

from __future__ import annotations

import json

import pytest


def plotly_specs(at) -> list[dict]:  # type: ignore[no-untyped-def]
    """Every Plotly chart on the page, as the figure JSON sent to the browser, with Plotly's
    typed arrays (`{"dtype", "bdata"}`, what NumPy arrays become) decoded into lists."""
    return [json.loads(el.proto.spec, object_hook=_typed_array_as_list) for el in at.get("plotly_chart")]


def figure_dict(fig) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """`fig.to_dict()` as the browser reads it: typed arrays (NumPy arrays) decoded into lists."""
    return json.loads(fig.to_json(), object_hook=_typed_array_as_list)


def _typed_array_as_list(obj: dict) -> object:  # type: ignore[type-arg]
    if set(obj) - {"shape"} != {"dtype", "bdata"}:
        return obj
    import base64

    import numpy as np

    array = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
    if obj.get("shape"):
        array = array.reshape([int(s) for s in str(obj["shape"]).split(",")])
    return array.tolist()


def text_of(at) -> str:  # type: ignore[no-untyped-def]
    parts = [m.value for m in at.markdown] + [t.value for t in at.title] + [c.value for c in at.caption]
    parts += [e.value for e in at.info] + [e.value for e in at.warning] + [s.value for s in at.subheader]
    return "\n".join(str(p) for p in parts)


def test_empty_registry_shows_the_start_page_not_an_error(app_factory, sqlite_url):
    at = app_factory(sqlite_url).run()
    assert not at.exception
    assert "msreg demo" in text_of(at) and "msreg import" in text_of(at)
    assert "no transplants yet" in text_of(at)


def test_empty_registry_still_offers_data_entry_to_writers_only(app_factory, sqlite_url):
    at = app_factory(sqlite_url, role="researcher").run()
    assert not at.exception
    assert "ask a centre data manager" in text_of(at)


def test_overview_renders_headline_outcomes_and_activity(app_factory, small_registry_url):
    at = app_factory(small_registry_url).run()
    assert not at.exception
    assert at.title[0].value == "Overview"
    assert at.metric[0].value == "78"
    headline = at.dataframe[0].value
    assert list(headline["Endpoint"]) == ["Relapse-free survival", "Progression-free survival", "NEDA-3 survival",
                                          "Overall survival"]
    assert headline["1 year"].str.contains("%").all()
    (bars,) = plotly_specs(at)
    assert {t["name"] for t in bars["data"]} == {"OSL", "SHF", "UPP", "TNY"}
    assert any("Settings: CDW confirmed after ≥182 days" in a["text"] for a in bars["layout"]["annotations"])
    assert any("78 transplants, 0 of them a second" in a["text"] for a in bars["layout"]["annotations"])
    assert sum(sum(t["y"]) for t in bars["data"]) == 78


def test_sidebar_centre_filter_changes_the_cohort(app_factory, small_registry_url):
    at = app_factory(small_registry_url).run()
    at.sidebar.multiselect(key="f_centres").set_value(["OSL"]).run()
    assert not at.exception
    assert at.metric[0].value == "30"
    (bars,) = plotly_specs(at)
    assert [t["name"] for t in bars["data"]] == ["OSL"]


def test_confirmation_setting_is_written_on_every_figure(app_factory, small_registry_url):
    at = app_factory(small_registry_url).run()
    at.sidebar.radio(key="s_confirmation").set_value(84).run()
    assert not at.exception
    (bars,) = plotly_specs(at)
    assert any("≥84 days" in a["text"] for a in bars["layout"]["annotations"])


def test_centre_user_sees_only_their_centre_and_no_centre_filter(app_factory, small_registry_url):
    at = app_factory(small_registry_url, role="centre:SHF").run()
    assert not at.exception
    assert at.metric[0].value == "25"
    assert not [w for w in at.sidebar.multiselect if w.key == "f_centres"]


@pytest.mark.parametrize("role,has_entry", [("admin", True), ("centre:OSL", True), ("governance", False), ("researcher", False)])
def test_data_entry_page_only_for_roles_that_write(app_factory, small_registry_url, role, has_entry):
    at = app_factory(small_registry_url, role=role).run()
    assert not at.exception
    if has_entry:
        at.switch_page("app_pages/entry.py").run()
        assert not at.exception
    else:
        with pytest.raises(Exception):
            at.switch_page("app_pages/entry.py").run()
