"""The stacked stage model: cross-fitting, analogs, saving without pickle, scoring and explanations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from transformers import AutoTokenizer

from lifecycle_core.analogs import AnalogReference
from lifecycle_core.explain import DEFAULT_BUDGET, explain_inputs, model_budget, product_inputs
from lifecycle_core.model import default_encoder_path
from lifecycle_core.predict import load_model, model_dir, model_examples, score_dataset
from lifecycle_core.stacked import K_FOLDS, PARTS, StackedModel, TextProjection, TextReader, product_folds
from lifecycle_core.train import TrainConfig, train

from .conftest import analog_frame, demo_workspace, tiny_bert


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return demo_workspace(tmp_path_factory.mktemp("stacked"), 40, 60, seed=6)


@pytest.fixture(scope="module")
def reader():
    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    return TextReader(encoder=tiny_bert(tok.vocab_size, seed=0), tokenizer=tok, max_length=32)


@pytest.fixture(scope="module")
def trained(small, reader, tmp_path_factory):
    base = tmp_path_factory.mktemp("tiny")
    reader.encoder.save_pretrained(base)
    reader.tokenizer.save_pretrained(base)
    res = train(small, "demo", TrainConfig(base_model=str(base)), output_dir=small.root / "models" / "st")
    return res, base


def test_folds_keep_every_product_in_one_fold():
    pids = np.array(["a", "b", "a", "c", "b", "d", "e", "f"])
    f = product_folds(pids)
    for p in np.unique(pids):
        assert len(set(f[pids == p])) == 1
    assert set(f) <= set(range(K_FOLDS))


def test_a_fold_classifier_never_saw_the_products_it_scores():
    rng = np.random.default_rng(0)
    n, D = 300, 9
    V = rng.normal(size=(n, D)).astype(np.float32)
    text_id = np.arange(n)
    pids = np.array([f"P{i // 3}" for i in range(n)])
    y = rng.integers(0, 4, n)
    folds = product_folds(pids)
    w = np.ones(4)
    a = TextProjection({})
    a.fit_classifiers(V, text_id, y, folds, w)
    # Change every label of fold 0's products: the fold-0 classifier (which scores them) stays the same,
    # the others (which trained on them) change.
    y2 = y.copy()
    y2[folds == 0] = (y2[folds == 0] + 1) % 4
    b = TextProjection({})
    b.fit_classifiers(V, text_id, y2, folds, w)
    np.testing.assert_allclose(a.probabilities(V, fold=0), b.probabilities(V, fold=0), atol=1e-6)
    assert not np.allclose(a.probabilities(V, fold=1), b.probabilities(V, fold=1), atol=1e-3)


def test_analogs_are_training_products_and_never_the_product_itself():
    frame = analog_frame()
    ids = np.array(["A", "B", "C"])
    vec = np.eye(3, dtype=np.float32)
    vec[2] = vec[0]  # C reads exactly like A
    cats = np.array(["x", "x", "x"])
    train = np.array([True, True, True, True, False, False])  # C is a test-side product
    ref = AnalogReference.from_training(frame, train, ids, vec, cats, "W", k=2)
    assert ref.ids == ["A", "B"]
    feats = ref.features(frame, ids, vec, cats)
    # A's only possible analog is B (never itself): B was in Maturity at age 1.
    assert feats["analog_maturity"][1] == 1.0
    # C's analogs are A and B; C itself (Decline) is not a reference product.
    assert feats["analog_decline"][5] == 0.0 and feats["analog_growth"][5] == 0.5
    # The analogs an explanation names are the same: A's is B, never A; C reads most like A.
    assert ref.nearest(vec[0], "x", "A", k=2) == ["B"]
    assert ref.nearest(vec[2], "x", "C", k=2) == ["A", "B"]


def test_stacked_training_reports_its_parts_and_saves_no_pickle(trained):
    res, _ = trained
    folder = res.output_dir / "model"
    files = {p.name for p in folder.iterdir()}
    assert "config.json" in files and "booster.txt" in files
    assert not any(n.endswith((".pkl", ".pickle", ".joblib", ".bin", ".pt")) for n in files)
    meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    parts = meta["training"]["parts"]
    assert parts["used"][0] == "signals"
    assert set(parts["used"][1:]) | set(parts["left_out"]) == set(PARTS)
    assert meta["training"]["model_kind"] == "stacked"
    assert any("validation_macro_f1" in h for h in parts["selection"])
    assert 0 < meta["calibration"]["temperature"] < 20 and meta["metrics"]["validation"]["n"] > 0


def test_a_saved_stacked_model_scores_exactly_as_the_trained_one(small, trained):
    res, _ = trained
    loaded = load_model(model_dir(small, "st"))
    assert isinstance(loaded, StackedModel)
    a = score_dataset(small, "demo", res.model, examples=res.examples)
    b = score_dataset(small, "demo", loaded)
    cols = ["p_introduction", "p_growth", "p_maturity", "p_decline"]
    cols = [c for c in a.columns if c in cols] or [c for c in a.columns if c.startswith("p_")]
    assert len(a) == len(b) > 0 and cols
    np.testing.assert_allclose(a[cols].to_numpy(), b[cols].to_numpy(), atol=1e-9)
    np.testing.assert_allclose(a[cols].to_numpy().sum(1), 1.0, atol=1e-9)
    assert (a["next_demand"] >= 0).all()


def test_stacked_explanations_add_up(small, trained):
    res, _ = trained
    model = res.model
    pid = str(res.examples.frame["product_id"].iloc[-1])
    text, x, _ = product_inputs(small, "demo", model, pid)
    assert len(x) == len(model.config.feature_names)
    exp = explain_inputs(model, text, x, budget=24, feature_budget=200, cache=None)
    np.testing.assert_allclose(exp.totals(), exp.probabilities, atol=1e-6)
    assert exp.reads_text == model.reads_text()
    # Without a budget, the stacked model's own (its trees need more evaluations than the network).
    assert model_budget(model) == StackedModel.explain_budget > DEFAULT_BUDGET == model_budget(object())


def test_model_examples_add_the_inputs_a_stacked_model_reads(small, trained):
    res, _ = trained
    ex = model_examples(small, "demo", res.model)
    assert set(res.model.config.feature_names) <= set(ex.frame.columns)


def test_explain_page_shows_a_stacked_model_with_its_words(small, trained, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from lifecycle_core.predict import predict_and_store

    from .conftest import ROOT

    predict_and_store(small, "st", "demo")
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(small.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/explain.py").run()
    assert not at.exception, at.exception
    assert any("Why" in h.value for h in at.subheader)
    assert any("Products like this one" in h.value for h in at.subheader)


def test_small_catalogs_choose_parts_by_cross_validation_and_large_ones_by_validation():
    from lifecycle_core.train_stacked import CV_BELOW_PRODUCTS, CV_BELOW_ROWS, CV_FOLDS, _CrossValidation

    def plan(n_products: int, rows_each: int, val_share: float):
        pids = np.repeat([f"P{i}" for i in range(n_products)], rows_each)
        va = np.isin(pids, [f"P{i}" for i in range(int(n_products * val_share))])
        return _CrossValidation.plan(pids, ~va, va, np.zeros(len(pids), dtype=int)), pids

    cv, pids = plan(40, 50, 0.2)  # 8 validation products: cross-validation
    assert cv is not None and cv.folds == CV_FOLDS and len(cv.rows) == len(pids)
    for p in np.unique(pids):
        assert len(set(cv.fold[pids[cv.rows] == p])) == 1  # a product's rows stay in one fold
    assert plan(2 * CV_BELOW_PRODUCTS, 10, 0.5)[0] is None  # enough validation products
    assert plan(100, CV_BELOW_ROWS // 50, 0.2)[0] is None  # enough rows: a fit costs seconds
    assert plan(2 * CV_FOLDS - 1, 10, 0.2)[0] is None  # too few products for the folds


def test_cross_validation_never_scores_a_row_with_a_booster_that_saw_its_product():
    """Each product's rows carry its own code and its own stage: a booster that trained on a product
    recognises it (in-sample macro-F1 near 1), one that did not can only guess (near 0.25)."""
    from lifecycle_core.evaluate import classification_metrics
    from lifecycle_core.train_stacked import _CrossValidation

    rng = np.random.default_rng(3)
    n_products, rows_each = 60, 20
    pids = np.repeat([f"P{i}" for i in range(n_products)], rows_each)
    stage = np.repeat(rng.permutation(np.arange(n_products) % 4), rows_each)
    code = np.repeat(rng.permutation(n_products).astype(float), rows_each)
    M = np.column_stack([code, rng.normal(size=len(pids))])
    va = np.isin(pids, [f"P{i}" for i in range(10)])
    cv = _CrossValidation.plan(pids, ~va, va, stage)
    proba, rounds = cv.out_of_fold(M)
    assert classification_metrics(cv.y, proba)["macro_f1"] < 0.5
    seen = cv.final(M, max(rounds, 50))
    inside = np.asarray(seen.predict(M[cv.rows], raw_score=True)).reshape(len(cv.y), 4)
    assert classification_metrics(cv.y, np.exp(inside))["macro_f1"] > 0.9  # what leaking would look like


def test_a_small_catalog_trains_on_training_and_validation_rows(trained):
    res, _ = trained
    meta = json.loads((res.output_dir / "model" / "config.json").read_text(encoding="utf-8"))
    assert "cross-validation by product" in meta["metrics"]["validation"]["selection"]
    assert meta["training"]["n_train"] > 0 and meta["training"]["steps"] >= 1


def test_a_short_sparse_history_without_validation_labels_still_trains(trained, tmp_path):
    """A compact time split validates on a share of the products; on a small, sparse catalog those can
    all be unlabeled. Cross-validation over product folds does not need them, so training goes on."""
    from lifecycle_core.splits import SplitConfig, _product_fraction
    from lifecycle_core.train_stacked import _CrossValidation

    pids = np.repeat([f"P{i}" for i in range(30)], 20)
    none = np.zeros(len(pids), dtype=bool)
    assert _CrossValidation.plan(pids, ~none, none, np.zeros(len(pids), dtype=int)) is not None
    _, base = trained
    ws = demo_workspace(tmp_path, 30, 30, seed=2)  # 30 weeks: the compact layout
    products = ws.load_table("demo", "products")["product_id"].to_numpy()
    # A seed whose 1 % validation share holds none of the 30 products: no validation rows at all.
    seed = next(k for k in range(100) if not _product_fraction(products, 0.01, salt=f"val:{k}").any())
    split = SplitConfig(val_fraction=0.01, seed=seed)
    res = train(ws, "demo", TrainConfig(base_model=str(base)), output_dir=tmp_path / "m", split=split)
    assert res.model.training["n_val"] == 0 and res.model.training["n_train"] > 0
    assert "cross-validation by product" in res.metrics["selection"]


def test_young_rows_get_their_own_calibration_and_older_rows_keep_theirs():
    """Young products' stage mix differs (the label rules): one temperature left Online Retail II's
    cold-start slice at ECE 0.090. Vector scaling fitted on young validation rows moves only them."""
    from lifecycle_core.calibration import (
        MIN_YOUNG_ROWS,
        YOUNG_WEEKS,
        YoungCalibration,
        calibrated_logits,
        fit_stage_calibration,
        fit_temperature,
    )
    from lifecycle_core.evaluate import expected_calibration_error
    from lifecycle_core.stacked import _softmax

    rng = np.random.default_rng(0)

    def sample(n):
        age = rng.integers(0, 40, n).astype(float)
        logits = rng.normal(size=(n, 4)) * 2
        p = _softmax(logits)
        young = age < YOUNG_WEEKS
        p[young] = _softmax(logits[young] + np.array([1.5, -3.0, 0.0, 1.0]))  # what really happens when young
        y = np.array([rng.choice(4, p=row) for row in p])
        return logits, y, age

    L, y, age = sample(6000)
    cal = YoungCalibration.fit(L, y, age)
    assert cal is not None and cal.n == int((age < YOUNG_WEEKS).sum()) >= MIN_YOUNG_ROWS
    L2, y2, age2 = sample(6000)
    z = cal.apply(L2.copy(), L2, age2)
    young = age2 < YOUNG_WEEKS
    np.testing.assert_array_equal(z[~young], L2[~young])  # older rows untouched
    before = expected_calibration_error(y2[young], _softmax(L2[young]))
    after = expected_calibration_error(y2[young], _softmax(z[young]))
    assert after < before / 2 and after < 0.05
    assert YoungCalibration.fit(L[:100], y[:100], age[:100]) is None  # too few young rows: none
    assert YoungCalibration.from_dict(cal.to_dict()).to_dict() == cal.to_dict()

    # What training and every ablation variant fit: the older rows' temperature from older rows only
    # (they are calibrated as drawn: T near 1, where all rows together would pull it away).
    t, young_cal = fit_stage_calibration(L, y, age)
    assert young_cal is not None and abs(t - 1.0) < 0.1
    assert abs(fit_temperature(_softmax(L), y) - 1.0) > abs(t - 1.0)
    np.testing.assert_allclose(calibrated_logits(L2, t, young_cal, age2)[~young], L2[~young] / t)
    t_few, none = fit_stage_calibration(L[:100], y[:100], age[:100])
    assert none is None and t_few == fit_temperature(_softmax(L[:100]), y[:100])


def test_a_saved_young_calibration_scores_and_explains_as_before(small, trained, tmp_path):
    from lifecycle_core.calibration import YoungCalibration

    res, _ = trained
    model = load_model(model_dir(small, "st"))
    model.young = YoungCalibration(0.8, [0.5, -1.0, 0.2, 0.3])
    model.save(tmp_path / "m")
    again = StackedModel.load(tmp_path / "m")
    frame = res.examples.frame
    X = frame[list(model.config.feature_names)].to_numpy(float)
    texts = res.examples.texts[frame["text_id"].to_numpy()].tolist()
    a, b = model.predict_proba(texts, X), again.predict_proba(texts, X)
    np.testing.assert_allclose(a, b, atol=1e-12)
    young = X[:, list(model.config.feature_names).index("age")] < 8
    assert young.any() and (~young).any()
    plain = load_model(model_dir(small, "st")).predict_proba(texts, X)
    np.testing.assert_allclose(a[~young], plain[~young], atol=1e-12)  # older rows as without it
    assert not np.allclose(a[young], plain[young])
    row = int(np.flatnonzero(young)[0])
    exp = explain_inputs(again, texts[row], X[row], budget=24, feature_budget=200, cache=None)
    np.testing.assert_allclose(exp.totals(), exp.probabilities, atol=1e-6)
