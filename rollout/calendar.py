"""Model time is continuous months since the calendar start; these helpers map dates to months."""

from __future__ import annotations

import re

import numpy as np

from .errors import shorten

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")     # ASCII digits only, nothing around them

#: Dates must fall in these years: the cube's time axis (datetime64[ns]) ends in April 2262.
FIRST_YEAR, LAST_YEAR = 1900, 2261


def parse_month(text: str) -> tuple[int, int]:
    """Parse ``YYYY-MM`` into (year, month); raise ValueError with a readable reason."""
    match = _MONTH.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"expected a month as 'YYYY-MM', got {shorten(text, 40)}")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 01-12, got {text!r}")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"year must be {FIRST_YEAR}-{LAST_YEAR}, got {text!r}")
    return year, month


def months_between(start: str, date: str) -> float:
    """Months from the start of month ``start`` to the start of month ``date`` (may be negative)."""
    y0, m0 = parse_month(start)
    y1, m1 = parse_month(date)
    return float((y1 - y0) * 12 + (m1 - m0))


def grid_dates(start: str, n_months: int, step: int = 1) -> np.ndarray:
    """Month-end dates of the sampling grid: grid time t (months) is labelled by the last day of
    month t counted from ``start``; the exact model instant is the start of the next month."""
    y0, m0 = parse_month(start)
    first = np.datetime64(f"{y0:04d}-{m0:02d}", "M")
    months = np.arange(step, n_months + 1, step)
    next_month_starts = (first + months).astype("datetime64[D]")
    return (next_month_starts - np.timedelta64(1, "D")).astype("datetime64[ns]")
