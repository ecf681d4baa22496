"""Display labels: the words a person reads in place of a machine column name or a code.

Why one module: analyses, caches and exports keep their machine names (`hr`, `centre_code`,
`FEBRILE_NEUTROPENIA`; the survival export's columns are a documented contract, see
docs/endpoints.md), but a table header, a legend entry or an axis category on a page is read by
clinicians and committees. Every page turns names into words here, so "Hazard ratio" and
"Febrile neutropenia" read the same on every page and in every saved figure, and a new column
gets its words in one place. Field names and code words come from the data dictionary
(registry/dictionary.py); this module adds the names of computed columns (estimates, models,
tests, quality counts) and of survival groups (`all`, bands, codes of the grouping column).

A test (tests/dashboard/test_display_labels.py) opens every page as every role and fails when a
table header, a legend entry or an axis category is still a machine name.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import pandas as pd

from registry import dictionary

# Computed columns (not stored fields): estimates, model tables, tests, quality and query counts.
COLUMN_LABELS: dict[str, str] = {
    # survival estimates and group summaries
    "group": "Group",
    "n": "Patients",
    "patients": "Patients",
    "events": "Events",
    "n_risk": "At risk",
    "estimate": "Estimate",
    "median_days": "Median (days)",
    "median_years": "Median (years)",
    # model tables (Cox, Fine–Gray, proportional-hazards test)
    "term": "Term",
    "hr": "Hazard ratio",
    "lower": "95% CI lower",
    "upper": "95% CI upper",
    "p": "p-value",
    "chisq": "Chi-square",
    "df": "Degrees of freedom",
    # group comparisons
    "test": "Test",
    "statistic": "Statistic",
    "p_value": "p-value",
    # follow-up completeness and data quality
    "centre_code": "Centre",
    "patient_code": "Patient",
    "alive": "Alive",
    "seen_last_12m_pct": "Alive, seen ≤12 months (%)",
    "clark_c_pct": "Clark's C (%)",
    "problem": "Problem",
    "detail": "Detail",
    "without_first_transplant": "Without a first transplant",
    "without_baseline_edss": "Without baseline EDSS",
    "overdue_follow_up": "Overdue follow-up",
    "missing_day100_visit": "Missing day-100 visit",
    "missing_month6_visit": "Missing 6-month visit",
    "missing_year1_visit": "Missing 1-year visit",
    # data queries
    "study id": "Study ID",
    "open": "Open",
    "answered": "Answered",
    "closed": "Closed",
}

# Survival groups that are not codes: the whole cohort and patients without a value.
ALL_PATIENTS = "All patients"
GROUP_WORDS: dict[str, str] = {"all": ALL_PATIENTS, "missing": "Not recorded"}

# Grouping columns whose values are codes of a data-dictionary code list.
GROUP_CODE_LISTS: dict[str, str] = {
    "sex": "SEX",
    "phenotype": "PHENOTYPE",
    "conditioning": "CONDITIONING",
    "conditioning_intensity": "CONDITIONING_INTENSITY",
}
# Bands of numeric groupings (analytics.estimates): the band with its unit, so a legend entry
# "<30" reads as an age and "2" as a number of relapses.
_BAND_FORMATS: dict[str, str] = {
    "age_at_transplant": "{} years",
    "age_band": "{} years",
    "disease_duration_years": "{} years",
    "baseline_edss": "EDSS {}",
    "gd_lesions_baseline": "{} Gd+ lesions",
}
_RELAPSE_WORDS = {"0": "No relapse", "1": "1 relapse", "2": "2 relapses", "3+": "3 or more relapses"}
_FEATURE_WORDS = {"present": "Present", "not shown": "Not shown"}
_FEATURE_COLUMNS = ("f1_frequent_relapses", "f2_incomplete_recovery", "f3_rapid_disability", "f4_mri_activity")

# Group-comparison tests (analytics.comparisons names them in lower case).
TEST_LABELS: dict[str, str] = {
    "gray": "Gray's test",
    "log-rank": "Log-rank test",
    "cause-specific log-rank": "Cause-specific log-rank test",
}

# A machine name: snake_case with an underscore, UPPER_CODE with an underscore, or one
# lower-case word (`hr`, `group`, `events`). Human labels start with a capital, a digit or a sign.
_MACHINE = re.compile(r"^(?:[a-z][a-z0-9]*(?:_[a-z0-9]+)*|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)$")
# Lower-case words that are labels as they stand (statistics' own notation).
_LOWER_LABELS = frozenset({"p"})


def is_machine_name(text: Any) -> bool:
    """True for `centre_code`, `hr`, `FEBRILE_NEUTROPENIA`; False for "Hazard ratio", "OSL",
    "95% CI lower", "p-value"."""
    s = str(text).strip()
    return bool(s) and s not in _LOWER_LABELS and _MACHINE.match(s) is not None


def column_label(name: Any, table: str | None = None) -> str:
    """The header for a column: a computed column's words, else the data dictionary's label
    of `table`'s field, else the name in words with a capital ("x_y" → "X y", "opened by" →
    "Opened by")."""
    key = str(name)
    if key in COLUMN_LABELS:
        return COLUMN_LABELS[key]
    if table is not None:
        found = dictionary.label(table, key)
        if found != key.replace("_", " "):
            return found
    words = key.replace("_", " ") if is_machine_name(key) else key
    return words[:1].upper() + words[1:]


def for_display(frame: pd.DataFrame, labels: Mapping[str, str] | None = None, *, table: str | None = None) -> pd.DataFrame:
    """`frame` with headers in words (`labels` first, then `column_label`); the data untouched."""
    extra = dict(labels or {})
    return frame.rename(columns={c: extra.get(str(c), column_label(c, table)) for c in frame.columns})


def code_label(code: Any, code_list: str | None = None) -> str:
    """A code in words ("FEBRILE_NEUTROPENIA" → "Febrile neutropenia"); the data dictionary's."""
    return dictionary.code_label(code, code_list)


def group_label(by: str | None, value: Any) -> str:
    """A survival group in words: "All patients", "Female", "<30 years", "2 relapses".

    Centre codes stay codes (they are the names centres use for themselves); a value with no
    words here comes back as it is, never hidden.
    """
    text = str(value)
    if text in GROUP_WORDS:
        return GROUP_WORDS[text]
    if by in GROUP_CODE_LISTS:
        return dictionary.code_label(text, GROUP_CODE_LISTS[by])
    if by in _BAND_FORMATS:
        return _BAND_FORMATS[by].format(text)
    if by == "relapses_12m":
        return _RELAPSE_WORDS.get(text, text)
    if by in _FEATURE_COLUMNS:
        return _FEATURE_WORDS.get(text, text)
    if by == "aggressive_factors":
        return text[:1].upper() + text[1:]
    return text


def years_label(years: int) -> str:
    """The header of an estimate at a time: "1 year", "5 years"."""
    return f"{years} year{'s' if years != 1 else ''}"


def at_risk_label(years: int) -> str:
    """The header of the number at risk at a time: "At risk at 1 year"."""
    return f"At risk at {years_label(years)}"


def test_label(name: Any) -> str:
    return TEST_LABELS.get(str(name), str(name))


_T = TypeVar("_T")


def relabel_groups(frame: pd.DataFrame, by: str | None, column: str = "group") -> pd.DataFrame:
    """A copy of `frame` with its `group` column in words (see `group_label`)."""
    if column not in frame.columns:
        return frame
    return frame.assign(**{column: [group_label(by, g) for g in frame[column]]})


def relabel_result(result: _T, by: str | None) -> _T:
    """A survival result (dashboard.analysis.SurvivalResult) with every group in words, so its
    figure's legend, risk table and the estimates table below it read the same."""
    changes = {f.name: relabel_groups(getattr(result, f.name), by)
               for f in dataclasses.fields(result)  # type: ignore[arg-type]
               if isinstance(getattr(result, f.name), pd.DataFrame)}
    return dataclasses.replace(result, **changes)  # type: ignore[type-var]


def machine_names(values: Iterable[Any]) -> list[str]:
    """The values of `values` that are machine names (for tests and checks)."""
    return [str(v) for v in values if is_machine_name(v)]
