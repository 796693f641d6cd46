"""How good a trained model is, and what it relies on: the Model quality page and `quality` CLI.

``quality_report`` scores a model's stored predictions on the test rows of the split it was trained
with (never rows it trained or stopped on), next to the baselines fitted on that split's training rows
and to every other model of the dataset that has stored predictions and the same split settings.

``stage_influence`` explains a sample of products per predicted stage (SHAP, explain.py) and ranks the
features and words that push each stage across them; it costs about 1.5 s per product on a 2-core CPU,
so it is computed on request and kept next to the model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .baselines import BASELINES
from .evaluate import classification_metrics, describe_test_rows, score_models
from .features import build_examples
from .labeling import LabelRules
from .significance import ece_floor, paired_f1_difference
from .splits import TEST, SplitConfig, split_rows
from .stage_now import PROB_COLUMNS
from .stages import Stage


def model_settings(ws, model: str) -> dict:
    """The training record saved in a model's config.json (no weights loaded)."""
    from .predict import model_dir

    return json.loads((model_dir(ws, model) / "config.json").read_text(encoding="utf-8")).get("training", {})


def _split_of(settings: dict) -> tuple[str, dict]:
    return (settings.get("train") or {}).get("split", "time"), settings.get("split_config") or SplitConfig().to_dict()


def calibration_curve(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Reliability of the top probability: per confidence bin, mean confidence, accuracy and rows."""
    conf = proba.max(1)
    right = proba.argmax(1) == y
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        m = which == b
        if m.any():
            rows.append(
                {
                    "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                    "confidence": float(conf[m].mean()),
                    "accuracy": float(right[m].mean()),
                    "rows": int(m.sum()),
                }
            )
    return pd.DataFrame(rows, columns=["bin", "confidence", "accuracy", "rows"])


def quality_report(ws, name: str, model: str, *, baselines: bool = True) -> dict:
    """Test metrics of ``model`` on dataset ``name`` (its own split), with baselines and other models.

    Needs the model's stored predictions (Predictions page or ``predict``); raises FileNotFoundError
    naming the model otherwise. Returns {"model", "split", "n_test", "metrics" (classification_metrics),
    "calibration" (records), "baselines" {name: metrics}, "models" {other model: metrics}}; a model's
    metrics carry ``ece_floor`` and ``vs_gbm`` (macro-F1 points over the gbm baseline, 95 % interval over
    products: significance.py)."""
    from .predict import list_models, load_predictions

    preds = load_predictions(ws, model, name)
    if preds is None:
        raise FileNotFoundError(f"model {model!r} has no stored predictions for dataset {name!r}: score it first")
    settings = model_settings(ws, model)
    kind, split_cfg = _split_of(settings)
    rules = LabelRules.from_dict(settings.get("labels"))
    ex = build_examples(ws, name, rules, with_text=False)
    f = ex.frame
    config = SplitConfig(**split_cfg)
    split = split_rows(
        kind,
        f["t"].to_numpy(),
        f["product_id"].to_numpy(),
        ex.labels.panel.shape[1],
        horizon=ex.labels.rules.horizon,
        config=config,
    )
    test = f.loc[(f["stage"].to_numpy() >= 0) & (split == TEST), ["product_id", "t", "stage"]]
    if test.empty:
        raise ValueError(f"dataset {name!r} has no labeled test rows on the {kind} split")

    def metrics_of(p: pd.DataFrame) -> tuple[dict, pd.DataFrame] | None:
        rows = test.merge(p[["product_id", "t", *PROB_COLUMNS]], on=["product_id", "t"], how="inner")
        if len(rows) < len(test):  # scored on another version of the data: not comparable
            return None
        y, proba = rows["stage"].to_numpy(), rows[list(PROB_COLUMNS)].to_numpy(float)
        m = classification_metrics(y, proba)
        m["ece_floor"] = ece_floor(proba)
        if "gbm" in base_pred:  # the same rows in the same order (an inner merge keeps the left order)
            m["vs_gbm"] = paired_f1_difference(y, proba.argmax(axis=1), base_pred["gbm"], rows["product_id"].to_numpy())
        return m, calibration_curve(y, proba)

    base_pred: dict = {}
    scored_baselines = score_models(f, split, BASELINES, preds=base_pred) if baselines else {}
    own = metrics_of(preds)
    if own is None:
        raise ValueError(f"the stored predictions of {model!r} miss test rows of {name!r}: score it again")
    others = {}
    for m in list_models(ws):
        if m["name"] == model or m["dataset"] != name:
            continue
        s = model_settings(ws, m["name"])
        if _split_of(s) != (kind, split_cfg) or s.get("labels") != settings.get("labels"):
            continue  # another split or other labels: its test rows are not these
        p = load_predictions(ws, m["name"], name)
        scored = metrics_of(p) if p is not None else None
        if scored is not None:
            others[m["name"]] = scored[0]
    return {
        "model": model,
        "split": kind,
        "n_test": len(test),
        "test_rows": describe_test_rows(test["stage"].to_numpy(), test["product_id"].to_numpy()),
        "below": _below_baselines(own[0], scored_baselines),
        "metrics": own[0],
        "calibration": own[1].to_dict("records"),
        "baselines": scored_baselines,
        "models": others,
    }


def _below_baselines(own: dict, baselines: dict) -> list[dict]:
    """The baselines the model scores below on its own test rows (macro-F1), largest gap first: a model
    that loses to the rules it learnt from, or to boosting on the numbers, should say so."""
    out = [
        {"baseline": b, "points": round(100 * (m["macro_f1"] - own["macro_f1"]), 1)}
        for b, m in baselines.items()
        if not m.get("skipped") and m.get("macro_f1") is not None and m["macro_f1"] > own["macro_f1"]
    ]
    return sorted(out, key=lambda d: -d["points"])


def influence_path(ws, model: str, name: str) -> Path:
    from .predict import model_dir

    return model_dir(ws, model).parent / "influence" / f"{ws.dataset(name).id}.json"


def stage_influence(
    ws,
    name: str,
    model_name: str,
    *,
    per_stage: int = 6,
    budget: int | None = None,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> dict:
    """The features and words that push each predicted stage, across up to ``per_stage`` products per
    stage (their latest period, drawn at random with ``seed``). Stored next to the model and returned:
    {"features": records(stage, feature, mean, mean_abs, products), "tokens": records(stage, token,
    mean, products), "products": {stage: [ids]}, "text_part": ...}."""
    from .explain import DEFAULT_BUDGET, explain_inputs
    from .predict import load_model, load_predictions, model_dir, model_examples

    progress = progress or (lambda f, m: None)
    model = load_model(model_dir(ws, model_name))
    preds = load_predictions(ws, model_name, name)
    if preds is None:
        raise FileNotFoundError(f"model {model_name!r} has no stored predictions for dataset {name!r}: score it first")
    latest = preds[preds.groupby("product_id")["t"].transform("max") == preds["t"]]
    rng = np.random.default_rng(seed)
    ex = model_examples(ws, name, model)
    rows = ex.frame.set_index(["product_id", "t"])
    chosen = {}
    for s in Stage:
        ids = latest.loc[latest["stage"] == int(s), "product_id"].to_numpy()
        chosen[int(s)] = list(rng.choice(ids, size=min(per_stage, len(ids)), replace=False)) if len(ids) else []
    total = sum(len(v) for v in chosen.values()) or 1
    feats, toks, done = [], [], 0
    for s, ids in chosen.items():
        for pid in ids:
            t = int(latest.loc[latest["product_id"] == pid, "t"].iloc[0])
            r = rows.loc[(pid, t)]
            x = r[list(model.config.feature_names)].to_numpy(dtype=np.float64)
            exp = explain_inputs(model, str(ex.texts[int(r["text_id"])]), x, budget=budget or DEFAULT_BUDGET)
            fs = exp.features[exp.features["stage"] == s]
            feats.append(fs.assign(product_id=pid)[["stage", "feature", "value", "product_id"]])
            words = exp.top_tokens(s, k=len(exp.tokens), words_only=True)
            words = words.assign(token=words["token"].str.strip().str.lower(), product_id=pid)
            toks.append(words.groupby(["stage", "token", "product_id"], as_index=False)["value"].sum())
            done += 1
            progress(done / total, f"explained {done} of {total} products")
    fe = pd.concat(feats) if feats else pd.DataFrame(columns=["stage", "feature", "value", "product_id"])
    fe = (
        fe.assign(abs_value=fe["value"].abs())
        .groupby(["stage", "feature"], as_index=False)
        .agg(mean=("value", "mean"), mean_abs=("abs_value", "mean"), products=("product_id", "nunique"))
        .sort_values(["stage", "mean_abs"], ascending=[True, False])
    )
    tk = pd.concat(toks) if toks else pd.DataFrame(columns=["stage", "token", "product_id", "value"])
    n_stage = {s: max(len(v), 1) for s, v in chosen.items()}
    # A word's mean over the stage's sampled products (0 where absent): frequent, consistent words rank high.
    tk = tk.groupby(["stage", "token"], as_index=False).agg(total=("value", "sum"), products=("product_id", "nunique"))
    tk["mean"] = tk["total"] / tk["stage"].map(n_stage)
    tk = tk.drop(columns="total").sort_values(["stage", "mean"], ascending=[True, False])
    out = {
        "model": model_name,
        "per_stage": per_stage,
        "products": {Stage(s).label("en"): [str(p) for p in v] for s, v in chosen.items()},
        "text_part": model.training.get("text_part", "on"),
        "features": fe.groupby("stage").head(10).to_dict("records"),
        "tokens": tk.groupby("stage").head(12).to_dict("records"),
    }
    path = influence_path(ws, model_name, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(out, indent=1, default=float), encoding="utf-8")
    tmp.replace(path)  # readers see the old file or the new one, never half of one
    return out


def load_influence(ws, model: str, name: str) -> dict | None:
    path = influence_path(ws, model, name)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
