"""Figures as pure functions: DataFrames in, Plotly figures out, no Streamlit, no database.

Tested through `fig.to_dict()`; the pages only fetch data and call these.
"""

from dashboard.figures.compare import forest_figure, funnel_figure, funnel_limits
from dashboard.figures.engraftment import engraftment_figure
from dashboard.figures.counts import serious_ae_figure, transplants_per_year_figure
from dashboard.figures.survival import cumulative_incidence_figure, km_figure
from dashboard.figures.timeline import patient_timeline_figure

__all__ = [
    "cumulative_incidence_figure",
    "engraftment_figure",
    "forest_figure",
    "funnel_figure",
    "funnel_limits",
    "km_figure",
    "patient_timeline_figure",
    "serious_ae_figure",
    "transplants_per_year_figure",
]
