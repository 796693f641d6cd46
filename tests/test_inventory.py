"""Restock, clearance and promotion rules, with numbers computed by hand."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from lifecycle_core.inventory import InventoryPolicy, suggest_actions

STAGE_P = {"intro": [1, 0, 0, 0], "growth": [0, 1, 0, 0], "maturity": [0, 0, 1, 0], "decline": [0, 0, 0, 1]}


def _case(
    stage="maturity",
    demand=10.0,
    sigma=3.0,
    on_hand=5.0,
    on_order=0.0,
    lead_days=21.0,
    moq=0.0,
    price=20.0,
    unit_cost=8.0,
    H=8,
    inventory=True,
    policy=None,
    probs=None,
    seasonal=None,
):
    products = pd.DataFrame(
        {"product_id": ["A"], "title": ["Mug"], "category": ["Kitchen"], "price": [price], "unit_cost": [unit_cost]}
    )
    fc = pd.DataFrame({"product_id": "A", "step": np.arange(1, H + 1), "mean": demand, "sigma": sigma})
    sp = pd.DataFrame(
        [["A", *(probs or STAGE_P[stage])]],
        columns=["product_id", "p_introduction", "p_growth", "p_maturity", "p_decline"],
    )
    inv = (
        pd.DataFrame(
            {
                "product_id": ["A"],
                "on_hand": [on_hand],
                "on_order": [on_order],
                "lead_time_days": [lead_days],
                "unit_cost": [unit_cost],
                "min_order_qty": [moq],
            }
        )
        if inventory
        else None
    )
    return suggest_actions(products, fc, sp, inv, policy=policy, seasonal=seasonal).iloc[0]


def test_order_up_to_and_safety_stock_by_hand():
    r = _case(stage="maturity", demand=10, sigma=3, on_hand=5, on_order=2, lead_days=21)
    L, R = 3.0, 1.0
    ss = norm.ppf(0.95) * 3 * math.sqrt(L)
    assert r.safety_stock == pytest.approx(round(ss, 1))
    assert r.order_up_to == math.ceil(10 * (L + R) + ss)
    assert r.action == "restock"
    assert r.quantity == math.ceil(10 * (L + R) + ss - 7)
    assert r.capital == pytest.approx(r.quantity * 8.0)
    assert r.cover_before == pytest.approx(0.7)
    assert r.stockout_risk_before > 0.9 and r.stockout_risk_after < 0.1
    assert "order" in r.reason_en and "订货" in r.reason_zh


def test_growth_uses_the_higher_service_level_and_the_trend():
    fc_growth = _case(stage="growth", demand=10, sigma=3, on_hand=5)
    fc_mat = _case(stage="maturity", demand=10, sigma=3, on_hand=5)
    assert fc_growth.service_level == 0.98 and fc_mat.service_level == 0.95
    assert fc_growth.safety_stock > fc_mat.safety_stock
    products = pd.DataFrame({"product_id": ["A"], "title": ["x"], "price": [10.0], "unit_cost": [4.0]})
    rising = pd.DataFrame({"product_id": "A", "step": np.arange(1, 9), "mean": 10.0 + 5 * np.arange(8), "sigma": 2.0})
    sp = pd.DataFrame(
        [["A", 0, 1, 0, 0]], columns=["product_id", "p_introduction", "p_growth", "p_maturity", "p_decline"]
    )
    inv = pd.DataFrame({"product_id": ["A"], "on_hand": [0.0], "lead_time_days": [14.0]})
    r = suggest_actions(products, rising, sp, inv).iloc[0]
    # Forecast over lead time + review (3 periods) follows the trend: 10 + 15 + 20.
    assert r.order_up_to == math.ceil(45 + norm.ppf(0.98) * 2 * math.sqrt(2))


def test_minimum_order_quantity_is_respected():
    r = _case(demand=10, sigma=0.0, on_hand=35, lead_days=21, moq=48)
    assert r.action == "restock" and r.quantity == 48


@pytest.mark.parametrize("on_hand", [0.0, 5.0, 50.0, 500.0])
def test_decline_never_restocks(on_hand):
    r = _case(stage="decline", demand=10, sigma=3, on_hand=on_hand)
    assert r.action != "restock" and (r.action != "restock" or r.quantity == 0)
    assert r.capital <= 0


def test_clearance_ladder_reaches_target_and_respects_the_floor():
    # 200 units, 5/period, 12 selling periods left: no markdown sells 60/200 = 30 %.
    r = _case(stage="decline", demand=5, sigma=1, on_hand=200, price=20, unit_cost=8)
    assert r.action == "clearance"
    floor = 8 * 1.05
    assert r.markdown_price >= floor - 1e-9
    # Each step multiplies demand by (1 - m) ** -2; 50 % would be 120 % sell-through but costs more than the floor allows.
    m = r.markdown_pct / 100
    expected = min(1.0, 5 * (1 - m) ** -2 * 12 / 200)
    assert r.expected_sell_through == pytest.approx(expected, abs=1e-3)
    assert r.markdown_pct == 50 or expected >= 0.8
    assert "mark down" in r.reason_en and "降价" in r.reason_zh


def test_floor_stops_the_ladder_when_margins_are_thin():
    r = _case(stage="decline", demand=1, sigma=1, on_hand=500, price=10, unit_cost=8.5)
    # Floor 8.925: only the 10 % step (9.00) is allowed.
    assert r.markdown_pct == 10 and r.markdown_price == pytest.approx(9.0)


def test_overstock_clears_in_any_stage():
    r = _case(stage="maturity", demand=2, sigma=1, on_hand=400)
    assert r.action == "clearance" and r.cover_before > 26


def test_promote_growth_with_stock_and_watch_when_unsure():
    r = _case(stage="growth", demand=10, sigma=1, on_hand=150, lead_days=7)
    assert r.action == "promote" and r.quantity == 150
    unsure = _case(probs=[0.3, 0.3, 0.2, 0.2], demand=10, sigma=1, on_hand=100, lead_days=7)
    assert unsure.action == "watch" and "uncertain" in unsure.reason_en


def test_without_inventory_suggestions_are_marked_as_sales_only():
    r = _case(stage="growth", demand=10, sigma=2, inventory=False)
    assert r.basis.startswith("sales only")
    assert "no inventory data" in r.reason_en and "无库存数据" in r.reason_zh
    assert r.quantity == r.order_up_to  # the stock level to keep
    d = _case(stage="decline", inventory=False)
    assert d.action == "clearance" and d.quantity == 0


def test_policy_is_validated():
    with pytest.raises(ValueError, match="service_level"):
        InventoryPolicy(service_level=1.0)
    with pytest.raises(ValueError, match="markdown_ladder"):
        InventoryPolicy(markdown_ladder=(0.3, 0.1))
    with pytest.raises(ValueError, match="price_elasticity"):
        InventoryPolicy(price_elasticity=0.5)


def test_a_seasonal_low_is_held_for_the_season_not_cleared():
    """A Christmas item in June: Decline by the stage estimate, overstocked against June demand, but a year
    ago it sold as little at this time and 30x more half a year later: hold, and say why."""
    season = pd.DataFrame(
        {"product_id": ["A"], "seasonal_low": [True], "now": [2.0], "last_year": [2.0], "season_peak": [60.0]}
    ).assign(periods_to_peak=[26.0])
    for inventory in (True, False):
        r = _case(stage="decline", demand=2, sigma=1, on_hand=400, inventory=inventory, seasonal=season)
        assert r.action == "hold" and r.seasonal_low, inventory
        assert "Seasonal low" in r.reason_en and "60.0 a week about 26 weeks later" in r.reason_en
        assert "季节性低谷" in r.reason_zh
    # Not in a seasonal low (it sells less than half of last year's): cleared as before.
    falling = season.assign(seasonal_low=[False])
    assert _case(stage="decline", demand=2, sigma=1, on_hand=400, seasonal=falling).action == "clearance"


def test_a_product_that_stopped_selling_is_cleared_and_says_since_when():
    """No demand in sight and no sale for 98 weeks: the reason names the silence, not weeks of cover."""
    products = pd.DataFrame({"product_id": ["A", "B"], "title": ["Mug", "Bowl"], "price": [20.0, 9.0]})
    fc = pd.DataFrame({"product_id": np.repeat(["A", "B"], 8), "step": np.tile(np.arange(1, 9), 2), "mean": 0.0})
    fc["sigma"] = 0.0
    sp = pd.DataFrame(
        [["A", 0, 0, 0, 1], ["B", 0, 0, 0, 1]],
        columns=["product_id", "p_introduction", "p_growth", "p_maturity", "p_decline"],
    )
    inv = pd.DataFrame({"product_id": ["A", "B"], "on_hand": [33.0, 0.0]})
    last = pd.Series(pd.to_datetime(["2023-02-06", "2024-01-01"]), index=["A", "B"])
    out = suggest_actions(products, fc, sp, inv, last_sale=last, as_of=pd.Timestamp("2024-12-23"))
    a, b = out.iloc[0], out.iloc[1]
    assert a.action == "clearance" and a.weeks_since_sale == 98
    assert np.isnan(a.markdown_pct) and a.markdown_cost == 0  # a markdown sells nothing when nothing sells
    assert (a.stage_en, a.stage_zh) == ("Decline", "衰退期")
    assert "no sale for 98 weeks" in a.reason_en and "2023-02-06" in a.reason_en and "98 周无销售" in a.reason_zh
    assert b.action == "hold" and "no stock left" in b.reason_en and "∞" not in b.reason_en
