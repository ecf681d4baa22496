"""The data-quality report: what each centre should complete or chase, and the records to fix.

Why these checks: each one names a gap that silently weakens an endpoint.
- No first transplant: the patient has no day 0 and is left out of every endpoint.
- No baseline EDSS (after the visit fallback): no CDW, PFS, CDI or NEDA-3 for the patient.
- Overdue follow-up: an alive patient whose latest visit (or, without visits, day 0) is more
  than 15 months ago; censoring there biases survival upwards if the unseen patients did worse.
  A patient with a follow-up status (lost to follow-up, transferred, consent withdrawn) is not
  overdue: the centre has recorded why nobody sees them, and a reminder would never end. Their
  protocol windows ending after the status date are not counted as missing either.
- Missing protocol visits: no visit in the window around day 100 (±30 days), month 6
  (day 182 ±45) or year 1 (day 365 ±60). A window is counted only once it is over (its last day
  is before `today`) and the patient was alive throughout it (no death on or before its last
  day): an open window is not yet missing, and the dead cannot be visited.
- Completeness (%) of the key fields of the survival export: the transplant record's baseline
  EDSS (as recorded, before the fallback: the fallback is a rescue, not a record), MS onset date
  (of all patients), conditioning, relapses in the 12 months before transplant and baseline
  Gd-enhancing lesions (of patients with a first transplant).

Every problem of every patient is one row of `issues`, with the centre and patient code and a
detail a data manager can act on; for roles that may not see patient codes both the code and
the detail (it quotes the patient's dates) are blank.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from analytics.endpoints import derive_endpoints
from analytics.settings import EndpointSettings
from analytics.snapshot import Snapshot
from registry.dictionary import label, phrase

OVERDUE_MONTHS = 15

VISIT_WINDOWS: tuple[tuple[str, str, int, int], ...] = (
    # (column suffix, problem label, target day, half-width in days)
    ("day100", "day-100", 100, 30),
    ("month6", "6-month", 182, 45),
    ("year1", "1-year", 365, 60),
)

KEY_FIELDS: tuple[tuple[str, str], ...] = (
    # (field, table whose records it completes)
    ("baseline_edss", "transplants"),
    ("ms_onset_date", "patients"),
    ("conditioning", "transplants"),
    ("relapses_12m", "transplants"),
    ("gd_lesions_baseline", "transplants"),
)

NO_FIRST_TRANSPLANT = "no first transplant"
NO_BASELINE_EDSS = "no baseline EDSS"
OVERDUE_FOLLOW_UP = "overdue follow-up"
PROBLEMS: tuple[str, ...] = (
    NO_FIRST_TRANSPLANT,
    NO_BASELINE_EDSS,
    OVERDUE_FOLLOW_UP,
    *(f"missing {label} visit" for _, label, _, _ in VISIT_WINDOWS),
    *(f"missing {phrase(table, field)}" for field, table in KEY_FIELDS),
)
ISSUE_COLUMNS: tuple[str, ...] = ("centre_code", "patient_code", "problem", "detail")


@dataclass(frozen=True, slots=True)
class QualityReport:
    """`per_centre`: one row per centre; `issues`: one row per problem of a patient."""

    per_centre: pd.DataFrame
    issues: pd.DataFrame
    today: dt.date


# One row per registered patient: the facts the checks need (SQL over the snapshot).
PATIENT_FACTS_SQL = """
WITH first_transplant AS (
    SELECT patient_id, transplant_date AS day0, baseline_edss, conditioning, relapses_12m, gd_lesions_baseline
    FROM transplants WHERE transplant_number = 1
),
transplant_count AS (SELECT patient_id, count(*) AS n_transplants FROM transplants GROUP BY patient_id),
last_visit AS (SELECT patient_id, max(visit_date) AS last_visit_date FROM visits GROUP BY patient_id)
SELECT p.id AS patient_id, c.centre_code, p.patient_code, p.ms_onset_date, p.followup_status, p.followup_status_date,
       f.day0, f.baseline_edss AS recorded_baseline_edss, f.conditioning, f.relapses_12m, f.gd_lesions_baseline,
       coalesce(tc.n_transplants, 0) AS n_transplants,
       lv.last_visit_date, d.death_date
FROM patients AS p
JOIN centres AS c ON c.id = p.centre_id
LEFT JOIN first_transplant AS f ON f.patient_id = p.id
LEFT JOIN transplant_count AS tc ON tc.patient_id = p.id
LEFT JOIN last_visit AS lv ON lv.patient_id = p.id
LEFT JOIN deaths AS d ON d.patient_id = p.id
ORDER BY c.centre_code, p.patient_code, p.id
"""

# Per patient with a first transplant and protocol window: is there any visit in it?
WINDOW_VISITS_SQL = """
WITH first_transplant AS (
    SELECT patient_id, transplant_date AS day0 FROM transplants WHERE transplant_number = 1
),
windows(name, first_day, last_day) AS (VALUES {windows})
SELECT f.patient_id, w.name, f.day0 + w.first_day AS window_start, f.day0 + w.last_day AS window_end,
       count(v.visit_date) AS visits
FROM first_transplant AS f
CROSS JOIN windows AS w
LEFT JOIN visits AS v
    ON v.patient_id = f.patient_id AND v.visit_date BETWEEN f.day0 + w.first_day AND f.day0 + w.last_day
GROUP BY ALL
"""


def quality_report(snapshot: Snapshot, settings: EndpointSettings | None = None, *, today: dt.date | None = None) -> QualityReport:
    """Per-centre counts and completeness, and the records to fix, as of `today` (UTC date)."""
    settings = settings or EndpointSettings()
    today = today or dt.datetime.now(dt.UTC).date()
    con = snapshot.cursor()
    facts = con.execute(PATIENT_FACTS_SQL).df()
    facts = _as_dates(facts, ["ms_onset_date", "followup_status_date", "day0", "last_visit_date", "death_date"])
    endpoints = derive_endpoints(snapshot, settings)[["patient_id", "baseline_edss"]]
    facts = facts.merge(endpoints, on="patient_id", how="left")
    windows_sql = WINDOW_VISITS_SQL.format(
        windows=", ".join(f"('{key}', {target - half}, {target + half})" for key, _, target, half in VISIT_WINDOWS)
    )
    windows = _as_dates(con.execute(windows_sql).df(), ["window_start", "window_end"])
    centres = con.execute("SELECT centre_code FROM centres ORDER BY centre_code").df()["centre_code"]

    issues = pd.concat(
        [
            _no_first_transplant(facts),
            _no_baseline(facts, settings),
            _overdue(facts, today),
            _missing_windows(facts, windows, today),
            _missing_fields(facts),
        ],
        ignore_index=True,
    )
    # Problems in the order of PROBLEMS (most consequential first), patients by code.
    issues["_order"] = issues["problem"].map({p: i for i, p in enumerate(PROBLEMS)})
    issues = issues.sort_values(["centre_code", "patient_code", "_order"], kind="stable", na_position="last")
    issues = issues.reset_index(drop=True)[list(ISSUE_COLUMNS)]
    if not snapshot.scope.patient_codes:
        # The details quote calendar dates of the patient (last visit, day 0): identifying for
        # roles that may not see who the patient is, so they get the problem without them.
        issues["detail"] = None
    return QualityReport(per_centre=_per_centre(centres, facts, issues), issues=issues, today=today)


def _as_dates(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Dates as datetime64 (NaT when missing), for vectorised comparisons."""
    for col in columns:
        df[col] = pd.to_datetime(df[col])
    return df


def _iso(value: pd.Timestamp) -> str:
    return value.date().isoformat()


def _issue_rows(rows: pd.DataFrame, problem: str, detail: pd.Series | str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": rows["patient_id"].to_numpy(),
            "centre_code": rows["centre_code"].to_numpy(),
            "patient_code": rows["patient_code"].to_numpy(),
            "problem": problem,
            "detail": detail.to_numpy() if isinstance(detail, pd.Series) else detail,
        }
    )


def _no_first_transplant(facts: pd.DataFrame) -> pd.DataFrame:
    rows = facts[facts["day0"].isna()]
    detail = rows["n_transplants"].map(
        lambda n: "no transplant recorded: the patient is in no endpoint"
        if n == 0
        else f"{n} transplant record(s) but none numbered 1: the patient is in no endpoint"
    )
    return _issue_rows(rows, NO_FIRST_TRANSPLANT, detail)


def _no_baseline(facts: pd.DataFrame, settings: EndpointSettings) -> pd.DataFrame:
    rows = facts[facts["day0"].notna() & facts["baseline_edss"].isna()]
    detail = rows["day0"].map(
        lambda d0: f"no baseline EDSS on the first transplant ({_iso(d0)}) and no visit with an EDSS in the "
        f"{settings.baseline_lookback_days} days before it: no PFS, CDI or NEDA-3"
    )
    return _issue_rows(rows, NO_BASELINE_EDSS, detail)


def overdue_cutoff(today: dt.date, months: int = OVERDUE_MONTHS) -> dt.date:
    """`today` minus whole calendar months (the 31st becomes the month's last day)."""
    month_index = today.year * 12 + today.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    next_month = dt.date(year + (month == 12), month % 12 + 1, 1)
    last_day = (next_month - dt.timedelta(days=1)).day
    return dt.date(year, month, min(today.day, last_day))


def _overdue(facts: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    cutoff = pd.Timestamp(overdue_cutoff(today))
    reference = facts["last_visit_date"].fillna(facts["day0"])
    # lost to follow-up, transferred or consent withdrawn: nobody is chasing that patient any more
    overdue = facts["death_date"].isna() & facts["followup_status"].isna() & (reference < cutoff)
    rows = facts[overdue]
    ref = reference[overdue]

    def detail(i: int) -> str:
        last = facts.at[i, "last_visit_date"]
        what = f"last visit {_iso(last)}" if pd.notna(last) else f"no visit since day 0 ({_iso(facts.at[i, 'day0'])})"
        return f"{what}, {(pd.Timestamp(today) - ref[i]).days} days ago (more than {OVERDUE_MONTHS} months)"

    return _issue_rows(rows, OVERDUE_FOLLOW_UP, pd.Series([detail(i) for i in rows.index], index=rows.index, dtype=object))


def _window_due(windows: pd.DataFrame, facts: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    """Windows that are over by `today` for patients alive throughout them."""
    w = windows.merge(facts[["patient_id", "death_date", "followup_status_date"]], on="patient_id")
    over = w["window_end"] < pd.Timestamp(today)
    alive = w["death_date"].isna() | (w["death_date"] > w["window_end"])
    followed = w["followup_status_date"].isna() | (w["followup_status_date"] > w["window_end"])
    return w[over & alive & followed]


def _missing_windows(facts: pd.DataFrame, windows: pd.DataFrame, today: dt.date) -> pd.DataFrame:
    due = _window_due(windows, facts, today)
    missing = due[due["visits"] == 0].merge(facts[["patient_id", "centre_code", "patient_code"]], on="patient_id")
    frames = []
    for key, label, target, half in VISIT_WINDOWS:
        rows = missing[missing["name"] == key]
        detail = pd.Series(
            [
                f"no visit between {_iso(s)} and {_iso(e)} (day {target - half} to {target + half})"
                for s, e in zip(rows["window_start"], rows["window_end"])
            ],
            index=rows.index,
            dtype=object,
        )
        frames.append(_issue_rows(rows, f"missing {label} visit", detail))
    return pd.concat(frames, ignore_index=True)


def _missing_fields(facts: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for field, table in KEY_FIELDS:
        column = "recorded_baseline_edss" if field == "baseline_edss" else field
        eligible = facts if table == "patients" else facts[facts["day0"].notna()]
        rows = eligible[eligible[column].isna()]
        where = "patient record" if table == "patients" else "first transplant record"
        frames.append(_issue_rows(rows, f"missing {phrase(table, field)}", f"{label(table, field)} is empty on the {where}"))
    return pd.concat(frames, ignore_index=True)


def _per_centre(centres: pd.Series, facts: pd.DataFrame, issues: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"centre_code": centres})
    out["patients"] = out["centre_code"].map(facts.groupby("centre_code").size()).fillna(0).astype(int)
    counts = issues.groupby(["centre_code", "problem"]).size()

    def count(problem: str) -> pd.Series:
        per = counts.xs(problem, level="problem") if problem in counts.index.get_level_values("problem") else pd.Series(dtype=int)
        return out["centre_code"].map(per).fillna(0).astype(int)

    out["without_first_transplant"] = count(NO_FIRST_TRANSPLANT)
    out["without_baseline_edss"] = count(NO_BASELINE_EDSS)
    out["overdue_follow_up"] = count(OVERDUE_FOLLOW_UP)
    for key, label, _, _ in VISIT_WINDOWS:
        out[f"missing_{key}_visit"] = count(f"missing {label} visit")
    transplanted = facts[facts["day0"].notna()]
    for field, table in KEY_FIELDS:
        column = "recorded_baseline_edss" if field == "baseline_edss" else field
        base = facts if table == "patients" else transplanted
        pct = base.groupby("centre_code")[column].apply(lambda s: round(100.0 * s.notna().mean(), 1))
        out[f"{field}_complete_pct"] = out["centre_code"].map(pct).astype(float)
    return out
