"""The registry's own record that its patients are synthetic (`msreg demo`).

Why in the registry (table `registry_settings`, key `synthetic`): the fact must travel with the
data. A demo registry copied, backed up or restored elsewhere still says it is invented, so its
realistic-looking centre codes are never taken for real patients; every dashboard page and the
login form read it from here and show a "synthetic demo data" badge. Setting it is a change like
any other and gets an audit row.
"""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from registry.security import audit
from registry.security.access import Actor
from registry.models import RegistrySetting

SYNTHETIC_KEY = "synthetic"
BADGE_TEXT = "synthetic demo data"


def mark_synthetic(session: Session, actor: Actor) -> None:
    """Record that the registry holds synthetic patients only (idempotent)."""
    current = session.get(RegistrySetting, SYNTHETIC_KEY)
    if current is not None and current.value == "true":
        return
    old = None if current is None else {"value": current.value}
    if current is None:
        session.add(RegistrySetting(key=SYNTHETIC_KEY, value="true"))
    else:
        current.value = "true"
    session.flush()
    action = "INSERT" if old is None else "UPDATE"
    audit.record(
        session, actor,
        [audit.Change(action, RegistrySetting.__tablename__, {"key": SYNTHETIC_KEY}, old, {"value": "true"})],
        reason="msreg demo: synthetic cohort",
    )


def is_synthetic(engine: Engine) -> bool:
    """True when the registry says its data are synthetic; False for a registry without the table."""
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as conn:
            value = conn.execute(select(RegistrySetting.value).where(RegistrySetting.key == SYNTHETIC_KEY)).scalar()
    except DBAPIError:  # an older schema without registry_settings: not a demo made by this code
        return False
    return value == "true"
