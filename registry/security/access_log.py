"""The access log: who logged in, was refused, timed out, exported or downloaded what.

ONE function for every door: `record_access(target, actor, event, details)`. Exports,
downloads, reports and queries call it after producing their output, with what was taken
(`what`), the settings that made it and the row count, e.g.::

    from registry.security.access_log import record_access

    record_access(engine, actor, "export", {"what": "survival dataset", "file": "pfs.csv",
                                            "settings": settings.to_dict(), "rows": len(df)})

- `target` is a Session (the row joins the caller's transaction and is committed with it) or
  an Engine (the row is written and committed on its own).
- `actor` is the `Actor` (its username, role, centre, door and OS account are stored), or,
  for a refused login, the username that was typed (plus `door=`).
- `event` is one of `EVENTS`; `details` any JSON-able mapping (stored as canonical JSON).

Rows are HMAC-chained and witnessed exactly like the audit trail (registry.security.chain, chain
"access"), and the table refuses UPDATE and DELETE. Passwords never go in `details`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from registry.security import chain
from registry.security.access import Actor
from registry.security.audit import actor_columns, to_json
from registry.models import utcnow

EVENTS = frozenset(
    {
        "login",  # a good login
        "login.failed",  # refused: unknown user, wrong password, disabled, locked, too long (cause in details)
        "login.throttled",  # refused before checking: too many failures from the client or overall
        "lockout",  # an account was locked after repeated failures
        "logout",
        "timeout",  # an idle session was ended by the server
        "export",  # a file written by the CLI (bundle, survival dataset, reports)
        "download",  # a file taken from the dashboard
        "report",  # results printed by the CLI (survival estimates, quality report)
        "user.add",
        "user.disable",
        "user.enable",
        "user.reset-password",
        "backup",
        "restore",
        "key.rotate",
        "checkpoint",
        "import",
    }
)


def record_access(
    target: Session | Engine,
    actor: Actor | str,
    event: str,
    details: Mapping[str, Any] | None = None,
    *,
    door: str | None = None,
    client: str | None = None,
) -> None:
    """Append one access row (see the module docstring).

    :raises ValueError: an unknown event name.
    :raises registry.security.anchor.AnchorError: the key file is missing or wrong.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown access event {event!r}; expected one of {', '.join(sorted(EVENTS))}")
    if isinstance(actor, Actor):
        who = actor_columns(actor)
        who["door"] = door or who["door"] or "unknown"
    else:
        who = {"actor": str(actor)[:64], "role": None, "centre_code": None, "door": door or "unknown", "os_account": None}
    now = utcnow()
    row = {"occurred_at": now, **who, "client": (client or None) and client[:64], "event": event, "details": to_json(dict(details or {}))}
    if isinstance(target, Session):
        chain.append(target, chain.ACCESS, [row], now)
        return
    from registry.db import session_scope

    with session_scope(target) as session:
        chain.append(session, chain.ACCESS, [row], now)
