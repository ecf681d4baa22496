"""Moving SQLite test registries around the way an administrator must: with their audit key."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_registry(source: Path, target: Path) -> Path:
    """Copy an SQLite registry file *with* its audit key and witness, as an administrator moving
    a registry must (without the key its signed trail cannot be verified or extended)."""
    from registry.security import anchor

    shutil.copyfile(source, target)
    for path_for in (anchor.key_path_for, anchor.witness_path_for):
        src = path_for(f"sqlite:///{source}")
        if src.exists():
            shutil.copyfile(src, path_for(f"sqlite:///{target}"))
    return target
