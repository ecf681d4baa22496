"""A bundle import running beside the uploader's session, with its progress.

Why a thread: a 25,000-patient import holds the write lock for a minute or more; run inside the
script, it froze the uploader's page for that long with no sign of life. The thread does only
the import (no Streamlit calls); the page reads `done/total` on each run and refreshes itself
every second while the job runs. Small bundles (most uploads) import directly.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from registry.security.access import Actor
from registry.io.bundle import ImportResult, import_bundle

BACKGROUND_ROWS = 5_000  # rows: smaller bundles import before a progress bar would help


@dataclass
class ImportJob:
    path: Path
    cleanup: Path
    done: int = 0
    total: int = 0
    result: ImportResult | None = None
    error: BaseException | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def finished(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def _progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def _run(self, engine: Engine, actor: Actor) -> None:
        try:
            self.result = import_bundle(engine, self.path, actor, on_progress=self._progress)
        except BaseException as exc:  # noqa: BLE001 - reported on the page, never lost in a thread
            self.error = exc
        finally:
            shutil.rmtree(self.cleanup, ignore_errors=True)

    def start(self, engine: Engine, actor: Actor) -> ImportJob:
        self._thread = threading.Thread(target=self._run, args=(engine, actor), name="msreg-import", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def start_import(engine: Engine, actor: Actor, path: Path, cleanup: Path) -> ImportJob:
    """Start importing `path` (staged under `cleanup`, removed when done)."""
    return ImportJob(path=path, cleanup=cleanup).start(engine, actor)


def describe(result: Any) -> str:
    from registry.validation import ENTITIES

    return "Bundle imported: " + "; ".join(
        f"{ENTITIES[e].file} {result.inserted.get(e, 0)} new, {result.updated.get(e, 0)} updated" for e in result.files) + "."
