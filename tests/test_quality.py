"""Model quality report and per-stage influence on a tiny trained model with stored predictions."""

from __future__ import annotations

import numpy as np
import pytest

from lifecycle_core.evaluate import classification_metrics
from lifecycle_core.features import build_examples
from lifecycle_core.labeling import LabelRules
from lifecycle_core.quality import calibration_curve, load_influence, quality_report, stage_influence
from lifecycle_core.splits import TEST, time_split
from lifecycle_core.stage_now import PROB_COLUMNS

from .conftest import demo_workspace, reading_text, train_tiny_and_score


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    ws = demo_workspace(tmp_path_factory.mktemp("quality"), 30, 40, seed=3)
    for name, seed in (("a", 0), ("b", 1)):
        train_tiny_and_score(ws, name, seed)
    return ws


def test_report_scores_the_stored_predictions_on_the_models_test_rows(trained):
    ws = trained
    r = quality_report(ws, "demo", "a")
    # Recompute independently: the time split's test rows of the default labels, scored from the store.
    ex = build_examples(ws, "demo", LabelRules(), with_text=False)
    f = ex.frame
    split = time_split(
        f["t"].to_numpy(),
        ex.labels.panel.shape[1],
        horizon=ex.labels.rules.horizon,
        product_ids=f["product_id"].to_numpy(),
    )
    test = f[(f["stage"] >= 0) & (split == TEST)][["product_id", "t", "stage"]]
    from lifecycle_core.predict import load_predictions

    rows = test.merge(load_predictions(ws, "a", "demo").drop(columns="stage"), on=["product_id", "t"])
    expected = classification_metrics(rows["stage"].to_numpy(), rows[list(PROB_COLUMNS)].to_numpy())
    assert r["split"] == "time" and r["n_test"] == len(test) > 0
    assert r["metrics"]["macro_f1"] == expected["macro_f1"] and r["metrics"]["confusion"] == expected["confusion"]
    assert set(r["baselines"]) >= {"majority", "rules", "gbm"} and set(r["models"]) == {"b"}
    assert sum(c["rows"] for c in r["calibration"]) == len(test)
    # Against the gbm baseline on the same rows, in points, with an interval over products.
    d = r["metrics"]["vs_gbm"]
    assert d["diff"] == pytest.approx(100 * (expected["macro_f1"] - r["baselines"]["gbm"]["macro_f1"]), abs=0.06)
    assert d["low"] <= d["diff"] <= d["high"] and d["groups"] == test["product_id"].nunique()
    assert 0 < r["metrics"]["ece_floor"] < 0.5


def test_report_without_stored_predictions_says_so(trained, tmp_path):
    ws = trained
    (ws.root / "models" / "c").mkdir()
    import shutil

    shutil.copytree(ws.root / "models" / "a" / "model", ws.root / "models" / "c" / "model")
    with pytest.raises(FileNotFoundError, match="'c' has no stored predictions"):
        quality_report(ws, "demo", "c")
    shutil.rmtree(ws.root / "models" / "c")


def test_calibration_curve_of_a_perfectly_calibrated_model():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.25, 1.0, 20000)
    right = rng.random(20000) < conf
    proba = np.zeros((20000, 4))
    proba[:, 0] = conf
    proba[:, 1:] = ((1 - conf) / 3)[:, None]
    y = np.where(right, 0, 1)
    cal = calibration_curve(y, proba)
    assert np.allclose(cal["confidence"], cal["accuracy"], atol=0.03)
    assert cal["rows"].sum() == 20000


def test_stage_influence_is_stored_and_ranks_features_per_stage(trained):
    ws = trained
    seen = []
    out = stage_influence(ws, "demo", "a", per_stage=2, progress=lambda f, m: seen.append(f))
    assert seen and seen[-1] == pytest.approx(1.0)
    assert load_influence(ws, "a", "demo") == out
    sampled = {s: ids for s, ids in out["products"].items() if ids}
    assert sampled and all(len(ids) <= 2 for ids in sampled.values())
    stages = {r["stage"] for r in out["features"]}
    assert len(stages) == len(sampled)
    for s in stages:  # within a stage, sorted by mean absolute contribution
        vals = [r["mean_abs"] for r in out["features"] if r["stage"] == s]
        assert vals == sorted(vals, reverse=True)


def test_cli_quality_and_behaviour(trained, capsys):
    import json

    from lifecycle_core.cli import main

    assert main(["quality", "--workspace", str(trained.root), "--dataset", "demo", "--model", "a", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "a" and set(report["models"]) == {"b"} and "gbm" in report["baselines"]
    assert main(["behaviour", "--workspace", str(trained.root), "--dataset", "demo", "--model", "a", "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert b["stages_from"] == "model" and {r["step"] for r in b["funnel"]} == {"views", "add_to_cart", "orders"}
    assert main(["quality", "--workspace", str(trained.root), "--dataset", "demo", "--model", "zzz"]) == 2
    assert "no trained model 'zzz'" in capsys.readouterr().err


def test_scoring_in_chunks_matches_scoring_at_once(trained, monkeypatch):
    """Large catalogs are encoded a chunk of texts at a time; the scores must not depend on the chunking."""
    from lifecycle_core import model as model_module
    from lifecycle_core.features import FEATURES
    from lifecycle_core.model import LifecycleModel
    from lifecycle_core.predict import _score_in_chunks, model_dir

    m = LifecycleModel.load(model_dir(trained, "a"))
    reading_text(m)  # make sure the text is read (and encoded)
    ex = build_examples(trained, "demo", LabelRules())
    X, tid = ex.frame[list(FEATURES)].to_numpy(float), ex.frame["text_id"].to_numpy()
    whole = _score_in_chunks(m, ex.texts, tid, X, 64, chunk=10**9)
    monkeypatch.setattr(model_module, "EMBED_CHUNK", 5)
    parts = _score_in_chunks(m, ex.texts, tid, X, 4, chunk=7)
    assert np.allclose(whole[0], parts[0], atol=1e-5) and np.allclose(whole[1], parts[1], atol=1e-4)
    assert len(np.unique(tid)) > 7  # more than one chunk really ran
