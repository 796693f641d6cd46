"""How sure a difference in test scores is: paired bootstrap over products, and ECE's sampling floor.

    python -c "import numpy as np; from lifecycle_core.significance import paired_f1_difference; \
y = np.arange(400) % 4; print(paired_f1_difference(y, y, (y + (np.arange(400) % 5 == 0)) % 4, np.arange(400) // 10))"

A test set's rows are not independent: one product contributes dozens of periods, and its stage curve
decides them together. So differences between two models scored on the same rows are resampled by
product (a cluster bootstrap, Field & Welsh 2007): draw the test products with replacement, score both
models on the drawn products' rows, and read the 2.5 % and 97.5 % quantiles of the difference. On a
small catalog a difference of a point or two is inside that interval; the interval says so instead of
a ranking that a reshuffle of products would flip.

ECE measured on few rows is positive even for a perfectly calibrated model (each confidence bin's
accuracy is a sample mean). ``ece_floor`` is the ECE such a model would show on these rows: labels drawn
from the model's own probabilities, the mean over draws. An ECE near its floor is all the test rows can
tell.
"""

from __future__ import annotations

import numpy as np

from .evaluate import N_STAGES, expected_calibration_error

N_BOOT = 1000
BOOT_CHUNK = 200  # resamples at a time: a (chunk, products) count matrix
FLOOR_DRAWS = 50


def _group_confusions(y: np.ndarray, pred: np.ndarray, g: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups, 16) confusion counts per group: column true * 4 + predicted."""
    cell = np.asarray(y, dtype=np.int64) * N_STAGES + np.asarray(pred, dtype=np.int64)
    flat = np.bincount(g * N_STAGES * N_STAGES + cell, minlength=n_groups * N_STAGES * N_STAGES)
    return flat.reshape(n_groups, N_STAGES * N_STAGES).astype(np.float64)


def macro_f1_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Macro-F1 of (..., 16) flattened confusion counts, over the stages present (true or predicted), as
    evaluate.classification_metrics computes it."""
    cm = cm.reshape(*cm.shape[:-1], N_STAGES, N_STAGES)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    pred_n, true_n = cm.sum(axis=-2), cm.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(pred_n + true_n > 0, 2 * tp / (pred_n + true_n), 0.0)  # = 2PR / (P + R)
    present = (true_n > 0) | (pred_n > 0)
    return (f1 * present).sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)


def paired_f1_difference(
    y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, groups: np.ndarray, *, n_boot: int = N_BOOT, seed: int = 0
) -> dict:
    """Macro-F1 of ``pred_a`` minus that of ``pred_b`` on the same rows, with a 95 % interval from a
    bootstrap over ``groups`` (product ids). Returns {"diff", "low", "high", "share_above_zero",
    "groups"}; points of macro-F1 (x 100), rounded to 0.1. Fewer than 2 groups: no interval (None)."""
    y = np.asarray(y)
    if not (len(y) == len(pred_a) == len(pred_b) == len(groups)):
        raise ValueError(f"rows differ: y {len(y)}, pred_a {len(pred_a)}, pred_b {len(pred_b)}, groups {len(groups)}")
    _, g = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    n_groups = int(g.max()) + 1 if len(g) else 0
    ca, cb = (_group_confusions(y, p, g, n_groups) for p in (pred_a, pred_b))
    diff = float(macro_f1_from_confusion(ca.sum(0)) - macro_f1_from_confusion(cb.sum(0)))
    out = {"diff": round(100 * diff, 1), "low": None, "high": None, "share_above_zero": None, "groups": n_groups}
    if n_groups < 2:
        return out
    rng = np.random.default_rng(seed)
    diffs = []
    for start in range(0, n_boot, BOOT_CHUNK):
        b = min(BOOT_CHUNK, n_boot - start)
        draw = rng.integers(0, n_groups, size=(b, n_groups))
        counts = np.bincount((draw + n_groups * np.arange(b)[:, None]).ravel(), minlength=b * n_groups)
        counts = counts.reshape(b, n_groups).astype(np.float64)
        diffs.append(macro_f1_from_confusion(counts @ ca) - macro_f1_from_confusion(counts @ cb))
    d = np.concatenate(diffs)
    low, high = np.quantile(d, [0.025, 0.975])
    out.update(low=round(100 * float(low), 1), high=round(100 * float(high), 1))
    out["share_above_zero"] = round(float((d > 0).mean()), 3)
    return out


def ece_floor(proba: np.ndarray, *, draws: int = FLOOR_DRAWS, seed: int = 0) -> float | None:
    """The mean ECE of a perfectly calibrated model with these probabilities on this many rows: labels
    drawn from ``proba`` (n, 4) itself. None without rows."""
    proba = np.asarray(proba, dtype=float)
    if len(proba) == 0:
        return None
    rng = np.random.default_rng(seed)
    cum = np.cumsum(proba / proba.sum(axis=1, keepdims=True), axis=1)
    total = 0.0
    for _ in range(draws):
        u = rng.random((len(proba), 1))
        y = np.minimum((u > cum).sum(axis=1), proba.shape[1] - 1)
        total += expected_calibration_error(y, proba)
    return round(total / draws, 4)
