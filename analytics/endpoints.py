"""The outcome endpoints of docs/endpoints.md, derived in DuckDB SQL, one row per patient.

Why SQL over the whole cohort at once: the confirmation rule for disability worsening looks
ahead from every candidate assessment to the first assessment that may confirm it. Written as a
loop per patient it costs seconds to minutes for a large registry; as one sorted pass with
running counts plus one join it is a fraction of a second for 100,000 patients
(benchmarks/endpoints.py measures both and checks they agree on every patient). The SQL lives
in commented strings here, next to the code that runs it; settings are bound as parameters.

Decisions where docs/endpoints.md leaves room (a careful clinician-statistician's reading):
- Last contact also counts the dates of second and later transplants: the patient was seen.
  Otherwise second transplants are ignored; day 0 stays the first transplant.
- Patients without a transplant numbered 1 are not in the result (the data-quality report
  lists them).
- CDI: a death censors improvement at min(death, last assessment), i.e. at the last
  assessment (day 0 if none) because no record may follow a death. CDI is undefined (empty)
  when the baseline is missing or below 2.0, as improvement by δ(b) is then impossible or
  meaningless.
- `eda_date` (and NEDA-3) is empty when the baseline EDSS is missing: without CDW assessment,
  "no evidence of disease activity" cannot be judged, even if a relapse was seen.
- PFS, CDI and NEDA-3 values are empty without a baseline EDSS; OS, RFS and TRM are not.
- An assessment on the same day as a relapse onset is relapse-affected (0 ≤ 0 < 30), and so is
  one 29 days after; one 30 days after is not. Pre-transplant relapses count.
- A relapse on day 0 is not post-transplant (RFS and NEDA-3 ignore it) but still makes
  assessments within the window relapse-affected.
- Deaths on day 0 give OS/TRM time 0 with the event; the estimators handle time 0.
- A baseline EDSS from the visit fallback may come from a visit on day 0 itself; that visit is
  not an assessment (assessments are strictly after day 0).
- Extra columns beyond the contract: `baseline_source` ('transplant', 'visit' or empty) and
  `last_assessment_date`, used by the data-quality report and the dashboard.
"""

from __future__ import annotations

import re
from typing import Literal

import duckdb
import pandas as pd
import pyarrow as pa

from analytics.settings import EndpointSettings
from analytics.snapshot import Snapshot

SURVIVAL_EXPORT_COLUMNS: tuple[str, ...] = (
    "study_id",
    "centre_code",
    "sex",
    "age_at_transplant",
    "transplant_year",
    "disease_duration_years",
    "phenotype",
    "baseline_edss",
    "relapses_12m",
    "gd_lesions_baseline",
    "conditioning",
    "conditioning_intensity",
    "os_days",
    "os_event",
    "rfs_days",
    "rfs_event",
    "pfs_days",
    "pfs_event",
    "cdi_days",
    "cdi_event",
    "neda_days",
    "neda_event",
    "trm_days",
    "trm_status",
)
"""Columns of the analysis-ready survival export, in the order of docs/endpoints.md."""

COVARIATE_COLUMNS: tuple[str, ...] = SURVIVAL_EXPORT_COLUMNS[:12]
"""Covariates of the survival export (everything before the endpoint columns)."""

IDENTITY_COLUMNS: tuple[str, ...] = ("patient_id", "centre_code", "patient_code", "study_id", "day0")
DATE_COLUMNS: tuple[str, ...] = ("cdw_date", "cdi_date", "eda_date", "lc_date", "death_date", "death_cause")

ENDPOINT_COLUMNS: tuple[str, ...] = IDENTITY_COLUMNS + tuple(
    c for c in SURVIVAL_EXPORT_COLUMNS if c not in IDENTITY_COLUMNS
) + DATE_COLUMNS + ("baseline_source", "last_assessment_date")
"""Columns of `derive_endpoints`, in order."""

Direction = Literal["worsening", "improvement"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# δ(b): the minimum EDSS change that counts, by baseline b (docs/endpoints.md).
_DELTA = "(CASE WHEN b.baseline_edss = 0 THEN 1.5 WHEN b.baseline_edss <= $delta_cutoff THEN 1.0 ELSE 0.5 END)"

# One integer key per (patient, date) that sorts like (patient, date): patient number × 10⁶ plus
# days since 1800-01-01 (dates up to the year 4537 fit). Ordering one BIGINT column globally is
# several times faster in DuckDB than PARTITION BY patient with an ORDER BY date inside.
_KEY_SPAN = 1_000_000
_HIGH = 2**32  # packs two running counts (each < 2³²) into one sum
_EPOCH = "DATE '1800-01-01'"


def confirmed_changes_sql(assessments: str, relapses: str, baselines: str) -> str:
    """SQL for the first confirmed worsening and improvement dates per patient, fixed baseline.

    Inputs are table (or CTE) names with these columns:
    - `assessments(patient_id, assessment_date, edss)`: post-baseline EDSS assessments, at most
      one per patient and date;
    - `relapses(patient_id, onset_date)`: every relapse, before or after baseline;
    - `baselines(patient_id, baseline_edss)`: one row per patient, the fixed baseline (NULL: no
      event possible).
    Parameters: `$confirmation_days`, `$relapse_window_days`, `$delta_cutoff`.
    Result: `(patient_id, worsening_date, improvement_date)` for patients with at least one
    confirmed change (the other date NULL when only one happened).

    How it works, without a loop per patient: one sorted pass and one join.
    1. every assessment and every relapse onset gets a key that sorts by (patient, date),
       relapse onsets before assessments of the same day;
    2. one pass over that order computes, for each assessment: the latest relapse onset so
       far (relapse-affected when it is of the same patient and less than the window before:
       an onset of another patient is a whole key span away) and running counts of
       assessments NOT worsened and NOT improved (packed into one sum). Within a run of consecutive worsened
       assessments the not-worsened count is constant, so a candidate `a` is confirmed by `c`
       exactly when the count at `c` equals the count at `a`: every assessment in (a, c] is
       worsened (improved), relapse-affected ones included;
    3. only the first candidate of each run can matter: the confirming assessment `c(a)` only
       moves later as `a` does, so if the run's first candidate is not confirmed inside the
       run, no later candidate of the run is;
    4. `c` is the first non-relapse-affected assessment of the patient with `date_c ≥ date_a +
       confirmation_days` (a join on the patient with that range condition, keeping the
       earliest match); no match means no `c`;
    5. the event date is the earliest confirmed candidate: the baseline is fixed, so candidates
       do not interact and "try the next candidate" is a minimum.
    """
    for name in (assessments, relapses, baselines):
        if not _IDENTIFIER.match(name):
            raise ValueError(f"{name!r} is not a plain table name")
    return f"""
    WITH numbered AS MATERIALIZED (
        -- a dense patient number, so that the key fits whatever the ids are
        SELECT patient_id, baseline_edss, row_number() OVER (ORDER BY patient_id) AS patient_no
        FROM {baselines}
        WHERE baseline_edss IS NOT NULL
    ),
    events AS (
        SELECT a.patient_id,
               a.assessment_date,
               b.patient_no * {_KEY_SPAN} + (a.assessment_date - {_EPOCH}) AS k,
               1 AS is_assessment,
               coalesce(a.edss >= b.baseline_edss + {_DELTA}, false) AS worsened,
               coalesce(b.baseline_edss >= 2.0 AND a.edss <= b.baseline_edss - {_DELTA}, false) AS improved
        FROM {assessments} AS a
        JOIN numbered AS b ON b.patient_id = a.patient_id
        UNION ALL
        SELECT r.patient_id, r.onset_date, b.patient_no * {_KEY_SPAN} + (r.onset_date - {_EPOCH}), 0, false, false
        FROM {relapses} AS r
        JOIN numbered AS b ON b.patient_id = r.patient_id
    ),
    ordered AS (
        SELECT *,
               max(CASE WHEN is_assessment = 0 THEN k END) OVER running AS last_onset_k,
               -- both running counts in one sum (fewer window aggregates, the costly part):
               -- not-worsened in the high 32 bits, not-improved in the low 32 bits
               CAST(sum(CASE WHEN is_assessment = 1 AND NOT worsened THEN {_HIGH} ELSE 0 END
                        + CASE WHEN is_assessment = 1 AND NOT improved THEN 1 ELSE 0 END) OVER running
                    AS BIGINT) AS packed_counts
        FROM events
        WINDOW running AS (ORDER BY k, is_assessment ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ),
    assessed AS MATERIALIZED (
        SELECT patient_id, assessment_date, k, worsened, improved,
               packed_counts >> 32 AS not_worsened_so_far,
               packed_counts & {_HIGH - 1} AS not_improved_so_far,
               -- relapse-affected: 0 <= assessment - onset < window
               coalesce(k - last_onset_k < $relapse_window_days, false) AS relapse_affected
        FROM ordered
        WHERE is_assessment = 1
    ),
    run_firsts AS (
        -- the first candidate of each run of worsened (improved) assessments of a patient
        SELECT patient_id, true AS worsening, not_worsened_so_far AS run, min(k) AS k
        FROM assessed WHERE worsened AND NOT relapse_affected
        GROUP BY patient_id, not_worsened_so_far
        UNION ALL
        SELECT patient_id, false, not_improved_so_far, min(k)
        FROM assessed WHERE improved AND NOT relapse_affected
        GROUP BY patient_id, not_improved_so_far
    ),
    candidates AS (
        SELECT patient_id, worsening, run, k, k + $confirmation_days AS earliest_confirmation_k
        FROM run_firsts
    ),
    confirmers AS (
        SELECT patient_id, k, not_worsened_so_far, not_improved_so_far
        FROM assessed
        WHERE NOT relapse_affected
    ),
    confirmation AS (
        -- for each candidate, its confirming assessment c: the first non-relapse-affected one at
        -- least confirmation_days later, and the running count there. (An equi-join on the
        -- patient plus a range condition, not an as-of join: DuckDB may run an as-of join as a
        -- nested loop when it underestimates the rows, which is quadratic on a big cohort.)
        SELECT cand.patient_id, cand.worsening, cand.k, cand.run,
               arg_min(CASE WHEN cand.worsening THEN c.not_worsened_so_far ELSE c.not_improved_so_far END, c.k)
                   AS run_at_confirmation
        FROM candidates AS cand
        JOIN confirmers AS c ON c.patient_id = cand.patient_id AND c.k >= cand.earliest_confirmation_k
        GROUP BY cand.patient_id, cand.worsening, cand.k, cand.run
    ),
    confirmed AS (
        -- confirmed: nothing in (a, c] was unchanged
        SELECT patient_id, worsening, {_EPOCH} + CAST(k % {_KEY_SPAN} AS INTEGER) AS event_date
        FROM confirmation
        WHERE run_at_confirmation = run
    )
    SELECT patient_id,
           min(event_date) FILTER (WHERE worsening) AS worsening_date,
           min(event_date) FILTER (WHERE NOT worsening) AS improvement_date
    FROM confirmed
    GROUP BY patient_id
    """


def _cdw_params(settings: EndpointSettings) -> dict[str, object]:
    return {
        "confirmation_days": settings.confirmation_days,
        "relapse_window_days": settings.relapse_window_days,
        "delta_cutoff": settings.delta_cutoff,
    }


def confirmed_change(
    con: duckdb.DuckDBPyConnection,
    assessments: str,
    relapses: str,
    baselines: str,
    settings: EndpointSettings,
    *,
    direction: Direction = "worsening",
) -> pd.DataFrame:
    """First confirmed change date per patient on plain tables: `(patient_id, event_date)`.

    The tables are those of `confirmed_changes_sql`; any DuckDB table or registered view works,
    which is how the msprog reference data are checked.
    """
    if direction not in ("worsening", "improvement"):
        raise ValueError(f"direction must be worsening or improvement, got {direction!r}")
    sql = f"""
        SELECT patient_id, {direction}_date AS event_date
        FROM ({confirmed_changes_sql(assessments, relapses, baselines)})
        WHERE {direction}_date IS NOT NULL
        ORDER BY patient_id"""
    return con.execute(sql, _cdw_params(settings)).df()


def confirmed_worsening(
    con: duckdb.DuckDBPyConnection, assessments: str, relapses: str, baselines: str, settings: EndpointSettings
) -> pd.DataFrame:
    """First confirmed disability worsening (CDW) date per patient: `(patient_id, event_date)`."""
    return confirmed_change(con, assessments, relapses, baselines, settings, direction="worsening")


def confirmed_improvement(
    con: duckdb.DuckDBPyConnection, assessments: str, relapses: str, baselines: str, settings: EndpointSettings
) -> pd.DataFrame:
    """First confirmed disability improvement (CDI) date per patient (only baselines ≥ 2.0)."""
    return confirmed_change(con, assessments, relapses, baselines, settings, direction="improvement")


# The whole derivation, over the snapshot tables. Each CTE is one step of docs/endpoints.md.
ENDPOINTS_SQL = f"""
WITH
-- Day 0: the first transplant. Later transplants are ignored (except as contacts).
first_transplant AS MATERIALIZED (
    SELECT t.patient_id, t.transplant_date AS day0, t.phenotype, t.baseline_edss AS recorded_baseline,
           t.relapses_12m, t.gd_lesions_baseline, t.conditioning, t.conditioning_intensity
    FROM transplants AS t
    WHERE t.transplant_number = 1
),
-- Baseline fallback: the latest visit with an EDSS in [day0 - lookback, day0].
visit_baseline AS (
    SELECT v.patient_id, arg_max(v.edss, v.visit_date) AS edss
    FROM visits AS v JOIN first_transplant AS f USING (patient_id)
    WHERE v.edss IS NOT NULL
      AND v.visit_date BETWEEN f.day0 - $baseline_lookback_days AND f.day0
    GROUP BY v.patient_id
),
baselines AS MATERIALIZED (
    SELECT f.patient_id,
           coalesce(f.recorded_baseline, vb.edss) AS baseline_edss,
           CASE WHEN f.recorded_baseline IS NOT NULL THEN 'transplant'
                WHEN vb.edss IS NOT NULL THEN 'visit' END AS baseline_source
    FROM first_transplant AS f LEFT JOIN visit_baseline AS vb USING (patient_id)
),
-- Assessments: visits strictly after day 0 with an EDSS.
assessments AS MATERIALIZED (
    SELECT v.patient_id, v.visit_date AS assessment_date, v.edss
    FROM visits AS v JOIN first_transplant AS f USING (patient_id)
    WHERE v.edss IS NOT NULL AND v.visit_date > f.day0
),
last_assessment AS (
    SELECT patient_id, max(assessment_date) AS last_assessment_date FROM assessments GROUP BY patient_id
),
relapse_onsets AS (SELECT patient_id, onset_date FROM relapses),
confirmed_changes AS ({confirmed_changes_sql("assessments", "relapse_onsets", "baselines")}),
-- Post-transplant relapse: onset strictly after day 0.
first_relapse AS (
    SELECT r.patient_id, min(r.onset_date) AS relapse_date
    FROM relapses AS r JOIN first_transplant AS f USING (patient_id)
    WHERE r.onset_date > f.day0
    GROUP BY r.patient_id
),
-- MRI activity after the re-baseline scan: a new/enlarging T2 or a Gd-enhancing lesion.
first_mri_activity AS (
    SELECT m.patient_id, min(m.scan_date) AS mri_date
    FROM mri_scans AS m JOIN first_transplant AS f USING (patient_id)
    WHERE m.scan_date > f.day0 + $mri_rebaseline_days
      AND (coalesce(m.new_t2, 0) >= 1 OR coalesce(m.gd_enhancing, 0) >= 1)
    GROUP BY m.patient_id
),
-- Last contact: the latest date at which the patient is known to have been alive (or died).
contacts AS (
    SELECT patient_id, transplant_date AS contact_date FROM transplants
    UNION ALL SELECT patient_id, visit_date FROM visits
    UNION ALL SELECT patient_id, onset_date FROM relapses
    UNION ALL SELECT patient_id, scan_date FROM mri_scans
    UNION ALL SELECT patient_id, onset_date FROM adverse_events
    UNION ALL SELECT id, last_contact_date FROM patients WHERE last_contact_date IS NOT NULL
    UNION ALL SELECT patient_id, death_date FROM deaths
),
last_contact AS (
    SELECT patient_id, max(contact_date) AS lc_date FROM contacts GROUP BY patient_id
),
joined AS (
    SELECT p.id AS patient_id, c.centre_code, p.patient_code, p.study_id, f.day0,
           p.sex, p.birth_year, p.ms_onset_date,
           f.phenotype, f.relapses_12m, f.gd_lesions_baseline, f.conditioning, f.conditioning_intensity,
           b.baseline_edss, b.baseline_source,
           la.last_assessment_date,
           cc.worsening_date AS cdw_date,
           cc.improvement_date AS cdi_date,
           fr.relapse_date, fm.mri_date,
           lc.lc_date, d.death_date, d.cause AS death_cause
    FROM first_transplant AS f
    JOIN patients AS p ON p.id = f.patient_id
    JOIN centres AS c ON c.id = p.centre_id
    JOIN baselines AS b ON b.patient_id = f.patient_id
    LEFT JOIN last_assessment AS la ON la.patient_id = f.patient_id
    LEFT JOIN confirmed_changes AS cc ON cc.patient_id = f.patient_id
    LEFT JOIN first_relapse AS fr ON fr.patient_id = f.patient_id
    LEFT JOIN first_mri_activity AS fm ON fm.patient_id = f.patient_id
    LEFT JOIN last_contact AS lc ON lc.patient_id = f.patient_id
    LEFT JOIN deaths AS d ON d.patient_id = f.patient_id
),
timed AS (
    SELECT *,
           -- NEDA-3 needs a baseline (CDW is part of it); EDA is the first sign of activity.
           CASE WHEN baseline_edss IS NOT NULL THEN least(relapse_date, mri_date, cdw_date) END AS eda_date,
           least(relapse_date, death_date) AS rfs_end,
           least(cdw_date, death_date) AS pfs_end,
           -- CDI censored at the last assessment (day 0 if none); a death censors, never later
           -- than the death itself.
           least(coalesce(last_assessment_date, day0), death_date) AS cdi_censor
    FROM joined
)
SELECT patient_id, centre_code, patient_code, study_id, day0,
       sex,
       least(year(day0) - birth_year, 90) AS age_at_transplant,
       year(day0) AS transplant_year,
       round((day0 - ms_onset_date) / 365.25, 1) AS disease_duration_years,
       phenotype, baseline_edss, relapses_12m, gd_lesions_baseline, conditioning, conditioning_intensity,
       -- OS: death, else censored at last contact.
       coalesce(death_date, lc_date) - day0 AS os_days,
       CASE WHEN death_date IS NOT NULL THEN 1 ELSE 0 END AS os_event,
       -- RFS: first post-transplant relapse or death, else last contact.
       coalesce(rfs_end, lc_date) - day0 AS rfs_days,
       CASE WHEN rfs_end IS NOT NULL THEN 1 ELSE 0 END AS rfs_event,
       -- PFS: CDW or death, else censored at the last assessment (day 0 if none).
       CASE WHEN baseline_edss IS NOT NULL
            THEN coalesce(pfs_end, last_assessment_date, day0) - day0 END AS pfs_days,
       CASE WHEN baseline_edss IS NOT NULL THEN CASE WHEN pfs_end IS NOT NULL THEN 1 ELSE 0 END END AS pfs_event,
       -- CDI: mirrored rule, only for baseline >= 2.0; death censors.
       CASE WHEN baseline_edss >= 2.0 THEN coalesce(cdi_date, cdi_censor) - day0 END AS cdi_days,
       CASE WHEN baseline_edss >= 2.0 THEN CASE WHEN cdi_date IS NOT NULL THEN 1 ELSE 0 END END AS cdi_event,
       -- NEDA-3: EDA or death, else censored at last contact.
       CASE WHEN baseline_edss IS NOT NULL
            THEN coalesce(least(eda_date, death_date), lc_date) - day0 END AS neda_days,
       CASE WHEN baseline_edss IS NOT NULL
            THEN CASE WHEN least(eda_date, death_date) IS NOT NULL THEN 1 ELSE 0 END END AS neda_event,
       -- TRM: 1 transplant-related death, 2 any other death (competing), 0 alive at last contact.
       coalesce(death_date, lc_date) - day0 AS trm_days,
       CASE WHEN death_date IS NULL THEN 0 WHEN death_cause = 'TRANSPLANT_RELATED' THEN 1 ELSE 2 END AS trm_status,
       cdw_date, CASE WHEN baseline_edss >= 2.0 THEN cdi_date END AS cdi_date, eda_date, lc_date,
       death_date, death_cause,
       baseline_source, last_assessment_date
FROM timed
ORDER BY patient_id
"""


def endpoint_params(settings: EndpointSettings) -> dict[str, object]:
    """The SQL parameters of `ENDPOINTS_SQL` for these settings."""
    return {
        **_cdw_params(settings),
        "mri_rebaseline_days": settings.mri_rebaseline_days,
        "baseline_lookback_days": settings.baseline_lookback_days,
    }


# Whole-number covariates, and every endpoint column (days, 0/1 events, 0/1/2 status).
_INT_COLUMNS = (
    "age_at_transplant",
    "transplant_year",
    "relapses_12m",
    "gd_lesions_baseline",
    *SURVIVAL_EXPORT_COLUMNS[len(COVARIATE_COLUMNS) :],
)


def derive_endpoints(source: Snapshot | duckdb.DuckDBPyConnection, settings: EndpointSettings | None = None) -> pd.DataFrame:
    """Every endpoint of docs/endpoints.md, one row per patient with a first transplant.

    Columns: `ENDPOINT_COLUMNS` (identity, the survival-export columns, the dates behind the
    endpoints). Whole numbers are pandas nullable `Int64`, dates are `datetime.date`, empty
    (undefined) values are `<NA>`/None. Given a `Snapshot`, the result is cached on it per
    settings (a snapshot never changes); callers get a copy they may modify.
    """
    settings = settings or EndpointSettings()
    if isinstance(source, Snapshot):
        snapshot = source
        cached = snapshot.cached(("endpoints", settings), lambda: _derive(snapshot.cursor(), settings))
        return cached.copy()
    return _derive(source, settings)


def _derive(con: duckdb.DuckDBPyConnection, settings: EndpointSettings) -> pd.DataFrame:
    table: pa.Table = con.sql(ENDPOINTS_SQL, params=endpoint_params(settings)).to_arrow_table()
    df = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype()}.get)
    for col in _INT_COLUMNS:
        df[col] = df[col].astype("Int64")
    df["disease_duration_years"] = df["disease_duration_years"].astype("float64")
    return df[list(ENDPOINT_COLUMNS)]
