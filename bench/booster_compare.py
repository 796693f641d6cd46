"""LightGBM (the stacked model's booster) against scikit-learn's HistGradientBoosting (the gbm baseline):
fit time, prediction time and test macro-F1 on the same rows and inputs, side by side in this process.

    python bench/booster_compare.py --workspace ws --dataset retail      # a stored dataset
    python bench/booster_compare.py                                     # a 300 x 104 demo catalog

Rows: the labeled rows of the time split (train / validation / test); inputs: the 32 causal signals.
(a) GBMBaseline (HistGradientBoosting, balanced class weights, its own early stopping); (b)
stacked.fit_booster (LightGBM, balanced class weights, early-stopped on validation macro-F1). Prints
seconds, the ratio and test macro-F1 of both.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workspace")
    ap.add_argument("--dataset", default="demo")
    a = ap.parse_args()

    import numpy as np

    from lifecycle_core.baselines import GBMBaseline
    from lifecycle_core.evaluate import classification_metrics
    from lifecycle_core.features import FEATURES, build_examples
    from lifecycle_core.splits import TEST, TRAIN, VAL, SplitConfig, time_split_described
    from lifecycle_core.stacked import _softmax, fit_booster
    from lifecycle_core.store import Workspace

    tmp = tempfile.TemporaryDirectory()
    if a.workspace:
        ws, name = Workspace(a.workspace), a.dataset
    else:
        from lifecycle_core.demo import write_demo
        from lifecycle_core.ingest import ingest
        from lifecycle_core.readers import SourceFile

        ws, name = Workspace(Path(tmp.name) / "ws"), "demo"
        ingest(ws, name, [SourceFile.from_path(p) for p in write_demo(Path(tmp.name) / "f", 300, 104, seed=0)])
    ex = build_examples(ws, name, with_text=False)
    f = ex.frame
    y = f["stage"].to_numpy()
    split, _ = time_split_described(
        f["t"].to_numpy(),
        ex.labels.panel.shape[1],
        horizon=ex.labels.rules.horizon,
        product_ids=f["product_id"].to_numpy(),
        config=SplitConfig(),
    )
    lab = y >= 0
    tr, va, te = lab & (split == TRAIN), lab & (split == VAL), lab & (split == TEST)
    X = f[list(FEATURES)].to_numpy(float)
    print(f"{name}: {tr.sum():,} training, {va.sum():,} validation, {te.sum():,} test rows, {X.shape[1]} inputs")

    t0 = time.perf_counter()
    hgb = GBMBaseline().fit(f.loc[tr], y[tr])
    fit_a = time.perf_counter() - t0
    t0 = time.perf_counter()
    p_a = hgb.predict_proba(f.loc[te])
    pred_a = time.perf_counter() - t0

    t0 = time.perf_counter()
    lgbm = fit_booster(X[tr], y[tr], X[va], y[va])
    fit_b = time.perf_counter() - t0
    t0 = time.perf_counter()
    p_b = _softmax(np.asarray(lgbm.predict(X[te], raw_score=True)))
    pred_b = time.perf_counter() - t0

    f1_a = classification_metrics(y[te], p_a)["macro_f1"]
    f1_b = classification_metrics(y[te], p_b)["macro_f1"]
    print(f"(a) HistGradientBoosting  fit {fit_a:6.1f} s  predict {pred_a:5.2f} s  test macro-F1 {f1_a}")
    print(f"(b) LightGBM              fit {fit_b:6.1f} s  predict {pred_b:5.2f} s  test macro-F1 {f1_b}")
    print(f"ratio (a)/(b) fit time: {fit_a / fit_b:.2f}x; macro-F1 difference {f1_b - f1_a:+.4f}")


if __name__ == "__main__":
    main()
