"""Consent withdrawn: the patient leaves research exports from then on.

Why a filter on the export's input rather than on the snapshot: the registry keeps the
patient's data (the centre still needs it, and the data-quality and safety views count the
patient), but nothing derived from it may leave in a research dataset generated after the
withdrawal was recorded. Every research export applies `without_withdrawn_consent` to the
endpoint rows it starts from; the decision itself is a patient update through the services,
so it is in the audit trail (who recorded it, when, and why).
"""

from __future__ import annotations

import pandas as pd

from analytics.snapshot import Snapshot

CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"


def withdrawn_patient_ids(snapshot: Snapshot) -> set[int]:
    rows = snapshot.cursor().execute("SELECT id FROM patients WHERE followup_status = ?", [CONSENT_WITHDRAWN]).fetchall()
    return {int(r[0]) for r in rows}


def without_withdrawn_consent(endpoints: pd.DataFrame, snapshot: Snapshot) -> pd.DataFrame:
    """`endpoints` (one row per patient, with `patient_id`) minus patients who withdrew consent."""
    withdrawn = withdrawn_patient_ids(snapshot)
    if not withdrawn:
        return endpoints
    return endpoints[~endpoints["patient_id"].isin(withdrawn)]
