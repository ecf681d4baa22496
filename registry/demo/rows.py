"""Typed arrays to bundle rows: every value a string exactly as in a CSV file.

Values are looked up in small tables of ready-made strings (dates, EDSS steps, counts, codes)
instead of being formatted one by one: a million rows then share a few thousand string objects,
which keeps 100,000 patients fast and small in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from registry.demo.baseline import MISSING

Column = np.ndarray  # an object array of str


class DateStrings:
    """ISO strings for every day from `first` to `last` (day numbers), '' for MISSING."""

    def __init__(self, first: int, last: int) -> None:
        self.first = first
        days = np.arange(first, last + 1).astype("datetime64[D]")
        self.table = np.asarray(np.datetime_as_string(days).tolist() + [""], dtype=object)

    def __call__(self, days: np.ndarray) -> Column:
        idx = np.where(days == MISSING, len(self.table) - 1, days - self.first)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self.table)):
            raise ValueError("a date outside the table's range: widen DateStrings(first, last)")
        return self.table[idx]


def codes(index: np.ndarray, names: Sequence[str]) -> Column:
    """Code list entries by index; '' for MISSING."""
    table = np.asarray(list(names) + [""], dtype=object)
    return table[np.where(index == MISSING, len(names), index)]


def counts(values: np.ndarray) -> Column:
    """Non-negative integers as text; '' for MISSING."""
    values = np.asarray(values, dtype=np.int64)
    top = int(values.max(initial=0))
    table = np.asarray([str(i) for i in range(top + 1)] + [""], dtype=object)
    return table[np.where(values == MISSING, top + 1, values)]


def booleans(values: np.ndarray) -> Column:
    """1/0/MISSING as 'true'/'false'/''."""
    return np.asarray(["false", "true", ""], dtype=object)[np.where(values == MISSING, 2, values)]


# As registry.validation.format_edss writes them, so an exported bundle reads back identically.
_EDSS_TEXT = np.asarray(["0"] + [f"{i / 2:.1f}" for i in range(1, 20)] + ["10", ""], dtype=object)


def edss(values: np.ndarray) -> Column:
    """EDSS steps as '3.5' ('0' and '10' at the ends); '' for NaN."""
    missing = np.isnan(values)
    return _EDSS_TEXT[np.where(missing, 21, np.round(np.nan_to_num(values) * 2).astype(np.int64))]


def decimals(values: np.ndarray) -> Column:
    """Floats as the export writes them (Python's shortest repr, e.g. '5.2'); '' for NaN."""
    return np.asarray(["" if np.isnan(v) else repr(float(v)) for v in np.asarray(values, dtype=float)], dtype=object)


def constant(value: str, n: int) -> Column:
    return np.full(n, value, dtype=object)


def to_rows(columns: dict[str, Column]) -> list[dict[str, str]]:
    """Column arrays (equal length) to a list of row dicts."""
    names = list(columns)
    lists = [columns[name].tolist() for name in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)]
