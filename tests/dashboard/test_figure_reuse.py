"""A figure is built once per content of its arguments (dashboard/figures/reuse.py), never
served for arguments that differ, however slightly, and not for arguments it cannot compare."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.figures import km_figure
from dashboard.figures.reuse import fingerprint
from registry.security.disclosure import release_for


def _curves(estimate: float = 0.8) -> tuple[pd.DataFrame, pd.DataFrame]:
    curves = pd.DataFrame({"group": ["all"] * 3, "time": [10.0, 200.0, 400.0], "estimate": [0.95, 0.9, estimate],
                           "lower": [0.9, 0.8, 0.7], "upper": [0.99, 0.95, 0.9], "n_risk": [20, 15, 10],
                           "n_event": [1, 1, 1], "n_censor": [0, 1, 0]})
    risk = pd.DataFrame({"group": ["all"] * 2, "time": [0, 365], "n_risk": [20, 12], "n_event": [0, 2], "n_censor": [0, 1]})
    return curves, risk


def test_the_same_contents_give_the_same_figure_without_building_it_again() -> None:
    first = km_figure(*_curves(), title="RFS", caption="c", release=release_for("admin"))
    again = km_figure(*(frame.copy() for frame in _curves()), title="RFS", caption="c", release=release_for("admin"))
    assert again is first  # new objects, equal contents: the figure kept


def test_any_difference_builds_another_figure() -> None:
    base = km_figure(*_curves(), title="RFS", caption="c", release=release_for("admin"))
    assert km_figure(*_curves(0.8000001), title="RFS", caption="c", release=release_for("admin")) is not base
    assert km_figure(*_curves(), title="RFS", caption="c2", release=release_for("admin")) is not base
    governance = km_figure(*_curves(), title="RFS", caption="c", release=release_for("governance"))
    assert governance is not base
    assert governance.to_dict() != base.to_dict()  # the bound role's risk table is released differently


def test_fingerprints_tell_values_types_index_and_columns_apart() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    keys = {fingerprint("f", (value,), {}) for value in (
        frame, frame.rename(columns={"b": "c"}), frame.set_axis([5, 6]), frame.astype({"a": float}),
        frame.iloc[::-1], 1, 1.0, "1", True, None, (1,), [1, 2], np.array([1, 2]))}
    assert None not in keys and len(keys) == 13
    assert fingerprint("f", (object(),), {}) is None  # not comparable: built every time
    assert fingerprint("f", (pd.DataFrame({"a": [[1], [2]]}),), {}) is None
