"""Time to engraftment as a competing-risks endpoint (analytics/engraftment.py): engraftment is
the event, an early death without engraftment competes, a patient still early is censored and
one followed long past aplasia without a recorded date is left out (missing, not censored)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analytics.engraftment import engraftment_times
from analytics.estimates import survival_estimates

D0 = dt.date(2020, 1, 1)


def day(n: int | None) -> dt.date | None:
    return None if n is None else D0 + dt.timedelta(days=n)


@pytest.mark.parametrize(
    ("engrafted", "death", "lc", "expected"),
    [
        (11, None, 900, (11, 1)),
        (11, 40, 40, (11, 1)),  # engrafted, then died: the engraftment counts
        (None, 8, 8, (8, 2)),  # died before engraftment: competing
        (None, 100, 100, (100, 2)),
        (None, None, 30, (30, 0)),  # still within the first 100 days: censored at last contact
        (None, None, 900, (None, None)),  # followed long past aplasia without a date: left out
        (None, 400, 400, (None, None)),  # died late without a date: the date is missing
    ],
)
def test_engraftment_days_and_status(engrafted, death, lc, expected) -> None:  # type: ignore[no-untyped-def]
    endpoints = pd.DataFrame({"patient_id": [1], "day0": [D0], "death_date": [day(death)], "lc_date": [day(lc)]})
    dates = pd.DataFrame({"patient_id": [1], "neutrophil_engraftment_date": [day(engrafted)],
                          "platelet_engraftment_date": [None]})
    row = engraftment_times(endpoints, dates).iloc[0]
    got = tuple(None if pd.isna(row[c]) else int(row[c]) for c in ("neutrophil_days", "neutrophil_status"))
    assert got == expected


def test_cumulative_incidence_of_engraftment_treats_early_death_as_competing() -> None:
    n = 10
    endpoints = pd.DataFrame({"patient_id": range(n), "day0": [D0] * n,
                              "death_date": [day(5)] + [None] * (n - 1), "lc_date": [day(5)] + [day(700)] * (n - 1)})
    dates = pd.DataFrame({"patient_id": range(n), "neutrophil_engraftment_date": [None] + [day(10 + i % 3) for i in range(n - 1)],
                          "platelet_engraftment_date": [None] * n})
    frame = engraftment_times(endpoints, dates)
    est = survival_estimates(frame, "neutrophil_engraftment", at=(9, 30)).set_index("time")["estimate"]
    assert est[9] == 0.0 and est[30] == pytest.approx(0.9)  # never 1: one patient died first
