"""k-anonymity for row-level research exports: every combination of quasi-identifiers occurs
at least k times, reached by generalisation first and by blanking values last; no row dropped.

Quasi-identifiers (`QUASI_IDENTIFIERS`) are the columns an outsider could know about a person
(centre, sex, age, transplant year, phenotype; country where a dataset carries it). A row that
is unique on them can be linked to that person, and with it every outcome in the row.

How k is reached (pure function `anonymise`, deterministic for the same data):

1. **Generalisation** (global recoding: the same rule for every row, so the columns stay
   analysable): each quasi-identifier has a ladder of levels, finest first: age exact → 5-year
   → 10-year bands → <30/30–39/40–49/50+; transplant year → 3-, 5-, 10-year periods; phenotype →
   RRMS / progressive; centre → centres with fewer than 25, 50, 100, 200 patients pooled as
   "other centres". While more than `blank_budget` (default 5 %) of the rows lie in groups
   smaller than k, the one step up a ladder that leaves the fewest such rows is taken (ties:
   the order of `LADDER_PREFERENCE`, transplant period before age, age before centre); then
   any step no longer needed is taken back.
2. **Blanking** (local suppression), last: for rows still in groups smaller than k, the values
   of sex, then age, transplant period, phenotype and centre are blanked (empty cell) one
   quasi-identifier at a time until every group has k rows; if the rows with every
   quasi-identifier blanked are themselves fewer than k, as few further rows as needed are
   blanked from the largest groups. Blanked values are missing values to the analyst, and
   counted per column in the report.

A blanked value is treated as a value of its own when groups are counted (the conservative
reading: an outsider cannot match it to anything, but we do not rely on that).

:raises KAnonymityError: k below 2, fewer than k rows, or k only reachable by blanking every value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

QUASI_IDENTIFIERS: tuple[str, ...] = ("centre_code", "sex", "age_at_transplant", "transplant_year", "phenotype", "country")
BLANK_ORDER: tuple[str, ...] = ("sex", "age_at_transplant", "transplant_year", "phenotype", "country", "centre_code")
LADDER_PREFERENCE: tuple[str, ...] = ("transplant_year", "age_at_transplant", "phenotype", "centre_code", "country")
DEFAULT_BLANK_BUDGET = 0.05
OTHER_CENTRES = "other centres"
CENTRE_POOL_SIZES: tuple[int, ...] = (25, 50, 100, 200)


class KAnonymityError(ValueError):
    """k cannot be reached as asked; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Level:
    """One rung of a generalisation ladder: its description and the recoding of a column."""

    description: str
    recode: Callable[[pd.Series, pd.DataFrame], pd.Series]


def _band(width: int, top: int = 90) -> Callable[[pd.Series, pd.DataFrame], pd.Series]:
    def recode(values: pd.Series, _frame: pd.DataFrame) -> pd.Series:
        v = pd.to_numeric(values, errors="coerce")
        lo = (v // width) * width
        return pd.Series([None if pd.isna(a) else f"{top}+" if a >= top else f"{int(a)}–{int(a) + width - 1}"
                          for a in lo], index=values.index, dtype=object)

    return recode


def _broad_age(values: pd.Series, _frame: pd.DataFrame) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce")
    cut = pd.cut(v, [-np.inf, 29, 39, 49, np.inf], labels=["<30", "30–39", "40–49", "50+"])
    return pd.Series(cut.astype(object), index=values.index).where(cut.notna(), None)


def _period(width: int) -> Callable[[pd.Series, pd.DataFrame], pd.Series]:
    def recode(values: pd.Series, _frame: pd.DataFrame) -> pd.Series:
        v = pd.to_numeric(values, errors="coerce")
        lo = v - (v % width)
        return pd.Series([None if pd.isna(a) else f"{int(a)}–{int(a) + width - 1}" for a in lo],
                         index=values.index, dtype=object)

    return recode


def _progressive(values: pd.Series, _frame: pd.DataFrame) -> pd.Series:
    return values.map(lambda p: None if p is None or (isinstance(p, float) and math.isnan(p))
                      else "RRMS" if p == "RRMS" else "progressive (SPMS/PPMS)")


def _pool_centres(size: int) -> Callable[[pd.Series, pd.DataFrame], pd.Series]:
    def recode(values: pd.Series, _frame: pd.DataFrame) -> pd.Series:
        counts = values.value_counts()
        small = set(counts[counts < size].index)
        return values.map(lambda c: OTHER_CENTRES if c in small else c)

    return recode


def _identity(values: pd.Series, _frame: pd.DataFrame) -> pd.Series:
    return values


LADDERS: dict[str, tuple[Level, ...]] = {
    "age_at_transplant": (
        Level("exact years", _identity),
        Level("5-year bands", _band(5)),
        Level("10-year bands", _band(10)),
        Level("bands <30, 30–39, 40–49, 50+", _broad_age),
    ),
    "transplant_year": (
        Level("exact year", _identity),
        Level("3-year periods", _period(3)),
        Level("5-year periods", _period(5)),
        Level("10-year periods", _period(10)),
    ),
    "phenotype": (Level("as recorded", _identity), Level("RRMS or progressive (SPMS/PPMS)", _progressive)),
    "centre_code": (Level("as recorded", _identity),
                    *(Level(f"centres with fewer than {n} patients pooled as '{OTHER_CENTRES}'", _pool_centres(n))
                      for n in CENTRE_POOL_SIZES)),
    "sex": (Level("as recorded", _identity),),
    "country": (Level("as recorded", _identity),),
}


@dataclass
class Report:
    """What `anonymise` did, for the export's sidecar."""

    k: int
    quasi_identifiers: list[str]
    generalisations: dict[str, str] = field(default_factory=dict)
    blanked: dict[str, int] = field(default_factory=dict)
    rows_with_blanks: int = 0
    smallest_group: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "quasi_identifiers": self.quasi_identifiers,
            "generalisations": self.generalisations,
            "blanked_values": self.blanked,
            "rows_with_blanked_values": self.rows_with_blanks,
            "smallest_group": self.smallest_group,
        }


def group_sizes(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Size of each row's group over `columns` (a missing value is a value of its own)."""
    if not columns:
        return pd.Series(len(frame), index=frame.index)
    keys = frame[list(columns)].astype(object).where(frame[list(columns)].notna(), "\x00missing")
    keys = keys.astype(str)
    return keys.groupby(list(keys.columns), sort=False, dropna=False)[keys.columns[0]].transform("size")


def _small_rows(frame: pd.DataFrame, columns: Sequence[str], k: int) -> pd.Series:
    return group_sizes(frame, columns) < k


def anonymise(
    frame: pd.DataFrame,
    k: int = 5,
    *,
    quasi_identifiers: Sequence[str] = QUASI_IDENTIFIERS,
    blank_budget: float = DEFAULT_BLANK_BUDGET,
) -> tuple[pd.DataFrame, Report]:
    """`frame` with its quasi-identifiers generalised and (last) blanked so that every
    combination occurs at least `k` times; every row is kept. See the module docstring.

    :raises KAnonymityError: k < 2, fewer than k rows, or only reachable by blanking every value.
    """
    if k < 2:
        raise KAnonymityError(f"k = {k}: k-anonymity needs k of at least 2 (every row in a group of k or more)")
    qis = [c for c in quasi_identifiers if c in frame.columns]
    report = Report(k=k, quasi_identifiers=qis)
    if len(frame) == 0:
        return frame.copy(), report
    if len(frame) < k:
        raise KAnonymityError(
            f"k = {k} cannot be reached: the export has only {len(frame)} row(s), fewer than k; "
            "choose a smaller k or a larger cohort"
        )
    original = frame
    out = frame.copy()
    levels = dict.fromkeys(qis, 0)
    budget = int(blank_budget * len(frame))

    def apply(lv: dict[str, int]) -> pd.DataFrame:
        trial = original.copy()
        for column, level in lv.items():
            if level:
                trial[column] = LADDERS[column][level].recode(original[column], original)
        return trial

    while int(_small_rows(out, qis, k).sum()) > budget:
        best: tuple[int, int, str] | None = None
        for rank, column in enumerate(LADDER_PREFERENCE):
            if column not in levels or levels[column] + 1 >= len(LADDERS[column]):
                continue
            trial_levels = {**levels, column: levels[column] + 1}
            small = int(_small_rows(apply(trial_levels), qis, k).sum())
            if best is None or (small, rank) < best[:2]:
                best = (small, rank, column)
        if best is None:
            break
        levels[best[2]] += 1
        out = apply(levels)
    # Greedy steps can overshoot: step back down any ladder that is not needed any more.
    improved = True
    while improved:
        improved = False
        for column in reversed(LADDER_PREFERENCE):
            if levels.get(column, 0) == 0:
                continue
            trial_levels = {**levels, column: levels[column] - 1}
            if int(_small_rows(apply(trial_levels), qis, k).sum()) <= budget:
                levels = trial_levels
                improved = True
    out = apply(levels)
    for column, level in levels.items():
        if level:
            report.generalisations[column] = LADDERS[column][level].description
    # Blanking, last (the module docstring says in which order).
    blanked = pd.DataFrame(False, index=out.index, columns=qis)
    for column in [c for c in BLANK_ORDER if c in qis]:
        small = _small_rows(out, qis, k)
        if not small.any():
            break
        out[column] = out[column].astype(object)
        out.loc[small, column] = None
        blanked.loc[small, column] = True
    all_blank = blanked.all(axis=1)
    if 0 < int(all_blank.sum()) < k:
        need = k - int(all_blank.sum())
        keys = out.loc[~all_blank, qis].astype(object).where(out.loc[~all_blank, qis].notna(), "\x00").astype(str)
        groups = sorted(keys.groupby(list(qis), sort=False).groups.values(), key=len, reverse=True)
        chosen: list[Any] = []
        for members in groups:  # the largest groups give rows, each keeping at least k
            spare = len(members) - k
            chosen += list(members[: max(0, min(spare, need - len(chosen)))])
            if len(chosen) == need:
                break
        if len(chosen) < need:
            raise KAnonymityError(f"k = {k} cannot be reached without blanking every value; choose a smaller k")
        for column in qis:
            out[column] = out[column].astype(object)
            out.loc[chosen, column] = None
            blanked.loc[chosen, column] = True
    if blanked.to_numpy().all():
        raise KAnonymityError(f"k = {k} cannot be reached without blanking every value; choose a smaller k")
    sizes = group_sizes(out, qis)
    assert int(sizes.min()) >= k, "k-anonymity not reached (a bug): refusing to release"
    report.blanked = {c: int(blanked[c].sum()) for c in qis}
    report.rows_with_blanks = int(blanked.any(axis=1).sum())
    report.smallest_group = int(sizes.min())
    return out, report
