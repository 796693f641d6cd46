"""Paired bootstrap over products and ECE's sampling floor (significance.py), and where they are reported."""

import numpy as np
import pytest

from lifecycle_core.evaluate import classification_metrics, evaluate_dataset, expected_calibration_error
from lifecycle_core.significance import ece_floor, macro_f1_from_confusion, paired_f1_difference

from .conftest import demo_workspace


def _noisy(y, keep, rng):
    return np.where(rng.random(len(y)) < keep, y, rng.integers(0, 4, len(y)))


def test_macro_f1_from_confusion_is_classification_metrics_macro_f1():
    rng = np.random.default_rng(0)
    for n, stages in ((500, 4), (60, 2)):  # with two stages absent: they count only where predicted
        y = rng.integers(0, stages, n)
        pred = _noisy(y, 0.6, rng)
        cm = np.zeros(16)
        np.add.at(cm, y * 4 + pred, 1)
        expected = classification_metrics(y, np.eye(4)[pred])["macro_f1"]
        assert macro_f1_from_confusion(cm) == pytest.approx(expected, abs=5e-5)


def test_the_difference_is_the_difference_and_its_interval_is_around_it():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 3000)
    groups = np.repeat(np.arange(300), 10)
    a, b = _noisy(y, 0.8, rng), _noisy(y, 0.6, rng)
    d = paired_f1_difference(y, a, b, groups)
    f1 = {k: classification_metrics(y, np.eye(4)[p])["macro_f1"] for k, p in (("a", a), ("b", b))}
    assert d["diff"] == pytest.approx(100 * (f1["a"] - f1["b"]), abs=0.06)
    assert 0 < d["low"] < d["diff"] < d["high"] and d["share_above_zero"] == 1.0 and d["groups"] == 300
    same = paired_f1_difference(y, a, a, groups)
    assert same["diff"] == same["low"] == same["high"] == 0.0


def test_products_not_rows_are_resampled():
    """Errors that come in whole products (one product's periods wrong together) are more uncertain than
    the same number of scattered errors: the interval over products is wider than over rows."""
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(100), 20)
    y = rng.integers(0, 4, len(groups))
    wrong_products = rng.random(100) < 0.2
    a = np.where(wrong_products[groups], (y + 1) % 4, y)  # 20 % of the products entirely wrong
    b = _noisy(y, 0.9, rng)
    by_product = paired_f1_difference(y, a, b, groups)
    by_row = paired_f1_difference(y, a, b, np.arange(len(y)))
    assert by_product["diff"] == by_row["diff"]
    assert by_product["high"] - by_product["low"] > 2 * (by_row["high"] - by_row["low"])


def test_a_single_product_has_no_interval_and_mismatched_rows_are_refused():
    y = np.array([0, 1, 2, 3])
    d = paired_f1_difference(y, y, np.zeros(4, int), np.array(["P1"] * 4))
    assert d["diff"] > 0 and d["low"] is None and d["groups"] == 1
    with pytest.raises(ValueError, match="rows differ"):
        paired_f1_difference(y, y[:3], y, y)


def test_ece_floor_is_what_a_calibrated_model_shows_and_shrinks_with_rows():
    rng = np.random.default_rng(3)
    floors = {}
    for n in (300, 20000):
        proba = rng.dirichlet(np.full(4, 0.7), n)
        cum = np.cumsum(proba, axis=1)
        # Labels drawn from the probabilities: calibrated by construction; its ECE varies from draw to draw
        # (sd ~0.017 on 300 rows), its mean is the floor.
        ys = [np.minimum((rng.random((n, 1)) > cum).sum(axis=1), 3) for _ in range(20)]
        floors[n] = ece_floor(proba)
        measured = np.mean([expected_calibration_error(y, proba) for y in ys])
        assert measured == pytest.approx(floors[n], abs=0.01 if n == 300 else 0.002)
        sharp = proba**3 / (proba**3).sum(axis=1, keepdims=True)  # overconfident
        assert expected_calibration_error(ys[0], sharp) > floors[n] + 0.05
    assert floors[300] > 3 * floors[20000] and ece_floor(np.zeros((0, 4))) is None


def test_evaluate_reports_each_model_against_gbm_with_an_interval(tmp_path):
    ws = demo_workspace(tmp_path, 40, 70, seed=4)
    r = evaluate_dataset(ws, "demo")
    for block in (r["baselines"], r["product_split"]["baselines"]):
        assert "vs_gbm" not in block["gbm"]
        for name in ("majority", "rules"):
            d = block[name]["vs_gbm"]
            assert d["diff"] == pytest.approx(100 * (block[name]["macro_f1"] - block["gbm"]["macro_f1"]), abs=0.06)
            assert d["low"] <= d["diff"] <= d["high"]
        assert all(0 < m["ece_floor"] < 0.5 for m in block.values())
