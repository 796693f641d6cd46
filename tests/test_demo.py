"""The demo catalog: deterministic, realistic in shape, and ingested through the normal path."""

import numpy as np
import pandas as pd
import pytest

from lifecycle_core.demo import bass_rate, generate
from lifecycle_core.ingest import ingest
from lifecycle_core.readers import SourceFile


@pytest.fixture(scope="module")
def demo():
    return generate(120, 60, seed=11)


def test_same_seed_same_catalog_other_seed_differs(demo):
    again = generate(120, 60, seed=11)
    for name in demo:
        pd.testing.assert_frame_equal(demo[name], again[name])
    other = generate(120, 60, seed=12)
    assert not demo["sales"]["units"].equals(other["sales"]["units"])


def test_default_size():
    d = generate()
    assert len(d["products"]) == 300
    assert pd.to_datetime(d["sales"]["date"]).nunique() == 104
    assert d["products"]["category"].nunique() >= 5


def test_launches_before_inside_window_and_discontinued(demo):
    sales = demo["sales"].assign(date=pd.to_datetime(demo["sales"]["date"]))
    start, end = sales["date"].min(), sales["date"].max()
    launch = pd.to_datetime(demo["products"]["launch_date"])
    assert (launch < start).sum() >= 10  # already selling when the data starts
    assert (launch > start + pd.Timedelta(weeks=8)).sum() >= 10  # launched late
    last = sales.groupby("product_id")["date"].max()
    assert (last < end - pd.Timedelta(weeks=4)).sum() >= 3  # delisted before the end


def test_text_is_bilingual_and_follows_the_curve_without_naming_stages(demo):
    titles = demo["products"]["title"]
    assert titles.str.contains(r"[\u4e00-\u9fff]").any() and titles.str.contains(r"^[\x00-\x7f]+$").any()
    text = " ".join(demo["reviews"]["review"]).lower()
    for stage_word in ("introduction", "growth", "maturity", "decline", "成长期", "衰退期", "成熟期"):
        assert stage_word not in text
    r = demo["reviews"].merge(demo["products"][["product_id", "launch_date"]], on="product_id")
    age = (pd.to_datetime(r["date"]) - pd.to_datetime(r["launch_date"])).dt.days
    novelty = r["review"].str.contains("discovered|Brand new|first impressions|新上架|刚发现")
    dated = r["review"].str.contains("dated|cheaper|alternatives|过时|替代")
    young, old = age < 60, age > 500
    # Novelty wording belongs to young products, complaints to old ones.
    assert novelty[young].mean() > 3 * novelty[old].mean()
    assert dated[old].mean() > 3 * dated[young].mean()


def test_signals_are_consistent(demo):
    s = demo["sales"]
    assert (s["returns"] <= s["units"]).all() and (s["units"] >= 0).all()
    assert (s["views"] >= s["add_to_cart"]).all()
    inv = demo["inventory"]
    assert set(inv.columns) >= {"on_hand", "on_order", "lead_time_days", "unit_cost", "min_order_qty"}
    assert (inv["on_hand"] >= 0).all()
    assert demo["reviews"]["rating"].between(1, 5).all()
    assert demo["search_terms"]["clicks"].le(demo["search_terms"]["impressions"]).all()


def test_bass_rate_sums_to_market_size():
    t = np.arange(0, 2000, dtype=float)
    r = bass_rate(t, np.array(0.01), np.array(0.1), np.array(1000.0))
    assert r.sum() == pytest.approx(1000, rel=1e-3)
    assert r.argmax() == pytest.approx(np.log(0.1 / 0.01) / 0.11, abs=1)
    assert bass_rate(np.array([-1.0]), np.array(0.01), np.array(0.1), np.array(1000.0))[0] == 0


def test_demo_files_ingest_cleanly(ws, demo_dir):
    sources = [SourceFile.from_path(p) for p in sorted(demo_dir.glob("*.csv"))]
    info = ingest(ws, "demo", sources)
    assert info.counts["products"] == 40 and info.counts["periods"] == 30
    assert {s["table"] for s in info.sources} == {"products", "sales", "reviews", "search_terms", "inventory"}
    assert not [p for p in info.report["problems"] if p["severity"] == "error"]


def test_input_sizes_are_validated():
    with pytest.raises(ValueError, match="at least 1 product and 8 weeks"):
        generate(0, 10)
