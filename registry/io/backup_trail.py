"""What backups and restores leave in the trail, and the safety of their temporary files.

- A backup is an access event: the file, the manifest (revision, rows, payload SHA-256) and the
  chain heads it contains.
- A restore replaces the audit trail with the backup's. It is never silent: the witness gets a
  signed *restore* line per chain (the head put back, and the head it replaced), so
  `msreg audit verify` accepts the shorter chain and says what was discarded; and the restored
  registry's access log gets a `restore` event with the manifest and both heads.
- The restored rows are signed with the key of the registry that was backed up. When the
  target's key file lacks that key and the source registry's key file is on this machine (the
  manifest names the source), its keys are added to the target's key file (0600).
- Temporary files live in the destination's folder, are created 0600 and are removed on any
  failure, and on SIGTERM/SIGHUP too (`removed_on_signals`); only SIGKILL can leave one, named
  `.NAME.*.partial` beside the destination, never a plaintext copy in /tmp.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, inspect, text

from registry.security import anchor, chain
from registry.security.access import Actor, cli_actor

CHAIN_TABLES = {"audit": "audit_log", "access": "access_log"}


def chain_heads(conn: Connection) -> dict[str, dict[str, Any]]:
    """The newest row of each chain (id, position, hash) in whatever schema `conn` holds."""
    tables = set(inspect(conn).get_table_names())
    heads: dict[str, dict[str, Any]] = {}
    for name, table in CHAIN_TABLES.items():
        if table not in tables:
            continue
        columns = {c["name"] for c in inspect(conn).get_columns(table)}
        seq = "seq" if "seq" in columns else "NULL"
        row = conn.execute(text(f"SELECT id, row_hash, {seq} FROM {table} ORDER BY id DESC LIMIT 1")).first()
        if row is None:
            heads[name] = {"last_id": 0, "rows": 0, "hash": chain.GENESIS_HASH}
            continue
        rows = row[2] if row[2] is not None else conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        heads[name] = {"last_id": int(row[0]), "rows": int(rows), "hash": row[1]}
    return heads


def engine_heads(engine: Engine) -> dict[str, dict[str, Any]]:
    try:
        with engine.connect() as conn:
            return chain_heads(conn)
    except Exception:  # noqa: BLE001 - a target that is not (yet) a registry has no heads
        return {}


def manifest_summary(manifest: Any, path: Path) -> dict[str, Any]:
    return {
        "file": str(path),
        "backend": manifest.backend,
        "revision": manifest.revision,
        "created_at": manifest.created_at,
        "source": manifest.source,
        "payload_sha256": manifest.payload_sha256,
        "rows": manifest.total_rows,
    }


def record_backup(url: str, actor: Actor | None, manifest: Any, path: Path, heads: Mapping[str, Any]) -> str | None:
    """The backup's access event; returns a warning instead of failing the finished backup."""
    from registry.security.access_log import record_access
    from registry.db import make_engine

    engine = make_engine(url)
    try:
        record_access(engine, actor or cli_actor(), "backup", {**manifest_summary(manifest, path), "heads": dict(heads)})
    except Exception as exc:  # noqa: BLE001 - the backup file is good; say why it is not logged
        return f"the backup was not recorded in the access log: {exc}"
    finally:
        engine.dispose()
    return None


def _source_url(manifest: Any) -> str | None:
    if manifest.backend == "sqlite":
        return f"sqlite:///{manifest.source}" if manifest.source else None
    return manifest.source or None


def adopt_keys(url: str, manifest: Any, engine: Engine) -> str | None:
    """Make sure the target's key file holds every key the restored rows are signed with."""
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        used: set[str] = set()
        for table in CHAIN_TABLES.values():
            if table in tables and "key_id" in {c["name"] for c in inspect(conn).get_columns(table)}:
                used |= {k for k in conn.execute(text(f"SELECT DISTINCT key_id FROM {table}")).scalars() if k}
    if not used:
        return None
    target_path = anchor.key_path_for(url)
    target = anchor.cached_ring(target_path)
    have = {k.key_id for k in target.keys} if target else set()
    if used <= have:
        return None
    source_url = _source_url(manifest)
    source = anchor.cached_ring(anchor.key_path_for(source_url)) if source_url else None
    adopted = [k for k in (source.keys if source else ()) if k.key_id in used - have]
    if {k.key_id for k in adopted} != used - have:
        return (
            f"the restored audit trail is signed with key(s) {', '.join(sorted(used - have))}, which {target_path} "
            f"does not hold: copy the backed-up registry's key file there (see README, 'Audit trail'); until then "
            f"`msreg audit verify` fails and writes are refused"
        )
    # Older keys first, the target's own current key stays the newest (it signs from now on).
    merged = anchor.KeyRing(target_path, (*adopted, *(target.keys if target else ())))
    anchor.write_private_file(target_path, merged.to_json())
    return None


def record_restore(
    url: str, actor: Actor | None, manifest: Any, path: Path, before: Mapping[str, Any], replaced_rows: int
) -> list[str]:
    """Witness restore lines and the restore event in the restored registry; returns warnings."""
    from registry.security.access_log import record_access
    from registry.db import make_engine

    actor = actor or cli_actor()
    engine = make_engine(url)
    warnings: list[str] = []
    try:
        problem = adopt_keys(url, manifest, engine)
        if problem:
            return [problem, "the restore was not recorded in the audit trail (no key to sign it with)"]
        after = engine_heads(engine)
        try:
            ring = anchor.read_ring(anchor.key_path_for(url))
        except anchor.KeyMissing:
            ring = anchor.create_ring(anchor.key_path_for(url))
        lines = [
            anchor.sign(
                ring,
                anchor.checkpoint_body(
                    anchor.Head(name, int(head["last_id"]), int(head["rows"]), str(head["hash"])),
                    kind="restore",
                    extra={"by": actor.username, "replaced": before.get(name), "backup": str(path)},
                ),
            )
            for name, head in after.items()
        ]
        anchor.append_witness(anchor.witness_path_for(url), lines)
        record_access(
            engine,
            actor,
            "restore",
            {**manifest_summary(manifest, path), "heads_before": dict(before), "heads_after": after, "replaced_rows": replaced_rows},
        )
    except Exception as exc:  # noqa: BLE001 - the data are restored and verified; say what is missing
        warnings.append(f"the restore was not recorded in the audit trail: {exc}")
    finally:
        engine.dispose()
    return warnings


# --------------------------------------------------------------------------------------------
# Temporary files.
# --------------------------------------------------------------------------------------------


class Interrupted(BaseException):
    """SIGTERM or SIGHUP arrived during a backup or restore (cleanup runs, then we exit)."""


@contextmanager
def removed_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into an exception inside the block, so `finally` clauses remove
    temporary files (SIGINT is KeyboardInterrupt already). Main thread only; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, _frame: Any) -> None:
        raise Interrupted(f"interrupted by signal {signal.Signals(signum).name}")

    previous = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def private_empty_file(path: Path) -> Path:
    """Create an empty file with mode 0600 (tools then write into it, keeping the mode)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


def temp_dir_beside(target: Path) -> Path:
    """The folder for temporary files: the destination's own (never /tmp)."""
    folder = target.parent if str(target.parent) else Path.cwd()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
