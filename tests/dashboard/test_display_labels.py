"""No machine name reaches a reader: every page, as every role, through AppTest.

What is read: every dataframe's headers, index name and index labels, every code-like cell
(UPPER_CODE with an underscore, e.g. FEBRILE_NEUTROPENIA), and in every Plotly figure the
legend entries, the axis titles and the categories of categorical axes. A machine name is a
snake_case name (`centre_code`), an UPPER_CODE (`BEAM_ATG`) or one lower-case word (`hr`,
`group`, `all`): dashboard.labels.is_machine_name, the rule the pages' display mapping is
written against. Exceptions are values that are a documented contract shown as such: the export
page's "Column in the file" and the bundle error table's "Column" name file columns.

Codes of the data dictionary's code lists count as raw too where they have words ("F",
"INFECTION"), in cells, legends and categories. The registry is the small test cohort; each role opens every page in one session (the first run
is the costly one), with the controls that show other tables and legends: grouping by centre,
by sex and by regimen, the NEDA-3 Cox model, TRM by sex. Many-group figures (small multiples)
are checked in tests/dashboard/test_figures.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from dashboard.labels import is_machine_name
from registry.dictionary import code_label
from tests.dashboard.test_released_payload import as_role

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
ROLES = ("admin", "centre", "governance", "researcher")
# (page, controls): every page, then the views with other tables and legends.
VIEWS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("overview", {}),
    ("outcomes", {}),
    ("outcomes", {"o_endpoint": "neda", "o_by": "Sex"}),  # Cox model, PH test, groups in words
    ("outcomes", {"o_endpoint": "trm", "o_by": "Conditioning regimen"}),  # Fine–Gray, regimen codes
    ("outcomes", {"o_by": "Centre"}),
    ("safety", {}),
    ("safety", {"sf_trm_by": "Sex"}),
    ("quality", {}),
    ("timeline", {}),
    ("patient", {}),
    ("entry", {}),
    ("export", {}),
)
# Columns whose values are the names of file columns, shown on purpose (a documented contract).
FILE_COLUMN_HEADERS = {"Column in the file", "Column"}


def is_raw(value: Any) -> bool:
    """A machine name, or a code of the data dictionary's code lists shown as the code ("F",
    "INFECTION") where it has words."""
    return isinstance(value, str) and (is_machine_name(value) or code_label(value) != value)


def frame_problems(frame: pd.DataFrame, where: str) -> list[str]:
    """Machine names among a table's headers, index and code-like cells."""
    found = [f"{where}: header {c!r}" for c in frame.columns if is_raw(str(c))]
    if frame.index.name is not None and is_raw(str(frame.index.name)):
        found.append(f"{where}: index name {frame.index.name!r}")
    if not isinstance(frame.index, pd.RangeIndex):
        found += [f"{where}: row label {i!r}" for i in frame.index if is_raw(i)]
    for column in frame.columns:
        if str(column) in FILE_COLUMN_HEADERS:
            continue
        for v in frame[column]:
            if isinstance(v, str) and (code_label(v) != v or ("_" in v and v.isupper() and is_machine_name(v))):
                found.append(f"{where}: code {v!r} in column {column!r}")
    return found


def figure_problems(spec: dict[str, Any], where: str) -> list[str]:
    """Machine names among a figure's legend entries, axis titles and axis categories."""
    layout = spec["layout"]
    title = (layout.get("title") or {}).get("text", "")
    found = []
    legend_shown = layout.get("showlegend", True) is not False
    for trace in spec["data"]:
        if legend_shown and trace.get("showlegend", True) is not False and is_raw(trace.get("name")):
            found.append(f"{where} {title!r}: legend {trace['name']!r}")
        categories = trace.get("y") if trace.get("orientation") == "h" else trace.get("x") if trace.get("type") == "bar" else None
        for c in categories if isinstance(categories, list) else []:
            if is_raw(c):
                found.append(f"{where} {title!r}: category {c!r}")
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            text = (axis.get("title") or {}).get("text")
            if text and is_machine_name(text):
                found.append(f"{where} {title!r}: {name} title {text!r}")
            for c in axis.get("categoryarray") or []:
                if is_raw(c):
                    found.append(f"{where} {title!r}: {name} category {c!r}")
    return found


def test_the_rule_finds_machine_names() -> None:
    """Guard: the checks flag what the pages used to show, and pass what they show now."""
    raw = pd.DataFrame({"term": ["x"], "hr": [1.2], "95% CI lower": [1.0], "category": ["FEBRILE_NEUTROPENIA"]})
    assert frame_problems(raw, "t") == ["t: header 'term'", "t: header 'hr'", "t: header 'category'",
                                        "t: code 'FEBRILE_NEUTROPENIA' in column 'category'"]
    shown = pd.DataFrame({"Term": ["Sex: Male vs Female"], "Hazard ratio": [1.2], "p-value": [0.3],
                          "Category": ["Febrile neutropenia"], "Centre": ["OSL"]})
    assert frame_problems(shown, "t") == []
    spec = {"data": [{"name": "all", "type": "scatter"}, {"name": "All patients 95% CI", "showlegend": False},
                     {"type": "bar", "orientation": "h", "name": "Grade 3", "y": ["INFECTION", "Malignancy"]}],
            "layout": {"title": {"text": "T"}, "xaxis": {"title": {"text": "Years since transplant"}},
                       "yaxis": {"title": {"text": "n_risk"}}}}
    assert figure_problems(spec, "p") == ["p 'T': legend 'all'", "p 'T': category 'INFECTION'", "p 'T': yaxis title 'n_risk'"]


def _run(at: Any, page: str, controls: dict[str, Any]) -> Any | None:
    """`at` on `page` with `controls` set; None when the role is not offered the page."""
    try:
        at.switch_page(f"app_pages/{page}.py")
    except ValueError:  # not in this role's navigation (data entry for governance, ...)
        return None
    at.run()
    for key, value in controls.items():
        at.selectbox(key=key).set_value(value).run()
    if page == "patient" and any(s.key == "pp_patient" for s in at.selectbox):
        box = at.selectbox(key="pp_patient")
        box.set_value(box.options[0]).run()  # a patient's record tables and EDSS figure
    assert not at.exception, (page, controls, at.exception)
    return at


@pytest.mark.parametrize("role", ROLES)
def test_no_page_shows_a_machine_name(monkeypatch: pytest.MonkeyPatch, small_registry_url: str, role: str) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MSREG_DATABASE_URL", small_registry_url)
    monkeypatch.setenv("MSREG_DASHBOARD_NO_LOGIN", "1")
    monkeypatch.setenv("MSREG_DASHBOARD_NO_LOGIN_AS", as_role(small_registry_url, role))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    found: list[str] = []
    tables = figures = 0
    for page, controls in VIEWS:
        if _run(at, page, controls) is None:
            continue
        where = f"{role} {page} {controls or ''}".strip()
        for el in at.dataframe:
            found += frame_problems(el.value, where)
            tables += 1
        for el in at.table:
            found += frame_problems(el.value, where)
            tables += 1
        for el in at.get("plotly_chart"):
            found += figure_problems(json.loads(el.proto.spec), where)
            figures += 1
    assert not found, "\n".join(found)
    assert tables >= 10 and figures >= 8, (tables, figures)  # the walk saw the pages' tables and figures
