"""Restock, promotion and clearance suggestions from forecasts, stage probabilities and stock levels.

    python -m lifecycle_core actions --workspace ws --dataset demo --out actions.xlsx

``suggest_actions`` is pure analytics: DataFrames in, one row per product out, with the action, the
quantity, a markdown where relevant, the reason in English and Chinese and the expected effect.
Every threshold is in ``InventoryPolicy`` (defaults explained in docs/decisions.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from .stages import Stage

ACTIONS = ("restock", "promote", "hold", "clearance", "watch")
PROBS = ("p_introduction", "p_growth", "p_maturity", "p_decline")


@dataclass(frozen=True)
class InventoryPolicy:
    """Thresholds of the decision rules. Cover and selling time are in weeks whatever the dataset's
    rhythm (converted to its periods by ``suggest_actions``); lead times in days; ordering decisions are
    taken once per period of the data (daily data: daily, monthly data: monthly)."""

    review_period: float = 1.0  # periods between two ordering decisions
    service_level: float = 0.95  # Introduction and Maturity
    growth_service_level: float = 0.98  # Growth: running out costs the most while demand builds
    default_lead_time_days: float = 14.0  # when the inventory file has no lead time
    overstock_weeks: float = 26.0  # cover above this is overstock whatever the stage
    decline_selling_weeks: float = 12.0  # expected selling weeks left for a declining product
    promote_min_cover_weeks: float = 6.0  # stock (weeks of cover) needed to back a promotion
    early_maturity_growth_prob: float = 0.3  # Maturity with at least this P(Growth) counts as early maturity
    watch_confidence: float = 0.5  # below this stage confidence, watch before acting
    markdown_ladder: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
    min_margin: float = 0.05  # markdown floor: unit cost x (1 + min_margin)
    price_elasticity: float = -2.0  # demand multiplier at markdown m: (1 - m) ** elasticity
    target_sell_through: float = 0.8

    def __post_init__(self) -> None:
        for name in ("service_level", "growth_service_level"):
            v = getattr(self, name)
            if not 0.5 <= v < 1:
                raise ValueError(f"InventoryPolicy.{name} must be in [0.5, 1), got {v}")
        for name in ("review_period", "default_lead_time_days", "overstock_weeks", "decline_selling_weeks"):
            if getattr(self, name) <= 0:
                raise ValueError(f"InventoryPolicy.{name} must be > 0, got {getattr(self, name)}")
        if (
            not self.markdown_ladder
            or any(not 0 < m < 1 for m in self.markdown_ladder)
            or list(self.markdown_ladder) != sorted(self.markdown_ladder)
        ):
            raise ValueError(
                f"InventoryPolicy.markdown_ladder must be increasing fractions in (0, 1), got {self.markdown_ladder}"
            )
        if self.price_elasticity >= 0:
            raise ValueError(
                f"InventoryPolicy.price_elasticity must be negative (cheaper sells more), got {self.price_elasticity}"
            )
        if not 0 < self.target_sell_through <= 1 or self.min_margin < 0:
            raise ValueError("InventoryPolicy.target_sell_through must be in (0, 1] and min_margin >= 0")

    def to_dict(self) -> dict:
        return asdict(self)


def _sum_ahead(means: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Expected demand over the next ``periods`` (fractional) per product from (P, H) per-period means;
    beyond the horizon the last step's mean continues. Shape (P,)."""
    P, H = means.shape
    cum = np.concatenate([np.zeros((P, 1)), np.cumsum(means, axis=1)], axis=1)
    whole = np.floor(periods).astype(int)
    inside = np.minimum(whole, H)
    base = cum[np.arange(P), inside]
    extra = np.maximum(whole - H, 0) * means[:, -1]
    frac = (periods - whole) * means[np.arange(P), np.minimum(whole, H - 1)]
    return base + extra + frac


def suggest_actions(
    products: pd.DataFrame,
    forecasts: pd.DataFrame,
    stage_probs: pd.DataFrame,
    inventory: pd.DataFrame | None,
    *,
    policy: InventoryPolicy | None = None,
    period_days: float = 7.0,
    seasonal: pd.DataFrame | None = None,
    last_sale: pd.Series | None = None,
    as_of: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One suggestion per product in ``stage_probs``.

    products: product_id, title, and optionally category, price, unit_cost.
    forecasts: product_id, step (1..H), mean, sigma (units per period).
    stage_probs: product_id and p_introduction, p_growth, p_maturity, p_decline (rows sum to 1).
    inventory: product_id, on_hand, and optionally on_order, lead_time_days, unit_cost, min_order_qty;
    None when the merchant has no stock data (suggestions then come from sales alone, marked as such).
    seasonal: seasons.seasonal_low's table; a product in a seasonal low is never cleared (its trough is
    the season: it holds, and the reason says when last year's season came).
    last_sale: product_id -> the start of its last period with a sale; with ``as_of`` (the data's last
    period) it gives ``weeks_since_sale``, which the reasons name for products that stopped selling.

    Output columns: product_id, title, category, stage, stage_en, stage_zh, confidence, action, quantity, markdown_pct,
    markdown_price, reason_en, reason_zh, basis, weekly_demand, on_hand, position, cover_before,
    cover_after, stockout_risk_before, stockout_risk_after, order_up_to, safety_stock,
    expected_sell_through, capital, markdown_cost, floor_price, the seasonal columns, last_sale and
    weeks_since_sale.
    """
    pol = policy or InventoryPolicy()
    sp = stage_probs.drop_duplicates("product_id").set_index("product_id")
    ids = sp.index
    P = len(ids)
    probs = sp[list(PROBS)].to_numpy(dtype=float)
    stage = probs.argmax(axis=1)
    conf = probs.max(axis=1)
    fc = forecasts.pivot_table(index="product_id", columns="step", values=["mean", "sigma"], aggfunc="first")
    mean = fc["mean"].reindex(ids).fillna(0.0).to_numpy()
    sigma = fc["sigma"].reindex(ids).fillna(0.0).to_numpy()
    prod = products.drop_duplicates("product_id").set_index("product_id").reindex(ids)
    has_inv = inventory is not None and len(inventory) > 0
    inv = (
        inventory.drop_duplicates("product_id").set_index("product_id").reindex(ids)
        if has_inv
        else pd.DataFrame(index=ids)
    )

    def col(frame, name, default):
        return frame[name].to_numpy(dtype=float) if name in frame else np.full(P, default, dtype=float)

    on_hand = np.nan_to_num(col(inv, "on_hand", np.nan), nan=0.0) if has_inv else np.full(P, np.nan)
    known_stock = has_inv & ~np.isnan(col(inv, "on_hand", np.nan)) if has_inv else np.zeros(P, bool)
    on_order = np.nan_to_num(col(inv, "on_order", 0.0))
    lead_days = col(inv, "lead_time_days", np.nan)
    lead_days = np.where(np.isnan(lead_days), pol.default_lead_time_days, lead_days)
    L = lead_days / period_days
    moq = np.nan_to_num(col(inv, "min_order_qty", 0.0))
    unit_cost = col(inv, "unit_cost", np.nan)
    unit_cost = np.where(np.isnan(unit_cost), col(prod, "unit_cost", np.nan), unit_cost)
    price = col(prod, "price", np.nan)

    mean.shape[1] if mean.ndim == 2 and mean.shape[1] else 1
    if mean.shape[1] == 0:
        mean = np.zeros((P, 1))
        sigma = np.zeros((P, 1))
    per_period = mean.mean(axis=1)
    sig1 = sigma[:, 0]
    service = np.where(stage == Stage.GROWTH, pol.growth_service_level, pol.service_level)
    z = norm.ppf(service)
    safety = z * sig1 * np.sqrt(L)
    order_up_to = _sum_ahead(mean, L + pol.review_period) + safety
    position = on_hand + on_order
    demand_L = _sum_ahead(mean, L)
    cover_before, risk_before = _cover_and_risk(position, per_period, demand_L, sig1, L)

    action = np.full(P, "hold", dtype=object)
    qty = np.zeros(P)
    md = np.full(P, np.nan)
    md_price = np.full(P, np.nan)
    sell_through = np.full(P, np.nan)
    capital = np.zeros(P)
    md_cost = np.zeros(P)
    floor = unit_cost * (1 + pol.min_margin)

    need = order_up_to - position
    can_restock = stage != Stage.DECLINE
    restock = known_stock & can_restock & (need > 0.5)
    qty_r = np.where(restock, np.maximum(np.ceil(need), moq), 0.0)
    weeks = period_days / 7.0  # one period in weeks
    remaining = np.where(stage == Stage.DECLINE, pol.decline_selling_weeks, pol.overstock_weeks) / weeks
    overstock = known_stock & (cover_before > pol.overstock_weeks / weeks)
    season_low = np.zeros(P, dtype=bool)
    season = pd.DataFrame(index=ids)
    if seasonal is not None and len(seasonal):
        season = seasonal.drop_duplicates("product_id").set_index("product_id").reindex(ids)
        season_low = season["seasonal_low"].fillna(False).to_numpy(dtype=bool)
    clearance = (
        known_stock & ((stage == Stage.DECLINE) | overstock) & (cover_before > remaining) & (on_hand > 0) & ~season_low
    )
    growthish = (stage == Stage.GROWTH) | (
        (stage == Stage.MATURITY) & (probs[:, Stage.GROWTH] >= pol.early_maturity_growth_prob)
    )
    promote = growthish & (~known_stock | (cover_before >= pol.promote_min_cover_weeks / weeks)) & ~overstock
    watch = conf < pol.watch_confidence

    for i in range(P):
        if restock[i]:
            action[i], qty[i] = "restock", qty_r[i]
            capital[i] = qty_r[i] * (unit_cost[i] if not np.isnan(unit_cost[i]) else 0.0)
        elif clearance[i]:
            action[i] = "clearance"
            m, st = _ladder(per_period[i], on_hand[i], remaining[i], price[i], floor[i], pol)
            md[i], sell_through[i] = m, st
            if not np.isnan(m):
                md_price[i] = round(price[i] * (1 - m), 2)
                sold = st * on_hand[i]
                md_cost[i] = sold * price[i] * m
                capital[i] = -sold * (unit_cost[i] if not np.isnan(unit_cost[i]) else 0.0)
            qty[i] = on_hand[i]
        elif watch[i]:
            action[i] = "watch"
        elif promote[i]:
            action[i] = "promote"
            qty[i] = on_hand[i] if known_stock[i] else 0.0
        if not known_stock[i]:
            # No stock data: the quantity is the stock level to keep, from sales alone.
            qty[i] = 0.0 if stage[i] == Stage.DECLINE else max(0.0, math.ceil(order_up_to[i]))
            if stage[i] == Stage.DECLINE and action[i] == "hold" and not watch[i] and not season_low[i]:
                action[i] = "clearance"

    after = position + np.where(action == "restock", qty, 0.0)
    cover_after, risk_after = _cover_and_risk(after, per_period, demand_L, sig1, L)
    out = pd.DataFrame(
        {
            "product_id": ids.to_numpy(),
            "title": prod["title"].to_numpy() if "title" in prod else ids.to_numpy(),
            "category": prod["category"].to_numpy() if "category" in prod else None,
            "stage": stage,
            "confidence": conf.round(3),
            "action": action,
            "quantity": qty,
            "markdown_pct": np.round(md * 100, 0),
            "markdown_price": md_price,
            "basis": np.where(known_stock, "inventory", "sales only (no inventory data)"),
            "weekly_demand": (per_period / weeks).round(2),
            "on_hand": np.where(known_stock, on_hand, np.nan),
            "position": np.where(known_stock, position, np.nan),
            "cover_before": np.where(known_stock, cover_before * weeks, np.nan).round(1),
            "cover_after": np.where(known_stock, cover_after * weeks, np.nan).round(1),
            "stockout_risk_before": np.where(known_stock, risk_before, np.nan).round(3),
            "stockout_risk_after": np.where(known_stock, risk_after, np.nan).round(3),
            "order_up_to": np.ceil(order_up_to),
            "safety_stock": safety.round(1),
            "lead_time_weeks": (L * weeks).round(1),
            "service_level": service,
            "expected_sell_through": sell_through.round(3),
            "capital": capital.round(2) + 0.0,  # + 0.0: no "-0.00" for a clearance that releases nothing
            "markdown_cost": md_cost.round(2),
            "floor_price": np.round(floor, 2),
            "seasonal_low": season_low,
            "last_year_weekly": (col(season, "last_year", np.nan) / weeks).round(2),
            "season_peak_weekly": (col(season, "season_peak", np.nan) / weeks).round(2),
            "weeks_to_season_peak": (col(season, "periods_to_peak", np.nan) * weeks).round(0),
        }
    )
    sale = pd.to_datetime(last_sale.reindex(ids)) if last_sale is not None else pd.Series(pd.NaT, index=ids)
    out["last_sale"] = sale.to_numpy()
    since = (pd.Timestamp(as_of) - sale).dt.days / 7.0 if as_of is not None else pd.Series(np.nan, index=ids)
    out["weeks_since_sale"] = since.round(0).to_numpy()
    reasons = [_reasons(r, probs[k], pol) for k, r in enumerate(out.itertuples(index=False))]
    out.insert(9, "reason_en", [r[0] for r in reasons])
    out.insert(10, "reason_zh", [r[1] for r in reasons])
    # The stage's name next to its number: an exported table is read without the code book.
    out.insert(4, "stage_en", [Stage(int(s)).label("en") for s in stage])
    out.insert(5, "stage_zh", [Stage(int(s)).label("zh") for s in stage])
    return out


def _cover_and_risk(stock, per_period, demand_L, sigma, L):
    """Periods of cover at forecast demand, and P(demand over the lead time exceeds ``stock``) under a
    normal approximation (a step function when there is no uncertainty). Shapes (P,)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        cover = np.where(per_period > 0, stock / per_period, np.inf)
        risk = np.where(
            sigma > 0,
            1 - norm.cdf((stock - demand_L) / (sigma * np.sqrt(np.maximum(L, 1e-9)))),
            (demand_L > stock).astype(float),
        )
    return cover, risk


def _ladder(demand: float, on_hand: float, periods: float, price: float, floor: float, pol: InventoryPolicy):
    """The smallest markdown on the ladder that sells ``target_sell_through`` of the stock in ``periods``,
    never below the floor price; (markdown, expected sell-through). NaN markdown when the price is unknown."""
    if np.isnan(price) or price <= 0 or on_hand <= 0:
        return np.nan, np.nan
    if demand <= 0:
        return np.nan, 0.0  # nothing sells at any price the ladder offers: no markdown to suggest
    best = (0.0, min(1.0, demand * periods / on_hand))
    for m in pol.markdown_ladder:
        if not np.isnan(floor) and price * (1 - m) < floor:
            break  # the floor holds: no deeper step
        st = min(1.0, demand * (1 - m) ** pol.price_elasticity * periods / on_hand)
        best = (m, st)
        if st >= pol.target_sell_through:
            break
    return best


def _fmt(x: float, nd: int = 1) -> str:
    return "∞" if not np.isfinite(x) else f"{x:,.{nd}f}"


def _reasons(r, probs: np.ndarray, pol: InventoryPolicy) -> tuple[str, str]:
    s = Stage(int(r.stage))
    en_stage, zh_stage = s.label("en"), s.label("zh")
    no_inv = r.basis != "inventory"
    tail_en = " (no inventory data: from sales alone)" if no_inv else ""
    tail_zh = "（无库存数据，仅依据销售）" if no_inv else ""
    if r.action == "restock":
        return (
            f"{en_stage} stage: stock covers {_fmt(r.cover_before)} weeks against {_fmt(r.lead_time_weeks)} weeks of "
            f"lead time; order {r.quantity:,.0f} units to reach {r.order_up_to:,.0f} (service level {r.service_level:.0%}, "
            f"stock-out risk {r.stockout_risk_before:.0%} → {r.stockout_risk_after:.0%}).",
            f"{zh_stage}：库存可售 {_fmt(r.cover_before)} 周，补货周期 {_fmt(r.lead_time_weeks)} 周；建议订货 "
            f"{r.quantity:,.0f} 件，补至 {r.order_up_to:,.0f} 件（服务水平 {r.service_level:.0%}，缺货风险 "
            f"{r.stockout_risk_before:.0%} → {r.stockout_risk_after:.0%}）。",
        )
    if r.action == "clearance":
        if no_inv:
            return (
                f"{en_stage} stage: stop reordering and plan a clearance{tail_en}.",
                f"{zh_stage}：停止补货并准备清仓{tail_zh}。",
            )
        if r.weekly_demand <= 0 and r.weeks_since_sale >= 1:
            return (
                f"{en_stage} stage, no sale for {r.weeks_since_sale:.0f} weeks (the last in the period of "
                f"{r.last_sale:%Y-%m-%d}) and {r.on_hand:,.0f} units on hand: it has stopped selling, so a markdown "
                f"alone will not move them; clear through bundles, an outlet or a return to the supplier.",
                f"{zh_stage}，已 {r.weeks_since_sale:.0f} 周无销售（最后一次在 {r.last_sale:%Y-%m-%d} 所在周期），库存 "
                f"{r.on_hand:,.0f} 件：已停止销售，单靠降价难以售出，建议捆绑销售、折扣渠道清货或退回供应商。",
            )
        if r.weekly_demand <= 0:
            return (
                f"{en_stage} stage with {r.on_hand:,.0f} units and no demand in sight: a markdown alone will not move "
                f"them; clear through bundles, an outlet or a return to the supplier.",
                f"{zh_stage}，库存 {r.on_hand:,.0f} 件且预计无需求：单靠降价难以售出，建议捆绑销售、折扣渠道清货或退回供应商。",
            )
        if np.isnan(r.markdown_pct):
            return (
                f"{en_stage} stage with {_fmt(r.cover_before)} weeks of cover: clear the stock (no price on file, so no markdown is computed).",
                f"{zh_stage}，库存可售 {_fmt(r.cover_before)} 周：建议清仓（缺少价格，无法计算折扣）。",
            )
        left = pol.decline_selling_weeks if s == Stage.DECLINE else pol.overstock_weeks
        return (
            f"{en_stage} stage with {_fmt(r.cover_before)} weeks of cover, about {left:.0f} selling weeks left: mark down "
            f"{r.markdown_pct:.0f} % to {r.markdown_price:,.2f} (floor {r.floor_price:,.2f}) to sell about "
            f"{r.expected_sell_through:.0%} of {r.on_hand:,.0f} units.",
            f"{zh_stage}，库存可售 {_fmt(r.cover_before)} 周，预计仅剩约 {left:.0f} 周可售：建议降价 {r.markdown_pct:.0f}% "
            f"至 {r.markdown_price:,.2f}（底价 {r.floor_price:,.2f}），预计售出 {r.on_hand:,.0f} 件中的 {r.expected_sell_through:.0%}。",
        )
    if r.action == "hold" and r.seasonal_low and s != Stage.GROWTH:
        return (
            f"Seasonal low, not the end of its life: a year ago it sold {r.last_year_weekly:,.1f} units a week at "
            f"this time and {r.season_peak_weekly:,.1f} a week about {r.weeks_to_season_peak:.0f} weeks later, and "
            f"it sells as much as then; hold the stock for the season, no clearance (stage: {en_stage}).",
            f"季节性低谷，而非生命周期结束：去年此时每周售出 {r.last_year_weekly:,.1f} 件，约 {r.weeks_to_season_peak:.0f} 周后"
            f"达到每周 {r.season_peak_weekly:,.1f} 件，目前销量不低于去年同期；保留库存迎接旺季，不要清仓（阶段：{zh_stage}）。",
        )
    if r.action == "promote":
        stock_en = f" with {_fmt(r.cover_before)} weeks of stock to back it" if not no_inv else tail_en
        stock_zh = f"，现有库存可支撑 {_fmt(r.cover_before)} 周" if not no_inv else tail_zh
        return (
            f"{en_stage} stage (P(Growth) {probs[Stage.GROWTH]:.0%}){stock_en}: promote it now, while demand is building.",
            f"{zh_stage}（成长概率 {probs[Stage.GROWTH]:.0%}）{stock_zh}：需求上升期，建议加大推广。",
        )
    if r.action == "watch":
        return (
            f"Stage uncertain ({r.confidence:.0%} {en_stage}): watch the next weeks before acting{tail_en}.",
            f"阶段不确定（{zh_stage} {r.confidence:.0%}）：建议观察几周再行动{tail_zh}。",
        )
    if no_inv:
        return (
            f"{en_stage} stage: keep about {r.order_up_to:,.0f} units available{tail_en}.",
            f"{zh_stage}：建议保持约 {r.order_up_to:,.0f} 件可售库存{tail_zh}。",
        )
    if r.on_hand <= 0 and r.weekly_demand <= 0:
        quiet_en = f", no sale for {r.weeks_since_sale:.0f} weeks" if r.weeks_since_sale >= 1 else ""
        quiet_zh = f"，已 {r.weeks_since_sale:.0f} 周无销售" if r.weeks_since_sale >= 1 else ""
        return (
            f"{en_stage} stage{quiet_en} and no stock left: nothing to clear or reorder (delist it unless it is "
            f"coming back).",
            f"{zh_stage}{quiet_zh}，且已无库存：无需清仓或补货（若不再上架，可下架该商品）。",
        )
    if s == Stage.DECLINE:
        return (
            f"Decline stage: {_fmt(r.cover_before)} weeks of cover sells out within the ~{pol.decline_selling_weeks:.0f} "
            f"selling weeks left; do not reorder.",
            f"衰退期：库存可售 {_fmt(r.cover_before)} 周，可在剩余约 {pol.decline_selling_weeks:.0f} 周内售完；不要再补货。",
        )
    return (
        f"{en_stage} stage: {_fmt(r.cover_before)} weeks of cover is within policy; no action needed.",
        f"{zh_stage}：库存可售 {_fmt(r.cover_before)} 周，在策略范围内，无需操作。",
    )
