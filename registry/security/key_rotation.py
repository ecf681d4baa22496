"""Rotating the audit key: a new key signs from now on; the old ones stay to verify older rows.

Both chains are locked (audit first, then access: the order every writer uses) so no row is
signed while the key file changes; the rotation is recorded in the access log, signed with the
new key, in the same transaction.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from registry.security import anchor, chain
from registry.security.access import Actor
from registry.security.access_log import record_access
from registry.db import session_scope


def rotate_key(engine: Engine, url: str, actor: Actor) -> tuple[str, str, Path]:
    """Rotate; returns (old key id, new key id, key file).

    :raises anchor.KeyMissing: there is no key file (run `msreg init`).
    """
    path = anchor.key_path_for(url)
    with session_scope(engine) as session:
        for spec in chain.CHAINS:
            chain.head_of(session, spec)  # begins the (SQLite: write-locked) transaction
            chain.lock(session, spec)
        ring = anchor.read_ring(path)
        old = ring.current.key_id
        _, key = anchor.rotate_ring(ring)
        record_access(session, actor, "key.rotate", {"previous_key": old, "new_key": key.key_id, "key_file": str(path)})
    return old, key.key_id, path
