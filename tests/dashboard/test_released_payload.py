"""What the browser receives, for every page and every role: no count of 1–4 reaches a
governance or researcher user, and none can be worked out by differencing.

The registry is the 800-patient demo (`msreg demo`'s cohort, imported as users import it),
where the issue found its leaks. Each page is opened through AppTest with the controls that
showed a leak (outcomes by centre, TRM, the funnel's two measures, the sidebar's centre filter
on a small centre, the Cox model with its one sex-U patient), and everything sent to the client
is collected: dataframes, metrics, markdown, captions, info and subheaders, and the Plotly JSON
of every chart (trace values, text, customdata and each point's hover text rendered from its
hovertemplate, legend names, annotations).

How counts are told from other numbers (days, percentages, years): a Plotly trace's fields that
hold counts are tagged by the disclosure layer (`meta.msreg_counts`, registry.security.disclosure); a
dataframe cell is a count when it is a whole number (int column, or text that is a whole
number; percentages, estimates and days-as-floats are not); in text, a number is a count when
it is followed by a count noun ("3 patients", "4 deaths") or stands in "N of M". The checks:
1. no count of 1–4 (`test_no_small_count_reaches_aggregate_roles`);
2. no two released counts of a role's whole session differ by 1–4 (differences over time in a
   risk table, margins minus cells, two filters): `..._by_differencing`;
3. no rate or estimate times the patients beside it is a count of 1–4 (`..._rate_times_denominator`);
4. no hidden cell of a released table with totals is pinned by the others, given what each
   released value can stand for (the LP check of tests/security/test_disclosure.py, for
   intervals: `<5` is 1..4, a rounded 45 is 43..47);
5. every count is 0 or a multiple of 5 (rounded): `test_every_count_aggregate_roles_get_is_rounded`.
Each check is a function of what one viewer received (`small_counts`, `unrounded_counts`,
`close_counts`, `rate_leaks`, `pinned_tables`), and the scanners (`scan_texts`, `scan_frame`,
`_scan_figure`) read text, tables and Plotly JSON from anywhere: the committee safety report's
test (tests/dashboard/test_safety_report.py) runs the same scan and checks on the report.
and, for every role, the Cox model has no level with fewer than 5 patients, the serious-AE table
never prints None, and governance sees every serious AE drawn or marked as hidden.

The figures' Save SVG / Save PDF buttons are inspected too: each button's file is made on click
from a `FigureFile` (dashboard/downloads.py) that the scan reads back (recorded as Streamlit
registers it), so the figure a governance user can download is scanned like the chart on the
page and must be that chart; for one scenario per bound role the SVG files are rendered and
their drawn numbers scanned as well.
The scan is shown not to be blind: run for an administrator it finds the small counts.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dashboard.downloads import FigureFile
from dashboard.labels import column_label, group_label
from tests.dashboard.demo_registry import fill_with_demo
from tests.security.test_disclosure import pinned_released_cells

K = 5
AGGREGATE_ROLES = ("governance", "researcher")
ROLES = ("admin", "centre", "governance", "researcher")
COUNT_NOUNS = r"(?:patients?|patient\(s\)|deaths?|death\(s\)|events?|event\(s\)|transplants?|records?|survivors?|serious|value\(s\))"
NOUN_COUNT = re.compile(r"(?<![\d.,\w−–-])(\d{1,3}(?:,\d{3})+|\d+)(?![\d.,%])\s+(?:" + COUNT_NOUNS[3:])
N_OF_M = re.compile(r"(?<![\d.,\w])(\d{1,3}(?:,\d{3})+|\d+)\s+of\s+(\d{1,3}(?:,\d{3})+|\d+)(?![\d.,%])")
IN_PARENS = re.compile(r"\((\d{1,3}(?:,\d{3})+|\d+)\)")
WHOLE = re.compile(r"^\d{1,3}(?:,\d{3})+$|^\d+$")
PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
PLACEHOLDER = re.compile(r"%\{([a-z]+)(?:\[(\d+)\])?(?::[^}]*)?\}")
NON_COUNT_METRICS = {"Centres", "Log-rank p", "Median follow-up"}
# Whole numbers that count no-one: a test statistic's degrees of freedom (the PH-test table).
NON_COUNT_COLUMNS = {"df", "Degrees of freedom"}


@dataclass
class Released:
    """Everything one page run sent to the browser, sorted into what the checks need."""

    where: str
    counts: list[tuple[str, int]] = field(default_factory=list)  # (context, value)
    groups: list[list[int]] = field(default_factory=list)  # counts of one table or figure
    rows: list[tuple[str, list[int], list[float]]] = field(default_factory=list)  # patients and percentages of a row
    tables: list[pd.DataFrame] = field(default_factory=list)  # released tables with totals
    cox_terms: list[str] = field(default_factory=list)
    specs: list[dict[str, Any]] = field(default_factory=list)
    frames: list[pd.DataFrame] = field(default_factory=list)
    downloads: list[tuple[str, Any]] = field(default_factory=list)  # (button key, what its click makes)


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _decode(values: Any) -> list[Any]:
    """Plotly's JSON arrays: plain lists, or typed arrays {"dtype", "bdata"} (base64)."""
    if isinstance(values, dict) and "bdata" in values:
        array = np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]))
        shape = values.get("shape")
        if shape:
            array = array.reshape([int(s) for s in str(shape).split(",")])
        return array.tolist()
    if isinstance(values, (list, tuple)):
        return list(values)
    return [] if values is None else [values]


def _text_counts(text: str) -> list[int]:
    found = [_int(m.group(1)) for m in NOUN_COUNT.finditer(text)]
    for m in N_OF_M.finditer(text):
        found += [_int(m.group(1)), _int(m.group(2))]
    return found


def _hover_texts(trace: dict[str, Any]) -> list[str]:
    """Each point's hover text, rendered from the trace's hovertemplate."""
    template = trace.get("hovertemplate")
    if not isinstance(template, str):
        return []
    columns = {name: _decode(trace.get(name)) for name in ("x", "y", "text", "customdata")}
    n = max((len(v) for v in columns.values()), default=0)
    out = []
    for i in range(max(n, 1)):
        def value(m: re.Match[str]) -> str:
            values = columns.get(m.group(1), [])
            v = values[i] if i < len(values) else ""
            if m.group(2) is not None and isinstance(v, (list, tuple)):
                v = v[int(m.group(2))] if int(m.group(2)) < len(v) else ""
            return str(v)

        out.append(re.sub(r"<[^>]+>", " ", PLACEHOLDER.sub(value, template)))
    return out


def collect(at: Any, where: str, deferred: dict[str, Any] | None = None) -> Released:  # type: ignore[no-untyped-def]
    """What `at` sent to the browser; `deferred` maps a deferred download's file id to the
    callable Streamlit will run when it is clicked (recorded by the `released` fixture)."""
    r = Released(where)
    texts = [e.value for kind in ("markdown", "caption", "info", "warning", "success", "subheader", "title")
             for e in getattr(at, kind)]
    page_counts = scan_texts(r, texts)
    metric_row: list[int] = []
    metric_pct: list[float] = []
    for m in at.metric:
        if m.label in NON_COUNT_METRICS:
            continue
        value = str(m.value)
        if WHOLE.match(value):
            r.counts.append((f"metric {m.label}", _int(value)))
            if m.label == "Patients":
                metric_row.append(_int(value))
        metric_pct += [float(p) for p in PERCENT.findall(value)[:1]]
    r.rows.append(("metrics", metric_row, metric_pct))
    r.groups.append(page_counts + [v for _, v in r.counts if _.startswith("metric")])
    for df in (el.value for el in at.dataframe):
        scan_frame(r, df, where)
        if column_label("term") in df.columns and column_label("hr") in df.columns:
            r.cox_terms += [str(t) for t in df[column_label("term")]]
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        r.specs.append(spec)
        _scan_figure(r, spec)
    # The figures' download buttons: what a click would make, scanned like the charts above.
    for button in at.get("download_button"):
        made = (deferred or {}).get(button.proto.deferred_file_id)
        r.downloads.append((button.key, made))
        if isinstance(made, FigureFile):
            _scan_figure(r, json.loads(made.figure.to_json()))
    return r


def scan_texts(r: Released, texts: list[Any]) -> list[int]:
    """The counts in text (a count noun after a number, or "N of M"), added to `r`; returned
    too, so a caller can group them with other counts of the same view."""
    found: list[int] = []
    for t in texts:
        for v in _text_counts(str(t)):
            r.counts.append((f"text: {str(t)[:90]}", v))
            found.append(v)
        for m in IN_PARENS.finditer(str(t)) if "Records to fix" in str(t) else []:
            r.counts.append((f"heading: {t}", _int(m.group(1))))
    return found


def scan_frame(r: Released, df: pd.DataFrame, where: str, *, non_count_columns: frozenset[str] | set[str] = NON_COUNT_COLUMNS) -> None:
    """The counts of one table (whole-number cells outside `non_count_columns`), its rows'
    patients beside their percentages, and the table itself when it has totals."""
    r.frames.append(df)
    table_counts = []
    for column in df.columns:
        if str(column) in non_count_columns:
            continue
        series = df[column]
        for idx, v in series.items():
            if isinstance(v, (bool, np.bool_)):
                continue
            if isinstance(v, (int, np.integer)) or (isinstance(v, str) and WHOLE.match(v)):
                value = int(v) if not isinstance(v, str) else _int(v)
                r.counts.append((f"table {where} [{idx}, {column}]", value))
                table_counts.append(value)
    r.groups.append(table_counts)
    patient_columns = [c for c in df.columns if "patient" in str(c).lower()]
    pct_columns = [c for c in df.columns if df[c].astype(str).str.contains("%").any()]
    for _, row in df.iterrows():
        patients = [_int(str(row[c])) for c in patient_columns if WHOLE.match(str(row[c]))]
        pcts = [float(PERCENT.findall(str(row[c]))[0]) for c in pct_columns if PERCENT.findall(str(row[c]))]
        r.rows.append((f"row of {where}", patients, pcts))
    if "total" in [str(i).lower() for i in df.index] and "total" in [str(c).lower() for c in df.columns]:
        r.tables.append(df)


def _scan_figure(r: Released, spec: dict[str, Any]) -> None:
    """The counts of one Plotly figure's JSON: tagged trace fields, text, hover text, legend names
    and annotations."""
    fig_counts = []
    for trace in spec["data"]:
        tagged = (trace.get("meta") or {}).get("msreg_counts", []) if isinstance(trace.get("meta"), dict) else []
        for fld in tagged:
            name, _, index = fld.partition(".")
            for v in _decode(trace.get(name)):
                if index and isinstance(v, (list, tuple)):
                    v = v[int(index)]
                if isinstance(v, str):
                    if WHOLE.match(v):
                        fig_counts.append(_int(v))
                        r.counts.append((f"figure {spec['layout'].get('title', {}).get('text')} {trace.get('name')}.{fld}", _int(v)))
                elif isinstance(v, (int, float)) and v is not None and float(v).is_integer():
                    fig_counts.append(int(v))
                    r.counts.append((f"figure {spec['layout'].get('title', {}).get('text')} {trace.get('name')}.{fld}", int(v)))
        strings = [str(s) for s in _decode(trace.get("text")) if isinstance(s, str)] + _hover_texts(trace)
        strings.append(str(trace.get("name") or ""))
        for s in strings:
            for v in _text_counts(s):
                fig_counts.append(v)
                r.counts.append((f"hover/text of {trace.get('name')}: {s[:80]}", v))
        if "hr" in str(trace.get("hovertemplate", "")) or trace.get("name") == "Hazard ratio (95% CI)":
            r.cox_terms += [str(t) for t in _decode(trace.get("y"))]
    for a in spec["layout"].get("annotations", []):
        for v in _text_counts(str(a.get("text", ""))):
            fig_counts.append(v)
            r.counts.append((f"annotation: {str(a.get('text'))}", v))
    r.groups.append(fig_counts)


# --- the registry and the page runs ---------------------------------------------------------


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> str:
    import shutil

    path = tmp_path_factory.mktemp("payload") / "demo.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    fill_with_demo(url, 800)
    return url


def _centres_by_size(url: str) -> list[str]:
    from registry.db import make_engine

    engine = make_engine(url)
    with engine.connect() as c:
        rows = c.exec_driver_sql(
            "SELECT c.centre_code, count(*) FROM patients p JOIN centres c ON c.id = p.centre_id GROUP BY 1 ORDER BY 2, 1"
        ).all()
    engine.dispose()
    return [r[0] for r in rows]


@pytest.fixture(scope="module")
def small_centres(demo_url: str) -> list[str]:
    """The three centres with the fewest patients (where the sidebar filter leaked)."""
    return _centres_by_size(demo_url)[:3]


def as_role(url: str, role: str) -> str:
    """The NO_LOGIN_AS value of a role: a centre user is one of the largest centre."""
    return f"centre:{_centres_by_size(url)[-1]}" if role == "centre" else role


def scenarios(small: list[str]) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("overview", {}),
        *[("overview", {"f_centres": [c]}) for c in small],
        ("outcomes", {}),
        ("outcomes", {"o_endpoint": "os", "o_by": "Centre"}),
        ("outcomes", {"o_endpoint": "trm", "o_by": "Centre"}),
        ("outcomes", {"o_endpoint": "neda"}),
        ("outcomes", {"o_endpoint": "os", "o_by": "Sex"}),
        ("outcomes", {"o_endpoint": "pfs", "f_centres": [small[0]]}),
        ("safety", {}),
        ("safety", {"sf_metric": "Transplant-related mortality by 1 year"}),
        ("safety", {"sf_adjusted": False}),
        ("safety", {"sf_trm_by": "Centre"}),
        ("safety", {"f_centres": [small[0]]}),
        ("quality", {}),
        ("timeline", {}),
        ("export", {}),
    ]


def run_page(app_factory: Any, url: str, role: str, page: str, controls: dict[str, Any]) -> Any:
    at = app_factory(url, role=role)
    at.run()
    at.switch_page(f"app_pages/{page}.py").run()
    for key, value in controls.items():
        if key == "f_centres":
            if key not in [m.key for m in at.sidebar.multiselect]:
                continue  # a centre user sees one centre: no filter
            at.sidebar.multiselect(key=key).set_value(value).run()
        elif key == "sf_metric":
            at.radio(key=key).set_value(value).run()
        elif key == "sf_adjusted":
            at.toggle(key=key).set_value(value).run()
        else:
            at.selectbox(key=key).set_value(value).run()
    assert not at.exception, (role, page, controls, at.exception)
    return at


@pytest.fixture(scope="module")
def released(demo_url: str, small_centres: list[str], request: pytest.FixtureRequest) -> Iterator[dict[str, list[Released]]]:
    """role → what every scenario released (AppTest needs the function-scoped monkeypatch, so
    this builds its own)."""
    from streamlit.testing.v1 import AppTest

    from streamlit.runtime.media_file_manager import MediaFileManager

    mp = pytest.MonkeyPatch()
    app = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
    # Each deferred download's callable, by file id, as the page registers it: what a click runs.
    deferred: dict[str, Any] = {}
    register = MediaFileManager.add_deferred

    def recording(self: Any, data_callable: Any, *args: Any, **kwargs: Any) -> str:
        file_id = register(self, data_callable, *args, **kwargs)
        deferred[file_id] = data_callable
        return file_id

    mp.setattr(MediaFileManager, "add_deferred", recording)

    def factory(url: str, role: str = "admin") -> Any:
        mp.setenv("MSREG_DATABASE_URL", url)
        mp.setenv("MSREG_DASHBOARD_NO_LOGIN", "1")
        mp.setenv("MSREG_DASHBOARD_NO_LOGIN_AS", role)
        return AppTest.from_file(app, default_timeout=60)

    class PerRole(dict):  # type: ignore[type-arg]
        """Runs a role's scenarios the first time a test asks for that role."""

        def __missing__(self, role: str) -> list[Released]:
            self[role] = [collect(run_page(factory, demo_url, as_role(demo_url, role), page, controls),
                                  f"{role} {page} {controls}", deferred)
                          for page, controls in scenarios(small_centres)]
            return self[role]

    try:
        yield PerRole()
    finally:
        mp.undo()


# --- the checks -------------------------------------------------------------------------------
# Each takes the views one viewer received (page runs, or the committee report) and returns
# what breaks the release; tests/dashboard/test_safety_report.py runs them on the report.


def small_counts(views: list[Released]) -> list[tuple[str, str, int]]:
    """Counts of 1 to K-1."""
    return [(r.where, ctx, v) for r in views for ctx, v in r.counts if 1 <= v < K]


def unrounded_counts(views: list[Released], base: int = K) -> list[tuple[str, str, int]]:
    """Counts that are neither 0 nor a multiple of the rounding base (the policy rounds every
    count of K or more to the nearest `base` for the bound roles)."""
    return [(r.where, ctx, v) for r in views for ctx, v in r.counts if v != 0 and v % base != 0]


def close_counts(views: list[Released]) -> list[str]:
    """Pairs of released counts that differ by 1 to K-1: within a table or figure, and across
    everything the viewer received (two filters, two pages, two sections)."""
    found = []
    for r in views:
        for group in r.groups:
            values = sorted(set(group))
            close = [(a, b) for a, b in zip(values, values[1:], strict=False) if 1 <= b - a < K]
            if close:
                found.append(f"{r.where}: counts {close} differ by less than {K}")
    every = sorted({v for r in views for _, v in r.counts})
    close = [(a, b) for a, b in zip(every, every[1:], strict=False) if 1 <= b - a < K]
    if close:
        found.append(f"released counts {close[:5]} differ by less than {K} across the session")
    return found


def rate_leaks(views: list[Released]) -> list[tuple[str, str, float, int, float]]:
    """Rates or estimates that, times the number of patients beside them, are a count of 1 to
    K-1 (2.3% of 45 is 1), read as they are or as their complement (97.7% survival is 2.3% dead)."""
    found = []
    for r in views:
        for where, patients, pcts in r.rows:
            for n in patients:
                for p in pcts:
                    for share in (p, 100 - p):
                        implied = share * n / 100
                        if 0.5 <= implied < K - 1:
                            found.append((r.where, where, p, n, round(implied, 2)))
    return found


def pinned_tables(views: list[Released]) -> list[pd.DataFrame]:
    """Released tables with totals in which a hidden cell is pinned by the others (interval LP)."""
    return [t for r in views for t in r.tables if pinned_released_cells(t, k=K, base=K) != []]


@pytest.mark.parametrize("role", AGGREGATE_ROLES)
def test_no_small_count_reaches_aggregate_roles(released: dict[str, list[Released]], role: str) -> None:
    small = small_counts(released[role])
    assert small == [], "\n".join(map(str, small))


@pytest.mark.parametrize("role", AGGREGATE_ROLES)
def test_every_count_aggregate_roles_get_is_rounded(released: dict[str, list[Released]], role: str) -> None:
    unrounded = unrounded_counts(released[role])
    assert unrounded == [], "\n".join(map(str, unrounded))


@pytest.mark.parametrize("role", AGGREGATE_ROLES)
def test_no_small_count_can_be_worked_out_by_differencing(released: dict[str, list[Released]], role: str) -> None:
    """Within a table or figure, and across the whole session (two filters, two pages)."""
    assert close_counts(released[role]) == []


@pytest.mark.parametrize("role", AGGREGATE_ROLES)
def test_no_small_count_from_rate_times_denominator(released: dict[str, list[Released]], role: str) -> None:
    assert rate_leaks(released[role]) == []


@pytest.mark.parametrize("role", AGGREGATE_ROLES)
def test_no_hidden_cell_of_a_released_table_is_pinned_by_its_totals(released: dict[str, list[Released]], role: str) -> None:
    assert [t for r in released[role] for t in r.tables], "the serious-AE table (with totals) is released on the Safety page"
    assert pinned_tables(released[role]) == []


@pytest.mark.parametrize("role", ROLES)
def test_cox_model_has_no_level_with_fewer_than_5_patients(released: dict[str, list[Released]], role: str, demo_url: str) -> None:
    from analytics import estimates
    from analytics.endpoints import derive_endpoints
    from analytics.settings import EndpointSettings
    from analytics.snapshot import load_snapshot
    from dashboard.analysis import COVARIATE_LABELS
    from registry.security.access import Actor
    from registry.db import make_engine

    terms = {t for r in released[role] for t in r.cox_terms if " vs " in t}
    assert terms, "the NEDA-3 Cox model is shown"
    who = as_role(demo_url, role)
    actor = Actor("t", "centre", who.split(":")[1]) if who.startswith("centre:") else Actor("t", who)
    engine = make_engine(demo_url, read_only=True)
    frame = estimates.profile_frame(derive_endpoints(load_snapshot(engine, actor), EndpointSettings()))
    engine.dispose()
    column_of = {label: column for column, label in COVARIATE_LABELS.items()}
    for term in terms:
        label, _, rest = term.partition(": ")
        level = rest.split(" vs ")[0]  # in words (dashboard.labels): count the patients whose code reads so
        column = column_of[label]
        n = int((frame[column].astype(str).map(lambda v, c=column: group_label(c, v)) == level).sum())
        assert n >= K, f"{term}: a hazard ratio for {n} patient(s)"


@pytest.mark.parametrize("role", ROLES)
def test_serious_ae_table_never_prints_none(released: dict[str, list[Released]], role: str) -> None:
    for r in released[role]:
        if " safety " not in f" {r.where} ":
            continue
        table = r.frames[-1]
        assert not table.isna().any().any() and "None" not in table.astype(str).to_numpy()


def test_governance_sees_every_serious_ae_drawn_or_marked_hidden(released: dict[str, list[Released]], demo_url: str) -> None:
    from analytics.snapshot import load_snapshot
    from registry.security.access import Actor
    from registry.db import make_engine

    (safety,) = [r for r in released["governance"] if r.where.startswith("governance safety {}")]
    (fig,) = [s for s in safety.specs if s["layout"]["title"]["text"].startswith("Serious adverse events")]
    # the time-window panel (second subplot): horizontal bars, windows on its y axis
    time_bars = [t for t in fig["data"] if t["type"] == "bar" and t.get("xaxis") == "x2"]
    windows = _decode(time_bars[0]["y"])
    hidden_marks = {y for t in fig["data"] if t.get("name") == "hidden cells" and t.get("xaxis") == "x2"
                    for y in _decode(t["y"])}
    for t in time_bars:
        for y, text in zip(_decode(t["y"]), _decode(t["text"]), strict=True):
            if text == f"<{K}":
                assert y in hidden_marks, f"hidden {t['name']} at {y} is not marked"
    (totals,) = [t for t in fig["data"] if t.get("name") == "Total" and _decode(t["y"]) == windows]
    released_total = sum(v for v in _decode(totals["customdata"]) if v is not None)
    engine = make_engine(demo_url, read_only=True)
    con = load_snapshot(engine, Actor("t", "governance")).cursor()
    true_total = con.execute("SELECT count(*) FROM adverse_events WHERE coalesce(serious, grade >= 3)").fetchone()[0]
    engine.dispose()
    assert abs(released_total - true_total) <= 2 * len(windows), "every serious AE is in a released bar total"
    drawn = sum(v for t in time_bars for v in _decode(t["x"]))
    assert drawn >= 0.9 * true_total, f"only {drawn} of {true_total} serious AEs drawn (coarsen before hiding)"


def test_the_scan_is_not_blind_admins_get_exact_small_counts(released: dict[str, list[Released]]) -> None:
    """Guard: the same scan finds counts of 1–4 and close pairs where exact counts are shown, so
    the checks above can fail."""
    assert len(small_counts(released["admin"])) >= 10
    assert len(unrounded_counts(released["admin"])) >= 10
    assert close_counts(released["admin"]) != []


@pytest.mark.parametrize("role", AGGREGATE_ROLES)
def test_aggregate_roles_get_no_patient_timeline_and_governance_no_download(released: dict[str, list[Released]], role: str) -> None:
    timeline = [r for r in released[role] if " timeline " in f" {r.where} "]
    assert timeline and all(not r.specs for r in timeline)


@pytest.mark.parametrize("role", ROLES)
def test_download_buttons_only_for_row_level_roles(app_factory: Any, demo_url: str, role: str) -> None:
    at = run_page(app_factory, demo_url, as_role(demo_url, role), "export", {})
    buttons = at.get("download_button")
    assert (len(buttons) == 0) == (role == "governance")


def test_the_researchers_download_is_k_anonymous(demo_url: str) -> None:
    import io

    from analytics.settings import EndpointSettings
    from dashboard import data
    from dashboard.context import Filters
    from registry.security.access import Actor
    from registry.security.k_anonymity import QUASI_IDENTIFIERS, group_sizes

    actor = Actor("r", "researcher")
    csv, _parquet, meta = data.survival_export_files(
        demo_url, data.scope_key(actor), data.data_version(demo_url), data.settings_key(EndpointSettings()),
        Filters().key(), Filters().describe())
    frame = pd.read_csv(io.BytesIO(csv), dtype=str)
    assert int(group_sizes(frame, [c for c in QUASI_IDENTIFIERS if c in frame.columns]).min()) >= K
    assert meta["disclosure"]["k"] == K


# --- the figures' downloads ---------------------------------------------------------------


@pytest.mark.parametrize("role", AGGREGATE_ROLES)
def test_every_figure_offers_svg_and_pdf_of_the_very_chart_on_the_page(released: dict[str, list[Released]], role: str) -> None:
    """Each chart has a Save SVG and a Save PDF button, and what a click makes is that chart
    (same data, same released counts), never a figure of its own."""
    seen = 0
    for r in released[role]:
        charts = [json.dumps({"data": s["data"], "layout": s["layout"]}, sort_keys=True) for s in r.specs]
        files = [(key, made) for key, made in r.downloads if isinstance(made, FigureFile)]
        assert sorted(made.fmt for _, made in files) == sorted(["pdf", "svg"] * len(r.specs)), (r.where, r.downloads)
        for key, made in files:
            spec = json.loads(made.figure.to_json())
            assert json.dumps({"data": spec["data"], "layout": spec["layout"]}, sort_keys=True) in charts, (
                f"{r.where}: {key} would save a figure that is not the one on the page")
            assert key.endswith(f"_{made.fmt}")
        seen += len(files)
    assert seen >= 20, "the scenarios show the figures of Overview, Outcomes and Safety"


# One scenario per bound role whose SVG files are rendered (a second or so each): Safety's six
# figures for governance, Outcomes by centre (small multiples, a forest plot) for researchers.
RENDERED_SCENARIO = {"governance": "governance safety {}",
                     "researcher": "researcher outcomes {'o_endpoint': 'os', 'o_by': 'Centre'}"}
SVG = "{http://www.w3.org/2000/svg}"


def _svg_texts(svg: bytes) -> tuple[list[str], list[str]]:
    """(texts of text traces: risk-table cells, bar totals, labels; every other text drawn)."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg)
    points = [" ".join(g.itertext()).strip() for g in root.iter(f"{SVG}g") if "textpoint" in (g.get("class") or "")]
    other = [" ".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]
    return [p for p in points if p], [o for o in other if o]


@pytest.mark.browser
@pytest.mark.parametrize("role", AGGREGATE_ROLES)
def test_the_saved_svg_files_draw_only_released_counts(released: dict[str, list[Released]], role: str) -> None:
    from dashboard.figures.vector import chromium_path

    if chromium_path() is None:
        pytest.skip("no headless Chromium to render figures (apt-get install chromium)")
    (r,) = [r for r in released[role] if r.where == RENDERED_SCENARIO[role]]
    files = [made for _, made in r.downloads if isinstance(made, FigureFile) and made.fmt == "svg"]
    assert len(files) == len(r.specs) >= 2
    every_count = []
    for made in files:
        spec = json.loads(made.figure.to_json())
        on_page = {str(t) for trace in spec["data"] for t in _decode(trace.get("text"))}
        points, texts = _svg_texts(made())
        title = spec["layout"]["title"]["text"]
        assert any(title in t for t in texts), f"{title}: not in its SVG file"
        drawn_counts = [p for p in points if WHOLE.match(p) or p == f"<{K}"]
        every_count += drawn_counts
        for p in drawn_counts:
            assert p == f"<{K}" or _int(p) == 0 or _int(p) >= K, f"{title}: the file draws the count {p}"
            assert p in on_page, f"{title}: the file draws {p}, which the chart on the page does not"
        small = [(t, v) for t in texts for v in _text_counts(t) if 1 <= v < K]
        assert small == [], f"{title}: {small}"
    assert f"<{K}" in every_count and len(every_count) >= 20, "the files draw risk tables and bar totals"
