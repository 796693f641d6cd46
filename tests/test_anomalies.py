"""Each anomaly type planted in synthetic data is found with the right reason; clean data stays quiet."""

import numpy as np
import pandas as pd
import pytest

from lifecycle_core.anomalies import AnomalyPolicy, detect_anomalies, flagged_mask
from lifecycle_core.panel import Panel

T = 40


def _panel(units: np.ndarray, returns: np.ndarray | None = None, orders: np.ndarray | None = None) -> Panel:
    P = units.shape[0]
    vals = {"units": units.astype(float)}
    if returns is not None:
        vals["returns"] = returns.astype(float)
    if orders is not None:
        vals["orders"] = orders.astype(float)
    return Panel(
        pd.Index([f"P{i}" for i in range(P)], dtype="str"),
        pd.date_range("2024-01-01", periods=T, freq="W-MON"),
        "W",
        vals,
        {k: np.ones_like(v, bool) for k, v in vals.items()},
    )


def _clean(P=60, seed=0):
    rng = np.random.default_rng(seed)
    level = rng.uniform(30, 120, P)[:, None]
    units = rng.poisson(level * rng.gamma(8, 1 / 8, (P, T)))
    returns = rng.binomial(units, 0.03)
    return units, returns


def _detect(panel, tx=None, cats=None):
    P = panel.shape[0]
    stages = np.full((P, T), 2)
    return detect_anomalies(panel, stages, np.ones((P, T), bool), transactions=tx, categories=cats)


def test_clean_data_has_few_false_alarms():
    units, returns = _clean()
    flags = _detect(_panel(units, returns))
    assert len(flags) <= 0.005 * units.size  # at most 0.5 % of product-periods


def test_planted_spike_and_drop_are_found_with_reasons():
    units, returns = _clean()
    units[3, 20] = units[3].mean() * 8  # a spike
    units[7, 25] = 0  # a gap in steady sales: stock-out
    flags = _detect(_panel(units, returns))
    spike = flags[(flags["type"] == "spike") & (flags["product_id"] == "P3")]
    drop = flags[(flags["type"] == "drop") & (flags["product_id"] == "P7")]
    assert len(spike) == 1 and spike.iloc[0]["period"] == pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=20)
    assert "units vs a usual" in spike.iloc[0]["reason_en"] and "倍" in spike.iloc[0]["reason_zh"]
    assert len(drop) == 1 and "stock-out" in drop.iloc[0]["reason_en"] and "Maturity stage" in drop.iloc[0]["reason_en"]
    assert flags.iloc[0]["score"] >= flags.iloc[-1]["score"]  # strongest first


def test_end_of_sales_and_ramp_up_are_not_anomalies():
    units, returns = _clean(P=10)
    units[0, 30:] = 0  # delisted: never sells again
    units[1, :10] = 0
    units[1, 10:] = np.linspace(5, 200, 30)  # a fast ramp-up
    flags = _detect(_panel(units, returns))
    assert flags[flags["product_id"].isin(["P0", "P1"])].empty


def test_storewide_closure_is_not_a_product_drop():
    units, returns = _clean()
    units[:, 15] = 0  # the shop was closed that week
    flags = _detect(_panel(units, returns))
    closed = pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=15)
    assert flags[(flags["type"] == "drop") & (flags["period"] == closed)].empty
    assert len(flags) <= 0.005 * units.size


def test_planted_return_wave_is_found_against_own_and_category_history():
    units, returns = _clean()
    returns[5, 12] = units[5, 12] * 0.6
    cats = pd.Series(["A"] * 30 + ["B"] * 30, index=[f"P{i}" for i in range(60)])
    flags = _detect(_panel(units, returns), cats=cats)
    hit = flags[(flags["type"] == "abnormal_returns")]
    assert list(hit["product_id"]) == ["P5"]
    assert "returned vs" in hit.iloc[0]["reason_en"] and "in its category" in hit.iloc[0]["reason_en"]


def test_planted_bulk_order_in_invoice_lines():
    rng = np.random.default_rng(1)
    rows = []
    for k in range(300):
        rows.append(
            (
                "P1",
                pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(k % 200)),
                f"INV{k}",
                f"c{k % 40}",
                float(rng.integers(1, 13)),
                False,
            )
        )
    rows.append(("P1", pd.Timestamp("2024-05-06"), "BIG1", "c_whale", 5000.0, False))
    tx = pd.DataFrame(rows, columns=["product_id", "timestamp", "invoice_id", "customer_id", "quantity", "is_return"])
    units, returns = _clean(P=3)
    flags = _detect(_panel(units, returns), tx=tx)
    bulk = flags[flags["type"] == "bulk_buying"]
    assert len(bulk) == 1
    r = bulk.iloc[0]
    assert r["product_id"] == "P1" and r["value"] == 5000 and "order BIG1 by customer c_whale" in r["reason_en"]
    assert r["period"] == pd.Timestamp("2024-05-06")


def test_bulk_buying_from_aggregated_sales():
    units, returns = _clean()
    orders = np.maximum(units // 2, 1)
    units[9, 30] = 3000
    orders[9, 30] = 3  # 1,000 units per order
    flags = _detect(_panel(units, returns, orders))
    bulk = flags[flags["type"] == "bulk_buying"]
    assert list(bulk["product_id"]) == ["P9"] and "units per order" in bulk.iloc[0]["reason_en"]


def test_flagged_rows_can_be_left_out():
    frame = pd.DataFrame(
        {"product_id": ["P1", "P1", "P2"], "period": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-01"])}
    )
    flags = pd.DataFrame({"product_id": ["P1"], "period": pd.to_datetime(["2024-01-08"]), "type": ["spike"]})
    assert flagged_mask(frame, flags).tolist() == [False, True, False]
    assert not flagged_mask(frame, flags, types=("drop",)).any()


def test_policy_is_validated():
    with pytest.raises(ValueError, match="ratios"):
        AnomalyPolicy(spike_ratio=1.0)


def test_a_season_is_no_anomaly_but_a_one_off_drop_still_is():
    """Three years of weekly sales of a Christmas category: its January falls and December peaks move the
    whole category (and repeat a year later), so none is flagged; a one-off empty week in July is."""
    weeks = pd.date_range("2022-01-03", periods=156, freq="W-MON")
    rng = np.random.default_rng(1)
    season = np.where(weeks.month == 12, 8.0, np.where(weeks.month == 11, 3.0, 1.0))
    units = rng.poisson(40 * season[None, :] * rng.uniform(0.8, 1.2, (6, 1))).astype(float)
    july = int(np.flatnonzero((weeks.month == 7) & (weeks.year == 2023))[1])
    units[2, july] = 0
    vals = {"units": units}
    panel = Panel(pd.Index([f"X{i}" for i in range(6)], dtype="str"), weeks, "W", vals, {"units": units > 0})
    P, T = units.shape
    cats = pd.Series("Weihnachtsdeko", index=panel.products)
    flags = detect_anomalies(panel, np.full((P, T), 2), np.ones((P, T), bool), categories=cats)
    drops = flags[flags["type"] == "drop"]
    assert list(zip(drops["product_id"], drops["period"], strict=True)) == [("X2", weeks[july])]
    assert not (flags["type"] == "spike").any()
    # One product alone (no category to move with it): its seasonal moves repeat a year later and are
    # not flagged then; only its first season, with no year before to go by, can be.
    alone = Panel(pd.Index(["X0"], dtype="str"), weeks, "W", {"units": units[:1]}, {"units": units[:1] > 0})
    f1 = detect_anomalies(alone, np.full((1, T), 2), np.ones((1, T), bool))
    assert (pd.to_datetime(f1["period"]) < weeks[52 + 8]).all()
