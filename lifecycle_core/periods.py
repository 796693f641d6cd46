"""Calendar periods: the grain every sales curve is aggregated to (day, ISO week, month), the rhythm
a file's dates follow, and windows defined in time converted to periods of that rhythm.

    python -c "from lifecycle_core.periods import periods_in, in_time; print(periods_in(8, 'M'), in_time(2, 'M'))"

Every window of the product (label horizon, smoothing, feature windows, forecast and anomaly windows)
has one definition in weeks; ``periods_in`` turns it into periods of the dataset's rhythm, so monthly
and weekly data of the same products are read over the same stretch of time (8 weeks -> 2 months).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

PERIODS = {"D": "day", "W": "week (Monday start)", "M": "month"}
# Mean length of each period in days: a month is 365.25 / 12.
PERIOD_DAYS = {"D": 1.0, "W": 7.0, "M": 30.44}
# Finer to coarser: data can be aggregated up this order, never split down it.
ORDER = {"D": 0, "W": 1, "M": 2}
RHYTHM_WORDS = {"D": "daily", "W": "weekly", "M": "monthly"}
UNIT_WORDS = {"D": "day", "W": "week", "M": "month"}
AGGREGATED_WORDS = {"D": "days", "W": "weeks (Monday start)", "M": "calendar months"}


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


def periods_in(weeks: float, period: str, *, minimum: int = 1) -> int:
    """A window of ``weeks`` weeks in periods of ``period``, rounded, at least ``minimum``.

    8 weeks: 8 weekly periods, 56 days, 2 months."""
    check_period(period)
    return max(int(minimum), math.floor(weeks * 7.0 / PERIOD_DAYS[period] + 0.5))


def weeks_per_period(period: str) -> float:
    """How many weeks one period of ``period`` lasts (1/7, 1, 4.35)."""
    return PERIOD_DAYS[check_period(period)] / 7.0


def in_time(n_periods: float, period: str) -> str:
    """``n`` periods said in time: "8 weeks", "2 months", "56 days (8.0 weeks)"."""
    check_period(period)
    n = float(n_periods)
    unit = UNIT_WORDS[period] + ("" if n == 1 else "s")
    shown = f"{n:g} {unit}"
    if period != "W":
        shown += f" ({n * weeks_per_period(period):.1f} weeks)"
    return shown


@dataclass(frozen=True)
class Rhythm:
    """What the dates of a sales file say about its grain.

    ``period``: the finest period the data supports ("D", "W", "M"); ``kind``: "daily", "weekly",
    "monthly", "events" (invoice lines or orders with their own timestamps, aggregated to weeks,
    or to months when they are sparse: ``sparse_weeks``), or
    "quarterly" / "yearly" (too coarse to read: refused at ingest);
    ``evidence``: the observation behind the guess, in words; ``share``: the share of dates that fit it."""

    period: str
    kind: str
    evidence: str
    share: float = 1.0

    def message(self) -> str:
        if self.kind == "events":
            return f"order-level data ({self.evidence}): aggregated to {AGGREGATED_WORDS[self.period]}"
        if self.kind in ("quarterly", "yearly"):
            return f"{self.kind} data ({self.evidence})"
        return f"{self.kind} data: one row per product and {UNIT_WORDS[self.period]} ({self.evidence})"

    def to_dict(self) -> dict:
        return asdict(self) | {"message": self.message()}


# A share of dates this high on one grid is that grid: a handful of stray rows (a correction dated
# mid-month) must not turn a monthly file into a daily one.
GRID_SHARE = 0.95


def infer_rhythm(product_ids: pd.Series, dates: pd.Series, *, events: bool = False) -> Rhythm:
    """The period a sales file's dates follow, from their calendar positions and each product's spacing.

    - all (>= 95 %) dates on the 1st of a month, or all on a month's last day, or every product's
      consecutive dates 28-31 days apart: monthly;
    - all dates on one weekday with each product's dates a multiple of 7 days apart: weekly;
    - otherwise daily (dates one or a few days apart; sparse daily sales have gaps of several days
      but their gaps share no weekly grid).
    ``events`` (invoice lines, order exports: many timestamped rows per product and day) is aggregated
    to weeks, the grain life cycles are read at. ``dates`` are datetimes; NaT rows are ignored.
    """
    if events:
        return Rhythm("W", "events", "invoice or order lines with their own dates")
    d = pd.to_datetime(pd.Series(dates).reset_index(drop=True), errors="coerce")
    p = pd.Series(product_ids).reset_index(drop=True)
    ok = d.notna()
    d, p = d[ok].dt.normalize(), p[ok]
    if d.empty:
        return Rhythm("W", "weekly", "no dates to read a rhythm from; weeks assumed", 0.0)
    first = (d.dt.day == 1).mean()
    month_end = d.dt.is_month_end.mean()
    n_dates = d.nunique()
    frame = pd.DataFrame({"p": p.to_numpy(), "d": d.to_numpy()}).drop_duplicates().sort_values(["p", "d"])
    gaps = frame.groupby("p", sort=False)["d"].diff().dt.days.dropna().to_numpy()
    if n_dates == 1:
        return Rhythm("W", "weekly", "every row has the same date; weeks assumed", 0.0)
    coarse = _coarser_than_months(d)
    if coarse:
        return Rhythm("M", coarse, f"the file's dates are {coarse[:-2]}s apart", 1.0)
    if first >= GRID_SHARE and n_dates >= 2:
        return Rhythm("M", "monthly", f"{first:.0%} of dates are the 1st of a month", float(first))
    if month_end >= GRID_SHARE:
        return Rhythm("M", "monthly", f"{month_end:.0%} of dates are the last day of a month", float(month_end))
    if len(gaps):
        monthly_gaps = ((gaps >= 28) & (gaps <= 31)).mean()
        same_month = frame.assign(m=frame["d"].dt.to_period("M")).duplicated(["p", "m"]).mean()
        if monthly_gaps >= GRID_SHARE and same_month == 0:
            return Rhythm(
                "M", "monthly", f"{monthly_gaps:.0%} of consecutive dates are a month apart", float(monthly_gaps)
            )
    weekday = d.dt.day_of_week.value_counts(normalize=True)
    on_weekday = float(weekday.iloc[0])
    weekly_gaps = float((gaps % 7 == 0).mean()) if len(gaps) else 1.0
    if on_weekday >= GRID_SHARE and weekly_gaps >= GRID_SHARE and (not len(gaps) or np.median(gaps) >= 7):
        day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(weekday.index[0]))
        return Rhythm(
            "W", "weekly", f"{on_weekday:.0%} of dates are a {day.day_name()}, a week or more apart", on_weekday
        )
    if len(gaps) and weekly_gaps >= GRID_SHARE and np.median(gaps) >= 7:
        # Each product on its own weekday (stores closing their weeks on different days): still weeks.
        return Rhythm(
            "W", "weekly", f"{weekly_gaps:.0%} of each product's consecutive dates are whole weeks apart", weekly_gaps
        )
    daily = float((gaps == 1).mean()) if len(gaps) else 0.0
    return Rhythm(
        "D", "daily", f"dates on {weekday.size} weekdays, {daily:.0%} of consecutive dates one day apart", 1.0
    )


# Order lines this thin are read in months: a week the median product sells at all holds fewer units than
# this, so its weekly curve is mostly noise (Poisson: 2 units a week vary by +-70 %, a month of them by
# +-35 %) and the labels flicker between stages from one week to the next. A Spanish shop's 40 products
# (1.9 units per selling week) labelled 53 % of weeks Decline, with Introduction -> Decline -> Growth
# flicker; in months 23 %, and the rule agreement kappa 0.26 -> 0.40. Online Retail II's wholesalers
# (17.8 units) stay weekly.
SPARSE_UNITS_PER_WEEK = 4.0
# ... and only with this much history: months of a shorter one are too few periods to read a stage from.
SPARSE_MIN_MONTHS = 12


def sparse_weeks(product_ids: pd.Series, timestamps: pd.Series, units: pd.Series) -> str | None:
    """Why order lines are too sparse to read in weeks (in words), or None when weeks hold enough.

    Sparse: the median product sells fewer than ``SPARSE_UNITS_PER_WEEK`` units in the weeks it sells at
    all, over at least ``SPARSE_MIN_MONTHS`` calendar months of history. ``units``: the sold units of
    each line (returns as 0); lines without a date are ignored."""
    ts = pd.to_datetime(pd.Series(timestamps).reset_index(drop=True), errors="coerce")
    q = pd.to_numeric(pd.Series(units).reset_index(drop=True), errors="coerce").fillna(0.0).to_numpy(float)
    ok = ts.notna().to_numpy() & (q > 0)
    if not ok.any():
        return None
    # Integer keys (product code x week number) and bincount: a group-by took 0.44 s on a million lines.
    days = ts.to_numpy()[ok].astype("datetime64[D]").astype(np.int64)
    first, last = np.datetime64(int(days.min()), "D"), np.datetime64(int(days.max()), "D")
    span = int(last.astype("datetime64[M]").astype(np.int64) - first.astype("datetime64[M]").astype(np.int64)) + 1
    if span < SPARSE_MIN_MONTHS:
        return None
    ids = pd.Series(product_ids).reset_index(drop=True)
    codes = ids.cat.codes.to_numpy() if isinstance(ids.dtype, pd.CategoricalDtype) else pd.factorize(ids)[0]
    codes = codes[ok].astype(np.int64)
    weeks = (days + 3) // 7  # 1970-01-01 was a Thursday: +3 puts each Monday-to-Sunday week on one number
    weeks -= weeks.min()
    n_weeks = int(weeks.max()) + 1
    key = codes * n_weeks + weeks
    if (int(codes.max()) + 1) * n_weeks <= 20_000_000:  # dense counts: a few MB for any real catalog
        weekly, lines = np.bincount(key, weights=q[ok]), np.bincount(key)
        key = np.flatnonzero(lines)
        weekly = weekly[key]
    else:
        key, inverse = np.unique(key, return_inverse=True)
        weekly = np.bincount(inverse, weights=q[ok])
    product_of_week = key // n_weeks
    selling_weeks = np.bincount(product_of_week)
    sold = selling_weeks > 0
    per_product = np.bincount(product_of_week, weights=weekly)[sold] / selling_weeks[sold]
    median = float(np.median(per_product))
    if median >= SPARSE_UNITS_PER_WEEK:
        return None
    return (
        f"the median product sells {median:.1f} units in a week it sells (fewer than {SPARSE_UNITS_PER_WEEK:g}) "
        f"over {span} months, so weeks are mostly noise"
    )


def _coarser_than_months(d: pd.Series) -> str | None:
    """ "quarterly" or "yearly" when the distinct months of the file are all 3 (or 12) apart, else None.

    A seasonal catalog selling only in November and December has gaps of one month too, so it stays
    monthly; only a regular grid of quarters or years is coarser."""
    months = np.unique(d.dt.year.to_numpy() * 12 + d.dt.month.to_numpy() - 1)
    if len(months) < 3:
        return None
    gaps = np.diff(months)
    for step, word in ((12, "yearly"), (3, "quarterly")):
        if (gaps % step == 0).mean() >= GRID_SHARE:
            return word
    return None


def check_aggregation(chosen: str, rhythm: Rhythm) -> str | None:
    """None when data of ``rhythm`` can be aggregated to ``chosen``; else why not, in words.

    Coarse data split into finer periods would invent zero-sales periods between its real rows."""
    check_period(chosen)
    if rhythm.kind in ("quarterly", "yearly"):
        return (
            f"{rhythm.kind} data ({rhythm.evidence}): life-cycle stages are read from days, weeks or months, and "
            f"months would create months of zero sales between the real rows; export monthly (or finer) sales"
        )
    if ORDER[chosen] >= ORDER[rhythm.period]:
        return None
    return (
        f"{rhythm.message()}: splitting it into {UNIT_WORDS[chosen]}s would create {UNIT_WORDS[chosen]}s of zero "
        f"sales that are not sales"
    )


_UNITS_IN_DAYS = {"d": 1.0, "w": 7.0, "m": PERIOD_DAYS["M"]}


def parse_window(text: str | int, period: str) -> int:
    """A window given by a user, in periods of ``period``: a bare number counts periods ("8"); a number
    with d, w or m counts days, weeks or months ("8w", "2m", "56d"), rounded to whole periods (>= 1)."""
    s = str(text).strip().lower()
    unit = s[-1:] if s[-1:] in _UNITS_IN_DAYS else ""
    number = s[:-1] if unit else s
    try:
        value = float(number)
    except ValueError:
        raise ValueError(
            f"a window must be a number of periods (8) or of days, weeks or months (56d, 8w, 2m), got {text!r}"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"a window must be positive, got {text!r}")
    if not unit:
        if value != int(value):
            raise ValueError(f"a window in periods must be a whole number, got {text!r}")
        return int(value)
    return periods_in(value * _UNITS_IN_DAYS[unit] / 7.0, period)
