"""Calendar periods: the grain every sales curve is aggregated to (day, ISO week, month).

    python -c "from lifecycle_core.periods import period_start; import pandas as pd; \
print(period_start(pd.Series(pd.to_datetime(['2024-03-07'])), 'W')[0])"
"""

from __future__ import annotations

import pandas as pd

PERIODS = {"D": "day", "W": "week (Monday start)", "M": "month"}


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise ValueError(f"period must be one of {list(PERIODS)} ({', '.join(PERIODS.values())}), got {period!r}")
    return period


def period_start(ts: pd.Series, period: str) -> pd.Series:
    """The first day of the period holding each timestamp, as datetime64 at midnight."""
    check_period(period)
    day = ts.dt.normalize()
    if period == "D":
        return day
    if period == "W":
        return day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    return day - pd.to_timedelta(day.dt.day - 1, unit="D")


def period_index(start: pd.Timestamp, end: pd.Timestamp, period: str) -> pd.DatetimeIndex:
    """Every period start from ``start`` to ``end`` inclusive (both already period starts)."""
    freq = {"D": "D", "W": "W-MON", "M": "MS"}[check_period(period)]
    return pd.date_range(start, end, freq=freq)
