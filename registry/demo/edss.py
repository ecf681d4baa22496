"""EDSS arithmetic on arrays: the scale's steps, the worsening step δ(b), snapping to steps.

The generator thinks of disability as a latent level plus noise; what a neurologist records
must be one of the scale's steps (0, 1.0, 1.5, … 9.5, 10: there is no 0.5). Keeping the
arithmetic here lets every part of the generator produce valid values the same way.
"""

from __future__ import annotations

import numpy as np

MAX_RECORDED = 9.5  # 10 is death from MS; the demo records deaths as deaths, not as EDSS 10
DELTA_CUTOFF = 5.5  # docs/endpoints.md default `delta_cutoff`


def worsening_step(baseline: np.ndarray) -> np.ndarray:
    """δ(b) of docs/endpoints.md: 1.5 from 0, 1.0 up to 5.5, 0.5 above."""
    return np.where(baseline == 0, 1.5, np.where(baseline <= DELTA_CUTOFF, 1.0, 0.5))


def snap(values: np.ndarray, *, round_up: np.ndarray | bool) -> np.ndarray:
    """Clip to [0, 9.5] and replace the impossible 0.5 by 1.0 (`round_up`) or 0.

    Inputs are already on the half-step grid (levels and noise are multiples of 0.5), so 0.5 is
    the only value that needs a decision: a step up from 0 is recorded as 1.0, a step down from
    1.0 as 0.
    """
    v = np.clip(np.round(values * 2) / 2, 0.0, MAX_RECORDED)
    return np.where(v == 0.5, np.where(round_up, 1.0, 0.0), v)
