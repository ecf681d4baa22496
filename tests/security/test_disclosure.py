"""Small-count suppression and CSV-injection escaping (registry.security.disclosure).

The property tests check suppression against an independent oracle: for every hidden cell, a
linear programme finds the smallest and largest value it could take given everything shown
(cells and totals, all counts >= 0). A hidden cell is recoverable exactly when the two meet.

`pinned_released_cells` is the same oracle for what the release layer (`Release`) actually
shows: each released value stands for an interval ("<5" for 1..4, "0" for 0, a rounded 45 for
43..47), and the table's totals tie the cells together. The browser-payload test
(tests/dashboard/test_released_payload.py) runs it on every released table with totals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from registry.security.disclosure import (
    MIN_CELL,
    NOT_BROKEN_DOWN,
    WITHHELD,
    DisclosurePolicy,
    csv_safe,
    csv_safe_frame,
    release_for,
    suppress_counts,
    suppression_mask,
)


def _full_table(counts: pd.DataFrame) -> np.ndarray:
    a = counts.to_numpy(dtype=float)
    full = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    full[:-1, :-1] = a
    full[:-1, -1] = a.sum(axis=1)
    full[-1, :-1] = a.sum(axis=0)
    full[-1, -1] = a.sum()
    return full


def recoverable_cells(shown: pd.DataFrame) -> list[tuple[object, object, float, float]]:
    """Hidden cells of `shown` (with totals) whose value the shown cells pin to one number."""
    values = shown.to_numpy(dtype=object)
    n_rows, n_cols = values.shape
    hidden = [(i, j) for i in range(n_rows) for j in range(n_cols) if pd.isna(values[i, j])]
    if not hidden:
        return []
    var = {cell: k for k, cell in enumerate(hidden)}
    a_eq, b_eq = [], []

    def equation(cells_plus: list[tuple[int, int]], cell_minus: tuple[int, int]) -> None:
        row = np.zeros(len(hidden))
        rhs = 0.0
        for cell, sign in [*[(c, 1.0) for c in cells_plus], (cell_minus, -1.0)]:
            if cell in var:
                row[var[cell]] += sign
            else:
                rhs -= sign * float(values[cell])
        a_eq.append(row)
        b_eq.append(rhs)

    for i in range(n_rows):  # each row (the totals row too) sums to its last cell
        equation([(i, j) for j in range(n_cols - 1)], (i, n_cols - 1))
    for j in range(n_cols):
        equation([(i, j) for i in range(n_rows - 1)], (n_rows - 1, j))
    found = []
    for cell, k in var.items():
        c = np.zeros(len(hidden))
        c[k] = 1.0
        low = linprog(c, A_eq=np.array(a_eq), b_eq=b_eq, bounds=(0, None), method="highs")
        high = linprog(-c, A_eq=np.array(a_eq), b_eq=b_eq, bounds=(0, None), method="highs")
        assert low.status == 0, low.message
        if high.status == 3:  # unbounded above: certainly not recoverable
            continue
        if high.fun * -1 - low.fun < 0.5:
            found.append((shown.index[cell[0]], shown.columns[cell[1]], low.fun, -high.fun))
    return found


def _check(counts: pd.DataFrame, threshold: int = MIN_CELL) -> pd.DataFrame:
    shown = suppress_counts(counts, threshold)
    full = _full_table(counts)
    for (i, j), v in np.ndenumerate(shown.to_numpy(dtype=object)):
        if not pd.isna(v):
            assert v == full[i, j], "a shown count differs from the true count"
            assert not 1 <= v < threshold, f"count {v} shown at ({shown.index[i]}, {shown.columns[j]})"
    assert recoverable_cells(shown) == []
    return shown


count_tables = st.integers(1, 5).flatmap(
    lambda rows: st.integers(1, 5).flatmap(
        lambda cols: st.lists(
            st.lists(st.one_of(st.integers(0, 6), st.integers(0, 60)), min_size=cols, max_size=cols),
            min_size=rows,
            max_size=rows,
        )
    )
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count_tables)
def test_no_small_count_shown_and_no_hidden_count_recoverable(rows: list[list[int]]) -> None:
    counts = pd.DataFrame(rows, index=[f"r{i}" for i in range(len(rows))], columns=[f"c{j}" for j in range(len(rows[0]))])
    _check(counts)


@settings(max_examples=30, deadline=None)
@given(count_tables, st.integers(1, 12))
def test_any_threshold(rows: list[list[int]], threshold: int) -> None:
    _check(pd.DataFrame(rows), threshold)


def test_the_oracle_finds_a_cell_recoverable_by_subtraction() -> None:
    """Guard for the property tests: primary suppression alone leaks, and the oracle says so."""
    shown = pd.DataFrame([[2, 10, 12], [7, 8, 15], [9, 18, 27]], index=["A", "B", "Total"], columns=["x", "y", "Total"])
    shown = shown.astype("Int64").mask(shown == 2)
    assert recoverable_cells(shown) == [("A", "x", 2.0, 2.0)]


def test_a_small_cell_hides_its_partners_in_row_and_column() -> None:
    counts = pd.DataFrame({"alive": [2, 30], "dead": [10, 20]}, index=["AAA", "BBB"])
    shown = _check(counts)
    assert shown.isna().to_numpy().tolist() == [[True, True, False], [True, True, False], [False, False, False]]
    assert shown.loc["Total"].tolist() == [32, 30, 62]


def test_nothing_small_means_nothing_hidden_and_zero_is_shown() -> None:
    counts = pd.DataFrame({"a": [0, 5], "b": [7, 0]}, index=["p", "q"])
    shown = suppress_counts(counts)
    assert not shown.isna().any().any()
    assert shown.to_numpy().tolist() == [[0, 7, 7], [5, 0, 5], [5, 7, 12]]


def test_small_totals_are_hidden_too() -> None:
    counts = pd.DataFrame({"x": [1, 0], "y": [2, 0], "z": [0, 9]})
    shown = _check(counts)
    assert pd.isna(shown.iloc[0, -1]), "row total 3 is a small count"


def test_a_series_and_without_totals() -> None:
    shown = suppress_counts(pd.Series([3, 40, 50], index=["a", "b", "c"], name="deaths"), with_totals=False)
    assert list(shown.columns) == ["deaths"] and list(shown.index) == ["a", "b", "c"]
    assert shown["deaths"].isna().tolist() == [True, True, False]


def test_mask_has_totals_labelled() -> None:
    mask = suppression_mask(pd.DataFrame({"x": [6]}, index=["r"]))
    assert list(mask.index) == ["r", "Total"] and list(mask.columns) == ["x", "Total"]
    assert not mask.to_numpy().any()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"x": [1, -1]}), r"cell \(1, 'x'\) = -1"),
        (pd.DataFrame({"x": [1.5]}), r"= 1.5: counts must be whole"),
        (pd.DataFrame({"x": [None, 1.0]}), r"cell \(0, 'x'\) = nan"),
        (pd.DataFrame({"x": pd.array([None, 1], dtype="Int64")}), r"cell \(0, 'x'\) = <NA>"),
        (pd.DataFrame({"x": [True]}), r"= True: counts must be whole"),
        (pd.DataFrame(), "empty"),
    ],
)
def test_bad_tables_are_refused_naming_the_cell(table: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        suppress_counts(table)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("RRMS", "RRMS"),
        ("a=b", "a=b"),
        ("", ""),
        (-3, -3),
        (2.5, 2.5),
        (None, None),
    ],
)
def test_csv_safe(value: object, expected: object) -> None:
    assert csv_safe(value) == expected


def test_csv_safe_frame_escapes_text_cells_and_headers_only() -> None:
    frame = pd.DataFrame({"=h": ["=1+1", "ok"], "n": [-1, 2]})
    out = csv_safe_frame(frame)
    assert list(out.columns) == ["'=h", "n"]
    assert out["'=h"].tolist() == ["'=1+1", "ok"]
    assert out["n"].tolist() == [-1, 2]
    assert frame["=h"].tolist() == ["=1+1", "ok"], "the input is not changed"


_CELLS = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True),
                   st.text(alphabet="=+-@\t\r'ab1 ", max_size=4))


@given(st.lists(st.tuples(_CELLS, st.text(alphabet="=+-@\tab", max_size=3)), max_size=12))
def test_csv_safe_frame_equals_csv_safe_of_every_cell(rows: list[tuple[object, str]]) -> None:
    """The column-wise escaping gives exactly the per-cell rule, on mixed object columns too."""
    frame = pd.DataFrame({"mixed": pd.Series([a for a, _ in rows], dtype=object),
                          "text": pd.Series([b for _, b in rows], dtype=object)})
    out = csv_safe_frame(frame)
    def normal(v: object) -> object:  # a missing cell is missing, whether None or NaN
        return None if v is None or v != v else v

    for column in ("mixed", "text"):
        got, want = out[column].tolist(), [csv_safe(v) for v in frame[column]]
        assert [normal(v) for v in got] == [normal(v) for v in want]
        assert [type(v) for v in got if normal(v) is not None] == [type(v) for v in want if normal(v) is not None]


def _interval(text: str, k: int, base: int) -> tuple[float, float | None]:
    text = str(text).replace(",", "")
    if text == f"<{k}":
        return 1.0, float(k - 1)
    if text == NOT_BROKEN_DOWN:
        return 0.0, float(k - 1)
    if text == WITHHELD:
        return 0.0, None
    value = int(text)
    if value == 0 or base <= 1:
        return float(value), float(value)
    return float(max(k, value - base // 2)), float(value + base // 2)


def pinned_released_cells(table: pd.DataFrame, *, k: int = MIN_CELL, base: int = MIN_CELL) -> list[tuple[object, object, float, float]]:
    """Hidden cells ("<k") of a released table whose last row and column (named "total",
    any case) are totals, that the other released values pin to one number."""
    values = table.to_numpy(dtype=object)
    rows = [str(i).lower() for i in table.index]
    cols = [str(c).lower() for c in table.columns]
    ti, tj = rows.index("total"), cols.index("total")
    n_rows, n_cols = values.shape
    var = {(i, j): i * n_cols + j for i in range(n_rows) for j in range(n_cols)}
    bounds = [_interval(values[i, j], k, base) for i in range(n_rows) for j in range(n_cols)]
    a_eq, b_eq = [], []
    for i in range(n_rows):
        row = np.zeros(len(var))
        for j in range(n_cols):
            row[var[(i, j)]] = -1.0 if j == tj else 1.0
        a_eq.append(row)
        b_eq.append(0.0)
    for j in range(n_cols):
        col = np.zeros(len(var))
        for i in range(n_rows):
            col[var[(i, j)]] = -1.0 if i == ti else 1.0
        a_eq.append(col)
        b_eq.append(0.0)
    found = []
    for (i, j), v in var.items():
        if str(values[i, j]) not in (f"<{k}", NOT_BROKEN_DOWN, WITHHELD):
            continue
        c = np.zeros(len(var))
        c[v] = 1.0
        low = linprog(c, A_eq=np.array(a_eq), b_eq=b_eq, bounds=bounds, method="highs")
        high = linprog(-c, A_eq=np.array(a_eq), b_eq=b_eq, bounds=bounds, method="highs")
        assert low.status == 0 and high.status in (0, 3), "the released table is inconsistent with its totals"
        if high.status == 3:  # unbounded above: not pinned
            continue
        if -high.fun - low.fun < 0.5 and -high.fun >= 0.5:  # pinned to a count of 1..k-1 (a pinned 0 tells nothing)
            found.append((table.index[i], table.columns[j], low.fun, -high.fun))
    return found


def _released_table(counts: pd.DataFrame, role: str = "governance") -> pd.DataFrame:
    return release_for(role).table(counts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count_tables)
def test_released_tables_show_no_small_count_and_pin_no_hidden_cell(rows: list[list[int]]) -> None:
    counts = pd.DataFrame(rows, index=[f"r{i}" for i in range(len(rows))], columns=[f"c{j}" for j in range(len(rows[0]))])
    shown = _released_table(counts)
    assert not [v for v in shown.to_numpy().ravel() if v in {"1", "2", "3", "4"}]
    assert pinned_released_cells(shown) == []


def test_a_row_whose_total_is_below_5_shows_only_its_total() -> None:
    """Four cells of 1 in a row of total 4: shown as <5 each they would all be pinned to 1."""
    shown = _released_table(pd.DataFrame([[1, 1, 1, 1], [10, 0, 7, 20]], columns=list("abcd")))
    assert shown.iloc[0].tolist() == [NOT_BROKEN_DOWN] * 4 + ["<5"]
    assert pinned_released_cells(shown) == []


def test_the_interval_oracle_pins_a_small_cell_shown_with_exact_totals() -> None:
    """Guard: exact margins beside "<5" give the cell away, and the oracle says so."""
    shown = pd.DataFrame([["<5", "10", "13"], ["7", "8", "15"], ["10", "18", "28"]],
                         index=["A", "B", "total"], columns=["x", "y", "total"])
    assert pinned_released_cells(shown, base=1) == [("A", "x", 3.0, 3.0)]


@pytest.mark.parametrize(
    ("n", "governance", "admin"),
    [(0, "0", "0"), (1, "<5", "1"), (4, "<5", "4"), (5, "5", "5"), (7, "5", "7"), (8, "10", "8"), (47, "45", "47"),
     (1234, "1,235", "1,234")],
)
def test_release_of_one_count(n: int, governance: str, admin: str) -> None:
    assert release_for("governance").text(n) == release_for("researcher").text(n) == governance
    assert release_for("admin").text(n) == release_for("centre").text(n) == admin


@pytest.mark.parametrize(("events", "n", "shown"), [(1, 45, "—"), (0, 45, "0.0%"), (9, 45, "20.0%"), (43, 45, "—"), (5, 0, "—")])
def test_a_rate_resting_on_1_to_4_events_or_survivors_is_not_shown(events: int, n: int, shown: str) -> None:
    assert release_for("governance").proportion(events, n) == shown
    assert release_for("admin").proportion(1, 45) == "2.2%"


def test_policy_binds_governance_and_researchers_and_refuses_k_below_2() -> None:
    policy = DisclosurePolicy()
    assert policy.k == 5 and policy.binds("governance") and policy.binds("researcher")
    assert not policy.binds("centre") and not policy.binds("admin")
    with pytest.raises(ValueError, match="at least 2"):
        DisclosurePolicy(k=1)


@pytest.mark.parametrize(("policy", "small", "rounding"), [
    (DisclosurePolicy(), "it reads <5", "rounded to the nearest 5, never below 5 (47 reads 45)"),
    (DisclosurePolicy(k=10), "it reads <10", "rounded to the nearest 10, never below 10 (92 reads 90)"),
    (DisclosurePolicy(k=5, rounding=0), "it reads <5", "Counts of 5 or more are shown exactly."),
])
def test_the_release_describes_the_rules_it_applies(policy: DisclosurePolicy, small: str, rounding: str) -> None:
    """The safety report's policy section is this text: it follows the policy's k and base."""
    text = " ".join(policy.release_for("governance").describe())
    assert small in text and rounding in text
    assert NOT_BROKEN_DOWN in text and WITHHELD in text
    assert policy.release_for("admin").describe() == ["Counts are exact: this viewer's role is not bound by the disclosure policy."]
