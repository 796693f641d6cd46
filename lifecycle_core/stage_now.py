"""Each product's stage probabilities now (and at any past period), for decisions and forecasts.

    python -c "from lifecycle_core.store import Workspace; from lifecycle_core.stage_now import current_stages; \
print(current_stages(Workspace('ws'), 'demo').head())"

Rule labels stop h periods before the data ends (their confirmation window), so the stage *now* is
predicted: by a fine-tuned model when one is given, otherwise by gradient boosting trained on the
rule labels over causal features. A user's own stage label for a product wins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .baselines import GBMBaseline
from .features import FEATURES, Examples, build_examples
from .labeling import LabelRules
from .stages import STAGE_NAMES, Stage

PROB_COLUMNS = tuple(f"p_{s.label('en').lower()}" for s in Stage)


def add_stage_columns(out: pd.DataFrame, proba: np.ndarray) -> None:
    """Probability columns, predicted stage (id, English, Chinese) and confidence from (n, 4) ``proba``."""
    for k, col in enumerate(PROB_COLUMNS):
        out[col] = proba[:, k]
    out["stage"] = proba.argmax(axis=1)
    out["stage_en"] = [STAGE_NAMES["en"][Stage(s)] for s in out["stage"]]
    out["stage_zh"] = [STAGE_NAMES["zh"][Stage(s)] for s in out["stage"]]
    out["confidence"] = proba.max(axis=1)


MAX_TRAIN_ROWS = 200_000


def stage_probabilities(
    ex: Examples,
    *,
    train_until: int | None = None,
    seed: int = 0,
    where: np.ndarray | None = None,
    max_train: int | None = MAX_TRAIN_ROWS,
) -> np.ndarray:
    """(rows, 4) stage probabilities for every row of ``ex.frame`` (or for the rows of the boolean mask
    ``where`` only) from gradient boosting trained on the labeled rows at periods <= ``train_until``
    (all labeled rows when None).

    Beyond ``max_train`` labeled rows the model learns from that many drawn at random (fixed seed): at
    100,000 products x 52 weeks there are millions, and fitting on all of them took minutes for a
    stage estimate that 200,000 give as well (bench/stage_estimate.py measures both side by side).
    Callers that need a few rows (the latest period, the unlabeled ones) pass ``where`` and pay for
    predicting those only."""
    f = ex.frame
    n_out = len(f) if where is None else int(np.count_nonzero(where))
    train = f["stage"].to_numpy() >= 0
    if train_until is not None:
        train &= f["t"].to_numpy() <= train_until
    idx = np.flatnonzero(train)
    if max_train and len(idx) > max_train:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_train, replace=False))
    y = f["stage"].to_numpy()[idx]
    if n_out == 0:
        return np.zeros((0, 4))
    if len(idx) < 20 or len(np.unique(y)) < 2:
        # Too few labels to learn from: say so through flat probabilities rather than guess.
        return np.full((n_out, 4), 0.25)
    model = GBMBaseline(seed=seed).fit(f.iloc[idx][list(FEATURES)], y)
    return model.predict_proba(f[list(FEATURES)] if where is None else f.loc[where, list(FEATURES)])


def current_stages(ws, name: str, *, rules: LabelRules | None = None, examples: Examples | None = None) -> pd.DataFrame:
    """One row per product with sales: its latest active period, stage probabilities, the most likely
    stage (id and names) and where it came from ("model": gbm on rule labels, or "user")."""
    ex = examples or build_examples(ws, name, rules, with_text=False)
    f = ex.frame
    last = f.groupby("product_id")["t"].transform("max").to_numpy() == f["t"].to_numpy()
    out = f.loc[last, ["product_id", "period", "t"]].reset_index(drop=True)
    p = stage_probabilities(ex, where=last)
    user = (f.loc[last, "label_source"] == "user").to_numpy()
    st_user = f.loc[last, "stage"].to_numpy()
    p[user] = np.eye(4)[st_user[user]]
    add_stage_columns(out, p)
    out["source"] = np.where(user, "user", "gbm")
    return out


def stage_probs_by_origin(ex: Examples, horizon: int):
    """A function origin -> (P, 4) probabilities at that period, trained only on labels known by then
    (periods <= origin - horizon), for honest backtests. Products without a row at the origin get the
    Maturity default."""
    f = ex.frame
    P = ex.labels.panel.shape[0]

    def at(origin: int) -> np.ndarray:
        rows = f["t"].to_numpy() == origin
        out = np.tile(np.eye(4)[int(Stage.MATURITY)], (P, 1))
        out[f.loc[rows, "row"].to_numpy()] = stage_probabilities(ex, train_until=origin - horizon, where=rows)
        return out

    return at
