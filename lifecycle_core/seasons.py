"""Season inputs per product and period, causal: where the period sits in the year, and what the product
and its category did a year before (so a model can see a seasonal peak coming instead of reading each
post-season trough as a decline).

    python -c "from lifecycle_core.store import Workspace; from lifecycle_core.panel import panel_from_dataset; \
from lifecycle_core.seasons import season_features; print(season_features(panel_from_dataset(Workspace('ws'), 'demo')).keys())"

Everything at period t uses units up to t only: last year's values sit a year back, and "the category a
year ago, 8 weeks later" is still 44 weeks before t. Values that need more history than the data has
are NaN (gradient boosting reads NaN as "unknown").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .panel import Panel, trailing_count, trailing_sum
from .periods import periods_in, weeks_per_period

SEASON_FEATURES = (
    "season_sin",
    "season_cos",
    "own_last_year",
    "cat_last_year",
    "cat_ahead_last_year",
    "weeks_since_cat_peak",
    "weeks_to_cat_peak",
)


def season_features(panel: Panel, categories: pd.Series | None = None) -> dict[str, np.ndarray]:
    """Every feature in SEASON_FEATURES as a (P, T) float64 matrix.

    - season_sin / season_cos: the period's place in the year (day of year on the unit circle);
    - own_last_year: the product's 4-week mean units a year before t, log, minus its best 4-week log
      level up to t (0 = as strong as ever, -1 = e times weaker); NaN before a year of history;
    - cat_last_year: the same for the product's category (all its products' units);
    - cat_ahead_last_year: how the category moved over the 8 weeks after that date a year ago (log
      ratio): the season that is coming, as last year showed it;
    - weeks_since_cat_peak / weeks_to_cat_peak: when, within the last year, the category's 4-week level
      peaked, and how many weeks until that date comes round again.
    ``categories`` is indexed like ``panel.products`` (missing: one category for all)."""
    u = panel.units
    P, T = u.shape
    period = panel.period
    year = periods_in(52, period)
    w4, w8 = periods_in(4, period), periods_in(8, period)
    wpp = weeks_per_period(period)
    angle = 2 * np.pi * (panel.periods.day_of_year.to_numpy(dtype=float) - 1) / 365.25 if T else np.zeros(0)
    out = {
        "season_sin": np.broadcast_to(np.sin(angle), (P, T)).copy(),
        "season_cos": np.broadcast_to(np.cos(angle), (P, T)).copy(),
    }
    level = np.log1p(trailing_sum(u, w4) / trailing_count(T, w4)) if T else np.zeros((P, 0))
    out["own_last_year"] = year_back(level, year) - _running_max(level)

    cats = (
        pd.Series(categories).reindex(panel.products).fillna("").astype("str").to_numpy()
        if categories is not None
        else np.full(P, "")
    )
    names, which = np.unique(cats, return_inverse=True)
    cat_units = np.zeros((len(names), T))
    np.add.at(cat_units, which, u)
    cat_level = np.log1p(trailing_sum(cat_units, w4) / trailing_count(T, w4)) if T else np.zeros((len(names), 0))
    out["cat_last_year"] = (year_back(cat_level, year) - _running_max(cat_level))[which]
    ahead = year_back(cat_level, year - w8) - year_back(cat_level, year)
    out["cat_ahead_last_year"] = ahead[which]
    since, to = _peak_in_last_year(cat_level, year)
    out["weeks_since_cat_peak"] = (since * wpp)[which]
    out["weeks_to_cat_peak"] = (to * wpp)[which]
    assert set(out) == set(SEASON_FEATURES)
    return out


def year_back(x: np.ndarray, lag: int) -> np.ndarray:
    """x[:, t - lag], NaN where t - lag < 0. Shape kept."""
    out = np.full(x.shape, np.nan)
    if 0 <= lag < x.shape[1]:
        out[:, lag:] = x[:, : x.shape[1] - lag]
    elif lag < 0:
        raise ValueError(f"lag must be >= 0 periods, got {lag}")
    return out


def _running_max(x: np.ndarray) -> np.ndarray:
    return np.maximum.accumulate(x, axis=1) if x.shape[1] else x


def _peak_in_last_year(level: np.ndarray, year: int) -> tuple[np.ndarray, np.ndarray]:
    """(periods since, periods until the next recurrence of) the highest level within [t - year + 1, t],
    per row and t; NaN until a full year of history exists. Shapes (R, T)."""
    R, T = level.shape
    since = np.full((R, T), np.nan)
    if year > T or year < 2:
        return since, since.copy()
    view = np.lib.stride_tricks.sliding_window_view(level, year, axis=1)  # (R, T - year + 1, year)
    arg = view.argmax(axis=2)  # position inside the window; the window ending at t starts at t - year + 1
    since[:, year - 1 :] = (year - 1) - arg
    to = np.where(np.isnan(since), np.nan, np.mod(year - since, year))
    return since, to


# A product is in a seasonal low when, a year before, its level at this time of year was followed within
# half a year by a season at least SEASON_RISE times higher, and it sells now at least SAME_AS_LAST_YEAR
# of what it sold then (not falling year on year). Its trough is the season, not the end of its life.
SEASON_RISE = 3.0
SAME_AS_LAST_YEAR = 0.5
SEASON_MIN_UNITS = 5.0  # last year's season peak, units per period: fewer is noise


def seasonal_low(panel: Panel, t: int | None = None) -> pd.DataFrame:
    """Per product at period ``t`` (default: the last), from its own sales a year before: product_id,
    seasonal_low (bool), now (mean units per period over the last 4 weeks), last_year (the same a year
    before), season_peak (last year's highest 4-week level within the half year after that date),
    periods_to_peak (how far after that date it came). A product with less than a year and a half of
    history is never in a seasonal low (there is no season to go by)."""
    u = panel.units
    P, T = u.shape
    t = T - 1 if t is None else int(t)
    year, half, w4 = periods_in(52, panel.period), periods_in(26, panel.period), periods_in(4, panel.period)
    out = pd.DataFrame({"product_id": panel.products, "seasonal_low": False})
    for c in ("now", "last_year", "season_peak", "periods_to_peak"):
        out[c] = np.nan
    if t - year - w4 + 1 < 0 or T == 0:
        return out
    level = trailing_sum(u, w4) / trailing_count(T, w4)  # (P, T) mean units per period over 4 weeks
    then = t - year
    window = level[:, then + 1 : min(then + half, t) + 1]
    now, last = level[:, t], level[:, then]
    peak = window.max(axis=1) if window.shape[1] else np.zeros(P)
    to_peak = window.argmax(axis=1) + 1 if window.shape[1] else np.zeros(P)
    sold_before = (u[:, : then + 1] > 0).any(axis=1)
    low = (
        sold_before
        & (peak >= SEASON_MIN_UNITS)
        & (peak >= SEASON_RISE * np.maximum(last, 1e-9))
        & (now >= SAME_AS_LAST_YEAR * last)
        & (now * SEASON_RISE <= peak)  # still below the coming season: at the peak it is no low
    )
    out["seasonal_low"] = low
    out["now"], out["last_year"], out["season_peak"] = now.round(2), last.round(2), peak.round(2)
    out["periods_to_peak"] = np.where(low, to_peak, np.nan)
    return out
