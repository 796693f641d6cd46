"""Calibration of stage probabilities: a temperature fitted on validation rows, and for the stacked model
a separate vector scaling of its youngest rows.

    python -c "import numpy as np; from lifecycle_core.calibration import fit_temperature; \
print(fit_temperature(np.array([[0.97, 0.01, 0.01, 0.01]] * 4), np.array([0, 0, 1, 2])))"

Temperature scaling (Guo et al. 2017) divides the stage logits by T before the softmax: T > 1 softens an
overconfident model, T < 1 sharpens a timid one. It never changes which stage is most likely, so
macro-F1 and accuracy stay as they are; only the confidence moves towards the observed accuracy.

Products in their first weeks are a population of their own: the label rules give them other stages
(Introduction, not yet Growth), and the booster learns mostly from older rows. One temperature for all
rows left Online Retail II's cold-start slice at ECE 0.090 (0.011 over all test rows), with Decline
under-predicted there on validation too. ``YoungCalibration`` gives the rows younger than YOUNG_WEEKS a
temperature and a bias per stage (vector scaling, Guo et al. 2017), fitted on the validation rows of that
age when there are at least MIN_YOUNG_ROWS of them; the biases can change the most likely stage of a
young row (that is the prior the validation rows show), never of an older one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from scipy.optimize import minimize_scalar

TEMPERATURE_BOUNDS = (0.05, 20.0)
YOUNG_WEEKS = 8.0  # the cold-start age (evaluate.COLD_START_WEEKS)
# Validation rows of that age needed to fit their own calibration: 5 parameters (a temperature, 4 biases),
# about 30 rows each. 500 left the demo (200 young validation rows) on one temperature: its cold-start
# slice 0.40 macro-F1 (gbm 0.70); with its own calibration 0.78 (docs/training.md).
MIN_YOUNG_ROWS = 150
BIAS_L2 = 1e-3  # keeps a stage absent from the young validation rows from an infinite bias


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


def fit_vector_scaling(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """(temperature, bias (k,)) minimising the negative log-likelihood of softmax(logits / T + bias), with
    a small L2 penalty on the biases."""
    from scipy.optimize import minimize

    z0, y = np.asarray(logits, dtype=float), np.asarray(y, dtype=int)
    rows, k = np.arange(len(y)), z0.shape[1]
    lo, hi = (math.log(b) for b in TEMPERATURE_BOUNDS)

    def nll(w: np.ndarray) -> float:
        z = z0 / math.exp(w[0]) + w[1:]
        z = z - z.max(axis=1, keepdims=True)
        return float(-(z[rows, y] - np.log(np.exp(z).sum(axis=1))).mean() + BIAS_L2 * np.sum(w[1:] ** 2))

    w = minimize(nll, np.zeros(k + 1), method="L-BFGS-B", bounds=[(lo, hi)] + [(-10.0, 10.0)] * k).x
    return float(math.exp(w[0])), np.asarray(w[1:], dtype=float)


class YoungCalibration:
    """Vector scaling of the logits of rows younger than ``below_weeks`` (see the module's docstring)."""

    def __init__(self, temperature: float, bias, below_weeks: float = YOUNG_WEEKS, n: int = 0):
        self.temperature, self.bias = float(temperature), np.asarray(bias, dtype=float)
        self.below_weeks, self.n = float(below_weeks), int(n)

    @classmethod
    def fit(cls, logits: np.ndarray, y: np.ndarray, age: np.ndarray) -> YoungCalibration | None:
        """Fitted on the young rows among validation ``logits``/``y``/``age`` (weeks); None when fewer
        than MIN_YOUNG_ROWS or a single stage: they then share the other rows' temperature."""
        young = np.asarray(age, dtype=float) < YOUNG_WEEKS
        if young.sum() < MIN_YOUNG_ROWS or len(np.unique(np.asarray(y)[young])) < 2:
            return None
        t, b = fit_vector_scaling(np.asarray(logits)[young], np.asarray(y)[young])
        return cls(t, b, YOUNG_WEEKS, int(young.sum()))

    def apply(self, z: np.ndarray, logits: np.ndarray, age: np.ndarray) -> np.ndarray:
        """``z`` (the other rows' scaled logits) with the young rows' logits replaced by their own."""
        young = np.asarray(age, dtype=float) < self.below_weeks
        if young.any():
            z = z.copy()
            z[young] = logits[young] / self.temperature + self.bias
        return z

    def to_dict(self) -> dict:
        return {"below_weeks": self.below_weeks, "temperature": round(self.temperature, 6),
                "bias": [round(float(b), 6) for b in self.bias], "validation_rows": self.n}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict | None) -> YoungCalibration | None:
        if not d:
            return None
        return cls(d["temperature"], d["bias"], d.get("below_weeks", YOUNG_WEEKS), d.get("validation_rows", 0))


def fit_stage_calibration(logits: np.ndarray, y: np.ndarray, age: np.ndarray) -> tuple[float, YoungCalibration | None]:
    """(temperature of the older rows, the young rows' own calibration or None) from validation
    ``logits``/``y``/``age`` (weeks): how the stacked model and every ablation variant are calibrated."""
    logits, y, age = np.asarray(logits, dtype=float), np.asarray(y, dtype=int), np.asarray(age, dtype=float)
    young = YoungCalibration.fit(logits, y, age)
    older = age >= YOUNG_WEEKS if young is not None else np.ones(len(y), dtype=bool)
    z = logits[older] - logits[older].max(axis=1, keepdims=True)
    proba = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return fit_temperature(proba, y[older]), young


def calibrated_logits(logits: np.ndarray, temperature: float, young: YoungCalibration | None, age) -> np.ndarray:
    """``logits`` scaled by ``temperature``, the young rows by their own calibration when there is one."""
    z = np.asarray(logits, dtype=float) / temperature
    return young.apply(z, logits, age) if young is not None else z


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
    young: YoungCalibration | None = None,
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
    if young is not None:
        meta["calibration"]["young"] = young.to_dict()
        meta["calibration"]["method"] += f"; rows younger than {young.below_weeks:g} weeks: vector scaling"
    (Path(folder) / "config.json").write_text(
        json.dumps(meta, indent=1, ensure_ascii=False, default=str), encoding="utf-8"
    )
