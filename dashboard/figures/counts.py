"""Count figures: transplant activity by year and centre; serious adverse events.

Why serious AEs are shown by time since transplant as well as by category: early events
(febrile neutropenia, engraftment syndrome) belong to the procedure, late ones (secondary
autoimmunity, malignancy) to long-term follow-up, and a committee reads them differently.

Disclosure: both figures take the viewer's `Release` (registry.security.disclosure). For roles bound by
the policy, counts are released (1..k-1 hidden, the rest rounded) and the figures coarsen
before they hide: transplants are pooled over centres; serious AEs are counted in the finest of
a few schemes of pooled grades and wider time windows that hides at most 2 % of them, and small
categories are pooled into "Other categories". A cell that is still small is drawn as a
hatched "<5" mark, and every bar carries its released total, so every serious AE is accounted
for (drawn, or marked hidden), never silently left out.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.style import add_caption, base_layout, colour, pattern
from registry.dictionary import code_label
from registry.security.disclosure import Release, release_for

# Ordinal grades get an ordered, colour-blind-safe sequence (viridis samples), light to dark.
GRADE_COLOURS = {1: "#D9E86C", 2: "#5EC962", 3: "#21918C", 4: "#3B528B", 5: "#440154"}
TIME_WINDOWS: tuple[tuple[str, int, int | None], ...] = (
    ("Day 0–30", 0, 30),
    ("Day 31–100", 31, 100),
    ("Day 101–365", 101, 365),
    ("Year 1–2", 366, 730),
    ("After year 2", 731, None),
    ("Before day 0", -10**9, -1),
)
# Coarser schemes for bound roles: (time windows, grade groups), finest first.
GRADE_GROUPS_FINE: tuple[tuple[str, tuple[int, ...]], ...] = tuple((f"Grade {g}", (g,)) for g in range(1, 6))
_THREE_GRADES = (("Grade 1–2", (1, 2)), ("Grade 3", (3,)), ("Grade 4–5", (4, 5)))
_TWO_GRADES = (("Grade 1–3", (1, 2, 3)), ("Grade 4–5", (4, 5)))
_MEDIUM_WINDOWS = (("Up to day 100", -10**9, 100), ("Day 101–365", 101, 365), ("After year 1", 366, None))
_TWO_WINDOWS = (("Up to day 100", -10**9, 100), ("After day 100", 101, None))
COARSE_SCHEMES: tuple[tuple[tuple[tuple[str, int, int | None], ...], tuple[tuple[str, tuple[int, ...]], ...]], ...] = (
    (TIME_WINDOWS, GRADE_GROUPS_FINE),
    (TIME_WINDOWS, _THREE_GRADES),
    (TIME_WINDOWS, _TWO_GRADES),
    (_MEDIUM_WINDOWS, _THREE_GRADES),
    (_MEDIUM_WINDOWS, _TWO_GRADES),
    (_TWO_WINDOWS, _TWO_GRADES),
    (_TWO_WINDOWS, (("Any grade", (1, 2, 3, 4, 5)),)),
)
GROUP_COLOURS = {"Grade 1–2": GRADE_COLOURS[2], "Grade 3": GRADE_COLOURS[3], "Grade 4–5": GRADE_COLOURS[5],
                 "Grade 1–3": GRADE_COLOURS[3], "Any grade": GRADE_COLOURS[4]}
OTHER_CATEGORIES = "Other categories"
HIDDEN_SHARE = 0.02
POOLED_SHARE = 0.1
"""Bound roles: the finest scheme is used whose hidden (marked) cells hold at most 2 % of the events."""


def time_window(days: pd.Series, windows: tuple[tuple[str, int, int | None], ...] = TIME_WINDOWS) -> pd.Series:
    """Label each AE onset (days since transplant) with its window of `windows` (TIME_WINDOWS)."""
    out = pd.Series(pd.NA, index=days.index, dtype="object")
    for label, lo, hi in windows:
        mask = days >= lo if hi is None else (days >= lo) & (days <= hi)
        out[mask & out.isna()] = label
    return out


def transplants_per_year_figure(
    counts: pd.DataFrame, *, title: str, caption: str, release: Release | None = None
) -> go.Figure:
    """Stacked bars of transplants per calendar year, one colour per centre.

    ``counts``: ``transplant_year, centre_code, n``. For a bound role (``release``) the centres
    are pooled (year x centre cells are mostly small), counts are released and hidden years
    are marked "<5" on the axis.
    """
    release = release or release_for("admin")
    fig = go.Figure()
    n_hidden = 0
    if not release.exact:
        counts = counts.groupby("transplant_year", as_index=False)["n"].sum().assign(centre_code="All centres")
    centres = sorted(counts["centre_code"].astype(str).unique())
    for i, centre in enumerate(centres):
        c = counts[counts["centre_code"].astype(str) == centre].sort_values("transplant_year")
        shown = release.counts(c["n"])
        n_hidden += sum(r.hidden for r in shown)
        trace = go.Bar(
            x=c["transplant_year"].astype(int).tolist(),
            y=[r.value or 0 for r in shown],
            text=[r.text for r in shown],
            textposition="none",
            name=centre,
            marker=dict(color=colour(i), pattern_shape=pattern(i)),
            hovertemplate=f"{centre} %{{x}}: %{{text}} transplants<extra></extra>",
        )
        fig.add_trace(release.mark_counts(trace, "y", "text"))
        hidden = [(int(y), r.text) for y, r in zip(c["transplant_year"], shown, strict=True) if r.hidden]
        if hidden:
            fig.add_trace(_hidden_marks([h[0] for h in hidden], [0] * len(hidden), release, name=f"{centre} hidden"))
    base_layout(fig, title=title, height=420)
    fig.update_layout(barmode="stack", xaxis_title="Year of transplant", yaxis_title="Transplants",
                      xaxis=dict(dtick=1 if counts["transplant_year"].nunique() <= 15 else 2), margin=dict(l=70))
    note = release.footnote(n_hidden, cells="years")
    add_caption(fig, f"{caption} {note}".strip())
    return fig


def _hidden_marks(x: list, y: list, release: Release, *, name: str, horizontal: bool = False) -> go.Scatter:  # type: ignore[type-arg]
    """Hatched-looking "<5" marks where a count is hidden, so a hidden cell is never just absent."""
    xs, ys = (y, x) if horizontal else (x, y)
    return go.Scatter(
        x=xs, y=ys, mode="markers+text", text=[release.small] * len(x), textposition="top center",
        marker=dict(symbol="square-open-dot" if not horizontal else "diamond-open", size=12, color="#555"),
        name=name, showlegend=False, hovertemplate=f"%{{text}}: hidden (fewer than {release.k})<extra></extra>",
    )


def serious_ae_figure(
    events: pd.DataFrame,
    *,
    title: str,
    caption: str,
    min_cell: int | None = None,
    release: Release | None = None,
) -> go.Figure:
    """Serious AEs counted by category (left) and by time since transplant (right), by grade.

    ``events``: one row per serious adverse event with ``category, grade, days`` (onset minus
    day 0). ``release`` is the viewer's (``min_cell=k``, from older callers, means a bound role
    with threshold k): bound roles get the coarsened counts of `serious_ae_counts`.
    """
    if release is None:
        release = release_for("admin" if min_cell is None else "governance", min_cell)
    counts = serious_ae_counts(events, release)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("By category", "By time since transplant"),
                        horizontal_spacing=0.18)
    by_cat, by_time = counts.by_category, counts.by_time
    n_hidden = 0
    for label in counts.category_labels:
        common = dict(marker_color=counts.colours[label], legendgroup=label)
        cat = release.counts(by_cat[label])
        n_hidden += sum(r.hidden for r in cat)
        fig.add_trace(release.mark_counts(go.Bar(
            y=list(by_cat.index), x=[r.value or 0 for r in cat], text=[r.text for r in cat], textposition="none",
            orientation="h", name=label, hovertemplate="%{y}: %{text}<extra>" + label + "</extra>", **common), "x", "text"),
            row=1, col=1)
    for label in counts.grade_labels:
        common = dict(marker_color=counts.colours[label], legendgroup=label)
        tim = release.counts(by_time[label])
        n_hidden += sum(r.hidden for r in tim)
        # Horizontal like the categories: long window names on half the width do not fit side by side.
        fig.add_trace(release.mark_counts(go.Bar(
            y=list(by_time.index), x=[r.value or 0 for r in tim], text=[r.text for r in tim], textposition="none",
            orientation="h", name=label, showlegend=label not in counts.category_labels,
            hovertemplate="%{y}: %{text}<extra>" + label + "</extra>", **common), "x", "text"),
            row=1, col=2)
    # Released totals above each bar: what every serious AE of the bar adds up to (hidden ones included).
    for table, row_col, horizontal in ((by_cat, (1, 1), True), (by_time, (1, 2), True)):
        totals = release.counts(table.sum(axis=1))
        drawn = table.apply(lambda r: sum(release.number(v) or 0 for v in r), axis=1).tolist()
        labels = list(table.index)
        hidden_cells = [(lab, d) for lab, d, (_, r) in zip(labels, drawn, table.iterrows(), strict=True)
                        if any(release.is_small(v) for v in r) and not release.exact]
        text = [f"{t.text}" + (" (incl. <" + str(release.k) + ")" if any(h[0] == lab for h in hidden_cells) else "")
                for lab, t in zip(labels, totals, strict=True)]
        xs, ys = (drawn, labels) if horizontal else (labels, drawn)
        fig.add_trace(release.mark_counts(go.Scatter(
            x=xs, y=ys, mode="text", text=text, textposition="middle right" if horizontal else "top center",
            name="Total", showlegend=False, hovertemplate="Total %{text}<extra></extra>",
            customdata=[t.value for t in totals]), "customdata.0"), row=row_col[0], col=row_col[1])
        if hidden_cells:
            fig.add_trace(_hidden_marks([h[0] for h in hidden_cells], [0] * len(hidden_cells), release,
                                        name="hidden cells", horizontal=horizontal), row=row_col[0], col=row_col[1])
    base_layout(fig, title=title, height=460)
    fig.update_layout(barmode="stack", margin=dict(l=190), legend_title_text="CTCAE grade")
    for col, table in ((1, by_cat), (2, by_time)):
        top = float(table.apply(lambda r: sum(release.number(v) or 0 for v in r), axis=1).max()) if len(table) else 1.0
        # room to the right of the longest bar for its total label
        fig.update_xaxes(title_text="Events", range=[0, max(1.0, top) * 1.3], row=1, col=col)
    fig.update_yaxes(autorange="reversed")  # categories A to Z and the earliest window at the top
    add_caption(fig, " ".join(p for p in (caption, counts.note, release.footnote(n_hidden)) if p))
    return fig


class SeriousAeCounts:
    """Serious AEs per category x grade group and per time window x grade group, as drawn."""

    def __init__(self, by_category: pd.DataFrame, by_time: pd.DataFrame, grade_labels: list[str],
                 category_labels: list[str], colours: dict[str, str], note: str) -> None:
        self.by_category, self.by_time, self.grade_labels, self.category_labels, self.colours, self.note = (
            by_category, by_time, grade_labels, category_labels, colours, note)


def serious_ae_counts(events: pd.DataFrame, release: Release) -> SeriousAeCounts:
    """Counts for `serious_ae_figure` and the Safety table: exact roles get every window and
    grade; bound roles the finest scheme of COARSE_SCHEMES whose hidden cells in the time panel
    hold at most HIDDEN_SHARE of the events (else the coarsest), and categories with a hidden
    cell pooled into "Other categories"."""
    ev = events.assign(grade=events["grade"].astype(int)) if len(events) else events.assign(grade=[])
    schemes = COARSE_SCHEMES[:1] if release.exact else COARSE_SCHEMES
    for windows, grade_groups in schemes:
        by_time = _grouped(ev, "window", time_window(ev["days"].astype(int), windows) if len(ev) else pd.Series([], dtype=object),
                           [w for w, *_ in windows], grade_groups)
        cells = by_time.to_numpy().ravel()
        hidden_events = sum(int(v) for v in cells if release.is_small(v))
        if release.exact or hidden_events <= HIDDEN_SHARE * len(ev):
            break
    if "Before day 0" in by_time.index and not by_time.loc["Before day 0"].any():
        by_time = by_time.drop(index="Before day 0")
    elif "Before day 0" in by_time.index:
        by_time = pd.concat([by_time.loc[["Before day 0"]], by_time.drop(index="Before day 0")])
    # Categories in words (registry.dictionary: "Febrile neutropenia", not FEBRILE_NEUTROPENIA), sorted as read.
    cat_labels = (ev["category"].astype(str).map(lambda c: code_label(c, "AE_CATEGORY")) if len(ev)
                  else pd.Series([], dtype=object))
    categories = sorted(cat_labels.unique()) if len(ev) else []
    # The category panel picks its own grade grouping: the finest that pools categories holding
    # at most POOLED_SHARE of the events into "Other categories" (else the one pooling least).
    options = [grade_groups] if release.exact else [grade_groups, _THREE_GRADES, _TWO_GRADES, (("Any grade", (1, 2, 3, 4, 5)),)]
    best = None
    for groups in options:
        table = _grouped(ev, "category", cat_labels, categories, groups)
        pooled_events = sum(int(table.loc[c].sum()) for c in table.index if release.hidden_in(table.loc[c]) > 0)
        if best is None or pooled_events < best[0]:
            best = (pooled_events, groups, table)
        if pooled_events <= POOLED_SHARE * len(ev):
            best = (pooled_events, groups, table)
            break
    _, cat_groups, by_cat = best
    note = ""
    if not release.exact:
        small = [c for c in by_cat.index if release.hidden_in(by_cat.loc[c]) > 0]
        if len(small) > 0:
            pooled = by_cat.loc[small].sum()
            by_cat = pd.concat([by_cat.drop(index=small), pooled.to_frame(OTHER_CATEGORIES).T]).astype(int)
        if schemes[0] != (windows, grade_groups) or cat_groups != grade_groups or small:
            note = ("Coarsened for disclosure control: by time, " + ", ".join(label for label, _ in grade_groups)
                    + " in windows " + ", ".join(by_time.index) + "; by category, "
                    + ", ".join(label for label, _ in cat_groups)
                    + (f", {len(small)} small categor{'y' if len(small) == 1 else 'ies'} pooled as '{OTHER_CATEGORIES}'" if small else "")
                    + ".")
    colours = {label: GRADE_COLOURS[grades[0]] if len(grades) == 1 else GROUP_COLOURS.get(label, "#777")
               for label, grades in (*grade_groups, *cat_groups)}
    return SeriousAeCounts(by_cat, by_time, [label for label, _ in grade_groups], [label for label, _ in cat_groups],
                           colours, note)


def _grouped(events: pd.DataFrame, name: str, labels: pd.Series, index: list[str],
             grade_groups: tuple[tuple[str, tuple[int, ...]], ...]) -> pd.DataFrame:
    columns = [label for label, _ in grade_groups]
    out = pd.DataFrame(0, index=index, columns=columns, dtype=int)
    if len(events):
        grade_of = {g: label for label, grades in grade_groups for g in grades}
        frame = pd.DataFrame({name: labels.to_numpy(), "g": events["grade"].map(grade_of).to_numpy()})
        seen = frame.groupby([name, "g"]).size().unstack(fill_value=0)
        out = seen.reindex(index=index, columns=columns, fill_value=0).astype(int)
    out.index.name = None
    return out
