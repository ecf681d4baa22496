"""Reuse a built figure when a page reruns with the same inputs.

Why: a Streamlit page reruns top to bottom on every click, and at registry scale building the
Safety page's figures (dozens of traces, Plotly validating each property) was most of its
rerun. Every figure builder of this package is a pure function of its arguments (DataFrames,
strings, numbers, the viewer's `Release`), so the figure built for the same arguments is the
same figure: `reused_figure` keys it by a fingerprint of the arguments' contents (DataFrames by
their values, index, columns and dtypes), not by object identity, because cached data come
back as new objects on every rerun.

The figure returned is shared between reruns and sessions: callers draw it (`st.plotly_chart`,
`show_figure`, vector export all read it) and never change it; a page that wants a variant
builds one. Arguments of any other type (or unhashable DataFrame cells) are not fingerprinted:
the figure is then built every time, as before. The disclosure rules are untouched: the
viewer's release is part of the key, and equal arguments give the figure they always gave.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import plotly.graph_objects as go

F = TypeVar("F", bound=Callable[..., go.Figure])
MAX_FIGURES = 32  # a few pages' figures for a few viewers and settings; each is up to a few MB

_figures: OrderedDict[bytes, go.Figure] = OrderedDict()
_lock = threading.Lock()


class _NotFingerprinted(Exception):
    pass


def _feed(digest: Any, value: Any) -> None:
    """Feed `value`'s type and content into `digest`, or raise _NotFingerprinted."""
    digest.update(type(value).__qualname__.encode())
    if value is None or isinstance(value, (bool, int, float, str)):
        digest.update(repr(value).encode())
    elif isinstance(value, pd.DataFrame):
        digest.update(repr((value.shape, list(map(str, value.columns)), list(map(str, value.dtypes)))).encode())
        try:
            digest.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
        except TypeError as exc:  # unhashable cells (lists, dicts)
            raise _NotFingerprinted from exc
    elif isinstance(value, pd.Series):
        _feed(digest, value.to_frame())
    elif isinstance(value, np.ndarray) and value.dtype != object:
        digest.update(repr((value.shape, str(value.dtype))).encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (tuple, list)):
        digest.update(str(len(value)).encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, Mapping):
        digest.update(str(len(value)).encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, frozenset):
        parts = []
        for item in value:
            inner = hashlib.blake2b(digest_size=16)
            _feed(inner, item)
            parts.append(inner.digest())
        for part in sorted(parts):
            digest.update(part)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type) and value.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        for f in dataclasses.fields(value):
            digest.update(f.name.encode())
            _feed(digest, getattr(value, f.name))
    else:
        raise _NotFingerprinted


def fingerprint(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes | None:
    """A digest of the call's arguments' contents; None if one of them cannot be fingerprinted."""
    digest = hashlib.blake2b(digest_size=32)
    digest.update(name.encode())
    try:
        _feed(digest, args)
        for key in sorted(kwargs):
            digest.update(key.encode())
            _feed(digest, kwargs[key])
    except _NotFingerprinted:
        return None
    return digest.digest()


def reused_figure(build: F) -> F:
    """`build`, returning the figure it built before for arguments of the same contents."""
    name = f"{build.__module__}.{build.__qualname__}"

    @functools.wraps(build)
    def wrapper(*args: Any, **kwargs: Any) -> go.Figure:
        key = fingerprint(name, args, kwargs)
        if key is None:
            return build(*args, **kwargs)
        with _lock:
            fig = _figures.get(key)
            if fig is not None:
                _figures.move_to_end(key)
                return fig
        fig = build(*args, **kwargs)
        with _lock:
            _figures[key] = fig
            while len(_figures) > MAX_FIGURES:
                _figures.popitem(last=False)
        return fig

    return wrapper  # type: ignore[return-value]


def forget_figures() -> None:
    """Drop every kept figure (tests)."""
    with _lock:
        _figures.clear()
