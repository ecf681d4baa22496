"""A plain, per-patient implementation of the confirmation rule of docs/endpoints.md.

It is the naive reference the SQL is checked against (hypothesis test, benchmark): a groupby and
a Python loop per patient, written to be read next to the text of docs/endpoints.md, not to be fast.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from analytics.settings import EndpointSettings


def delta(b: float, cutoff: float) -> float:
    """δ(b): 1.5 if b = 0; 1.0 if 0 < b ≤ cutoff; 0.5 above."""
    if b == 0:
        return 1.5
    if b <= cutoff:
        return 1.0
    return 0.5


def naive_confirmed_change(
    assessments: pd.DataFrame,
    relapses: pd.DataFrame,
    baselines: pd.DataFrame,
    settings: EndpointSettings,
    direction: str = "worsening",
) -> dict[int, dt.date]:
    """{patient_id: first confirmed change date}, tables as in `confirmed_changes_sql`."""
    onsets: dict[int, list[dt.date]] = {}
    for pid, onset in zip(relapses["patient_id"], relapses["onset_date"]):
        onsets.setdefault(int(pid), []).append(_as_date(onset))
    base = {
        int(pid): float(b)
        for pid, b in zip(baselines["patient_id"], baselines["baseline_edss"])
        if b is not None and not pd.isna(b)
    }
    result: dict[int, dt.date] = {}
    for pid, group in assessments.sort_values(["patient_id", "assessment_date"]).groupby("patient_id"):
        pid = int(pid)
        if pid not in base:
            continue
        b = base[pid]
        d = delta(b, settings.delta_cutoff)
        dates = [_as_date(x) for x in group["assessment_date"]]
        edss = [float(x) for x in group["edss"]]

        def affected(day: dt.date) -> bool:
            return any(0 <= (day - onset).days < settings.relapse_window_days for onset in onsets.get(pid, []))

        def changed(value: float) -> bool:
            if direction == "worsening":
                return value >= b + d
            return b >= 2.0 and value <= b - d

        for i in range(len(dates)):
            if not changed(edss[i]) or affected(dates[i]):
                continue
            confirming = None
            for j in range(i + 1, len(dates)):
                if not affected(dates[j]) and (dates[j] - dates[i]).days >= settings.confirmation_days:
                    confirming = j
                    break
            if confirming is None:
                continue
            if all(changed(edss[k]) for k in range(i + 1, confirming + 1)):
                result[pid] = dates[i]
                break
    return result


def _as_date(value: object) -> dt.date:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    assert isinstance(value, dt.date), value
    return value
