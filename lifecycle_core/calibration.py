"""Calibration of stage probabilities: one temperature fitted on validation rows.

    python -c "import numpy as np; from lifecycle_core.calibration import fit_temperature; \
print(fit_temperature(np.array([[0.97, 0.01, 0.01, 0.01]] * 4), np.array([0, 0, 1, 2])))"

Temperature scaling (Guo et al. 2017) divides the stage logits by T before the softmax: T > 1 softens an
overconfident model, T < 1 sharpens a timid one. It never changes which stage is most likely, so
macro-F1 and accuracy stay as they are; only the confidence moves towards the observed accuracy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar

TEMPERATURE_BOUNDS = (0.05, 20.0)


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """(n, k) probabilities as softmax(log p / T); rows sum to 1."""
    if temperature == 1.0:
        return proba
    z = np.log(np.clip(np.asarray(proba, dtype=float), 1e-12, 1.0)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(proba: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of ``y`` (n,) under ``proba`` (n, k),
    within TEMPERATURE_BOUNDS; 1.0 when there are no rows."""
    proba, y = np.asarray(proba, dtype=float), np.asarray(y, dtype=int)
    if len(y) == 0:
        return 1.0
    logp = np.log(np.clip(proba, 1e-12, 1.0))
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        z = logp / math.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(-(z[rows, y] - np.log(np.exp(z).sum(axis=1))).mean())

    lo, hi = (math.log(b) for b in TEMPERATURE_BOUNDS)
    res = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    best = float(math.exp(res.x))
    # Keep 1.0 unless the fit is clearly better: a near-flat objective must not move a calibrated model.
    return best if nll(res.x) < nll(0.0) - 1e-6 else 1.0


def write_model_config(
    folder: Path,
    *,
    head: dict,
    config: dict,
    extra: dict,
    training: dict,
    metrics: dict,
    fingerprint,
    temperature: float,
) -> None:
    """A saved model's config.json, laid out the same for both model kinds: ``head`` (kind, format
    version), the stage labels, the model's settings, its own ``extra`` fields, how it was trained and
    scored, the data it saw and its calibration."""
    from .stages import label_maps

    meta = {
        **head,
        **label_maps(),
        "model": config,
        **extra,
        "training": training,
        "metrics": metrics,
        "data_fingerprint": fingerprint,
        "calibration": {"temperature": temperature, "method": "temperature scaling on validation rows"},
    }
    (Path(folder) / "config.json").write_text(
        json.dumps(meta, indent=1, ensure_ascii=False, default=str), encoding="utf-8"
    )
