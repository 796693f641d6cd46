"""Baselines every model is measured against: majority class, a merchandiser's hand rules, gradient boosting.

    python -m lifecycle_core evaluate --workspace ws --dataset demo --json

All follow the scikit-learn shape: ``fit(X, y)``, ``predict_proba(X) -> (n, 4)``, ``predict(X)``.
X is a DataFrame with the columns of lifecycle_core.features.FEATURES.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from .features import FEATURES
from .stages import Stage

N_STAGES = 4


class MajorityBaseline:
    """Always the most frequent training stage; probabilities are the training frequencies."""

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> MajorityBaseline:
        counts = np.bincount(np.asarray(y, dtype=int), minlength=N_STAGES).astype(float)
        if counts.sum() == 0:
            raise ValueError("MajorityBaseline.fit needs at least one labeled row, got none")
        self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return np.tile(self.prior_, (len(X), 1))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.full(len(X), int(self.prior_.argmax()))


class RulesBaseline:
    """What a merchandiser does by hand with trailing data only (no fitting):

    young (age < ``intro_age``) and still small -> Introduction; units clearly rising and near the best so
    far -> Growth; well below the best so far for a while -> Decline; otherwise Maturity. Probabilities put
    ``confidence`` on the chosen stage and spread the rest.
    """

    def __init__(
        self,
        *,
        intro_age: int = 8,
        rising: float = 0.05,
        near_max: float = 0.8,
        fallen: float = 0.5,
        confidence: float = 0.7,
    ):
        self.intro_age, self.rising, self.near_max, self.fallen, self.confidence = (
            intro_age,
            rising,
            near_max,
            fallen,
            confidence,
        )

    def fit(self, X: pd.DataFrame, y: np.ndarray | None = None) -> RulesBaseline:
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        age, slope = X["age"].to_numpy(), X["slope_8"].to_numpy()
        ratio, since = X["ratio_to_max"].to_numpy(), X["periods_since_max"].to_numpy()
        out = np.full(len(X), int(Stage.MATURITY))
        out[(ratio < self.fallen) & (since >= 4)] = Stage.DECLINE
        out[(slope > self.rising) & (ratio >= self.near_max)] = Stage.GROWTH
        out[(age < self.intro_age) & (slope <= 2 * self.rising)] = Stage.INTRODUCTION
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        pred = self.predict(X)
        proba = np.full((len(X), N_STAGES), (1 - self.confidence) / (N_STAGES - 1))
        proba[np.arange(len(X)), pred] = self.confidence
        return proba


# Early stopping holds out a stratified tenth of the rows: below this many rows of a stage that holdout
# cannot be drawn (scikit-learn raises), so small training sets boost for the full max_iter instead.
EARLY_STOPPING_MIN_PER_STAGE = 20


class GBMBaseline:
    """Histogram gradient boosting on the numeric features (or ``columns``), with balanced class weights.

    Trained on one stage only (a tiny or very short catalog), it predicts that stage with certainty."""

    def __init__(
        self, *, max_iter: int = 300, learning_rate: float = 0.08, seed: int = 0, columns: tuple[str, ...] = FEATURES
    ):
        self.params = {"max_iter": max_iter, "learning_rate": learning_rate, "seed": seed}
        self.columns = list(columns)
        self.model: HistGradientBoostingClassifier | None = None
        self.only_: int | None = None

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> GBMBaseline:
        y = np.asarray(y, dtype=int)
        if len(y) == 0:
            raise ValueError("GBMBaseline.fit needs at least one labeled row, got none")
        counts = np.bincount(y, minlength=N_STAGES)
        if (counts > 0).sum() == 1:
            self.only_ = int(y[0])
            return self
        self.model = HistGradientBoostingClassifier(
            max_iter=self.params["max_iter"],
            learning_rate=self.params["learning_rate"],
            class_weight="balanced",
            early_stopping=bool(counts[counts > 0].min() >= EARLY_STOPPING_MIN_PER_STAGE),
            random_state=self.params["seed"],
        )
        data = X[self.columns].to_numpy(dtype=float)
        # A column with no value on the training rows (a season input before a year of history) is left
        # out: it carries nothing, and scikit-learn's binning fails on it.
        keep = np.isfinite(data).any(axis=0)
        self.columns = [c for c, k in zip(self.columns, keep, strict=True) if k]
        self.model.fit(data[:, keep], y)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        out = np.zeros((len(X), N_STAGES))
        if self.only_ is not None:
            out[:, self.only_] = 1.0
            return out
        if len(X) == 0:
            return out
        p = self.model.predict_proba(X[self.columns].to_numpy(dtype=float))
        out[:, self.model.classes_.astype(int)] = p  # a stage absent from training gets probability 0
        return out

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)


BASELINES = {"majority": MajorityBaseline, "rules": RulesBaseline, "gbm": GBMBaseline}
