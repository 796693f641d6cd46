"""Splits without leakage, metrics equal to scikit-learn's, baselines, the evaluation harness and its CLI."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from lifecycle_core.baselines import GBMBaseline, MajorityBaseline, RulesBaseline
from lifecycle_core.evaluate import classification_metrics, evaluate_dataset, expected_calibration_error
from lifecycle_core.features import FEATURES
from lifecycle_core.ingest import ingest
from lifecycle_core.readers import SourceFile
from lifecycle_core.splits import GAP, TEST, TRAIN, VAL, SplitConfig, product_split, time_split

from .conftest import ROOT


def test_time_split_is_ordered_with_gaps():
    t = np.repeat(np.arange(100), 3)
    s = time_split(t, 100, horizon=8)
    last = {k: t[s == k].max() for k in (TRAIN, VAL, TEST)}
    first = {k: t[s == k].min() for k in (TRAIN, VAL, TEST)}
    assert last[TRAIN] < first[VAL] and last[VAL] < first[TEST]
    assert first[VAL] - last[TRAIN] - 1 == 8 and first[TEST] - last[VAL] - 1 == 8  # the gap is h periods
    assert last[TEST] == 100 - 8 - 1  # the unlabeled tail is never tested
    assert set(s) == {TRAIN, VAL, TEST, GAP}


def test_no_product_period_in_two_splits_and_products_do_not_cross():
    rng = np.random.default_rng(0)
    pids = np.array([f"P{i}" for i in rng.integers(0, 200, 5000)])
    s = product_split(pids)
    per_product = pd.Series(s).groupby(pids).nunique()
    assert (per_product == 1).all()
    share = pd.Series(s).value_counts(normalize=True)
    assert 0.1 < share[TEST] < 0.3 and 0.05 < share[VAL] < 0.25
    assert (product_split(pids, config=SplitConfig(seed=1)) != s).any()


def test_time_split_needs_enough_periods():
    with pytest.raises(ValueError, match="too few for a time split"):
        time_split(np.arange(20), 20, horizon=8)


def test_split_config_is_validated():
    with pytest.raises(ValueError, match="test_fraction"):
        SplitConfig(test_fraction=0.8, val_fraction=0.2)


def test_metrics_match_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 400)
    logits = rng.normal(size=(400, 4)) + 2.0 * np.eye(4)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    m = classification_metrics(y, proba)
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=1e-4)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-4)
    p, r, _f, _sup = skm.precision_recall_fscore_support(y, pred, labels=[0, 1, 2, 3], zero_division=0)
    assert [m["per_stage"][k]["recall"] for k in m["per_stage"]] == pytest.approx(r, abs=1e-4)
    assert [m["per_stage"][k]["precision"] for k in m["per_stage"]] == pytest.approx(p, abs=1e-4)
    assert m["confusion"] == skm.confusion_matrix(y, pred, labels=[0, 1, 2, 3]).tolist()


def test_macro_f1_with_an_absent_stage_matches_sklearn():
    y = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 2])
    proba = np.eye(4)[pred]
    assert classification_metrics(y, proba)["macro_f1"] == pytest.approx(
        skm.f1_score(y, pred, average="macro"), abs=1e-4
    )


def test_ece_by_hand():
    # Confidence 0.9, accuracy 0.5 in one bin: ECE 0.4. Perfectly calibrated one-hots: 0.
    proba = np.array([[0.9, 0.1 / 3, 0.1 / 3, 0.1 / 3]] * 4)
    assert expected_calibration_error(np.array([0, 0, 1, 1]), proba) == pytest.approx(0.4)
    assert expected_calibration_error(np.array([0, 1]), np.eye(4)[[0, 1]]) == 0


def test_metrics_validate_shapes():
    with pytest.raises(ValueError, match="shape"):
        classification_metrics(np.array([0, 1]), np.ones((2, 3)))


def _frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({k: rng.normal(size=n) for k in FEATURES})
    y = (X["ratio_to_max"] > 0).astype(int) * 3  # Maturity-ish vs Decline-ish, learnable
    return X, y.to_numpy()


def test_baselines_have_the_sklearn_shape():
    X, y = _frame()
    for model in (MajorityBaseline(), RulesBaseline(), GBMBaseline(max_iter=30)):
        proba = model.fit(X, y).predict_proba(X)
        assert proba.shape == (len(X), 4) and np.allclose(proba.sum(axis=1), 1)
        assert model.predict(X).shape == (len(X),)
    assert (MajorityBaseline().fit(X, np.array([2, 2, 1])).predict(X[:3]) == 2).all()
    gbm = GBMBaseline(max_iter=50).fit(X, y)
    assert (gbm.predict(X) == y).mean() > 0.9
    assert gbm.predict_proba(X)[:, [1, 2]].sum() == 0  # stages never seen get no probability


def test_rules_baseline_follows_its_rules():
    X = pd.DataFrame({k: [0.0] * 4 for k in FEATURES})
    X["age"] = [2, 30, 30, 30]
    X["slope_8"] = [0.0, 0.2, 0.0, 0.0]
    X["ratio_to_max"] = [1.0, 0.9, 0.95, 0.3]
    X["periods_since_max"] = [0, 0, 2, 10]
    assert RulesBaseline().predict(X).tolist() == [0, 1, 2, 3]


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory):
    from lifecycle_core.demo import write_demo
    from lifecycle_core.store import Workspace

    root = tmp_path_factory.mktemp("eval")
    paths = write_demo(root / "files", 80, 60, seed=2)
    ws = Workspace(root / "ws")
    ingest(ws, "demo", [SourceFile.from_path(p) for p in paths])
    return ws


def test_evaluate_dataset_reports_both_splits(demo_ws):
    r = evaluate_dataset(demo_ws, "demo")
    assert r["split"] == "time" and r["n_test"] > 0 and r["n_train"] > r["n_test"]
    assert set(r["baselines"]) == {"majority", "rules", "gbm"}
    for block in (r["baselines"], r["product_split"]["baselines"]):
        assert all(0 <= m["macro_f1"] <= 1 for m in block.values())
        assert block["gbm"]["macro_f1"] > block["majority"]["macro_f1"]
    assert r["product_split"]["split"] == "product" and r["product_split"]["n_test"] > 0
    assert r["product_split"]["cold_start_first_8"]["n_test"] > 0


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "lifecycle_core", *args], cwd=ROOT, capture_output=True, text=True)


def test_label_and_evaluate_cli(demo_ws):
    r = _cli("label", "--workspace", str(demo_ws.root), "--dataset", "demo", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert set(rep["counts"]) == {"Introduction", "Growth", "Maturity", "Decline"}
    assert -1 <= rep["agreement"]["cohen_kappa"] <= 1 and rep["paths"]
    r = _cli("label", "--workspace", str(demo_ws.root), "--dataset", "demo", "--rule", "bass")
    assert r.returncode == 0 and "by the bass rule" in r.stdout
    r = _cli("evaluate", "--workspace", str(demo_ws.root), "--dataset", "demo", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["split"] == "time" and {"majority", "rules", "gbm"} <= set(res["baselines"])
    assert res["product_split"]["split"] == "product"
    assert "macro_f1" in res["baselines"]["majority"]
    r = _cli("evaluate", "--workspace", str(demo_ws.root), "--dataset", "nope")
    assert r.returncode == 1 and "no dataset named 'nope'" in r.stderr


def test_actions_anomalies_and_backtest_cli(demo_ws, tmp_path):
    out = tmp_path / "actions.xlsx"
    r = _cli("actions", "--workspace", str(demo_ws.root), "--dataset", "demo", "--out", str(out))
    assert r.returncode == 0, r.stderr
    acts = pd.read_excel(out)
    assert len(acts) > 0 and set(acts["action"]) <= {"restock", "promote", "hold", "clearance", "watch"}
    assert {"quantity", "markdown_pct", "reason_en", "reason_zh", "cover_before", "capital"} <= set(acts.columns)
    assert "units to order" in r.stdout
    out2 = tmp_path / "anomalies.csv"
    r = _cli("anomalies", "--workspace", str(demo_ws.root), "--dataset", "demo", "--out", str(out2), "--top", "2")
    assert r.returncode == 0, r.stderr
    flags = pd.read_csv(out2, encoding="utf-8-sig")
    assert {"product_id", "period", "type", "score", "reason_en", "reason_zh"} <= set(flags.columns)
    r = _cli("backtest", "--workspace", str(demo_ws.root), "--dataset", "demo", "--json")
    assert r.returncode == 0, r.stderr
    bt = json.loads(r.stdout)
    assert {"stage_holt", "ses", "seasonal_naive"} <= set(bt) and 0 <= bt["stage_holt"]["coverage"] <= 1


def test_flagged_rows_are_left_out_of_training(demo_ws, monkeypatch):
    import lifecycle_core.anomalies as an

    seen = {}
    real = an.flagged_mask

    def spy(frame, flags, *a, **k):
        m = real(frame, flags, *a, **k)
        seen["n"] = int(m.sum())
        return m

    monkeypatch.setattr(an, "flagged_mask", spy)
    r = evaluate_dataset(demo_ws, "demo", exclude_anomalies=True)
    assert r["excluded_from_training"] == seen["n"] > 0
    plain = evaluate_dataset(demo_ws, "demo")
    assert plain["excluded_from_training"] == 0 and plain["n_test"] == r["n_test"]


def test_slices_too_small_or_one_sided_to_compare_say_so():
    """A booster scoring 1.000 on 12 rows of one product in one stage measured nothing, and read as a result."""
    from lifecycle_core.evaluate import describe_test_rows

    few = describe_test_rows(np.full(12, 0), np.array(["A"] * 12))
    assert few["kind"] == "few" and few["products"] == 1 and "too few to tell models apart" in few["note"]
    y = np.array([3] * 95 + [1] * 5)
    lopsided = describe_test_rows(y, np.array([f"P{i % 40}" for i in range(100)]))
    assert lopsided["kind"] == "one_sided" and lopsided["top"] == "Decline" and "95%" in lopsided["note"]
    one_stage = describe_test_rows(np.full(500, 2), np.array([f"P{i}" for i in range(500)]))
    assert one_stage["kind"] == "one_sided" and "100% of the rows are Maturity" in one_stage["note"]
    fine = describe_test_rows(np.arange(100) % 4, np.array([f"P{i % 40}" for i in range(100)]))
    assert fine["kind"] == "" and fine["note"] == "" and fine["stages"]["Growth"] == 25
