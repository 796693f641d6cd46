"""Stage labels from sales curves, in hindsight, by two documented rule families.

    python -m lifecycle_core label --workspace ws --dataset demo [--rule level|bass] [--json]

The label of product p at period t may look up to ``horizon`` (h) periods past t, a confirmation
window: a dip is only a decline if it lasts. Periods that cannot be judged are *unlabeled* (a mask,
never a fifth stage): the last h periods of the data, products with too little volume, and the
introduction of products already selling when the data starts. User labels override rule labels.
See docs/labeling.md for the rules, their thresholds and a worked example on real data.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from .panel import Panel, centered_mean, centered_median
from .periods import check_period, in_time, periods_in, weeks_per_period
from .stages import Stage, parse_stage

UNLABELED = -1
RULES = ("level", "bass")
# Why a product-period carries no label; stored next to the labels so a user can see it.
REASONS = ("tail", "low_volume", "intro_before_data", "bass_fit_failed")


# Every window of the rules has one definition in weeks; ``LabelRules.resolve`` converts it to the
# dataset's periods (8 weeks: 8 weeks, 56 days, 2 months). Per-rhythm floors where a plain conversion
# is wrong: a monthly curve needs 3 months of smoothing, a month of hindsight is no confirmation.
WINDOW_WEEKS = {
    "horizon": 8.0,
    "smooth_window": 5.0,
    "peak_window": 5.0,
    "intro_max_age": 8.0,
    "min_active_periods": 8.0,
    "inactive_tail": 8.0,
    "min_run": 3.0,
}
MIN_PERIODS = {"horizon": 2, "smooth_window": 3, "peak_window": 3, "min_active_periods": 2, "inactive_tail": 1}
# Volume: a product-period is labeled once the product has sold this many units (in min_active_periods
# selling periods) by t + h, unless that leaves fewer than VOLUME_ENOUGH of the selling products; then
# the thresholds of a sparse catalog apply (see volume_thresholds).
MIN_TOTAL_UNITS = 100.0
VOLUME_ENOUGH = 0.5
VOLUME_QUANTILE = 0.1
UNITS_FLOOR, ACTIVE_FLOOR = 5.0, 3
# Below this many selling products there is no catalog to be relative to: the fixed thresholds hold.
MIN_CATALOG = 10
# Sparse curves (a few units a period) are mostly noise at the default smoothing: the window widens
# until a typical product's peak fills it with SMOOTH_UNITS units (Poisson noise about 1/sqrt(16) = 25 %),
# up to MAX_SMOOTH_FACTOR times the default.
SMOOTH_UNITS = 16.0
MAX_SMOOTH_FACTOR = 3


@dataclass(frozen=True)
class LabelRules:
    """Thresholds of both rule families. Levels are relative to the product's peak; slopes are per week.

    Windows left at None are taken from time (WINDOW_WEEKS) in the dataset's periods by ``resolve``;
    ``min_total_units`` left at None adapts to the catalog's volume. Resolved rules (what labels, saves
    and reports use) have every field set and ``period`` naming the periods they count in.

    Level rule at t, with f = horizon - (min_run - 1) - window // 2 so that nothing reads past t + h
    (S = centered ``smooth_window`` mean, R = max over periods <= t+f of the centered ``peak_window``
    rolling median, L = S[t]/R, slope = (mean S over t+1..t+f - mean S over t-f+1..t) / (f * R) per
    week, "past peak" = the highest S up to t+f came before t):
      before the peak: L < intro_level, or younger than intro_max_age periods (since launch or first
      sale) with a rising slope -> Introduction; slope >= growth_slope -> Growth; else Maturity;
      past the peak: L < decline_level, or slope <= decline_slope with L < maturity_level -> Decline;
      else Maturity.
    Runs of a stage shorter than ``min_run`` periods take the stage before them (no flicker).
    Bass rule: fit m, p, q and the launch time to the smoothed curve; Introduction before the first
    inflection point of the rate, Growth to its peak, Maturity to the second inflection, Decline after.
    """

    rule: str = "level"
    horizon: int | None = None
    smooth_window: int | None = None
    peak_window: int | None = None
    intro_level: float = 0.25
    intro_max_age: int | None = None
    growth_slope: float = 0.02
    decline_slope: float = -0.02
    decline_level: float = 0.5
    maturity_level: float = 0.75
    min_total_units: float | None = None
    min_active_periods: int | None = None
    # A delisted product stays in the panel this many periods after its last sale.
    inactive_tail: int | None = None
    min_run: int | None = None
    bass_min_r2: float = 0.5
    period: str | None = None  # the periods the windows count in ("D", "W", "M"); set by resolve
    volume_basis: str = ""  # how min_total_units was chosen, in words; set by resolve

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"LabelRules.rule must be one of {RULES}, got {self.rule!r}")
        if self.period is not None:
            check_period(self.period)
        for name in WINDOW_WEEKS:
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int | np.integer) or v < 0):
                raise ValueError(f"LabelRules.{name} must be a whole number of periods >= 0, got {v!r}")
        if self.horizon is not None and self.horizon < 1:
            raise ValueError(f"LabelRules.horizon must be >= 1 period, got {self.horizon}")
        if self.min_run is not None and self.min_run < 1:
            raise ValueError(f"LabelRules.min_run must be >= 1, got {self.min_run}")
        given = {n: getattr(self, n) for n in ("horizon", "smooth_window", "peak_window", "min_run")}
        if all(v is not None for v in given.values()):
            # With any of these open, resolve() fits the horizon to the windows (and checks them then).
            self._check_windows(given)
        if not 0 < self.intro_level < self.decline_level <= self.maturity_level <= 1:
            raise ValueError(
                "LabelRules levels must satisfy 0 < intro_level < decline_level <= maturity_level <= 1, got "
                f"{self.intro_level}, {self.decline_level}, {self.maturity_level}"
            )
        if not self.decline_slope < 0 < self.growth_slope:
            raise ValueError(
                f"LabelRules needs decline_slope < 0 < growth_slope, got {self.decline_slope}, {self.growth_slope}"
            )
        if self.min_total_units is not None and self.min_total_units < 0:
            raise ValueError(f"LabelRules.min_total_units must be >= 0, got {self.min_total_units}")

    def _check_windows(self, w: dict) -> None:
        for name in ("smooth_window", "peak_window"):
            if w[name] < 1 or w[name] // 2 > w["horizon"]:
                raise ValueError(
                    f"LabelRules.{name} must be >= 1 and look ahead no further than the horizon "
                    f"(window // 2 <= {w['horizon']}), got {w[name]}"
                )
        if self.rule == "level" and _forward(w) < 1:
            raise ValueError(
                f"LabelRules: horizon {w['horizon']} is too short for smooth/peak windows "
                f"{w['smooth_window']}/{w['peak_window']} and min_run {w['min_run']}: the forward window "
                f"(horizon - (min_run - 1) - window // 2) must be >= 1 period"
            )

    @property
    def is_resolved(self) -> bool:
        return all(getattr(self, n) is not None for n in WINDOW_WEEKS) and self.min_total_units is not None

    def resolve(self, panel: Panel) -> LabelRules:
        """These rules with every open window converted from time to ``panel``'s periods and the volume
        threshold chosen from its products' totals. Resolved rules come back unchanged (but for the
        period, which older saved rules lack)."""
        period = self.period or panel.period
        if self.is_resolved:
            return self if self.period else replace(self, period=period)
        vals = {
            n: getattr(self, n)
            if getattr(self, n) is not None
            else periods_in(
                WINDOW_WEEKS[n], period, minimum=min(MIN_PERIODS.get(n, 1), periods_in(WINDOW_WEEKS[n], "W"))
            )
            for n in WINDOW_WEEKS
        }
        if self.smooth_window is None and self.peak_window is None:
            wide = sparse_smoothing(panel.units, vals["smooth_window"])
            if wide > vals["smooth_window"] and self.min_run is None:
                # Noisy curves flicker between stages from one period to the next: runs of 2 at least.
                vals["min_run"] = max(vals["min_run"], 2)
            vals["smooth_window"] = vals["peak_window"] = wide
        if self.horizon is None:
            # Long enough for the smoothing, the run merging and a forward window of one period.
            half = max(vals["smooth_window"], vals["peak_window"]) // 2
            vals["horizon"] = max(vals["horizon"], half + vals["min_run"])
        units, basis = self.min_total_units, "given"
        if units is None:
            units, active, basis = volume_thresholds(
                panel.units,
                MIN_TOTAL_UNITS,
                vals["min_active_periods"],
                fixed_active_given=self.min_active_periods is not None,
            )
            vals["min_active_periods"] = active
        return replace(self, **vals, min_total_units=float(units), period=period, volume_basis=basis)

    def windows(self) -> dict:
        """Each window in periods and in time, e.g. {"horizon": {"periods": 2, "time": "2 months (8.7 weeks)"}}."""
        period = self.period or "W"
        return {
            n: {"periods": getattr(self, n), "time": in_time(getattr(self, n), period)}
            for n in WINDOW_WEEKS
            if getattr(self, n) is not None
        }

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> LabelRules:
        """Rules saved with a model (``to_dict``); None or {} gives the defaults. Unknown keys are ignored."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in (d or {}).items() if k in names})


def sparse_smoothing(units: np.ndarray, default: int) -> int:
    """The smoothing window for a (P, T) units matrix: ``default``, or wider (odd, at most
    MAX_SMOOTH_FACTOR x default) when a typical selling product's peak periods (90th percentile of its
    selling periods) hold so few units that ``default`` periods sum to fewer than SMOOTH_UNITS."""
    sold = units > 0
    rows = np.flatnonzero(sold.any(axis=1))
    if not len(rows):
        return default
    peak = np.median([np.quantile(units[i][sold[i]], 0.9) for i in rows])
    need = math.ceil(SMOOTH_UNITS / max(peak, 1e-9))
    if need <= default:
        return default
    return min(need | 1, MAX_SMOOTH_FACTOR * default | 1)


def volume_thresholds(
    units: np.ndarray, fixed_units: float, fixed_active: int, *, fixed_active_given: bool = False
) -> tuple[float, int, str]:
    """(minimum units, minimum selling periods, how they were chosen) for a (P, T) units matrix.

    Both are counted up to t + h, so a product's early periods are labeled only once enough of its curve
    is in view. The fixed thresholds stay when at least VOLUME_ENOUGH of the selling products reach them
    in total. A sparser catalog would lose the early life of most products (a slow seller has sold a
    quarter of its lifetime units by its peak), so the threshold drops to what one smoothing window must
    hold to be read (SMOOTH_UNITS) or the VOLUME_QUANTILE of product totals if that is lower, and the
    selling periods to ACTIVE_FLOOR; never below UNITS_FLOOR, never above the fixed numbers."""
    totals, actives = units.sum(axis=1), (units > 0).sum(axis=1)
    selling = totals > 0
    if not selling.any():
        return fixed_units, fixed_active, "fixed (no product sold)"
    t, a = totals[selling], actives[selling]
    share = float(((t >= fixed_units) & (a >= fixed_active)).mean())
    if len(t) < MIN_CATALOG:
        return (
            fixed_units,
            fixed_active,
            f"fixed: {fixed_units:g} units and {fixed_active} selling periods (a catalog of {len(t)} selling products is too small to adapt to)",
        )
    if share >= VOLUME_ENOUGH:
        return (
            fixed_units,
            fixed_active,
            f"fixed: {fixed_units:g} units and {fixed_active} selling periods ({share:.0%} of selling products reach them)",
        )
    q = math.ceil(np.quantile(t, VOLUME_QUANTILE))
    u = float(min(fixed_units, max(UNITS_FLOOR, min(SMOOTH_UNITS, q))))
    act = fixed_active if fixed_active_given else min(fixed_active, ACTIVE_FLOOR)
    reach = float(((t >= u) & (a >= act)).mean())
    return (
        u,
        act,
        f"relative to this sparse catalog: {u:g} units and {act} selling periods by t + h (one smoothing window's "
        f"worth; {reach:.0%} of selling products reach them over their whole history, and a product's periods "
        f"before it does are unlabeled as low_volume; the fixed {fixed_units:g} units and {fixed_active} periods "
        f"{share:.0%})",
    )


@dataclass
class Labels:
    """Labels over a panel. Arrays are (P, T): ``stage`` holds 0-3 or -1 (unlabeled)."""

    panel: Panel
    rules: LabelRules
    stage: np.ndarray  # int8 (P, T)
    active: np.ndarray  # bool (P, T): the product-period exists (from first sale to last sale + tail)
    reason: np.ndarray  # object (P, T): why unlabeled, "" when labeled or inactive
    source: np.ndarray  # object (P, T): "rule" or "user"

    @property
    def labeled(self) -> np.ndarray:
        return self.active & (self.stage >= 0)

    def to_frame(self) -> pd.DataFrame:
        """Long table of active product-periods: product_id, period, t, stage (Int8, NA = unlabeled), reason, source."""
        pi, ti = np.nonzero(self.active)
        st = self.stage[pi, ti]
        return pd.DataFrame(
            {
                "product_id": self.panel.products.to_numpy()[pi],
                "period": self.panel.periods.to_numpy()[ti],
                "t": ti,
                "stage": pd.array(np.where(st >= 0, st, 0), dtype="Int8").astype("Int8"),
                "reason": self.reason[pi, ti],
                "source": self.source[pi, ti],
            }
        ).assign(stage=lambda d: d["stage"].where(st >= 0, pd.NA))


def label_panel(panel: Panel, rules: LabelRules | None = None, *, launch_dates: pd.Series | None = None) -> Labels:
    """Hindsight stage labels for every active product-period of ``panel``.

    ``launch_dates`` (product_id -> date) marks products launched before the data starts even if
    their first weeks of sales are low.
    """
    rules = (rules or LabelRules()).resolve(panel)
    units = panel.units
    P, T = units.shape
    active = panel.active(rules.inactive_tail)
    if rules.rule == "level":
        start = panel.first_sale().astype("float64")
        if launch_dates is not None and len(panel.periods):
            from .features import launch_index

            launch = launch_index(pd.to_datetime(pd.Series(launch_dates)).reindex(panel.products), panel)
            start = np.fmin(start, launch)
        start = np.where(np.isnan(start) | (start < -(10**6)), -(10**6), start)
        stage = _merge_short_runs(_level_rule(units, rules, start), active, rules.min_run)
        failed = np.zeros(P, dtype=bool)
    else:
        stage, failed = _bass_rule(units, panel.first_sale(), rules)
    reason = np.full((P, T), "", dtype=object)

    # Unlabeled: the last h periods (the confirmation window runs past the data).
    tail = np.zeros((P, T), dtype=bool)
    tail[:, max(0, T - rules.horizon) :] = True
    # Unlabeled: too little volume to read a curve from, counted up to t + h (no further hindsight).
    ahead = np.minimum(np.arange(T) + rules.horizon, T - 1)
    total = np.cumsum(units, axis=1)[:, ahead] if T else np.zeros((P, 0))
    n_active = np.cumsum(units > 0, axis=1)[:, ahead] if T else np.zeros((P, 0))
    low = (total < rules.min_total_units) | (n_active < rules.min_active_periods)
    # Unlabeled: "introduction" of a product that was already selling when the data starts.
    before = panel.first_sale() == 0
    if launch_dates is not None and len(panel.periods):
        ld = pd.to_datetime(pd.Series(launch_dates)).reindex(panel.products)
        before |= (ld < panel.periods[0]).to_numpy()
    intro_before = before[:, None] & (stage == int(Stage.INTRODUCTION))

    for mask, why in (
        (intro_before, "intro_before_data"),
        (failed[:, None] & np.ones((1, T), dtype=bool), "bass_fit_failed"),
        (low, "low_volume"),
        (tail, "tail"),
    ):
        reason[mask & active] = why
        stage = np.where(mask, UNLABELED, stage)
    stage = np.where(active, stage, UNLABELED).astype("int8")
    source = np.where(stage >= 0, "rule", "").astype(object)
    return Labels(panel, rules, stage, active, reason, source)


def lookahead_window(r: LabelRules) -> int:
    """Periods after t that the level rule's forward mean covers, so that smoothing, the forward mean
    and run merging together never read past t + horizon."""
    return _forward({n: getattr(r, n) for n in ("horizon", "smooth_window", "peak_window", "min_run")})


def _forward(w: dict) -> int:
    return w["horizon"] - (w["min_run"] - 1) - max(w["smooth_window"], w["peak_window"]) // 2


def _level_rule(units: np.ndarray, r: LabelRules, start: np.ndarray) -> np.ndarray:
    """Level-and-slope labels, (P, T) int8. ``start`` (P,) is each product's launch or first-sale index."""
    P, T = units.shape
    f = lookahead_window(r)
    half = max(r.smooth_window, r.peak_window) // 2
    S = centered_mean(units, r.smooth_window)
    # The peak reference is a running max of a centered rolling *median*: a one- or two-period spike
    # (a bulk order, a promotion) does not become the peak that everything after is measured against.
    robust = centered_median(units, r.peak_window)
    t = np.arange(T)
    # Smoothed values are read up to index t + f: with their own half-window that is t + f + half.
    ahead = np.minimum(t + f, T - 1)
    ref = np.maximum.accumulate(np.maximum(robust, 0), axis=1)[:, ahead]
    # Running argmax of S as seen from t: where the (confirmed) peak is.
    run_max = np.maximum.accumulate(S, axis=1)
    is_new_max = np.concatenate([np.ones((P, 1), bool), S[:, 1:] > run_max[:, :-1]], axis=1)
    idx = np.where(is_new_max, t[None, :], 0)
    peak_at = np.maximum.accumulate(idx, axis=1)[:, ahead]
    past_peak = peak_at < t[None, :]
    c = np.concatenate([np.zeros((P, 1)), np.cumsum(S, axis=1)], axis=1)
    f_hi = ahead + 1
    fut = (c[:, f_hi] - c[:, t + 1]) / np.maximum(f_hi - (t + 1), 1)
    p_lo = np.maximum(t - f + 1, 0)
    past = (c[:, t + 1] - c[:, p_lo]) / (t + 1 - p_lo)
    with np.errstate(invalid="ignore", divide="ignore"):
        L = np.where(ref > 0, S / ref, 0.0)
        # Relative change per period between the f periods before and the f after t.
        slope = np.where(ref > 0, (fut - past) / (f * ref), 0.0) / weeks_per_period(r.period or "W")
    # Near the end the forward window is cut short; those periods are masked as "tail" anyway.
    del half
    stage = np.full((P, T), int(Stage.MATURITY), dtype="int8")
    pre = ~past_peak
    stage[pre & (slope >= r.growth_slope)] = Stage.GROWTH
    # Just launched and still building: the first intro_max_age periods of a rising product, or any
    # period whose level is still far below the peak in sight.
    age = t[None, :] - start[:, None]
    young = (age >= 0) & (age < r.intro_max_age) & (slope > 0)
    stage[pre & ((r.intro_level > L) | young)] = Stage.INTRODUCTION
    down = past_peak & ((r.decline_level > L) | ((slope <= r.decline_slope) & (r.maturity_level > L)))
    stage[down] = Stage.DECLINE
    return stage


def _merge_short_runs(stage: np.ndarray, active: np.ndarray, min_run: int) -> np.ndarray:
    """Give runs shorter than ``min_run`` (inside a product's active span) the stage of the run before."""
    if min_run <= 1:
        return stage
    out = stage.copy()
    for i in range(stage.shape[0]):
        idx = np.flatnonzero(active[i])
        if len(idx) < 2:
            continue
        row = out[i, idx]
        change = np.flatnonzero(np.diff(row)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(row)]])
        for k in range(1, len(starts)):
            if ends[k] - starts[k] < min_run and ends[k] < len(row):
                row[starts[k] : ends[k]] = row[starts[k] - 1]
        out[i, idx] = row
    return out


def bass_pdf(t: np.ndarray, m: float, p: float, q: float) -> np.ndarray:
    """Bass adoptions per period at time t since launch (units/period); 0 before launch."""
    tt = np.maximum(t, 0.0)

    def F(x):
        e = np.exp(-(p + q) * x)
        return (1 - e) / (1 + (q / p) * e)

    return np.where(t >= 0, m * (F(tt + 1) - F(tt)), 0.0)


def bass_turning_points(p: float, q: float) -> tuple[float, float, float]:
    """(first inflection, peak, second inflection) of the Bass adoption rate, in periods after launch.

    Peak t* = ln(q/p)/(p+q); inflections t* -/+ ln(2+sqrt 3)/(p+q). The first is negative (no visible
    introduction) when q/p < 2+sqrt 3.
    """
    s = p + q
    peak = math.log(q / p) / s
    d = math.log(2 + math.sqrt(3)) / s
    return peak - d, peak, peak + d


def fit_bass(y: np.ndarray, first: int) -> tuple[tuple[float, float, float, float], float] | None:
    """Least-squares Bass fit of a (smoothed) per-period curve. Returns ((m, p, q, t0), R²) or None.

    t0 is the launch period index (may be negative: launched before the data); ``first`` is the first
    period with sales, used to bound and initialise t0.
    """
    T = len(y)
    t = np.arange(T, dtype=float)
    total = float(y.sum())
    if total <= 0:
        return None
    scale = max(y.max(), 1e-9)

    def resid(theta):
        lm, lp, lq, t0 = theta
        return (bass_pdf(t - t0, math.exp(lm), math.exp(lp), math.exp(lq)) - y) / scale

    best = None
    # Start near the data; a second start (an earlier launch) only when the first fits poorly.
    for p0, q0, back in ((0.01, 0.15, 1.0), (0.003, 0.08, 20.0)):
        if best is not None and 2 * best.cost / (((y - y.mean()) / scale) ** 2).sum() < 0.1:
            break
        x0 = np.array([math.log(total * 1.5), math.log(p0), math.log(q0), first - back])
        try:
            res = least_squares(
                resid,
                x0,
                bounds=(
                    [math.log(total * 0.5), math.log(1e-4), math.log(1e-3), first - 3 * T],
                    [math.log(total * 20), math.log(0.5), math.log(2.0), first + 1],
                ),
                max_nfev=150,
                ftol=1e-6,
                xtol=1e-6,
            )
        except ValueError:
            continue
        if best is None or res.cost < best.cost:
            best = res
    if best is None:
        return None
    lm, lp, lq, t0 = best.x
    fitted = bass_pdf(t - t0, math.exp(lm), math.exp(lp), math.exp(lq))
    ss_res = float(((fitted - y) ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum()) or 1e-12
    return (math.exp(lm), math.exp(lp), math.exp(lq), t0), 1 - ss_res / ss_tot


def _bass_rule(units: np.ndarray, first: np.ndarray, r: LabelRules) -> tuple[np.ndarray, np.ndarray]:
    P, T = units.shape
    S = centered_mean(units, r.smooth_window)
    stage = np.full((P, T), UNLABELED, dtype="int8")
    failed = np.zeros(P, dtype=bool)
    t = np.arange(T, dtype=float)
    enough = (units.sum(axis=1) >= r.min_total_units) & ((units > 0).sum(axis=1) >= r.min_active_periods)
    for i in np.flatnonzero(enough):
        fit = fit_bass(S[i], int(first[i]))
        if fit is None or fit[1] < r.bass_min_r2:
            failed[i] = True
            continue
        (_m, p, q, t0), _r2 = fit
        t1, tp, t2 = bass_turning_points(p, q)
        age = t - t0
        row = np.full(T, int(Stage.DECLINE), dtype="int8")
        row[age < t2] = Stage.MATURITY
        row[age < tp] = Stage.GROWTH
        row[age < t1] = Stage.INTRODUCTION
        stage[i] = row
    return stage, failed


def apply_overrides(labels: Labels, overrides: pd.DataFrame) -> Labels:
    """User labels win over rule labels. ``overrides`` has product_id, stage and optionally period;
    without a period a label applies to the product's latest active period (its stage "now")."""
    if overrides is None or overrides.empty:
        return labels
    stage, source, reason = labels.stage.copy(), labels.source.copy(), labels.reason.copy()
    rows = labels.panel.products.get_indexer(overrides["product_id"].astype("str"))
    has_period = "period" in overrides
    for k, (i, st) in enumerate(zip(rows, overrides["stage"], strict=True)):
        parsed = parse_stage(st)
        if i < 0 or parsed is None:
            continue
        period = overrides["period"].iloc[k] if has_period else None
        if period is not None and not pd.isna(period):
            j = labels.panel.periods.get_indexer([pd.Timestamp(period)])[0]
        else:
            act = np.flatnonzero(labels.active[i])
            j = act[-1] if len(act) else -1
        if j < 0:
            continue
        stage[i, j], source[i, j], reason[i, j] = int(parsed), "user", ""
    return Labels(labels.panel, labels.rules, stage, labels.active | (stage >= 0), reason, source)


def apply_user_labels(labels: Labels, table: pd.DataFrame | None) -> Labels:
    """Stage labels set by users (``Workspace.stage_labels``: product_id, period, stage) win over rule
    labels: each holds on the product's active periods from its period on, until the product's next
    user label. Unknown products and labels after a product's last active period change nothing."""
    if table is None or table.empty:
        return labels
    panel = labels.panel
    stage, source, reason = labels.stage.copy(), labels.source.copy(), labels.reason.copy()
    t = table.assign(_row=panel.products.get_indexer(table["product_id"].astype("str")))
    t = t[t["_row"] >= 0].sort_values(["_row", "period"], kind="stable")
    if t.empty:
        return labels
    from .periods import period_start

    starts = panel.periods.searchsorted(period_start(pd.to_datetime(t["period"]), panel.period))
    T = panel.shape[1]
    rows, st_ = t["_row"].to_numpy(), t["stage"].to_numpy(dtype=int)
    for k in range(len(t)):
        i, lo = rows[k], starts[k]
        hi = starts[k + 1] if k + 1 < len(t) and rows[k + 1] == i else T
        span = np.zeros(T, dtype=bool)
        span[lo:hi] = True
        span &= labels.active[i]
        stage[i, span], source[i, span], reason[i, span] = st_[k], "user", ""
    return Labels(panel, labels.rules, stage, labels.active, reason, source)


def cohen_kappa(a: np.ndarray, b: np.ndarray, n_classes: int = 4) -> float:
    """Cohen's kappa of two label arrays (same length, values 0..n_classes-1)."""
    if len(a) == 0:
        return float("nan")
    cm = np.zeros((n_classes, n_classes))
    np.add.at(cm, (a, b), 1)
    n = cm.sum()
    po = np.trace(cm) / n
    pe = (cm.sum(0) * cm.sum(1)).sum() / n**2
    return float((po - pe) / (1 - pe)) if pe < 1 else 1.0


def stage_paths(labels: Labels, top: int = 5) -> list[tuple[str, int]]:
    """The most common sequences of stages products went through (runs collapsed), English names."""
    paths: Counter = Counter()
    for i in range(labels.stage.shape[0]):
        seq = labels.stage[i][labels.stage[i] >= 0]
        if len(seq) == 0:
            continue
        runs = [int(seq[0])] + [int(s) for k, s in enumerate(seq[1:], 1) if s != seq[k - 1]]
        paths[" → ".join(Stage(s).label("en") for s in runs)] += 1
    return paths.most_common(top)


def label_report(
    panel: Panel, rules: LabelRules | None = None, *, launch_dates=None, overrides=None, user_labels=None
) -> dict:
    """Counts per stage, unlabeled counts by reason, agreement between the two rules, common stage paths;
    the windows used, in periods and in time, and how the volume threshold was chosen. ``overrides``:
    the products file's stage column; ``user_labels``: the stage labels users set (both win)."""
    rules = (rules or LabelRules()).resolve(panel)
    main = apply_user_labels(
        apply_overrides(label_panel(panel, rules, launch_dates=launch_dates), overrides), user_labels
    )
    other_rule = "bass" if rules.rule == "level" else "level"
    other = label_panel(panel, LabelRules(**{**rules.to_dict(), "rule": other_rule}), launch_dates=launch_dates)
    both = main.labeled & other.labeled
    a, b = main.stage[both], other.stage[both]
    level_arr, bass_arr = (a, b) if rules.rule == "level" else (b, a)
    counts = {Stage(s).label("en"): int((main.stage[main.labeled] == s).sum()) for s in range(4)}
    reasons = Counter(main.reason[main.active & ~main.labeled].tolist())
    return {
        "rule": rules.rule,
        "rules": rules.to_dict(),
        "period": rules.period,
        "windows": rules.windows(),
        "volume": rules.volume_basis,
        "products": int(panel.shape[0]),
        "periods": int(panel.shape[1]),
        "active_product_periods": int(main.active.sum()),
        "labeled": int(main.labeled.sum()),
        "counts": counts,
        "unlabeled": {k: int(v) for k, v in sorted(reasons.items())},
        "user_labels": int((main.source == "user").sum()),
        "agreement": {
            "compared": int(both.sum()),
            "cohen_kappa": round(cohen_kappa(level_arr.astype(int), bass_arr.astype(int)), 4),
            "accuracy": round(float((a == b).mean()), 4) if both.any() else None,
        },
        "paths": [{"path": p, "products": n} for p, n in stage_paths(main)],
    }
