"""Analysis of result cubes: the headline comparison, paired comparisons over design points,
figures, and which swept factors decide the answer."""

from .headline import (
    METRICS,
    HeadlineRow,
    PairedDifference,
    format_headline,
    format_sweep_summary,
    headline,
    never_median,
)

__all__ = ["METRICS", "HeadlineRow", "PairedDifference", "format_headline",
           "format_sweep_summary", "headline", "never_median"]
