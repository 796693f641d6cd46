"""Causal features and model text: nothing computed for period t changes when data after t changes."""

import numpy as np
import pandas as pd
import pytest

from lifecycle_core.demo import generate
from lifecycle_core.features import FEATURES, FeatureConfig, build_examples
from lifecycle_core.ingest import ingest
from lifecycle_core.readers import SourceFile


def _ingest_tables(ws, name, tables):
    sources = [SourceFile(f"{k}.csv", v.to_csv(index=False).encode()) for k, v in tables.items()]
    return ingest(ws, name, sources)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same catalog twice: as generated, and with every row after the cut altered or added."""
    from lifecycle_core.store import Workspace

    ws = Workspace(tmp_path_factory.mktemp("causal"))
    tables = generate(40, 40, seed=5)
    _ingest_tables(ws, "orig", tables)
    cut = pd.Timestamp(sorted(tables["sales"]["date"].unique())[25])
    rng = np.random.default_rng(0)
    t2 = {k: v.copy() for k, v in tables.items()}
    s = t2["sales"]
    after = pd.to_datetime(s["date"]) > cut
    for col in ("units", "revenue", "returns", "views", "add_to_cart", "orders"):
        s.loc[after, col] = rng.integers(0, 500, after.sum())
    r = t2["reviews"]
    late = pd.to_datetime(r["date"]) > cut
    r.loc[late, "review"] = "TOTALLY DIFFERENT FUTURE REVIEW"
    r.loc[late, "rating"] = 1
    extra = r[late].head(20).assign(review="another future review")
    t2["reviews"] = pd.concat([r, extra], ignore_index=True)
    q = t2["search_terms"]
    q.loc[pd.to_datetime(q["date"]) > cut, "search_term"] = "future query"
    _ingest_tables(ws, "altered", t2)
    return ws, cut


def test_features_and_text_up_to_t_ignore_everything_after_t(pair):
    ws, cut = pair
    a = build_examples(ws, "orig")
    b = build_examples(ws, "altered")
    fa = a.frame[a.frame["period"] <= cut].set_index(["product_id", "period"])
    fb = b.frame[b.frame["period"] <= cut].set_index(["product_id", "period"])
    common = fa.index.intersection(fb.index)
    assert len(common) > 300
    pd.testing.assert_frame_equal(fa.loc[common, list(FEATURES)], fb.loc[common, list(FEATURES)])
    ta = a.texts[fa.loc[common, "text_id"].to_numpy()]
    tb = b.texts[fb.loc[common, "text_id"].to_numpy()]
    assert (ta == tb).all()
    assert not any("FUTURE" in t or "future query" in t for t in ta)


def test_the_check_would_catch_a_leak(pair):
    ws, cut = pair
    a = build_examples(ws, "orig").frame
    b = build_examples(ws, "altered").frame
    # Sanity: after the cut things did change, so equality above is not vacuous.
    la = a[a["period"] > cut].set_index(["product_id", "period"])["log_units"]
    lb = b[b["period"] > cut].set_index(["product_id", "period"])["log_units"]
    common = la.index.intersection(lb.index)
    assert not np.allclose(la.loc[common], lb.loc[common])


def test_labels_up_to_t_minus_h_ignore_data_after_t(pair):
    ws, cut = pair
    a = build_examples(ws, "orig").frame
    b = build_examples(ws, "altered").frame
    h = 8
    limit = cut - pd.Timedelta(weeks=h)
    la = a[a["period"] <= limit].set_index(["product_id", "period"])["stage"]
    lb = b[b["period"] <= limit].set_index(["product_id", "period"])["stage"]
    common = la.index.intersection(lb.index)
    assert (la.loc[common] == lb.loc[common]).all()


def test_feature_values_by_hand(ws):
    sales = "product_id,date,units,revenue,returns\n" + "".join(
        f"A,2024-01-{1 + 7 * i:02d},{u},{u * 10},{r}\n" for i, (u, r) in enumerate([(0, 0), (4, 0), (8, 1), (4, 1)])
    )
    ingest(ws, "h", [SourceFile("sales.csv", sales.encode())])
    f = build_examples(ws, "h", with_text=False).frame.set_index("t")
    # The product first sold in period 1; its rows start there.
    assert list(f.index) == [1, 2, 3]
    assert f.loc[3, "age"] == 2
    assert f.loc[3, "log_units_4"] == pytest.approx(np.log1p(16 / 4))
    assert f.loc[3, "log_cum_units"] == pytest.approx(np.log1p(16))
    assert f.loc[3, "return_rate_8"] == pytest.approx(2 / 16)
    assert f.loc[3, "ratio_to_max"] == pytest.approx((16 / 4) / (12 / 3))
    assert f.loc[3, "periods_since_max"] == 0
    assert f.loc[3, "price_change"] == pytest.approx(0.0)
    # Lags: log units k periods back minus the log of the best period so far (8 units); before the first
    # period the first period's units (0) stand in.
    best = np.log1p(8)
    expected = [np.log1p(4) - best, 0.0, np.log1p(4) - best, np.log1p(0) - best, np.log1p(0) - best]
    assert [f.loc[3, f"lag_{k}"] for k in range(5)] == pytest.approx(expected)
    assert f.loc[2, "lag_0"] == 0.0


def test_text_has_latest_reviews_and_searches_with_pii_masked(ws):
    products = "product_id,title,category,description\nA,Red mug,Kitchen,Call 13812345678 for bulk orders\n"
    sales = "product_id,date,units\nA,2024-01-01,5\nA,2024-01-08,5\nA,2024-01-15,5\n"
    reviews = (
        "product_id,date,review,rating\nA,2024-01-02,first one,5\nA,2024-01-09,second,4\n"
        "A,2024-01-10,third mail me x@y.com,4\nA,2024-01-16,fourth,3\n"
    )
    search = "product_id,date,query,clicks\nA,2024-01-03,red mug,3\nA,2024-01-10,gift mug,2\n"
    files = [("products.csv", products), ("sales.csv", sales), ("reviews.csv", reviews), ("search_terms.csv", search)]
    ingest(ws, "t", [SourceFile(n, c.encode()) for n, c in files])
    ex = build_examples(ws, "t", config=FeatureConfig(k_reviews=2, k_terms=5))
    texts = {int(t): ex.texts[i] for t, i in zip(ex.frame["t"], ex.frame["text_id"], strict=True)}
    assert texts[0].startswith("Red mug. Category: Kitchen. Call [phone] for bulk orders.")
    assert "Reviews: first one." in texts[0] and "second" not in texts[0]
    assert "Reviews: third mail me [email] / second." in texts[1]
    assert "Searches: gift mug, red mug." in texts[1]
    assert "fourth" in texts[2] and "first one" not in texts[2]


def test_feature_config_is_validated():
    with pytest.raises(ValueError, match="k_reviews"):
        FeatureConfig(k_reviews=-1)


def test_model_predictions_up_to_t_ignore_everything_after_t(pair):
    """Causality through the model's inputs: a model's scores at t are the same whatever happens after t."""
    from transformers import AutoTokenizer

    from lifecycle_core.model import FeatureScaler, LifecycleModel, ModelConfig, default_encoder_path
    from lifecycle_core.predict import score_dataset

    from .conftest import tiny_bert

    ws, cut = pair
    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    X = build_examples(ws, "orig", with_text=False).frame[list(FEATURES)].to_numpy(float)
    model = LifecycleModel.create(
        ModelConfig(feature_names=FEATURES, max_length=64),
        FeatureScaler.fit(X),
        encoder=tiny_bert(tok.vocab_size),
        tokenizer=tok,
    )
    a = score_dataset(ws, "orig", model).set_index(["product_id", "period"])
    b = score_dataset(ws, "altered", model).set_index(["product_id", "period"])
    common = a.index[a.index.get_level_values("period") <= cut].intersection(b.index)
    assert len(common) > 300
    cols = ["p_introduction", "p_growth", "p_maturity", "p_decline", "next_demand"]
    np.testing.assert_allclose(a.loc[common, cols].to_numpy(), b.loc[common, cols].to_numpy(), rtol=0, atol=1e-6)
    later = a.index[a.index.get_level_values("period") > cut].intersection(b.index)
    assert not np.allclose(a.loc[later, cols].to_numpy(), b.loc[later, cols].to_numpy())  # the check can fail
