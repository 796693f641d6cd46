"""Demand forecasts per product with prediction intervals, stage-aware, and their backtest.

    python -c "from lifecycle_core.store import Workspace; from lifecycle_core.forecast import backtest; \
print(backtest(Workspace('ws'), 'demo'))"

The method is deliberately simple and fast enough for 100,000 products: Holt's linear trend, whose
trend is damped by the product's life-cycle stage (a growing product keeps its trend, a mature one
flattens, a declining one keeps falling but slows), switching to Croston-SBA for intermittent demand.
A product that has stopped selling (silent longer than half a year, than three of its usual gaps and than
any silence it came back from) is forecast to sell nothing: Croston's rate only moves when a sale comes,
so it would forecast a delisted product's old rate for ever.
Intervals come from the product's own one-step-ahead errors, widened with the horizon.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from .panel import Panel
from .periods import in_time, periods_in
from .stages import Stage

# The windows of ForecastConfig in weeks, and the fewest periods each may have; ``for_period`` converts.
FORECAST_WEEKS = {
    "horizon": (8.0, 1),
    "intermittent_window": (26.0, 3),
    "stopped_window": (26.0, 3),
    "error_window": (26.0, 3),
    "season": (52.0, 2),
    "min_history": (26.0, 3),
    "origin_spacing": (4.0, 1),
    "recent_window": (8.0, 2),
}


@dataclass(frozen=True)
class ForecastConfig:
    """Forecast settings. Damping factors are per stage (Introduction, Growth, Maturity, Decline).

    Windows count periods; the defaults are those of weekly data. ``ForecastConfig.for_period("M")``
    gives the same windows in time for another rhythm (8 weeks ahead = 2 months, a season = 12 months),
    and is what the forecast uses when no config is given."""

    horizon: int = 8
    alpha: float = 0.3  # level smoothing
    beta: float = 0.1  # trend smoothing
    damping: tuple[float, float, float, float] = (0.8, 0.8, 0.0, 0.5)
    intermittent_share: float = 0.9  # share of zero periods (last intermittent_window) above which Croston-SBA is used
    croston_alpha: float = 0.1
    interval: float = 0.8  # central prediction-interval coverage
    error_window: int = 26  # periods of one-step errors behind the interval width
    intermittent_window: int = 26
    # Silent this many periods past the last sale (and longer than 3 usual gaps and than any earlier
    # silence it came back from, so a seasonal product between its seasons is not stopped): forecast 0.
    stopped_window: int = 26
    season: int = 52  # periods in a year (seasonal-naive baseline)
    min_history: int = 26  # periods of history before a backtest origin
    origin_spacing: int = 4  # periods between backtest origins
    recent_window: int = 8  # a product is scored at an origin if it sold in this many periods before it

    @classmethod
    def for_period(cls, period: str, **overrides) -> ForecastConfig:
        """The default windows converted from weeks to periods of ``period`` ("D", "W", "M")."""
        vals = {k: periods_in(w, period, minimum=m) for k, (w, m) in FORECAST_WEEKS.items()}
        return cls(**(vals | overrides))

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise ValueError(f"ForecastConfig.horizon must be >= 1, got {self.horizon}")
        for name in FORECAST_WEEKS:
            if getattr(self, name) < 1:
                raise ValueError(f"ForecastConfig.{name} must be >= 1 period, got {getattr(self, name)}")
        for name in ("alpha", "beta", "croston_alpha", "intermittent_share"):
            v = getattr(self, name)
            if not 0 < v <= 1:
                raise ValueError(f"ForecastConfig.{name} must be in (0, 1], got {v}")
        if len(self.damping) != 4 or not all(0 <= d <= 1 for d in self.damping):
            raise ValueError(f"ForecastConfig.damping needs 4 values in [0, 1], got {self.damping}")
        if not 0 < self.interval < 1:
            raise ValueError(f"ForecastConfig.interval must be in (0, 1), got {self.interval}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Forecast:
    """Forecasts from one origin. Arrays are (P, H): expected units and the interval per step."""

    products: pd.Index
    periods: pd.DatetimeIndex  # the H forecast periods
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    sigma: np.ndarray  # standard deviation of demand per step (units)
    method: np.ndarray  # (P,) "holt", "croston", "stopped" (sells nothing: ``stopped_selling``) or "none"

    def to_frame(self) -> pd.DataFrame:
        P, H = self.mean.shape
        return pd.DataFrame(
            {
                "product_id": np.repeat(self.products.to_numpy(), H),
                "step": np.tile(np.arange(1, H + 1), P),
                "period": np.tile(self.periods.to_numpy(), P),
                "mean": self.mean.ravel(),
                "lower": self.lower.ravel(),
                "upper": self.upper.ravel(),
                "sigma": self.sigma.ravel(),
                "method": np.repeat(self.method, H),
            }
        )


def forecast_panel(
    panel: Panel,
    *,
    origin: int | None = None,
    stage_probs: np.ndarray | None = None,
    config: ForecastConfig | None = None,
) -> Forecast:
    """Forecast every product ``config.horizon`` periods past ``origin`` (default: the last period),
    using units up to and including ``origin`` only. ``stage_probs`` is (P, 4); without it the trend
    is damped as for Maturity.
    """
    cfg = config or ForecastConfig.for_period(panel.period)
    u = panel.units
    P, T = u.shape
    o = T - 1 if origin is None else origin
    if not 0 <= o < T:
        raise ValueError(f"origin must be a period index in [0, {T - 1}], got {origin}")
    y = u[:, : o + 1]
    H = cfg.horizon
    first = np.where((y > 0).any(axis=1), (y > 0).argmax(axis=1), -1)

    _, trend, err = _holt(y, first, cfg.alpha, cfg.beta)
    # The level is plain exponential smoothing (the strongest simple baseline in our backtests); Holt
    # contributes only its trend, which the stage then keeps (growth), flattens (maturity) or damps.
    level = _ses_level(y, first, cfg.alpha)
    if stage_probs is None:
        stage_probs = np.tile(np.eye(4)[int(Stage.MATURITY)], (P, 1))
    phi = stage_probs @ np.asarray(cfg.damping)  # expected damping per product
    steps = np.arange(1, H + 1)
    cum_phi = np.cumsum(phi[:, None] ** steps[None, :], axis=1)
    mean = np.maximum(level[:, None] + trend[:, None] * cum_phi, 0.0)

    recent = y[:, -cfg.intermittent_window :]
    zero_share = (recent == 0).mean(axis=1) if recent.shape[1] else np.ones(P)
    inter = zero_share > cfg.intermittent_share
    if inter.any():
        cro = _croston_sba(y[inter], cfg.croston_alpha)
        mean[inter] = cro[:, None]
    stopped = stopped_selling(y, cfg.stopped_window)
    mean[stopped] = 0.0
    method = np.where(first < 0, "none", np.where(stopped, "stopped", np.where(inter, "croston", "holt")))
    method = method.astype(object)
    mean[first < 0] = 0.0

    # Interval: RMS of one-step errors over the recent window, growing like sqrt(h); never narrower
    # than Poisson noise around the mean (sparse products have few errors to learn from).
    w = min(cfg.error_window, err.shape[1])
    e = err[:, -w:] if w else np.zeros((P, 0))
    ok = ~np.isnan(e)
    rms = np.sqrt(
        np.where(ok.sum(axis=1) > 0, np.nansum(np.where(ok, e * e, 0), axis=1) / np.maximum(ok.sum(axis=1), 1), 0)
    )
    sigma = np.maximum(rms[:, None] * np.sqrt(steps)[None, :], np.sqrt(mean))
    sigma[stopped] = 0.0
    z = norm.ppf(0.5 + cfg.interval / 2)
    lower = np.maximum(mean - z * sigma, 0.0)
    upper = mean + z * sigma
    start = panel.periods[o] if T else pd.Timestamp("1970-01-01")
    freq = {"D": "D", "W": "W-MON", "M": "MS"}[panel.period]
    periods = pd.date_range(start, periods=H + 1, freq=freq)[1:]
    return Forecast(panel.products, periods, mean, lower, upper, sigma, method)


STOPPED_CHUNK = 8192


def stopped_selling(y: np.ndarray, window: int) -> np.ndarray:
    """(P,) whether each product has stopped selling by the last period of ``y`` (P, T): silent for more
    than ``window`` periods since its last sale, more than 3 times its mean gap between sales, and longer
    than every earlier silence it came back from."""
    P, T = y.shape
    if T == 0:
        return np.zeros(P, dtype=bool)
    if P > STOPPED_CHUNK:  # a few (P, T) index arrays: in chunks, 100,000 daily products stay in bounds
        return np.concatenate([stopped_selling(y[i : i + STOPPED_CHUNK], window) for i in range(0, P, STOPPED_CHUNK)])
    sold = y > 0
    t = np.arange(T, dtype=np.int32)
    seen = np.maximum.accumulate(np.where(sold, t, -1).astype(np.int32), axis=1)  # last sale at or before t
    last = seen[:, -1]
    first = np.where(sold.any(axis=1), sold.argmax(axis=1), -1)
    hits = sold.sum(axis=1)
    silence = (T - 1) - last
    # The silence each sale ended: t minus the sale before it, less one (0 for back-to-back periods).
    before = np.concatenate([np.full((P, 1), -1, dtype=np.int32), seen[:, :-1]], axis=1)
    ended = np.where(sold & (before >= 0), t - before - 1, 0)
    longest = ended.max(axis=1)
    mean_gap = np.where(hits > 1, (last - first) / np.maximum(hits - 1, 1), 0.0)
    return (last >= 0) & (silence > np.maximum.reduce([np.full(P, window), 3 * mean_gap, longest]))


def _holt(y: np.ndarray, first: np.ndarray, alpha: float, beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Holt's linear trend run over each row from its first sale. Returns (level, trend) at the end,
    both (P,), and the one-step-ahead errors (P, T) (NaN before a product had history)."""
    P, T = y.shape
    level = np.zeros(P)
    trend = np.zeros(P)
    err = np.full((P, T), np.nan)
    started = np.zeros(P, dtype=bool)
    for t in range(T):
        x = y[:, t]
        begin = first == t
        level[begin] = x[begin]
        trend[begin] = 0.0
        run = started & ~begin
        if run.any():
            pred = level[run] + trend[run]
            err[run, t] = x[run] - np.maximum(pred, 0)
            new_level = alpha * x[run] + (1 - alpha) * pred
            trend[run] = beta * (new_level - level[run]) + (1 - beta) * trend[run]
            level[run] = new_level
        started |= begin
    return level, trend, err


def _ses_level(y: np.ndarray, first: np.ndarray, alpha: float) -> np.ndarray:
    """Exponentially smoothed level at the last period, started at each product's first sale. (P,)"""
    P, T = y.shape
    level = np.zeros(P)
    for t in range(T):
        begin = first == t
        level[begin] = y[begin, t]
        run = (first >= 0) & (first < t)
        level[run] = alpha * y[run, t] + (1 - alpha) * level[run]
    return level


def _croston_sba(y: np.ndarray, alpha: float) -> np.ndarray:
    """Croston's method with the Syntetos-Boylan bias correction: expected units per period. Shape (P,).

    Sizes and intervals start from their averages over the history (up to the origin), then are
    smoothed in time order, so a short history does not drag the rate towards its first gap.
    """
    P = y.shape[0]
    out = np.zeros(P)
    for i in range(P):
        hits = np.flatnonzero(y[i] > 0)
        if len(hits) == 0:
            continue
        sizes = y[i, hits]
        gaps = np.diff(np.concatenate([[hits[0] - 1], hits])).astype(float)
        if len(hits) > 1:
            gaps[0] = gaps[1:].mean()
        size, interval = sizes.mean(), gaps.mean()
        for z, q in zip(sizes, gaps, strict=True):
            size = alpha * z + (1 - alpha) * size
            interval = alpha * q + (1 - alpha) * interval
        out[i] = (1 - alpha / 2) * size / max(interval, 1.0)
    return out


def seasonal_naive(panel: Panel, origin: int, horizon: int, season: int = 52) -> np.ndarray:
    """Units of the same period one season earlier (the last value when history is shorter). (P, H)"""
    u = panel.units
    out = np.empty((u.shape[0], horizon))
    for h in range(1, horizon + 1):
        src = origin + h - season
        out[:, h - 1] = u[:, src] if src >= 0 else u[:, origin]
    return out


def ses(panel: Panel, origin: int, horizon: int, alpha: float = 0.3) -> np.ndarray:
    """Simple exponential smoothing, flat over the horizon. (P, H)"""
    u = panel.units[:, : origin + 1]
    level = u[:, 0].astype(float).copy()
    for t in range(1, u.shape[1]):
        level = alpha * u[:, t] + (1 - alpha) * level
    return np.repeat(level[:, None], horizon, axis=1)


def backtest(
    panel: Panel,
    *,
    stage_probs_at=None,
    config: ForecastConfig | None = None,
    n_origins: int = 6,
    spacing: int | None = None,
) -> dict:
    """Rolling-origin backtest of the stage-aware forecast against seasonal-naive and SES.

    ``stage_probs_at(origin) -> (P, 4)`` supplies causal stage probabilities at each origin (None: no
    stage information). Scores products that sold in the ``recent_window`` periods up to the origin
    (origins ``origin_spacing`` apart, each with ``min_history`` periods before it). MASE uses the
    in-sample mean absolute one-step change up to the origin as its scale; lower is better, 1.0 is as
    good as "same as last period" in sample. Coverage is the share of actual units inside the interval.
    """
    cfg = config or ForecastConfig.for_period(panel.period)
    H = cfg.horizon
    spacing = spacing or cfg.origin_spacing
    u = panel.units
    _P, T = u.shape
    last_origin = T - 1 - H
    origins = [last_origin - k * spacing for k in range(n_origins) if last_origin - k * spacing >= cfg.min_history]
    if not origins:
        need = cfg.min_history + 1 + H
        raise ValueError(
            f"{T} periods are too few for a backtest with horizon {H}: each origin needs {cfg.min_history} periods "
            f"of history before it and {H} after; need at least {need} periods ({need - T} more)"
        )
    ae = {"stage_holt": [], "holt_without_stage": [], "seasonal_naive": [], "ses": []}
    inside, n_cov = 0, 0
    for o in origins:
        active = (u[:, max(0, o - cfg.recent_window + 1) : o + 1] > 0).any(axis=1)
        # Scale: mean absolute one-step change over the product's own selling history (not the
        # zeros before its launch, which would make every young product look impossible to forecast).
        d = np.abs(np.diff(u[:, : o + 1], axis=1))
        first = np.where((u[:, : o + 1] > 0).any(axis=1), (u[:, : o + 1] > 0).argmax(axis=1), o)
        live = np.arange(o)[None, :] >= first[:, None]
        scale = (d * live).sum(axis=1) / np.maximum(live.sum(axis=1), 1)
        active &= live.sum(axis=1) >= max(2, cfg.origin_spacing)
        keep = active & (scale > 0)
        actual = u[keep, o + 1 : o + 1 + H]
        probs = stage_probs_at(o) if stage_probs_at else None
        fc = forecast_panel(panel, origin=o, stage_probs=probs, config=cfg)
        plain = forecast_panel(panel, origin=o, stage_probs=None, config=cfg) if probs is not None else fc
        preds = {
            "stage_holt": fc.mean[keep],
            "holt_without_stage": plain.mean[keep],
            "seasonal_naive": seasonal_naive(panel, o, H, season=cfg.season)[keep],
            "ses": ses(panel, o, H)[keep],
        }
        for k, pred in preds.items():
            ae[k].append(np.abs(pred - actual).mean(axis=1) / scale[keep])
        inside += int(((actual >= fc.lower[keep]) & (actual <= fc.upper[keep])).sum())
        n_cov += actual.size
    out = {
        "origins": len(origins),
        "horizon": H,
        "horizon_time": in_time(H, panel.period),
        "products_scored": int(sum(len(a) for a in ae["ses"])),
    }
    for k, parts in ae.items():
        vals = np.concatenate(parts)
        if not len(vals):
            out[k] = {"mase_mean": None, "mase_median": None}
            continue
        out[k] = {"mase_mean": round(float(vals.mean()), 4), "mase_median": round(float(np.median(vals)), 4)}
    out["stage_holt"]["interval"] = cfg.interval
    out["stage_holt"]["coverage"] = round(inside / max(n_cov, 1), 4)
    return out
