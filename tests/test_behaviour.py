"""Customer behaviour per stage: funnel, returns, ratings, term trends, one product; and its page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lifecycle_core.behaviour import behaviour, product_detail, stages_by_period, term_trends, terms

from .conftest import ROOT, demo_workspace


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return demo_workspace(tmp_path_factory.mktemp("behaviour"), 30, 40, seed=2)


def test_funnel_returns_and_ratings_add_up_to_the_stored_tables(demo):
    ws = demo
    stages = stages_by_period(ws, "demo")
    assert stages["source"].eq("rules").all() and stages["stage"].between(0, 3).all()
    b = behaviour(ws, "demo", stages, window=6)
    sales = ws.load_table("demo", "sales").merge(stages, on=["product_id", "period"])
    recent = sales[sales["period"].isin(sorted(sales["period"].unique())[-6:])]
    views = b.funnel[b.funnel["step"] == "views"].set_index("stage")["value"]
    assert views.to_dict() == recent.groupby("stage")["views"].sum().to_dict()
    orders = b.funnel[b.funnel["step"] == "orders"].set_index("stage")
    carts = b.funnel[b.funnel["step"] == "add_to_cart"].set_index("stage")["value"]
    assert np.allclose(orders["rate"], orders["value"] / carts)
    assert b.returns["returns"].sum() == sales["returns"].sum()
    assert b.ratings["rating"].min() >= 1 and b.ratings["rating"].max() <= 5


def test_term_trends_find_the_rising_and_the_falling_term():
    periods = list(range(8))
    rows = pd.DataFrame(
        [(0, p, "vintage") for p in range(4) for _ in range(5)]  # mentioned before, gone recently
        + [(0, p, "broken") for p in range(4, 8) for _ in range(5)]  # new recently
        + [(0, p, "lamp") for p in range(8) for _ in range(5)],  # steady
        columns=["stage", "period", "term"],
    )
    t = term_trends(rows, periods, window=4).set_index("term")
    assert t.at["broken", "direction"] == "rising" and t.at["broken", "change"] == pytest.approx(0.5)
    assert t.at["vintage", "direction"] == "falling" and t.at["vintage", "change"] == pytest.approx(-0.5)
    assert "lamp" not in t.index  # no change


def test_terms_drop_stopwords_and_cut_chinese_into_bigrams():
    assert terms("The lamp was REALLY outdated, and it's cheap") == ["lamp", "outdated", "cheap"]
    assert terms("质量很好") == ["质量", "量很", "很好"]


def test_product_detail_and_an_unknown_product(demo):
    stages = stages_by_period(demo, "demo")
    pid = stages["product_id"].iloc[0]
    d = product_detail(demo, "demo", pid, stages)
    assert (d["sales"]["product_id"] == pid).all() and d["sales"]["period"].is_monotonic_increasing
    assert {"stage", "return_rate"} <= set(d["sales"].columns)
    with pytest.raises(KeyError, match="NOPE"):
        product_detail(demo, "demo", "NOPE", stages)


def test_behaviour_page(demo, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(demo.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/behaviour.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Customer behaviour"
    assert any("rule-based" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) >= 4  # funnel, returns, ratings, terms..., product funnel
    pid = at.selectbox(key="behaviour_product").value
    at.text_input(key="behaviour_search").set_value(str(pid)).run()
    options = at.selectbox(key="behaviour_product").options
    assert not at.exception and options and all(str(pid) in o for o in options)
    at.radio(key="lang").set_value("zh").run()
    assert not at.exception and at.title[0].value == "客户行为"
