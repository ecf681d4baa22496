"""What anchors the audit trail outside the database: the key ring and the witness file.

Why: a hash chain that anyone with the database can recompute proves nothing against an
insider who has the database. So every audit and access row is linked with HMAC-SHA-256 under
a secret that the database does not hold (the *key ring*), and the chain's head is written,
signed, to a *witness* file after every commit. Someone with only the database can then
neither forge a row (no key), nor drop the newest rows, nor put back an older copy (the
witness knows a later head). `msreg audit checkpoint` prints a signed head that an
administrator sends elsewhere (a notary, a mailbox, a ticket), which covers the case where the
key directory is compromised as well.

Where the files live (`key_dir_for`): `$MSREG_KEY_DIR` when set; otherwise beside an SQLite
registry file; otherwise (PostgreSQL) `$XDG_CONFIG_HOME/msreg/keys` (`~/.config/msreg/keys`).
The file names come from the database (SQLite: the file name; PostgreSQL: host, port and
database name, never the user, so the owner and the application role find the same files).
The location is deliberately never read from the database: whoever could rewrite the database
could otherwise point verification at a key of their own.

Both files are created 0600 (directories 0700). The key ring keeps every key ever used, the
newest last: rows are signed with the newest key, and each row names its key (`key_id`), so
verification spans rotations. The witness is append-only JSON lines; each line is signed with
the key it names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

KEY_DIR_ENV = "MSREG_KEY_DIR"
KEY_SUFFIX = ".audit-key"
WITNESS_SUFFIX = ".audit-witness"
KEY_FORMAT = "msreg-audit-key"
KEY_FORMAT_VERSION = 1
FILE_MODE = 0o600
DIR_MODE = 0o700


class AnchorError(RuntimeError):
    """The key ring or witness is missing, unreadable or does not fit; the message says what to do."""


class KeyMissing(AnchorError):
    """No key ring where one is expected."""


# --------------------------------------------------------------------------------------------
# Where (pure functions: `msreg doctor` reuses them).
# --------------------------------------------------------------------------------------------


def default_pg_key_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "msreg" / "keys"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "registry"


def key_dir_for(url: str, env: Mapping[str, str] | None = None) -> Path:
    """The directory holding the key ring and witness of the registry at `url`."""
    env = os.environ if env is None else env
    configured = env.get(KEY_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database in (None, "", ":memory:"):
            return Path.cwd()
        return Path(u.database).resolve().parent
    return default_pg_key_dir()


def registry_file_stem(url: str) -> str:
    """The name both files start with: the SQLite file name, or host-port-database."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database in (None, "", ":memory:"):
            return "memory"
        return Path(u.database).name
    return _slug(f"{u.host or 'localhost'}-{u.port or 5432}-{u.database or 'postgres'}")


def key_path_for(url: str, env: Mapping[str, str] | None = None) -> Path:
    return key_dir_for(url, env) / (registry_file_stem(url) + KEY_SUFFIX)


def witness_path_for(url: str, env: Mapping[str, str] | None = None) -> Path:
    return key_dir_for(url, env) / (registry_file_stem(url) + WITNESS_SUFFIX)


# --------------------------------------------------------------------------------------------
# Files created 0600.
# --------------------------------------------------------------------------------------------


def private_file_problems(path: Path) -> list[str]:
    """What is wrong with the mode of a file that must be private (0600): for `msreg doctor`."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return [f"{path} does not exist"]
    if mode & 0o077:
        return [f"{path} has mode {mode:04o}: others can read it; run `chmod 600 {path}`"]
    return []


def _ensure_dir(path: Path) -> None:
    if not path.exists():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def write_private_file(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write `data` to `path` with mode 0600, atomically (temporary file beside it, then rename).

    `exclusive=True` refuses to replace an existing file (raises FileExistsError).
    """
    _ensure_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)  # fails with FileExistsError if someone made it meanwhile
            tmp.unlink()
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# The key ring.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditKey:
    key_id: str
    secret: bytes
    created_at: str


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Every key of one registry, oldest first; rows are signed with `current`."""

    path: Path
    keys: tuple[AuditKey, ...]
    stamp: tuple[int, int] = (0, 0)  # (mtime_ns, size) when read: re-read when it changes

    @property
    def current(self) -> AuditKey:
        return self.keys[-1]

    def get(self, key_id: str | None) -> AuditKey | None:
        for k in self.keys:
            if k.key_id == key_id:
                return k
        return None

    def order(self, key_id: str) -> int:
        return next(i for i, k in enumerate(self.keys) if k.key_id == key_id)

    def to_json(self) -> bytes:
        body = {
            "format": KEY_FORMAT,
            "format_version": KEY_FORMAT_VERSION,
            "note": "msreg audit key ring: keep secret, back up with the registry's backups but stored apart from them",
            "keys": [{"id": k.key_id, "secret": k.secret.hex(), "created_at": k.created_at} for k in self.keys],
        }
        return (json.dumps(body, indent=2) + "\n").encode("utf-8")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def new_key() -> AuditKey:
    return AuditKey(key_id=secrets.token_hex(4), secret=secrets.token_bytes(32), created_at=_now())


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size)


def read_ring(path: Path) -> KeyRing:
    """The key ring at `path`. :raises KeyMissing: no file; AnchorError: unreadable or damaged."""
    try:
        raw = path.read_bytes()
        stamp = _stamp(path)
    except FileNotFoundError:
        raise KeyMissing(f"audit key file {path} does not exist") from None
    except OSError as exc:
        raise AnchorError(f"audit key file {path} cannot be read ({exc.strerror}); check its owner and mode (0600)") from exc
    try:
        body = json.loads(raw.decode("utf-8"))
        if body.get("format") != KEY_FORMAT:
            raise ValueError(f"format {body.get('format')!r}")
        keys = tuple(
            AuditKey(key_id=str(k["id"]), secret=bytes.fromhex(k["secret"]), created_at=str(k.get("created_at", "")))
            for k in body["keys"]
        )
        if not keys or any(len(k.secret) < 16 for k in keys):
            raise ValueError("no usable key")
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise AnchorError(f"audit key file {path} is damaged ({exc}); restore it from your key backup") from exc
    return KeyRing(path=path, keys=keys, stamp=stamp)


def create_ring(path: Path) -> KeyRing:
    """A new key ring with one key, written 0600; an existing file is never replaced."""
    ring = KeyRing(path=path, keys=(new_key(),))
    try:
        write_private_file(path, ring.to_json(), exclusive=True)
    except FileExistsError:
        return read_ring(path)
    return read_ring(path)


def rotate_ring(ring: KeyRing) -> tuple[KeyRing, AuditKey]:
    """Add a new key (kept with the old ones, which still verify older rows) and save."""
    key = new_key()
    updated = KeyRing(path=ring.path, keys=(*ring.keys, key))
    write_private_file(ring.path, updated.to_json())
    return read_ring(ring.path), key


_RING_CACHE: dict[Path, KeyRing] = {}


def cached_ring(path: Path) -> KeyRing | None:
    """The key ring at `path`, re-read only when the file changed (a rotation by another
    process); None when there is no file."""
    cached = _RING_CACHE.get(path)
    try:
        stamp = _stamp(path)
    except FileNotFoundError:
        _RING_CACHE.pop(path, None)
        return None
    if cached is None or cached.stamp != stamp:
        cached = _RING_CACHE[path] = read_ring(path)
    return cached


# --------------------------------------------------------------------------------------------
# HMAC.
# --------------------------------------------------------------------------------------------


def mac(secret: bytes, message: str) -> str:
    return hmac.digest(secret, message.encode("utf-8"), hashlib.sha256).hex()


def _canonical(body: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in body.items() if k != "sig"}, sort_keys=True, separators=(",", ":"))


def sign(ring: KeyRing, body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` with `key_id` and `sig` (HMAC-SHA-256 of its canonical JSON) added."""
    out = dict(body)
    out["key_id"] = ring.current.key_id
    out["sig"] = mac(ring.current.secret, _canonical(out))
    return out


def signature_ok(ring: KeyRing, body: Mapping[str, Any]) -> bool:
    key = ring.get(body.get("key_id"))
    return key is not None and hmac.compare_digest(mac(key.secret, _canonical(body)), str(body.get("sig", "")))


# --------------------------------------------------------------------------------------------
# The witness: signed chain heads, append-only JSON lines.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Head:
    """The newest row of one chain: its id, its position (rows so far) and its hash."""

    chain: str
    last_id: int
    rows: int
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"chain": self.chain, "last_id": self.last_id, "rows": self.rows, "hash": self.hash}


def checkpoint_body(head: Head, *, kind: str = "checkpoint", extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, **head.to_dict(), "at": _now()}
    if extra:
        body.update(extra)
    return body


def append_witness(path: Path, lines: list[Mapping[str, Any]]) -> None:
    """Append signed lines (O_APPEND: concurrent writers' lines never interleave)."""
    if not lines:
        return
    _ensure_dir(path.parent)
    data = "".join(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n" for line in lines).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class WitnessLine:
    number: int
    body: Mapping[str, Any] | None  # None: not JSON
    raw: str


def read_witness(path: Path) -> Iterator[WitnessLine]:
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for number, raw in enumerate(fh, start=1):
            text = raw.strip()
            if not text:
                continue
            try:
                body = json.loads(text)
                if not isinstance(body, dict):
                    body = None
            except ValueError:
                body = None
            yield WitnessLine(number, body, text)


@dataclass(slots=True)
class WitnessFinding:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checkpoints: int = 0
    restores: int = 0
