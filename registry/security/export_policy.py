"""Who may take row-level research data out of the registry, in which form, and the record of it.

The rules (README "Disclosure policy", docs/disclosure.md):
- Governance accounts get aggregates only: no row-level export at all.
- Researchers, centre users (their centre) and administrators get the k-anonymous export
  (registry.security.k_anonymity), with study ids that are pseudonyms per export unless the registry
  is configured for stable study ids under a research agreement (registry setting
  `stable_study_ids` = true), in which case the registry's own random study ids are used.
- The ungeneralised export (`--full-detail`) is for administrators only, needs a reason, and
  leaves an audit row (entity `survival_exports`, the file, its rows and the reason) in the
  same hash-chained audit trail as every change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.security.access import AccessDenied, Actor
from registry.security.audit import Change, record
from registry.models import RegistrySetting, User

STABLE_STUDY_IDS = "stable_study_ids"
AUDIT_ENTITY = "survival_exports"
TRUE_VALUES = ("1", "true", "yes", "on")


def stable_study_ids(session: Session) -> bool:
    """True when the registry is configured for stable study ids in exports."""
    value = session.execute(select(RegistrySetting.value).where(RegistrySetting.key == STABLE_STUDY_IDS)).scalar()
    return value is not None and value.strip().lower() in TRUE_VALUES


def actor_for_user(session: Session, username: str) -> Actor:
    """The registry account `username` as an Actor (for `--as` on the command line).

    :raises AccessDenied: no such account, or it is disabled.
    """
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise AccessDenied(f"no account named {username!r} (see `msreg user list`)")
    if user.disabled:
        raise AccessDenied(f"account {username!r} is disabled")
    return Actor(username=user.username, role=user.role, centre_code=user.centre.centre_code if user.centre else None)


def require_row_level_export(actor: Actor) -> None:
    """Governance accounts see aggregates only.

    :raises AccessDenied: for governance.
    """
    if actor.role == "governance":
        raise AccessDenied(
            f"user {actor.username!r} (role governance) sees aggregates only: row-level exports are for researchers, "
            "centre users and administrators"
        )


def require_full_detail(actor: Actor, reason: str | None) -> str:
    """The reason, stripped, when `actor` may write the ungeneralised export.

    :raises AccessDenied: not an administrator, or no reason given.
    """
    if actor.role != "admin":
        raise AccessDenied(
            f"user {actor.username!r} (role {actor.role}) may not write a full-detail export: administrators only"
        )
    if reason is None or not reason.strip():
        raise AccessDenied("a full-detail export needs --reason TEXT (it is written into the audit trail)")
    return reason.strip()


def record_full_detail_export(
    session: Session, actor: Actor, *, file_name: str, rows: int, reason: str, details: Mapping[str, Any]
) -> None:
    """One audit row for a full-detail export (who, when, which file, how many rows, why)."""
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    record(
        session,
        actor,
        [Change("INSERT", AUDIT_ENTITY, {"file": file_name, "generated_at": stamp}, None,
                {"kind": "full detail", "rows": rows, **details})],
        reason=reason,
    )


def pseudonymiser(stable: bool) -> tuple[Any, str]:
    """A function study_id → released id, and the sentence for the sidecar.

    Per export: HMAC-SHA256 of the registry's study id under a random key that is discarded
    after the export, so ids cannot be linked between two exports nor traced back.
    """
    if stable:
        return (lambda ids: list(ids)), (
            "stable: the registry's random study ids (registry setting stable_study_ids, under a research "
            "agreement); the same patient has the same id in every export"
        )
    key = secrets.token_bytes(32)

    def pseudonyms(ids: Iterable[str]) -> list[str]:
        return ["P" + hmac.new(key, str(i).encode("utf-8"), hashlib.sha256).hexdigest()[:16] for i in ids]

    return pseudonyms, (
        "per export: keyed pseudonyms (HMAC-SHA256 under a random key discarded after the export); ids differ "
        "between exports and cannot be linked or traced back"
    )
