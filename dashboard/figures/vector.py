"""Figures as vector files (SVG, PDF) for papers and committee packs, rendered offline.

Why kaleido: it is Plotly's own static renderer, so a saved figure is exactly what the page
draws. Kaleido 1.x drives a headless Chromium already on the machine (Debian's `chromium`); it
downloads nothing. Starting the browser costs seconds, so one renderer is started on first use
and kept for the process (the dashboard server, or one `msreg report` run); calls are serialised
because the renderer is one browser.
"""

from __future__ import annotations

import atexit
import os
import shutil
import threading
from typing import Literal

import plotly.graph_objects as go

VectorFormat = Literal["svg", "pdf"]
FORMATS: tuple[VectorFormat, ...] = ("svg", "pdf")
MIME: dict[str, str] = {"svg": "image/svg+xml", "pdf": "application/pdf"}

# Print size of a saved figure (CSS pixels at 96 dpi): a journal's full-width figure.
DEFAULT_WIDTH = 1100
DEFAULT_HEIGHT = 700

_lock = threading.Lock()
_server_started = False


class VectorExportError(RuntimeError):
    """The figure could not be rendered (no Chromium, or the renderer failed)."""


def chromium_path() -> str | None:
    """The Chromium kaleido will use: $BROWSER_PATH, else the first chromium/chrome on PATH."""
    explicit = os.environ.get("BROWSER_PATH")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _ensure_server() -> None:
    global _server_started
    if _server_started:
        return
    browser = chromium_path()
    if browser is None:
        raise VectorExportError("no Chromium found to render figures (install Debian's `chromium`, or set BROWSER_PATH)")
    os.environ.setdefault("BROWSER_PATH", browser)
    import kaleido

    kaleido.start_sync_server(silence_warnings=True)
    _server_started = True
    atexit.register(_stop_server)


def _stop_server() -> None:
    global _server_started
    if _server_started:
        import kaleido

        kaleido.stop_sync_server(silence_warnings=True)
        _server_started = False


def figure_bytes(fig: go.Figure, fmt: VectorFormat, *, width: int | None = None, height: int | None = None) -> bytes:
    """The figure as an SVG or PDF file's bytes, at its own height (or the default print size).

    :raises VectorExportError: no Chromium on the machine, or the renderer failed.
    """
    if fmt not in FORMATS:
        raise VectorExportError(f"unknown figure format {fmt!r}; expected one of {', '.join(FORMATS)}")
    w = width or DEFAULT_WIDTH
    h = height or fig.layout.height or DEFAULT_HEIGHT
    with _lock:
        _ensure_server()
        try:
            import kaleido

            return kaleido.calc_fig_sync(fig.to_dict(), opts=dict(format=fmt, width=w, height=h, scale=1))
        except Exception as exc:  # noqa: BLE001 - the renderer's own errors vary by version
            raise VectorExportError(f"could not render the figure as {fmt.upper()}: {exc}") from exc
