"""Anomaly alerts: bulk buying, abnormal returns, sales spikes and drops, each with a reason in numbers.

    python -m lifecycle_core anomalies --workspace ws --dataset retail --out anomalies.csv

Everything is measured against the product's own history with robust statistics (medians and
median absolute deviations), so one odd week does not shift the yardstick, and returns are also
compared with the product's category. ``detect_anomalies`` takes the sales panel (and invoice lines
when the dataset has them) and returns one row per flag.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .panel import Panel
from .periods import periods_in, weeks_per_period
from .seasons import year_back
from .stages import Stage

TYPES = ("bulk_buying", "abnormal_returns", "spike", "drop")
MAD_SCALE = 1.4826  # makes the MAD a standard-deviation estimate for normal data


@dataclass(frozen=True)
class AnomalyPolicy:
    """Thresholds of the anomaly rules. Windows and per-period volumes hold for weekly data; the
    policy the detectors use by default is ``AnomalyPolicy.for_period(rhythm)``: the same time span
    (8 weeks = 2 months... never under 4 periods) and volumes scaled to the period's length."""

    bulk_ratio: float = 25.0  # an order this many times the product's median order size...
    bulk_robust_z: float = 10.0  # ...and this many robust standard deviations above it
    bulk_min_units: float = 100.0
    bulk_min_orders: int = 5  # history needed before judging an order's size
    returns_ratio: float = 4.0  # return rate this many times the product's usual rate and its category's
    returns_min_units: float = 10.0  # returned units needed in the period
    returns_min_rate: float = 0.2
    spike_ratio: float = 4.0
    spike_robust_z: float = 6.0
    spike_min_units: float = 30.0
    drop_ratio: float = 0.2
    drop_min_level: float = 20.0
    history: int = 8  # periods around t (half before, half after) behind the spike/drop baseline

    def __post_init__(self) -> None:
        if self.bulk_ratio <= 1 or self.spike_ratio <= 1 or self.returns_ratio <= 1:
            raise ValueError("AnomalyPolicy ratios (bulk, spike, returns) must be > 1")
        if not 0 < self.drop_ratio < 1:
            raise ValueError(f"AnomalyPolicy.drop_ratio must be in (0, 1), got {self.drop_ratio}")
        if self.history < 3:
            raise ValueError(f"AnomalyPolicy.history must be >= 3 periods, got {self.history}")

    @classmethod
    def for_period(cls, period: str, **overrides) -> AnomalyPolicy:
        """The weekly defaults converted to periods of ``period``: ``history`` in time (at least 4
        periods), the per-period unit minimums scaled with the period's length in weeks."""
        base = cls()
        wpp = weeks_per_period(period)
        vals = {
            "history": periods_in(base.history, period, minimum=4),
            "returns_min_units": base.returns_min_units * wpp,
            "spike_min_units": base.spike_min_units * wpp,
            "drop_min_level": base.drop_min_level * wpp,
        }
        return cls(**(vals | overrides))

    def to_dict(self) -> dict:
        return asdict(self)


COLUMNS = ["product_id", "period", "type", "score", "value", "expected", "stage", "reason_en", "reason_zh", "detail"]


def _stage_names(stage_id: int) -> tuple[str, str]:
    if stage_id < 0:
        return "unknown stage", "阶段未知"
    s = Stage(int(stage_id))
    return f"{s.label('en')} stage", s.label("zh")


def _median_mad(view: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD over the last axis of ``view`` (P, T, window), NaN ignored; NaN below 3 values."""
    import warnings

    n = np.sum(~np.isnan(view), axis=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows are expected at the edges
        med = np.nanmedian(view, axis=2)
        mad = np.nanmedian(np.abs(view - med[..., None]), axis=2)
    med[n < 3] = np.nan
    return med, mad


def _neighbour_median_mad(x: np.ndarray, half: int) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD of the periods around t (``half`` before and ``half`` after, t itself excluded).

    Judging a period against both sides means a ramp-up or the end of a product's sales is not an
    outlier, while a one-off jump or a gap in the middle of steady sales is. At the end of the data only
    the past is there, so the latest periods are judged against their history.
    """
    T = x.shape[1]
    pad = np.pad(x.astype(float), ((0, 0), (half, half)), constant_values=np.nan)
    view = np.lib.stride_tricks.sliding_window_view(pad, 2 * half + 1, axis=1)[:, :T].copy()
    view[:, :, half] = np.nan  # leave t out
    return _median_mad(view)


def _rolling_median_mad(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD of the ``window`` periods *before* t. Shapes (P, T)."""
    T = x.shape[1]
    pad = np.pad(x.astype(float), ((0, 0), (window, 0)), constant_values=np.nan)[:, : T + window - 1]
    return _median_mad(np.lib.stride_tricks.sliding_window_view(pad, window, axis=1)[:, :T])


def spikes_and_drops(
    panel: Panel, stages: np.ndarray, active: np.ndarray, policy: AnomalyPolicy, categories: pd.Series | None = None
) -> pd.DataFrame:
    """Periods whose units jump far above, or fall far below, the product's recent robust level, unless
    the whole store or the product's category (``categories``, indexed by product id) moves with it, or
    the product did the same a year before."""
    u = panel.units
    hist = np.where(active, u, np.nan)
    level, mad = _neighbour_median_mad(hist, policy.history // 2)
    spread = MAD_SCALE * mad
    _P, T = u.shape
    t = np.arange(T)[None, :]
    # A product that never sells again has ended, not dropped (unless the data ends too soon to tell).
    sells_later = (t < panel.last_sale()[:, None]) | (t >= T - policy.history // 2)
    # Periods where the whole store dips or surges (holiday closures, sitewide sales) are not product anomalies.
    store = u.sum(axis=0, keepdims=True)
    store_level, _ = _neighbour_median_mad(store, policy.history // 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        others = store - u  # the rest of the store, so one huge order does not hide itself
        store_normal = ((others >= 0.5 * store_level) & (others <= 2.0 * store_level)) | np.isnan(store_level)
        store_normal &= _category_normal(panel, categories, policy)
        spike = (
            active
            & store_normal
            & (u >= policy.spike_min_units)
            & (u >= policy.spike_ratio * level)
            & (u - level >= policy.spike_robust_z * np.maximum(spread, 1.0))
        )
        drop = active & store_normal & sells_later & (level >= policy.drop_min_level) & (u <= policy.drop_ratio * level)
        # The same move a year before, at the same time of year, is the product's season (a Christmas item
        # in January, a kite in spring), not an anomaly; the first year of a product cannot tell.
        year = periods_in(52, panel.period)
        ly_u, ly_level, ly_active = year_back(u, year), year_back(level, year), year_back(active, year) > 0
        spike &= ~(ly_active & (ly_u >= 0.5 * policy.spike_ratio * ly_level))
        drop &= ~(ly_active & (ly_u <= 2.0 * policy.drop_ratio * ly_level))
    rows = []
    for kind, mask in (("spike", spike), ("drop", drop)):
        pi, ti = np.nonzero(mask)
        for i, t in zip(pi, ti, strict=True):
            v, e = float(u[i, t]), float(level[i, t])
            en_s, zh_s = _stage_names(stages[i, t])
            if kind == "spike":
                score = v / max(e, 1.0)
                en = f"{v:,.0f} units vs a usual {e:,.0f} in the surrounding periods ({score:.1f}×), {en_s}."
                zh = f"销量 {v:,.0f} 件，前后各期通常为 {e:,.0f} 件（{score:.1f} 倍），{zh_s}。"
            else:
                score = e / max(v, 1.0)
                en = f"{v:,.0f} units vs a usual {e:,.0f} in the surrounding periods (down {1 - v / e:.0%}), {en_s}: a stock-out or listing problem?"
                zh = f"销量 {v:,.0f} 件，前后各期通常为 {e:,.0f} 件（下降 {1 - v / e:.0%}），{zh_s}：是否缺货或上架问题？"
            rows.append((panel.products[i], panel.periods[t], kind, score, v, e, int(stages[i, t]), en, zh, ""))
    return pd.DataFrame(rows, columns=COLUMNS)


def _category_normal(panel: Panel, categories: pd.Series | None, policy: AnomalyPolicy) -> np.ndarray:
    """(P, T) bool: the rest of the product's category sells within half and twice its usual level (a
    whole category's season, its January fall after Christmas, is no product anomaly). All True without
    categories; a category of one product is always normal."""
    u = panel.units
    if categories is None:
        return np.ones(u.shape, dtype=bool)
    cats = pd.Series(categories).reindex(panel.products).fillna("").astype("str").to_numpy()
    names, which = np.unique(cats, return_inverse=True)
    total = np.zeros((len(names), u.shape[1]))
    np.add.at(total, which, u)
    cat_level, _ = _neighbour_median_mad(total, policy.history // 2)
    others = total[which] - u
    lvl = cat_level[which]
    with np.errstate(invalid="ignore"):
        return ((others >= 0.5 * lvl) & (others <= 2.0 * lvl)) | np.isnan(lvl) | (lvl <= 0)


def abnormal_returns(
    panel: Panel, stages: np.ndarray, active: np.ndarray, categories: pd.Series | None, policy: AnomalyPolicy
) -> pd.DataFrame:
    """Periods whose return rate is far above both the product's own usual rate and its category's."""
    if "returns" not in panel.values:
        return pd.DataFrame(columns=COLUMNS)
    u, r = panel.units, panel.values["returns"]
    P, _T = u.shape
    rate = np.where(u > 0, r / np.maximum(u, 1), np.where(r > 0, 1.0, 0.0))
    # The product's usual rate: total returns over total units in all *other* periods.
    tot_r, tot_u = r.sum(axis=1, keepdims=True), u.sum(axis=1, keepdims=True)
    own = np.where(tot_u - u > 0, (tot_r - r) / np.maximum(tot_u - u, 1), 0.0)
    cats = (
        pd.Series(categories).reindex(panel.products).fillna("").astype(str).to_numpy()
        if categories is not None
        else np.full(P, "")
    )
    cat_rate = np.zeros(P)
    for c in np.unique(cats):
        m = cats == c
        cat_rate[m] = r[m].sum() / max(u[m].sum(), 1.0)
    base = np.maximum(own, cat_rate[:, None])
    flag = (
        active
        & (r >= policy.returns_min_units)
        & (rate >= policy.returns_min_rate)
        & (rate >= policy.returns_ratio * np.maximum(base, 1e-3))
    )
    rows = []
    for i, t in zip(*np.nonzero(flag), strict=True):
        en_s, zh_s = _stage_names(stages[i, t])
        score = rate[i, t] / max(base[i, t], 0.01)
        en = (
            f"{r[i, t]:,.0f} returned vs {u[i, t]:,.0f} sold ({rate[i, t]:.0%}); usually {own[i, t]:.1%} for this "
            f"product and {cat_rate[i]:.1%} in its category, {en_s}."
        )
        zh = (
            f"退货 {r[i, t]:,.0f} 件、售出 {u[i, t]:,.0f} 件（{rate[i, t]:.0%}）；该商品通常为 {own[i, t]:.1%}，"
            f"同类目为 {cat_rate[i]:.1%}，{zh_s}。"
        )
        rows.append(
            (
                panel.products[i],
                panel.periods[t],
                "abnormal_returns",
                score,
                float(rate[i, t]),
                float(base[i, t]),
                int(stages[i, t]),
                en,
                zh,
                "",
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def bulk_buying(transactions: pd.DataFrame, panel: Panel, stages: np.ndarray, policy: AnomalyPolicy) -> pd.DataFrame:
    """Orders far larger than the product's usual order, by robust statistics over its order sizes.

    ``transactions``: product_id, timestamp, quantity, is_return, and optionally invoice_id and customer_id
    (pseudonymised). An order is one invoice's quantity of one product (a line when there is no invoice).
    """
    from .periods import period_start

    sales = transactions.loc[~transactions["is_return"].astype(bool)]
    keys = ["product_id", "invoice_id"] if "invoice_id" in sales else None
    if keys:
        agg = {"quantity": "sum", "timestamp": "min"}
        if "customer_id" in sales:
            agg["customer_id"] = "first"
        orders = sales.groupby(keys, observed=True, sort=False).agg(agg).reset_index()
    else:
        orders = sales[["product_id", "timestamp", "quantity"] + (["customer_id"] if "customer_id" in sales else [])]
    orders["product_id"] = orders["product_id"].astype(str)
    g = orders.groupby("product_id")["quantity"]
    med = g.transform("median")
    mad = g.transform(lambda q: (q - q.median()).abs().median())
    n = g.transform("size")
    z = (orders["quantity"] - med) / (MAD_SCALE * mad.clip(lower=0.5))
    flag = (
        (n >= policy.bulk_min_orders)
        & (orders["quantity"] >= policy.bulk_min_units)
        & (orders["quantity"] >= policy.bulk_ratio * med)
        & (z >= policy.bulk_robust_z)
    )
    hits = orders[flag].copy()
    hits["median"], hits["z"] = med[flag], z[flag]
    hits["period"] = period_start(pd.to_datetime(hits["timestamp"]), panel.period)
    rows = []
    pi = panel.products.get_indexer(hits["product_id"])
    ti = panel.periods.get_indexer(hits["period"])
    for k, h in enumerate(hits.itertuples(index=False)):
        st = int(stages[pi[k], ti[k]]) if pi[k] >= 0 and ti[k] >= 0 else -1
        en_s, zh_s = _stage_names(st)
        ratio = h.quantity / max(h.median, 1.0)
        who = getattr(h, "customer_id", None)
        inv = getattr(h, "invoice_id", None)
        ref_en = (f"order {inv}" if inv is not None else "an order") + (
            f" by customer {who}" if isinstance(who, str) else ""
        )
        ref_zh = (f"订单 {inv}" if inv is not None else "一笔订单") + (
            f"（客户 {who}）" if isinstance(who, str) else ""
        )
        en = f"{ref_en}: {h.quantity:,.0f} units vs a usual order of {h.median:,.0f} ({ratio:,.0f}×), {en_s}."
        zh = f"{ref_zh}：{h.quantity:,.0f} 件，通常每单 {h.median:,.0f} 件（{ratio:,.0f} 倍），{zh_s}。"
        detail = f"invoice={inv}; customer={who}" if inv is not None else ""
        rows.append(
            (
                h.product_id,
                h.period,
                "bulk_buying",
                float(ratio),
                float(h.quantity),
                float(h.median),
                st,
                en,
                zh,
                detail,
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def bulk_from_sales(panel: Panel, stages: np.ndarray, active: np.ndarray, policy: AnomalyPolicy) -> pd.DataFrame:
    """Without invoice lines: periods whose units per order jump far above the product's usual."""
    if "orders" not in panel.values:
        return pd.DataFrame(columns=COLUMNS)
    u, o = panel.units, panel.values["orders"]
    per = np.where(o > 0, u / np.maximum(o, 1), np.nan)
    per = np.where(active, per, np.nan)
    med, mad = _rolling_median_mad(per, max(policy.history, 6))
    with np.errstate(invalid="ignore"):
        flag = (
            active
            & (u >= policy.bulk_min_units)
            & (per >= policy.bulk_ratio * med)
            & (per - med >= policy.bulk_robust_z * np.maximum(MAD_SCALE * mad, 0.1))
        )
    rows = []
    for i, t in zip(*np.nonzero(flag), strict=True):
        en_s, zh_s = _stage_names(stages[i, t])
        ratio = per[i, t] / max(med[i, t], 0.1)
        en = f"{per[i, t]:,.1f} units per order vs a usual {med[i, t]:,.1f} ({ratio:,.0f}×) over {u[i, t]:,.0f} units, {en_s}."
        zh = f"每单 {per[i, t]:,.1f} 件，通常 {med[i, t]:,.1f} 件（{ratio:,.0f} 倍），共 {u[i, t]:,.0f} 件，{zh_s}。"
        rows.append(
            (
                panel.products[i],
                panel.periods[t],
                "bulk_buying",
                float(ratio),
                float(per[i, t]),
                float(med[i, t]),
                int(stages[i, t]),
                en,
                zh,
                "units per order",
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def detect_anomalies(
    panel: Panel,
    stages: np.ndarray,
    active: np.ndarray,
    *,
    transactions: pd.DataFrame | None = None,
    categories: pd.Series | None = None,
    policy: AnomalyPolicy | None = None,
) -> pd.DataFrame:
    """All flags, strongest first. ``stages`` (P, T): stage ids at each period (-1 unknown); ``active``
    (P, T): the product-periods to judge. Output columns: see COLUMNS."""
    pol = policy or AnomalyPolicy.for_period(panel.period)
    parts = [
        spikes_and_drops(panel, stages, active, pol, categories),
        abnormal_returns(panel, stages, active, categories, pol),
        bulk_buying(transactions, panel, stages, pol)
        if transactions is not None
        else bulk_from_sales(panel, stages, active, pol),
    ]
    out = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else pd.DataFrame(columns=COLUMNS)
    )
    if len(out):
        out["stage_en"] = [Stage(s).label("en") if s >= 0 else "" for s in out["stage"]]
        out["stage_zh"] = [Stage(s).label("zh") if s >= 0 else "" for s in out["stage"]]
        out = out.sort_values(["score"], ascending=False, kind="stable").reset_index(drop=True)
    return out


def flagged_mask(frame: pd.DataFrame, flags: pd.DataFrame, types: tuple[str, ...] = TYPES) -> np.ndarray:
    """Bool per row of ``frame`` (product_id, period): True where a flag of one of ``types`` sits, so those
    product-periods can be left out of training data."""
    if flags is None or flags.empty:
        return np.zeros(len(frame), dtype=bool)
    f = flags[flags["type"].isin(types)]
    keys = set(zip(f["product_id"].astype(str), pd.to_datetime(f["period"]), strict=True))
    return np.array(
        [(p, t) in keys for p, t in zip(frame["product_id"].astype(str), pd.to_datetime(frame["period"]), strict=True)]
    )
