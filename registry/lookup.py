"""Finding a patient by study id: for administrators and the registry office, who know the
pseudonym from an export or a query but not the centre's code."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.security.access import AccessDenied, Actor, can_read_centre, sees_patient_codes
from registry.models import Centre, Patient


def patient_by_study_id(session: Session, actor: Actor, study_id: str) -> tuple[str, str] | None:
    """(centre_code, patient_code) of the patient with this study id, or None.

    :raises AccessDenied: the actor may not see patient codes
    """
    if not sees_patient_codes(actor):
        raise AccessDenied(f"user {actor.username!r} (role {actor.role}) does not see patient codes")
    row = session.execute(
        select(Centre.centre_code, Patient.patient_code).join(Centre).where(Patient.study_id == study_id.strip())
    ).first()
    if row is None or not can_read_centre(actor, row[0]):
        return None
    return row[0], row[1]
