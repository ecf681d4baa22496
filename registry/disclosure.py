"""Statistical disclosure control for what leaves the registry: small counts and CSV cells.

Small counts (`suppress_counts`)
--------------------------------
A count of 1 to `threshold - 1` (default `MIN_CELL` = 5, so 1–4) can point at a person ("the
one patient at centre X who died of a malignancy"), so it is never shown. Zero is shown: it
identifies no-one, and hiding it would make the table unreadable.

Hiding the small cells (*primary* suppression) is not enough when the table also shows row
and column totals: a row with one hidden cell gives it away by subtraction, and so can larger
patterns. So more cells are hidden (*complementary* suppression) until no hidden value can be
worked out from what is shown. The totals are part of the table too: a total of 1–4 is hidden
like any cell, and hidden totals can need complementary cells as well.

Why the method works. Write the table with its margins as an (R+1) x (C+1) array whose last
column holds minus the row totals, last row minus the column totals and corner the grand total:
every row and column of it sums to zero. The hidden cells are the edges of a bipartite graph
(rows on one side, columns on the other). The hidden values that fit the shown ones are the
true values plus any circulation on that graph, so a hidden value is pinned down exactly when
its edge lies on no cycle (a *bridge*). Non-negativity can also pin a value, but only through a
hidden zero; complementary cells are therefore chosen among non-zero cells, each of which can
move by at least 1 around its cycle. The algorithm: while a hidden cell is a bridge, close a
cycle through it along the cheapest path (cost = the count hidden; cells already hidden are
free), which removes that bridge and creates no new one. If only hidden zeros could close a
cycle, everything is hidden (then every cell can still move: scale the whole table).

This guarantees that no hidden cell is *recoverable*; it does not promise a wide protection
interval (a hidden 1 may be known to lie in 0..3). Tables here are small (centres x
categories), so the exact method costs nothing noticeable.

CSV cells (`csv_safe`)
----------------------
A text cell that begins with `=`, `+`, `-`, `@`, tab or carriage return is run as a formula by
spreadsheet programs (OWASP "CSV injection"). `csv_safe` prefixes such text with a single
quote; numbers, dates and None pass through unchanged, so a negative number stays a number.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd

MIN_CELL = 5
"""Counts from 1 to MIN_CELL - 1 are never shown (docs/endpoints.md: fewer than 5 is a disclosure risk)."""

TOTAL_LABEL = "Total"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """`value`, with text that a spreadsheet would run as a formula prefixed by `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with `csv_safe` applied to every text cell (headers included)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(csv_safe)
    out.columns = [csv_safe(c) for c in out.columns]
    return out


def _as_counts(table: pd.DataFrame | pd.Series) -> pd.DataFrame:
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"count table of shape {frame.shape} is empty")
    values = frame.to_numpy(dtype=object)
    for (i, j), v in np.ndenumerate(values):
        ok = not pd.isna(v) and not isinstance(v, (bool, np.bool_))
        ok = ok and float(v) == int(v) and int(v) >= 0
        if not ok:
            raise ValueError(
                f"count table cell ({frame.index[i]!r}, {frame.columns[j]!r}) = {v!r}: counts must be whole numbers >= 0"
            )
    return frame.astype("int64")


def _with_margins(counts: np.ndarray) -> np.ndarray:
    rows, cols = counts.shape
    full = np.zeros((rows + 1, cols + 1), dtype=np.int64)
    full[:rows, :cols] = counts
    full[:rows, cols] = counts.sum(axis=1)
    full[rows, :cols] = counts.sum(axis=0)
    full[rows, cols] = counts.sum()
    return full


def _bridges(mask: np.ndarray) -> list[tuple[int, int]]:
    """Hidden cells that lie on no cycle of the row/column graph (those are recoverable)."""
    n_rows, n_cols = mask.shape
    adjacency: list[list[int]] = [[] for _ in range(n_rows + n_cols)]
    for i, j in zip(*np.nonzero(mask), strict=True):
        adjacency[i].append(n_rows + j)
        adjacency[n_rows + j].append(i)
    order = [-1] * (n_rows + n_cols)
    low = [0] * (n_rows + n_cols)
    found: list[tuple[int, int]] = []
    counter = 0
    for root in range(n_rows + n_cols):
        if order[root] != -1:
            continue
        order[root] = low[root] = counter
        counter += 1
        stack: list[tuple[int, int, int]] = [(root, -1, 0)]  # node, parent, next neighbour index
        while stack:
            node, parent, k = stack[-1]
            if k < len(adjacency[node]):
                stack[-1] = (node, parent, k + 1)
                nxt = adjacency[node][k]
                if nxt == parent:
                    continue  # simple graph: the edge back to the parent is the tree edge itself
                if order[nxt] == -1:
                    order[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append((nxt, node, 0))
                else:
                    low[node] = min(low[node], order[nxt])
            else:
                stack.pop()
                if parent != -1:
                    low[parent] = min(low[parent], low[node])
                    if low[node] > order[parent]:
                        a, b = (parent, node) if parent < n_rows else (node, parent)
                        found.append((a, b - n_rows))
    return sorted(found)


def _cheapest_cycle_closure(full: np.ndarray, mask: np.ndarray, bridge: tuple[int, int]) -> list[tuple[int, int]] | None:
    """Cells to hide so that `bridge` lies on a cycle, hiding as small a total as possible;
    None when only zero cells could do it."""
    n_rows, n_cols = full.shape
    start, goal = bridge[0], n_rows + bridge[1]
    dist = {start: 0}
    previous: dict[int, int] = {}
    heap = [(0, start)]
    while heap:
        d, node = heapq.heappop(heap)
        if node == goal:
            break
        if d > dist.get(node, np.inf):
            continue
        if node < n_rows:
            neighbours = [(n_rows + j, (node, j)) for j in range(n_cols)]
        else:
            neighbours = [(i, (i, node - n_rows)) for i in range(n_rows)]
        for nxt, cell in neighbours:
            if cell == bridge:
                continue
            if mask[cell]:
                cost = 0
            elif full[cell] > 0:
                cost = int(full[cell])
            else:
                continue  # never hide a zero to protect something: it could pin the cycle
            if d + cost < dist.get(nxt, np.inf):
                dist[nxt] = d + cost
                previous[nxt] = node
                heapq.heappush(heap, (d + cost, nxt))
    if goal not in dist:
        return None
    cells = []
    node = goal
    while node != start:
        before = previous[node]
        row, col = (before, node) if before < n_rows else (node, before)
        cells.append((row, col - n_rows))
        node = before
    return [c for c in cells if not mask[c]]


def suppression_mask(table: pd.DataFrame | pd.Series, threshold: int = MIN_CELL) -> pd.DataFrame:
    """Which cells of `table` *with its totals* must be hidden (True), as a boolean frame whose
    last row and column are the totals. See the module docstring for the method."""
    if threshold < 1:
        raise ValueError(f"threshold {threshold} must be at least 1")
    counts = _as_counts(table)
    full = _with_margins(counts.to_numpy())
    mask = (full >= 1) & (full < threshold)
    while bridges := _bridges(mask):
        closure = _cheapest_cycle_closure(full, mask, bridges[0])
        if closure is None:
            mask[:, :] = True
            break
        for cell in closure:
            mask[cell] = True
    index = [*counts.index, TOTAL_LABEL]
    columns = [*counts.columns, TOTAL_LABEL]
    return pd.DataFrame(mask, index=index, columns=columns)


def suppress_counts(
    table: pd.DataFrame | pd.Series,
    threshold: int = MIN_CELL,
    *,
    with_totals: bool = True,
    total_label: Hashable = TOTAL_LABEL,
) -> pd.DataFrame:
    """`table` of counts with its row and column totals, small counts hidden (pd.NA) together
    with enough other cells that none can be recovered from what is shown.

    The totals are always taken into account (they are usually published somewhere); with
    `with_totals=False` they are left out of the result, which only shows less.

    :raises ValueError: a cell is not a whole number >= 0, the table is empty, or threshold < 1.
    """
    counts = _as_counts(table)
    mask = suppression_mask(counts, threshold).to_numpy()
    full = pd.DataFrame(
        _with_margins(counts.to_numpy()),
        index=[*counts.index, total_label],
        columns=[*counts.columns, total_label],
    ).astype("Int64")
    shown = full.mask(mask)
    shown.index.name, shown.columns.name = counts.index.name, counts.columns.name
    if not with_totals:
        shown = shown.iloc[:-1, :-1]
    return shown
