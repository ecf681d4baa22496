"""Statistical disclosure control for what leaves the registry: the release policy, small
counts, and CSV cells.

The release layer (`DisclosurePolicy`, `Release`): the one API for counts
------------------------------------------------------------------------------
Every count that a page, figure, table, caption, export or CLI output shows goes through a
`Release`, obtained once per viewer::

    release = release_for(actor)            # or DEFAULT_POLICY.release_for(role), k from settings
    release.text(n)                         # "<5", "0", "45" (bound roles) or "47" (exact roles)
    release.number(n)                       # 45, 0 or None (hidden) for chart heights / hover data
    release.count(n)                        # a `Released` (value, text, hidden, rounded)
    release.proportion(events, n)           # "2.3%", or "—" when events or non-events are 1..k-1
    release.estimate_shown(events)          # may a KM/CIF estimate resting on `events` be shown?
    release.frame(df, ["patients", ...])    # count columns replaced by their released text
    release.mark_counts(trace, "y", ...)    # tag Plotly trace fields that hold released counts
    release.footnote(n_hidden)              # "3 cells hidden (counts below 5). Counts rounded ..."
    release.table(counts)                   # a count table with totals, released (see `Release.table`)
    release.describe()                      # the rules applied, in sentences (the safety report's policy section)

The policy (`DisclosurePolicy`: threshold k, default 5; the roles it binds, governance and
researcher; the rounding base, default k) decides; pages never format a count themselves.
Centre users and administrators get an exact `Release` (`release.exact`): counts as they are.

For a bound role a count is released as
- 0 as "0" (it identifies no-one, and hiding it would make tables unreadable);
- 1 to k-1 as "<k" (hidden; charts draw nothing there and mark it);
- k or more rounded to the nearest multiple of the rounding base (never below k), e.g. 47 -> 45.

Why rounding rather than complementary suppression: a released total, a risk set at two times,
a rate beside its denominator, or the same table under two sidebar filters all let a hidden
count be recovered by subtraction; complementary suppression can only protect one table at a
time and empties much of a chart. With every released count a multiple of 5 (or "<5"), any
difference of released counts is a multiple of 5, and each released count stands for an interval
of 5 values, so no count of 1-4 follows by differencing across tables, filters or times. Rates
and Kaplan-Meier or cumulative-incidence estimates are shown only when the events behind them
are 0 or at least k (a rate of 2.3 % beside 45 patients is one death).

`Release.mark_counts` writes `meta={"msreg_counts": [fields]}` into a Plotly trace, so that the
browser-payload test (tests/security/test_released_payload.py) can tell counts from days,
percentages and years. Research exports are k-anonymous on their quasi-identifiers
(registry.security.k_anonymity).

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
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
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
            out[column] = _csv_safe_column(out[column])
    out.columns = [csv_safe(c) for c in out.columns]
    return out


def _csv_safe_column(values: pd.Series) -> pd.Series:
    """`csv_safe` of every cell, tested column-wise (a Python call per cell cost more than the
    rest of a 10,000-patient export); cells that are not text are left as they are."""
    try:
        risky = values.str.startswith(FORMULA_PREFIXES).eq(True)
    except (AttributeError, TypeError):  # no text at all, or a type .str refuses: cell by cell
        return pd.Series([csv_safe(v) for v in values], index=values.index, dtype=object, name=values.name)
    if not risky.any():
        return values
    out = values.astype(object).copy()
    out[risky] = "'" + values[risky].astype(str)
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


BOUND_ROLES: frozenset[str] = frozenset({"governance", "researcher"})
"""Roles that see aggregates only: every count they get is released through the policy."""
COUNTS_META = "msreg_counts"
NOT_BROKEN_DOWN = "·"
"""A cell of a row or column whose total is below k: only the total is released (0 to k-1)."""
WITHHELD = "…"
"""A cell withheld because the table's totals would otherwise pin a hidden count (any value)."""


@dataclass(frozen=True, slots=True)
class Released:
    """One count as released: `value` is what may be drawn (None when hidden), `text` what is written."""

    value: int | None
    text: str
    hidden: bool = False
    rounded: bool = False

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class DisclosurePolicy:
    """Threshold k (counts 1..k-1 hidden), the roles it binds, and the rounding base for counts
    of k or more (0: no rounding). One object, read by every page, figure, export and CLI output."""

    k: int = MIN_CELL
    bound_roles: frozenset[str] = BOUND_ROLES
    rounding: int | None = None  # None: round to multiples of k

    def __post_init__(self) -> None:
        if self.k < 2:
            raise ValueError(f"disclosure threshold k = {self.k} must be at least 2")
        if self.rounding is not None and self.rounding < 0:
            raise ValueError(f"rounding base {self.rounding} must be 0 (none) or positive")

    @property
    def base(self) -> int:
        return self.k if self.rounding is None else self.rounding

    def binds(self, role: str) -> bool:
        return role in self.bound_roles

    def release_for(self, role: str) -> Release:
        return Release(self, exact=not self.binds(role))


DEFAULT_POLICY = DisclosurePolicy()


def release_for(actor: Any, k: int | None = None) -> Release:
    """The `Release` for an `Actor` (or a role name), with threshold `k` (default: the policy's)."""
    role = actor if isinstance(actor, str) else actor.role
    policy = DEFAULT_POLICY if k is None or k == DEFAULT_POLICY.k else DisclosurePolicy(k=k)
    return policy.release_for(role)


@dataclass(frozen=True, slots=True)
class Release:
    """How counts are released to one viewer (see the module docstring)."""

    policy: DisclosurePolicy = field(default_factory=DisclosurePolicy)
    exact: bool = False

    @property
    def k(self) -> int:
        return self.policy.k

    @property
    def small(self) -> str:
        """The mark of a hidden count: "<5"."""
        return f"<{self.policy.k}"

    def count(self, n: Any) -> Released:
        if n is None or pd.isna(n):
            return Released(None, "—", hidden=True)
        n = int(n)
        if n < 0:
            raise ValueError(f"count {n} is negative")
        if self.exact or n == 0:
            return Released(n, f"{n:,}")
        if n < self.policy.k:
            return Released(None, self.small, hidden=True)
        base = self.policy.base
        value = max(self.policy.k, base * math.floor(n / base + 0.5)) if base > 1 else n
        return Released(value, f"{value:,}", rounded=value != n)

    def text(self, n: Any) -> str:
        return self.count(n).text

    def number(self, n: Any) -> int | None:
        return self.count(n).value

    def counts(self, values: Iterable[Any]) -> list[Released]:
        return [self.count(v) for v in values]

    def is_small(self, n: Any) -> bool:
        """True for a count of 1..k-1 (which a bound role never sees)."""
        return n is not None and not pd.isna(n) and 0 < int(n) < self.policy.k

    def estimate_shown(self, events: Any) -> bool:
        """An estimate (rate, KM, cumulative incidence) resting on `events` may be shown: always to
        exact roles; to bound roles when the events are 0 or at least k."""
        return self.exact or not self.is_small(events)

    def split_shown(self, part: Any, whole: Any) -> bool:
        """A proportion `part / whole` (an incidence drawn or printed with its group size) may be
        shown: always to exact roles; to bound roles when neither the part nor the rest is 1..k-1,
        since 97.5% of about 40 gives one patient away as surely as the count itself."""
        if self.exact:
            return True
        part, whole = int(part), int(whole)
        return not (self.is_small(part) or self.is_small(whole - part))

    def proportion(self, events: Any, n: Any, *, digits: int = 1) -> str:
        """`events / n` as a percentage, or "—" when n is 0 or (bound roles) the events or the
        non-events are 1..k-1: the rate times the denominator would give the count away."""
        if n is None or pd.isna(n) or int(n) == 0:
            return "—"
        events, n = int(events), int(n)
        if not self.exact and (self.is_small(events) or self.is_small(n - events) or self.is_small(n)):
            return "—"
        return f"{100 * events / n:.{digits}f}%"

    def frame(self, frame: pd.DataFrame, count_columns: Sequence[str]) -> pd.DataFrame:
        """A copy of `frame` whose count columns hold their released text (exact roles: unchanged)."""
        out = frame.copy()
        if self.exact:
            return out
        for column in count_columns:
            out[column] = [self.text(v) for v in out[column]]
        return out

    def table(self, counts: pd.DataFrame, *, total_label: str = "total") -> pd.DataFrame:
        """A count table with its row and column totals, as released (text cells).

        For bound roles a row or column whose total is 1..k-1 shows only its total: its cells
        are marked `NOT_BROKEN_DOWN`. Otherwise its hidden cells, each known to be at least 1,
        could be pinned by the small total (four "<5" cells in a row whose total is below 5 are
        all 1)."""
        full = counts.astype("int64").copy()
        full.loc[total_label] = full.sum()
        full[total_label] = full.sum(axis=1)
        shown = full.apply(lambda col: [self.text(v) for v in col]).astype(object)
        if self.exact:
            return shown
        inner_rows, inner_cols = list(full.index[:-1]), list(full.columns[:-1])
        if self.is_small(full.loc[total_label, total_label]):  # the totals row and column are lines too
            inner_rows, inner_cols = list(full.index), list(full.columns)
            shown.loc[:, :] = NOT_BROKEN_DOWN
            shown.loc[total_label, total_label] = self.small
            return shown
        for r in inner_rows:
            if self.is_small(full.loc[r, total_label]):
                shown.loc[r, inner_cols] = NOT_BROKEN_DOWN
        for c in inner_cols:
            if self.is_small(full.loc[total_label, c]):
                shown.loc[inner_rows, c] = NOT_BROKEN_DOWN
        if _pinned(shown, self.policy.k, self.policy.base):
            # Rare (tiny tables): the rounded totals would pin a hidden cell; release the grand total only.
            grand = shown.loc[total_label, total_label]
            shown.loc[:, :] = WITHHELD
            shown.loc[total_label, total_label] = grand
        return shown

    def hidden_in(self, values: Iterable[Any]) -> int:
        """How many of `values` this viewer gets as hidden (1..k-1)."""
        return 0 if self.exact else sum(1 for v in values if self.is_small(v))

    def footnote(self, n_hidden: int = 0, *, cells: str = "cells") -> str:
        """What the viewer must know about the counts shown: hidden cells and rounding."""
        if self.exact:
            return ""
        parts = []
        if n_hidden:
            parts.append(f"{n_hidden} {cells} hidden (counts below {self.policy.k}, shown as {self.small}).")
        if self.policy.base > 1:
            parts.append(f"Counts of {self.policy.k} or more are rounded to the nearest {self.policy.base}.")
        return " ".join(parts)

    def describe(self) -> list[str]:
        """The rules this release applies, in sentences for a reader (the committee report's
        "Disclosure policy applied"). Written from the policy's own values and from this
        release's own output (the examples are `text` of a count), so the description cannot
        say one thing while the numbers do another."""
        k, base = self.policy.k, self.policy.base
        if self.exact:
            return ["Counts are exact: this viewer's role is not bound by the disclosure policy."]
        example = 9 * k + 2  # 47 for k = 5: not a multiple of the base, so its rounding shows
        sentences = [f"A count of 1 to {k - 1} is never shown: it reads {self.small}. A count of 0 is shown as 0 "
                     "(it identifies no-one)."]
        if base > 1:
            sentences.append(
                f"Counts of {k} or more are rounded to the nearest {base}, never below {k} ({example} reads "
                f"{self.text(example)}): any sum or difference of released counts is then a multiple of {base}, so no "
                f"count of 1 to {k - 1} follows from totals, numbers at risk at two times, or two tables.")
        else:
            sentences.append(f"Counts of {k} or more are shown exactly.")
        sentences.append(
            f"A percentage or estimate (a rate, a Kaplan–Meier or cumulative-incidence estimate) is shown only when "
            f"the events it rests on are 0 or at least {k}, and for a proportion the non-events too: with its "
            f"denominator it would give a count of 1 to {k - 1} away.")
        sentences.append(
            f"In a table with totals, a row or column whose total is below {k} shows only its total (its cells "
            f"marked {NOT_BROKEN_DOWN}), and where the released totals would still pin a hidden count to a single "
            f"value, only the grand total is released (cells marked {WITHHELD}).")
        return sentences

    def mark_counts(self, trace: Any, *fields: str) -> Any:
        """Tag the fields of a Plotly trace (e.g. "y", "customdata.0", "x") that hold released
        counts, so tests of the browser payload know which numbers are counts."""
        meta = dict(trace.meta) if isinstance(trace.meta, dict) else {}
        meta[COUNTS_META] = sorted(set(meta.get(COUNTS_META, [])) | set(fields))
        trace.meta = meta
        return trace


def _interval(text: str, k: int, base: int) -> tuple[float, float | None]:
    """The values a released cell can stand for."""
    text = str(text).replace(",", "")
    if text == WITHHELD:
        return 0.0, None
    if text == f"<{k}":
        return 1.0, float(k - 1)
    if text == NOT_BROKEN_DOWN:
        return 0.0, float(k - 1)
    value = int(text)
    if value == 0 or base <= 1:
        return float(value), float(value)
    return float(max(k, value - base // 2)), float(value + base // 2)


def _pinned(shown: pd.DataFrame, k: int, base: int) -> bool:
    """True when the released table (last row and column the totals) pins a hidden cell to a
    count of 1..k-1: the smallest and largest value it can take, given every other released
    value and the totals, meet (a linear programme per hidden cell)."""
    from scipy.optimize import linprog

    values = shown.to_numpy(dtype=object)
    n_rows, n_cols = values.shape
    bounds = [_interval(values[i, j], k, base) for i in range(n_rows) for j in range(n_cols)]
    a_eq = []
    for i in range(n_rows):
        row = np.zeros(n_rows * n_cols)
        row[i * n_cols:(i + 1) * n_cols] = 1.0
        row[i * n_cols + n_cols - 1] = -1.0
        a_eq.append(row)
    for j in range(n_cols):
        col = np.zeros(n_rows * n_cols)
        col[j::n_cols] = 1.0
        col[(n_rows - 1) * n_cols + j] = -1.0
        a_eq.append(col)
    b_eq = np.zeros(len(a_eq))
    for idx, (lo, hi) in enumerate(bounds):
        if str(values.ravel()[idx]) not in (f"<{k}", NOT_BROKEN_DOWN, WITHHELD):
            continue
        c = np.zeros(len(bounds))
        c[idx] = 1.0
        low = linprog(c, A_eq=np.array(a_eq), b_eq=b_eq, bounds=bounds, method="highs")
        high = linprog(-c, A_eq=np.array(a_eq), b_eq=b_eq, bounds=bounds, method="highs")
        if low.status != 0 or high.status != 0:
            continue
        if -high.fun - low.fun < 0.5 and -high.fun >= 0.5:
            return True
    return False
