"""Metrics and the evaluation harness: any model's stage probabilities scored the same way.

    python -m lifecycle_core evaluate --workspace ws --dataset demo --json

``classification_metrics`` scores (n, 4) probabilities against true stages; ``evaluate_dataset`` builds
labels and causal features, splits by time and by product, and scores every baseline (and, through
``extra_models``, any other model with ``fit``/``predict_proba``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from .baselines import BASELINES
from .features import FEATURES, FeatureConfig, build_examples
from .labeling import LabelRules
from .splits import TEST, TRAIN, VAL, SplitConfig, product_split, time_split_described
from .stages import Stage

N_STAGES = 4
COLD_START_WEEKS = 8


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int = N_STAGES) -> np.ndarray:
    """(n, n) counts: rows are true stages, columns predicted."""
    cm = np.zeros((n, n), dtype=int)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, *, bins: int = 15) -> float:
    """Top-label ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins
    weighted by their share of samples. 0 is perfect calibration."""
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.asarray(y_true, int)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict:
    """Macro-F1, accuracy, per-stage precision/recall/F1/support, confusion matrix and ECE.

    ``y_true``: (n,) stage ids 0-3; ``proba``: (n, 4) probabilities (rows sum to 1).
    Macro-F1 averages over the stages present in ``y_true`` or predicted (as scikit-learn does).
    """
    y_true = np.asarray(y_true, dtype=int)
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[1] != N_STAGES or len(proba) != len(y_true):
        raise ValueError(f"proba must have shape ({len(y_true)}, {N_STAGES}), got {proba.shape}")
    if len(y_true) == 0:
        return {"n": 0, "macro_f1": None, "accuracy": None, "ece": None, "per_stage": {}, "confusion": []}
    pred = proba.argmax(axis=1)
    cm = confusion(y_true, pred)
    tp = np.diag(cm).astype(float)
    pred_n, true_n = cm.sum(axis=0).astype(float), cm.sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(pred_n > 0, tp / pred_n, 0.0)
        recall = np.where(true_n > 0, tp / true_n, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = (true_n > 0) | (pred_n > 0)
    return {
        "n": len(y_true),
        "macro_f1": round(float(f1[present].mean()), 4),
        "accuracy": round(float((pred == y_true).mean()), 4),
        "ece": round(expected_calibration_error(y_true, proba), 4),
        "per_stage": {
            Stage(s).label("en"): {
                "precision": round(float(precision[s]), 4),
                "recall": round(float(recall[s]), 4),
                "f1": round(float(f1[s]), 4),
                "support": int(true_n[s]),
            }
            for s in range(N_STAGES)
        },
        "confusion": cm.tolist(),
    }


def _skipped(n_test: int, reason: str) -> dict:
    """Metrics of a model that could not be scored: no numbers, and why."""
    return {
        "n": n_test,
        "macro_f1": None,
        "accuracy": None,
        "ece": None,
        "per_stage": {},
        "confusion": [],
        "skipped": reason,
    }


def split_problem(n_train: int, n_test: int) -> str | None:
    """Why a split cannot be scored (no labeled test or training rows), or None."""
    if n_test == 0:
        return "no labeled test rows on this split"
    if n_train == 0:
        return "no labeled training rows on this split"
    return None


def score_models(
    frame: pd.DataFrame,
    split: np.ndarray,
    models: dict[str, Callable[[], object]],
    drop: np.ndarray | None = None,
    preds: dict | None = None,
) -> dict:
    """Fit each model on the labeled TRAIN rows of ``split`` and score it on the labeled TEST rows
    (``preds``, when given, gets each model's predicted stages of those rows, for compare_to_gbm).

    A split without labeled training or test rows is reported per model as ``{"n": ..., "skipped": why}``
    with null metrics, not raised: short histories and tiny catalogs have such slices."""
    labeled = frame["stage"].to_numpy() >= 0
    train = labeled & (split == TRAIN)
    if drop is not None:
        train &= ~drop  # anomalous product-periods are left out of training, never out of testing
    test = labeled & (split == TEST)
    problem = split_problem(int(train.sum()), int(test.sum()))
    out = {}
    X = frame[list(FEATURES)]
    for name, make in models.items():
        if problem:
            out[name] = _skipped(int(test.sum()), problem)
            continue
        t0 = time.perf_counter()
        model = make().fit(X[train], frame.loc[train, "stage"].to_numpy())
        proba = model.predict_proba(X[test])
        out[name] = _scored(frame.loc[test, "stage"].to_numpy(), proba, t0, preds, name)
    return out


def _scored(y: np.ndarray, proba: np.ndarray, t0: float, preds: dict | None, name: str) -> dict:
    """Metrics of ``proba`` on test stages ``y``, with ECE's sampling floor and the seconds since ``t0``."""
    from .significance import ece_floor

    m = classification_metrics(y, proba)
    m["ece_floor"] = ece_floor(proba)
    m["seconds"] = round(time.perf_counter() - t0, 2)
    if preds is not None:
        preds[name] = proba.argmax(axis=1)
    return m


def compare_to_gbm(block: dict, preds: dict, y: np.ndarray, groups: np.ndarray) -> None:
    """Each scored model's macro-F1 minus the gbm baseline's on the same test rows, in points with a 95 %
    interval from a bootstrap over products, as ``vs_gbm`` of its metrics (significance.py)."""
    from .significance import paired_f1_difference

    if "gbm" not in preds:
        return
    for name, pred in preds.items():
        if name != "gbm":
            block[name]["vs_gbm"] = paired_f1_difference(y, pred, preds["gbm"], groups)


def evaluate_dataset(
    ws,
    name: str,
    *,
    rules: LabelRules | None = None,
    split_config: SplitConfig | None = None,
    feature_config: FeatureConfig | None = None,
    extra_models: dict[str, Callable[[], object]] | None = None,
    exclude_anomalies: bool = False,
    trained: dict[str, object] | None = None,
) -> dict:
    """Score every baseline (and ``extra_models``) on the time split and on the product split.

    Returns ``{"dataset", "rule", "split": "time", "n_train", "n_val", "n_test", "baselines": {...},
    "product_split": {"split": "product", ..., "baselines": {...}, "cold_start_first_8": {...}}}``.
    With ``exclude_anomalies`` the product-periods flagged by anomalies.detect_anomalies (spikes, drops,
    bulk orders, return waves) are removed from the training rows.

    ``trained`` maps a label to a fine-tuned LifecycleModel; each is scored on the test rows of the split
    it was trained with (saved in the model), next to the baselines of that split.
    """
    split_config = split_config or SplitConfig()
    ex = build_examples(ws, name, rules, feature_config, with_text=bool(trained))
    rules = ex.labels.rules
    frame = ex.frame
    models = {k: v for k, v in BASELINES.items()}
    models.update(extra_models or {})
    labeled = frame["stage"].to_numpy() >= 0
    T = ex.labels.panel.shape[1]
    pids = frame["product_id"].to_numpy()
    # Too short a history for a time split: it is reported empty with the reason; the product split runs.
    ts, time_note = time_split_described(
        frame["t"].to_numpy(), T, horizon=rules.horizon, product_ids=pids, config=split_config
    )
    ps = product_split(pids, config=split_config)
    drop = None
    if exclude_anomalies:
        from .anomalies import detect_anomalies, flagged_mask

        info = ws.dataset(name)
        tx = ws.load_table(name, "transactions") if "transactions" in info.tables else None
        flags = detect_anomalies(ex.labels.panel, ex.labels.stage.astype(int), ex.labels.active, transactions=tx)
        drop = flagged_mask(frame, flags)
    preds = {"time": {}, "product": {}, "cold": {}}  # predicted stages of each split's test rows, by model
    result = {
        "dataset": name,
        "rule": rules.rule,
        "period": rules.period,
        "label_windows": rules.windows(),
        "labeled": int(labeled.sum()),
        "split": "time",
        "layout": time_note,
        **_sizes(ts, labeled),
        "excluded_from_training": int(drop.sum()) if drop is not None else 0,
        "baselines": score_models(frame, ts, models, drop, preds["time"]),
        "product_split": {
            "split": "product",
            **_sizes(ps, labeled),
            "baselines": score_models(frame, ps, models, drop, preds["product"]),
        },
    }
    # Cold start: unseen products in their first 8 weeks (age counts weeks), when only text and a few
    # weeks of sales exist.
    early = ps.copy()
    early[(frame["age"].to_numpy() >= COLD_START_WEEKS) & (ps == TEST)] = "late"
    result["product_split"]["cold_start_first_8"] = {
        "n_test": int((labeled & (early == TEST)).sum()),
        "baselines": score_models(frame, early, models, drop, preds["cold"]),
    }
    for label, model in (trained or {}).items():
        settings = model.training or {}
        if settings.get("split_config", split_config.to_dict()) != split_config.to_dict():
            raise ValueError(
                f"model {label!r} was trained with split {settings['split_config']}, not {split_config.to_dict()}: "
                "its validation rows could be test rows here"
            )
        from .predict import model_examples

        mframe = model_examples(ws, name, model, examples=ex).frame  # + the season / analog inputs it reads
        if (settings.get("train") or {}).get("split", "time") == "product":
            result["product_split"]["baselines"][label] = _score_trained(
                mframe, ex.texts, ps, model, preds["product"], label
            )
            result["product_split"]["cold_start_first_8"]["baselines"][label] = _score_trained(
                mframe, ex.texts, early, model, preds["cold"], label
            )
        else:
            result["baselines"][label] = _score_trained(mframe, ex.texts, ts, model, preds["time"], label)
    stages = frame["stage"].to_numpy()
    for block, split, key in (
        (result, ts, "time"),
        (result["product_split"], ps, "product"),
        (result["product_split"]["cold_start_first_8"], early, "cold"),
    ):
        test = labeled & (split == TEST)
        block["test_rows"] = describe_test_rows(stages[test], pids[test])
        if test.any():
            compare_to_gbm(block["baselines"], preds[key], stages[test], pids[test])
    return result


# Below this many products a slice's scores cannot tell models apart: a booster
# scoring 1.000 on 12 rows of one product in one stage measured nothing, and read as a result.
FEW_TEST_PRODUCTS = 10


def describe_test_rows(y: np.ndarray, groups: np.ndarray) -> dict:
    """What a slice's test rows hold: products, rows per stage, and a note when they are too few or too
    one-sided for its scores to mean much (majority baselines near 0 when one stage is 90 % of it)."""
    products = int(pd.unique(groups).size) if len(groups) else 0
    counts = {Stage(s).label("en"): int((y == s).sum()) for s in range(len(Stage)) if (y == s).any()}
    top = max(counts, key=counts.get) if counts else ""
    share = counts[top] / len(y) if counts else 0.0
    kind, note = "", ""
    if 0 < products < FEW_TEST_PRODUCTS:
        kind = "few"
        note = f"{len(y):,} rows of {products} product(s) in {len(counts)} stage(s): too few to tell models apart"
    elif share >= 0.9:  # one stage only, of many products, included
        kind = "one_sided"
        note = f"{share:.0%} of the rows are {top}: macro-F1 rests on a few rows of the others"
    return {"rows": len(y), "products": products, "stages": counts, "top": top, "top_share": share,
            "kind": kind, "note": note}  # fmt: skip


def _score_trained(frame: pd.DataFrame, texts: np.ndarray, split: np.ndarray, model, preds: dict, label: str) -> dict:
    test = (frame["stage"].to_numpy() >= 0) & (split == TEST)
    if not test.any():
        return _skipped(0, "no labeled test rows on this split")
    t0 = time.perf_counter()
    rows = frame[test]
    X = rows[list(model.config.feature_names)].to_numpy(float)
    proba = model.predict_proba(texts[rows["text_id"].to_numpy()].tolist(), X)
    return _scored(rows["stage"].to_numpy(), proba, t0, preds, label)


def _sizes(split: np.ndarray, labeled: np.ndarray) -> dict:
    return {f"n_{k}": int((labeled & (split == k)).sum()) for k in (TRAIN, VAL, TEST)}
