"""Serious adverse events with their time since transplant, from a snapshot.

Why here and not in a page: the Safety page and the committee safety report must count the
same events (one definition of "serious"), so both read this one query.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

SERIOUS_AE_SQL = """
WITH day0 AS (
    SELECT patient_id, min(transplant_date) AS day0 FROM transplants
    WHERE transplant_number = 1 GROUP BY patient_id)
SELECT a.patient_id, c.centre_code, a.category, a.grade, date_diff('day', d.day0, a.onset_date) AS days
FROM adverse_events a
JOIN day0 d USING (patient_id)
JOIN patients p ON p.id = a.patient_id
JOIN centres c ON c.id = p.centre_id
WHERE coalesce(a.serious, a.grade >= 3)
"""


def serious_adverse_events(snapshot: Any) -> pd.DataFrame:
    """Serious AEs (serious flag, or grade ≥ 3 when the flag is missing) with days since day 0.

    Why grade ≥ 3 as the fallback: CTCAE grade 3+ is severe or life-threatening, the usual
    reading of "serious" in transplant registries when the flag was not recorded.
    Columns: patient_id, centre_code, category, grade, days.
    """
    return snapshot.cursor().sql(SERIOUS_AE_SQL).df()
