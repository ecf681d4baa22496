"""The engraftment figure hides what the table beside it hides.

A cumulative-incidence plateau times the group's size is a count: 95% engrafted of 40 patients
says two never engrafted. For governance and researchers a group whose drawn curve ends with
1–4 patients engrafted, or 1–4 not engrafted, gets no curve (and a note saying why), by the same
rule as the engraftment table (`Release.split_shown`); administrators and centres see every curve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.figures import engraftment_figure
from dashboard.figures.facets import GROUP_COLOUR
from registry.security.disclosure import release_for


def _curve(group: str, final: float, n: int) -> pd.DataFrame:
    t = np.arange(9.0, 30.0)
    est = np.minimum(final, np.linspace(0.1, 1.0, len(t)))
    return pd.DataFrame({"group": group, "time": t, "estimate": est, "lower": est - 0.05, "upper": np.minimum(1, est + 0.05),
                         "n_risk": np.linspace(n, n * (1 - final) + 5, len(t)).round()})


def _drawn_groups(fig) -> set[str]:  # type: ignore[no-untyped-def]
    return {t.name for t in fig.data if t.mode == "lines" and t.showlegend is not False and t.x}


# (final incidence, group size): engrafted and not engrafted counts it implies
CASES = {
    "two never engraft": (0.95, 40, False),  # 38 and 2
    "all engraft": (1.0, 40, True),  # 40 and 0
    "ten never engraft": (0.75, 40, True),  # 30 and 10
    "three engraft": (0.1, 30, False),  # 3 and 27
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("role", ["governance", "researcher"])
def test_a_curve_whose_plateau_gives_a_small_count_away_is_not_drawn_for_bound_roles(case: str, role: str) -> None:
    final, n, shown = CASES[case]
    fig = engraftment_figure(pd.concat([_curve("A", final, n), _curve("B", 0.75, 40)]), title="t", caption="c",
                             release=release_for(role), sizes={"A": n, "B": 40})
    assert ("A" in _drawn_groups(fig)) is shown
    assert "B" in _drawn_groups(fig)
    note = " ".join(a.text for a in fig.layout.annotations)
    assert ("No curve for A" in note) is (not shown)


@pytest.mark.parametrize("role", ["admin", "centre"])
def test_exact_roles_see_every_curve(role: str) -> None:
    fig = engraftment_figure(_curve("A", 0.95, 40), title="t", caption="c", release=release_for(role), sizes={"A": 40})
    assert _drawn_groups(fig) == {"A"}


def test_a_bound_role_without_group_sizes_gets_no_curve_rather_than_an_unchecked_one() -> None:
    fig = engraftment_figure(_curve("A", 0.75, 40), title="t", caption="c", release=release_for("governance"))
    assert _drawn_groups(fig) == set()


def test_small_multiples_apply_the_same_rule_per_panel() -> None:
    curves = pd.concat([_curve(f"C{i:02d}", 0.95 if i == 0 else 0.75, 40) for i in range(8)])
    fig = engraftment_figure(curves, title="t", caption="c", release=release_for("governance"),
                             sizes={f"C{i:02d}": 40 for i in range(8)}, pooled=_curve("All patients", 0.8, 320))
    texts = " ".join(a.text.replace("<br>", " ") for a in fig.layout.annotations)
    assert "C00 No curve: fewer than 5 engrafted, or not engrafted" in texts
    assert texts.count("No curve:") == 1
    blue = [t for t in fig.data if t.mode == "lines" and t.line.color == GROUP_COLOUR and t.x and "CI" not in (t.name or "")]
    assert len(blue) == 7, "a curve in every panel but C00's"
