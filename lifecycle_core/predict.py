"""Batch scoring: every product at every period with a trained stage model.

    python -m lifecycle_core predict --workspace ws --dataset demo --model first --out predictions.csv

Rows are the dataset's active product-periods with the model's stage probabilities, the predicted
stage and the expected demand of the next period. Features are rebuilt exactly as in training (the
label rules saved with the model), so a prediction at t uses data up to t only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .features import FEATURES, build_examples
from .labeling import LabelRules
from .model import LifecycleModel
from .stage_now import PROB_COLUMNS
from .stages import STAGE_NAMES, Stage


def model_dir(ws, model: str) -> Path:
    """The saved model folder of ``model`` (a name under WORKSPACE/models, or a path)."""
    p = Path(model)
    for cand in (p, ws.root / "models" / model / "model", ws.root / "models" / model):
        if (cand / "config.json").exists() and (cand / "model.safetensors").exists():
            return cand
    names = sorted(d.name for d in (ws.root / "models").glob("*")) if (ws.root / "models").exists() else []
    raise FileNotFoundError(f"no trained model {model!r} in {ws.root / 'models'}; models: {names or 'none yet'}")


def score_dataset(
    ws, name: str, model: LifecycleModel, *, latest_only: bool = False, batch_size: int = 256
) -> pd.DataFrame:
    """Stage probabilities, predicted stage and next-period demand per active product-period."""
    rules = LabelRules(**model.training["labels"]) if model.training.get("labels") else LabelRules()
    ex = build_examples(ws, name, rules)
    f = ex.frame
    if latest_only:
        f = f[f.groupby("product_id")["t"].transform("max") == f["t"]]
    texts = ex.texts[f["text_id"].to_numpy()].tolist()
    proba, demand = model.predict_all(texts, f[list(FEATURES)].to_numpy(dtype=np.float64), batch_size=batch_size)
    out = f[["product_id", "period", "t"]].reset_index(drop=True)
    for k, col in enumerate(PROB_COLUMNS):
        out[col] = proba[:, k]
    out["stage"] = proba.argmax(axis=1)
    out["stage_en"] = [STAGE_NAMES["en"][Stage(s)] for s in out["stage"]]
    out["stage_zh"] = [STAGE_NAMES["zh"][Stage(s)] for s in out["stage"]]
    out["confidence"] = proba.max(axis=1)
    out["next_demand"] = demand
    out["label"] = f["stage"].to_numpy()  # the hindsight rule label, -1 where unlabeled
    return out
