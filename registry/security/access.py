"""Who is acting, and what each role may do.

Services and queries take an `Actor` and check it here; the dashboard, import and CLI only
decide *who* the actor is. Keeping the rules in one module means a new door cannot forget them.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass, field

ROLES = ("centre", "governance", "researcher", "admin")


class AccessDenied(PermissionError):
    """The actor's role or centre does not allow this; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Actor:
    """The acting user. `centre_code` is set for centre users, who act only on their centre."""

    username: str
    role: str
    centre_code: str | None = None
    # Where the action came from, recorded on audit and access rows (registry.security.audit):
    # "cli", "dashboard", "cli:import", ...; and the operating-system account behind a CLI run.
    door: str | None = field(default=None, compare=False)
    os_account: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}")
        if (self.role == "centre") != (self.centre_code is not None):
            raise ValueError(f"role {self.role!r} and centre {self.centre_code!r} do not fit")


def os_account() -> str:
    """The operating-system account running this process, from the real uid (never $USER or
    $LOGNAME, which anyone can set: `USER=someone-else msreg ...` must not change the record)."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry (some containers)
        return f"uid:{uid}"


def cli_actor() -> Actor:
    """The operating-system account running `msreg`: an administrator of the local registry.

    `msreg --as NAME` acts as a registry account instead (`registry.security.auth.cli_actor_as`); the
    OS account is recorded either way.
    """
    name = os_account()
    return Actor(username=f"cli:{name}", role="admin", door="cli", os_account=name)


def can_write_centre(actor: Actor, centre_code: str) -> bool:
    """Admins write everywhere; centre users only their own centre; others never write data."""
    if actor.role == "admin":
        return True
    return actor.role == "centre" and actor.centre_code == centre_code


def require_write(actor: Actor, centre_code: str) -> None:
    if not can_write_centre(actor, centre_code):
        raise AccessDenied(
            f"user {actor.username!r} (role {actor.role}"
            + (f", centre {actor.centre_code}" if actor.centre_code else "")
            + f") may not change data of centre {centre_code!r}"
        )


def can_read_centre(actor: Actor, centre_code: str) -> bool:
    """Row-level reads: centre users see their centre; other roles read across centres."""
    return actor.role != "centre" or actor.centre_code == centre_code


def sees_patient_codes(actor: Actor) -> bool:
    """Only centre users (their own patients) and admins see identifying patient codes."""
    return actor.role in ("centre", "admin")
