"""Batch scoring: every product at every period with a trained stage model, stored in the workspace.

    python -m lifecycle_core predict --workspace ws --dataset demo --model first --out predictions.csv [--int8]

Rows are the dataset's active product-periods with the model's stage probabilities, the predicted
stage and the expected demand of the next period. Features are rebuilt exactly as in training (the
label rules saved with the model), so a prediction at t uses data up to t only. Each distinct text is
encoded once (texts sorted by length, so batches carry little padding) and the heads run on all rows.

Scores are kept as ``WORKSPACE/models/<model>/predictions/<dataset id>.parquet``; a dataset replaced
under the same name has a new id, so stale scores are never shown for it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .embedding_store import EmbeddingStore, text_keys
from .features import build_examples
from .labeling import LabelRules
from .model import LifecycleModel
from .stage_now import add_stage_columns


def model_dir(ws, model: str) -> Path:
    """The saved model folder of ``model`` (a name under WORKSPACE/models, or a path)."""
    p = Path(model)
    for cand in (p, ws.root / "models" / model / "model", ws.root / "models" / model):
        if (cand / "config.json").exists() and ((cand / "model.safetensors").exists() or _is_stacked(cand)):
            return cand
    names = sorted(d.name for d in (ws.root / "models").glob("*")) if (ws.root / "models").exists() else []
    raise FileNotFoundError(f"no trained model {model!r} in {ws.root / 'models'}; models: {names or 'none yet'}")


def _is_stacked(folder: Path) -> bool:
    import json

    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("kind") == "stacked"
    except (OSError, ValueError):
        return False


def load_model(folder: str | Path):
    """The saved model in ``folder``: a StackedModel (the default kind) or a fine-tuned LifecycleModel."""
    folder = Path(folder)
    if _is_stacked(folder):
        from .stacked import StackedModel

        return StackedModel.load(folder)
    return LifecycleModel.load(folder)


def model_examples(ws, name: str, model, *, examples=None, with_text: bool = True):
    """Dataset ``name``'s examples as ``model`` reads them: built with its label rules, plus the season
    and analog inputs a stacked model needs (``examples``: already built ones to extend)."""
    ex = examples
    if ex is None:
        ex = build_examples(ws, name, LabelRules.from_dict(model.training.get("labels")), with_text=with_text)
    missing = [c for c in model.config.feature_names if c not in ex.frame.columns]
    return model.prepare(ws, name, ex) if missing and hasattr(model, "prepare") else ex


def score_dataset(
    ws,
    name: str,
    model: LifecycleModel,
    *,
    latest_only: bool = False,
    batch_size: int = 64,
    examples=None,
    embeddings=None,
    store=None,
) -> pd.DataFrame:
    """Stage probabilities, predicted stage and next-period demand per active product-period.

    ``examples`` and ``embeddings`` (one per text of ``examples``, from a frozen-encoder training run)
    skip rebuilding the inputs and encoding the texts again. ``store`` (an embedding_store.EmbeddingStore
    of this model) supplies the vectors of texts scored before and keeps the new ones."""
    ex = model_examples(ws, name, model, examples=examples)
    f = ex.frame
    if latest_only:
        f = f[f.groupby("product_id")["t"].transform("max") == f["t"]]
    if getattr(model, "kind", "neural") == "stacked":
        from .features import Examples

        proba, demand = model.score_examples(Examples(f, ex.texts, ex.labels))
        out = f[["product_id", "period", "t"]].reset_index(drop=True)
        add_stage_columns(out, proba)
        out["next_demand"] = demand
        out["label"] = f["stage"].to_numpy()
        return out
    X = f[list(model.config.feature_names)].to_numpy(dtype=np.float64)
    if embeddings is not None:
        proba, demand = model.predict_from_embeddings(embeddings, f["text_id"].to_numpy(), X)
        if store is not None and model.reads_text():
            store.add(text_keys(ex.texts), embeddings.numpy())
    else:
        proba, demand = _score_in_chunks(model, ex.texts, f["text_id"].to_numpy(), X, batch_size, store=store)
    out = f[["product_id", "period", "t"]].reset_index(drop=True)
    add_stage_columns(out, proba)
    out["next_demand"] = demand
    out["label"] = f["stage"].to_numpy()  # the hindsight rule label, -1 where unlabeled
    return out


def _score_in_chunks(model, texts, text_id, X, batch_size: int, chunk: int = 20_000, store=None):
    """Encode the distinct texts a chunk at a time and score their rows: memory stays at one chunk of
    embeddings (20,000 x hidden) however large the catalog (100,000 products x 52 weeks: 2.6 M texts).
    With a ``store``, texts it holds are not encoded; the new vectors are added to it at the end (at most
    the store's capacity of them are kept in memory until then)."""
    if not model.reads_text():  # the text adds nothing: no encoder pass at all (same probabilities)
        return model.predict_from_embeddings(model.no_text(), np.zeros(len(text_id), dtype=np.int64), X)
    uniq, index = np.unique(text_id, return_inverse=True)
    order = np.argsort(index, kind="stable")  # rows grouped by text, so each chunk's rows are one slice
    bounds = np.searchsorted(index[order], np.arange(0, len(uniq) + chunk, chunk))
    proba = np.empty((len(text_id), 4), dtype=np.float64)
    demand = np.empty(len(text_id), dtype=np.float64)
    new_keys, new_vectors = [], []
    for c, start in enumerate(range(0, len(uniq), chunk)):
        part = texts[uniq[start : start + chunk]]
        if store is None:
            emb = model.embed(part.tolist(), batch_size=batch_size)
        else:
            keys = text_keys(part)
            found, known = store.lookup(keys, model.net.hidden_size)
            emb = torch.empty((len(part), model.net.hidden_size), dtype=torch.float32)
            emb[torch.from_numpy(found)] = torch.from_numpy(known)
            if (~found).any():
                fresh = model.embed(part[~found].tolist(), batch_size=batch_size)
                emb[torch.from_numpy(~found)] = fresh
                if sum(len(k) for k in new_keys) < store.max_items:
                    new_keys.append(keys[~found])
                    new_vectors.append(fresh.numpy())
        rows = order[bounds[c] : bounds[c + 1]]
        proba[rows], demand[rows] = model.predict_from_embeddings(emb, index[rows] - start, X[rows])
    if new_keys:
        store.add(np.concatenate(new_keys), np.concatenate(new_vectors))
    return proba, demand


def predictions_path(ws, model: str, name: str) -> Path:
    """Where the stored scores of ``model`` on dataset ``name`` live (the dataset's id, not its name)."""
    return model_dir(ws, model).parent / "predictions" / f"{ws.dataset(name).id}.parquet"


def store_predictions(ws, model: str, name: str, preds: pd.DataFrame) -> Path:
    """Write scores atomically (a temporary file renamed over the old one): readers see old or new."""
    path = predictions_path(ws, model, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    preds.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return path


def load_predictions(ws, model: str, name: str) -> pd.DataFrame | None:
    """The stored scores of ``model`` on ``name``, or None when it has not been scored yet."""
    path = predictions_path(ws, model, name)
    return pd.read_parquet(path) if path.exists() else None


def predict_and_store(ws, model: str, name: str, *, int8: bool = False) -> pd.DataFrame:
    """Score every product-period of ``name`` with ``model`` and store the result. Texts the model has
    scored before (an earlier version of the data, another dataset) are not encoded again."""
    folder = model_dir(ws, model)
    lm = load_model(folder)
    store = EmbeddingStore.for_model(folder, int8=int8) if isinstance(lm, LifecycleModel) else None
    preds = score_dataset(ws, name, lm.quantized() if int8 else lm, store=store)
    store_predictions(ws, model, name, preds)
    return preds


def list_models(ws) -> list[dict]:
    """Saved models of the workspace, newest first: name, dataset, validation macro-F1, training settings."""
    import json

    out = []
    for cfg in (ws.root / "models").glob("*/model/config.json") if (ws.root / "models").exists() else []:
        meta = json.loads(cfg.read_text(encoding="utf-8"))
        training = meta.get("training") or {}
        out.append(
            {
                "name": cfg.parent.parent.name,
                "dataset": training.get("dataset"),
                "kind": training.get("model_kind", "neural"),
                "mode": (training.get("train") or {}).get("mode"),
                "split": (training.get("train") or {}).get("split", "time"),
                "macro_f1": (meta.get("metrics") or {}).get("validation", {}).get("macro_f1"),
                "steps": training.get("steps"),
                "created": cfg.stat().st_mtime,
            }
        )
    return sorted(out, key=lambda m: -m["created"])


def quantization_agreement(model: LifecycleModel, texts: list[str], X: np.ndarray) -> dict:
    """How int8 scoring compares with fp32 on the same rows: share of equal predicted stages, the largest
    and mean absolute probability differences."""
    p32 = model.predict_proba(texts, X)
    p8 = model.quantized().predict_proba(texts, X)
    diff = np.abs(p32 - p8)
    return {
        "rows": len(texts),
        "stage_agreement": round(float((p32.argmax(1) == p8.argmax(1)).mean()), 4) if len(texts) else None,
        "max_abs_diff": round(float(diff.max()), 4) if len(texts) else None,
        "mean_abs_diff": round(float(diff.mean()), 5) if len(texts) else None,
    }
