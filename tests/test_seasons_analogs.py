"""Season inputs are causal and right by hand; analog products come from training products only; the
ablation runs end to end on a small demo."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lifecycle_core import cli
from lifecycle_core.analogs import ANALOG_FEATURES, analog_features, neighbours, text_vectors
from lifecycle_core.panel import Panel
from lifecycle_core.seasons import SEASON_FEATURES, season_features

from .conftest import analog_frame, demo_workspace


def _panel(units: np.ndarray) -> Panel:
    P, T = units.shape
    return Panel(
        pd.Index([f"P{i}" for i in range(P)], dtype="str"),
        pd.date_range("2022-01-03", periods=T, freq="W-MON"),
        "W",
        {"units": units.astype(float)},
        {"units": units > 0},
    )


def test_season_inputs_at_t_ignore_everything_after_t():
    rng = np.random.default_rng(0)
    units = rng.poisson(20, (6, 160)).astype(float)
    cats = pd.Series(["a", "a", "b", "b", "b", ""], index=[f"P{i}" for i in range(6)])
    base = season_features(_panel(units), cats)
    t = 90
    changed = units.copy()
    changed[:, t + 1 :] = rng.poisson(300, (6, 160 - t - 1))
    again = season_features(_panel(changed), cats)
    for name in SEASON_FEATURES:
        np.testing.assert_array_equal(base[name][:, : t + 1], again[name][:, : t + 1], err_msg=name)
    assert not np.allclose(
        np.nan_to_num(base["own_last_year"][:, t + 53 :]), np.nan_to_num(again["own_last_year"][:, t + 53 :])
    )


def test_season_inputs_by_hand():
    T = 120
    week = np.arange(T)
    # One product that sells 100 a week around week 40 of each year and 10 otherwise.
    units = np.where(np.abs((week % 52) - 40) <= 3, 100.0, 10.0)[None, :]
    f = season_features(_panel(units))
    assert np.isnan(f["own_last_year"][0, :52]).all() and not np.isnan(f["own_last_year"][0, 52:]).any()
    # A year after the first season's peak the product is at its best level again: 0 below its best.
    assert f["own_last_year"][0, 52 + 42] == pytest.approx(0.0, abs=0.05)
    # At week 52 + 30 the last peak (the 4-week mean first reaches 100 at week 40) was 42 weeks ago,
    # and comes round again in 10.
    since, to = f["weeks_since_cat_peak"][0, 82], f["weeks_to_cat_peak"][0, 82]
    assert (since, to) == (42, 10)
    # ... and last year, the 8 weeks after this date brought the season: the category rose.
    assert f["cat_ahead_last_year"][0, 82] > 1.0
    assert np.allclose(f["season_sin"][0] ** 2 + f["season_cos"][0] ** 2, 1)


def test_neighbours_are_training_products_same_category_first_never_itself():
    vectors = np.eye(6, dtype=np.float32)
    vectors[1] = vectors[0] * 0.9 + vectors[1] * 0.1  # P1 reads like P0
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cats = np.array(["a", "b", "a", "a", "b", "b"])
    cand = np.array([1, 2, 3, 4])
    nb = neighbours(vectors, cats, cand, k=2)
    assert set(nb.ravel()) <= set(cand)
    assert all(i not in nb[i] for i in range(6))
    assert set(nb[0]) == {2, 3}  # its category first, though P1 reads closer
    assert nb[5][0] in (1, 4) and nb[5][1] in (1, 4)
    assert (neighbours(vectors, cats, np.array([], dtype=int), k=2) == -1).all()


def test_analog_features_read_training_rows_only():
    frame = analog_frame()
    train = np.array([True, True, True, True, False, False])
    nb = np.array([[1, 2], [0, 2], [0, 1]])
    a = analog_features(frame, train, nb, 3, "W")
    assert set(a) == set(ANALOG_FEATURES)
    # Product 0 at age 1: its training analog (product 1) was in Maturity; product 2 is not a training row.
    assert a["analog_maturity"][1] == 1.0 and a["analog_decline"][1] == 0.0
    assert a["analog_weeks_to_peak"][0] == pytest.approx(1.0)  # product 1 peaked at age 1
    changed = frame.assign(stage=[0, 1, 0, 2, 0, 0])  # labels of non-training rows change
    b = analog_features(changed, train, nb, 3, "W")
    for k in ANALOG_FEATURES:
        np.testing.assert_array_equal(a[k], b[k])


def test_text_vectors_put_similar_titles_close():
    v = text_vectors(["Oak bookshelf, five shelves", "Pine bookshelf with 5 shelves", "Silk evening dress"])
    assert v.shape[0] == 3 and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]


@pytest.mark.slow
def test_ablation_command_runs_on_a_small_demo(tmp_path, capsys):
    """Every variant on both splits, and a trained model (the transformer alone: a tiny neural model
    trained on the product split) as a row of its own split only."""
    from transformers import AutoTokenizer

    from lifecycle_core.model import default_encoder_path
    from lifecycle_core.train import TrainConfig, train

    from .conftest import tiny_bert

    ws = demo_workspace(tmp_path, 40, 70, seed=2)
    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    cfg = TrainConfig(model_kind="neural", split="product", max_steps=2, batch_size=16, max_length=32)
    train(ws, "demo", cfg, output_dir=ws.root / "models" / "nn", encoder=tiny_bert(tok.vocab_size), tokenizer=tok)
    args = ["evaluate", "--workspace", str(ws.root), "--dataset", "demo", "--ablation"]
    assert cli.main([*args, "--model", "nn", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["models"] == {"nn": "product"}
    for sl, cells in res["product"]["slices"].items():
        assert cells["n"] == 0 or 0 <= cells["nn"]["macro_f1"] <= 1, sl
    assert not any("nn" in cells for cells in res["time"]["slices"].values())
    for kind in ("time", "product"):
        test = res[kind]["slices"]["test"]
        assert test["n"] > 0 and {
            "gbm",
            "signals",
            "+ seasons",
            "+ analogs",
            "+ catalog text",
            "full",
            "full, no text",
        } <= set(test)
        assert all(0 <= test[v]["macro_f1"] <= 1 for v in res["variants"])
    assert "cold start" in res["product"]["slices"]
    # The differences that matter, on every slice with rows, each with its interval over products.
    diffs = res["product"]["differences"]["test"]
    assert {"full - gbm", "full - full, no text", "full - signals", "nn - gbm"} == set(diffs)
    full, gbm = (res["product"]["slices"]["test"][v]["macro_f1"] for v in ("full", "gbm"))
    assert diffs["full - gbm"]["diff"] == pytest.approx(100 * (full - gbm), abs=0.06)
    assert "nn - gbm" not in res["time"]["differences"]["test"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "+ reviews and searches" in out and "full - full, no text" in out and "bootstrap over products" in out
    assert cli.main([*args, "--model", "no such model"]) == 2


def test_similar_products_read_like_it_never_itself_and_the_vectors_are_kept(tmp_path):
    from lifecycle_core.analogs import similar_products

    ws = demo_workspace(tmp_path, 30, 30, seed=6)
    products = ws.load_table("demo", "products")
    pid = products["product_id"].iloc[0]
    like = similar_products(ws, "demo", pid, k=4)
    assert len(like) == 4 and pid not in set(like["product_id"])
    cat = products.set_index("product_id")["category"]
    same = (like["category"] == cat[pid]).to_numpy()
    assert not (~same[:-1] & same[1:]).any()  # its own category comes first, most similar first
    assert (np.diff(like["similarity"].to_numpy()[same]) <= 1e-6).all()
    cache = next((ws.root / "cache").rglob("catalog_vectors.npy"))
    assert np.load(cache, allow_pickle=False).shape[0] == len(products)
    assert similar_products(ws, "demo", "no-such-product").empty


def test_the_sentence_names_an_analog_product_when_analogs_are_the_reason(tmp_path):
    """A model reading analog inputs names the training product most like this one (never the product
    itself, never a product outside its reference) when an analog input is the strongest reason."""
    from types import SimpleNamespace

    from lifecycle_core.analogs import AnalogReference
    from lifecycle_core.explain import Explanation, analog_names
    from lifecycle_core.features import FEATURES, build_examples
    from lifecycle_core.stacked import panel_vectors

    ws = demo_workspace(tmp_path, 30, 30, seed=6)
    ex = build_examples(ws, "demo", with_text=False)
    panel = ex.labels.panel
    vec, cats = panel_vectors(ws, "demo", panel)
    training = panel.products[:20].astype(str)
    train = ex.frame["product_id"].astype(str).isin(training).to_numpy()
    ref = AnalogReference.from_training(ex.frame, train, panel.products, vec, cats, panel.period, k=5)
    model = SimpleNamespace(analogs=ref, config=SimpleNamespace(feature_names=FEATURES + ANALOG_FEATURES))
    titles = ws.load_table("demo", "products").drop_duplicates("product_id").set_index("product_id")["title"]
    titles.index = titles.index.astype(str)
    for i in (25, 0):  # a new product, a reference product
        pid = str(panel.products[i])
        names, ids = analog_names(ws, "demo", model, pid, k=3), ref.nearest(vec[i], cats[i], pid, k=3)
        assert len(ids) == 3 and pid not in ids and set(ids) <= set(training)
        assert names == [titles[j] for j in ids]
    assert (
        analog_names(ws, "demo", SimpleNamespace(analogs=ref, config=SimpleNamespace(feature_names=FEATURES)), pid)
        == []
    )
    assert analog_names(ws, "demo", model, "no such product") == []

    features = pd.DataFrame(
        {"feature": ["analog_growth", "ratio_to_max"], "input": [0.0, 0.5], "stage": [3, 3], "value": [0.3, 0.1]}
    )
    tokens = pd.DataFrame(columns=["token", "start", "end", "stage", "value"])
    exp = Explanation(
        "t", {}, np.array([0.1, 0.1, 0.1, 0.7]), np.full(4, 0.25), tokens, features, meta={"analogs": names}
    )
    assert (
        exp.sentence("en")
        == f"Predicted Decline (70%) mainly because 0% of similar products (such as “{names[0]}”) were in Growth at this age."
    )
    assert f"相似商品（如“{names[0]}”）同龄时有 0% 处于成长期" in exp.sentence("zh")
    exp.meta = {}
    assert "because 0% of similar products were in Growth at this age" in exp.sentence("en")
    # The same input raising Growth is no reason to say ("Growth because 0% ... were in Growth"): the
    # sentence names the next feature instead.
    growth = Explanation(
        "t", {}, np.array([0.1, 0.7, 0.1, 0.1]), np.full(4, 0.25), tokens, features.assign(stage=1), meta={}
    )
    assert "similar products" not in growth.sentence("en") and growth.sentence("en").startswith("Predicted Growth")


def test_text_vectors_batch_by_length_and_read_as_one_text_at_a_time():
    """Batches of similar token counts (a padded batch of mixed lengths spent half the encoder's work on
    padding); each vector is what the text alone gives."""
    from lifecycle_core.analogs import PAD_SLACK, length_batches

    lengths = np.random.default_rng(0).integers(1, 128, 500)
    batches = length_batches(lengths, 64)
    assert sorted(np.concatenate(batches).tolist()) == list(range(500))
    for b in batches:
        assert len(b) <= 64 and (len(b) == 1 or lengths[b].max() * len(b) <= PAD_SLACK * lengths[b].sum())
    texts = ["Oak shelf " * n for n in (1, 30, 2, 25, 3, 40)] + ["", "Silk dress"]
    together = text_vectors(texts)
    alone = np.stack([text_vectors([t])[0] for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_seasonal_low_reads_the_products_own_last_year():
    """Monthly, 30 months to June: a Christmas item selling as much as last June is in a seasonal low
    (its season 6 months on); one selling a fifth of last June is declining; a product with half a year
    of history, or a steady one, is in no seasonal low."""
    from lifecycle_core.panel import Panel
    from lifecycle_core.seasons import seasonal_low

    periods = pd.date_range("2022-01-01", periods=30, freq="MS")
    xmas = np.where(periods.month == 12, 800.0, np.where(periods.month.isin([10, 11]), 250.0, 30.0))
    fading = xmas * np.where(periods >= "2024-01-01", 0.2, 1.0)
    young = np.where(periods >= "2024-01-01", 40.0, 0.0)
    steady = np.full(30, 100.0)
    units = np.vstack([xmas, fading, young, steady])
    panel = Panel(pd.Index(["xmas", "fading", "young", "steady"], dtype="str"), periods, "M", {"units": units}, {})
    s = seasonal_low(panel).set_index("product_id")
    assert s["seasonal_low"].to_dict() == {"xmas": True, "fading": False, "young": False, "steady": False}
    assert s.loc["xmas", "periods_to_peak"] == 6 and s.loc["xmas", "season_peak"] == 800
    assert not seasonal_low(panel, t=11)["seasonal_low"].any()  # no year and a half of history yet
    assert not seasonal_low(panel, t=23).set_index("product_id").loc["xmas", "seasonal_low"]  # December: the peak
