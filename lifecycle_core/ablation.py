"""Ablation: what each part of the stacked stage model's inputs adds, on the test rows of honest splits.

    python -m lifecycle_core evaluate --workspace ws --dataset demo --ablation [--json]

On the training rows of each split, boosting is trained with a growing set of inputs: the gbm baseline
(scikit-learn, the causal signals), then LightGBM (the stacked model's booster, early-stopped on the
split's validation rows and calibrated on them as the model is: a temperature, and rows younger than 8
weeks their own vector scaling when there are enough of them) on the signals, + seasons, + analog
products (picked by text), + catalog text components, + components of the reviews and search terms, +
the cross-fitted text-only stage probabilities (the full model, every part). "full, no text" is the full
model with the three text parts taken out: the price of ignoring the text. Each variant is scored on the
test rows, on the cold-start slice (unseen products in their first 8 weeks) and by product age (0-7,
8-25 and 26+ weeks), macro-F1 and ECE each, and the differences that matter (full - gbm, full - full
without text, full - signals, each trained model - gbm) with a 95 % interval from a bootstrap over the
slice's products. Analogs, text components and the text classifiers are fitted on training rows only.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from .analogs import ANALOG_FEATURES, AnalogReference
from .baselines import GBMBaseline
from .calibration import calibrated_logits, fit_stage_calibration
from .evaluate import COLD_START_WEEKS, classification_metrics
from .features import FEATURES, build_examples
from .labeling import LabelRules
from .seasons import SEASON_FEATURES
from .splits import TEST, TRAIN, VAL, SplitConfig, product_split, time_split_described
from .stacked import (
    CATALOG_PCS,
    TEXT_PROBS,
    VOICE_PCS,
    TextReader,
    _softmax,
    add_seasons,
    fit_booster,
    panel_vectors,
)

_SIGNALS = FEATURES
_SEASONS = _SIGNALS + SEASON_FEATURES
_ANALOGS = _SEASONS + ANALOG_FEATURES
VARIANTS = {
    "gbm": FEATURES,  # the baseline (scikit-learn HistGradientBoosting)
    "signals": _SIGNALS,
    "+ seasons": _SEASONS,
    "+ analogs": _ANALOGS,
    "+ catalog text": _ANALOGS + CATALOG_PCS,
    "+ reviews and searches": _ANALOGS + CATALOG_PCS + VOICE_PCS,
    "full": _ANALOGS + CATALOG_PCS + VOICE_PCS + TEXT_PROBS,
    "full, no text": _ANALOGS,
}
AGE_BANDS = {"age 0-7": (0, 8), "age 8-25": (8, 26), "age 26+": (26, np.inf)}  # weeks


def _slices(frame: pd.DataFrame, split: np.ndarray, kind: str) -> dict[str, np.ndarray]:
    labeled = frame["stage"].to_numpy() >= 0
    test = labeled & (split == TEST)
    age = frame["age"].to_numpy(dtype=float)
    out = {"test": test}
    if kind == "product":
        out["cold start"] = test & (age < COLD_START_WEEKS)
    for name, (lo, hi) in AGE_BANDS.items():
        out[name] = test & (age >= lo) & (age < hi)
    return out


def ablation(
    ws,
    name: str,
    *,
    rules: LabelRules | None = None,
    split_config: SplitConfig | None = None,
    k: int = 10,
    trained: dict[str, object] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> dict:
    """Macro-F1 / ECE of every VARIANTS entry on the time and the product split, per slice.

    ``trained`` maps a label to a trained model (the fine-tuned transformer, ``--model-kind neural``,
    for the "transformer alone" row); each is scored on every slice of the split it was trained with.

    Returns {"dataset", "period", "variants": {variant: columns count}, "models": {label: split},
    "time": {"layout", "slices": {slice: {"n", variant or label: metrics}}}, "product": {...}}; a split or
    slice without rows is reported with ``n`` 0 and no metrics."""
    from .train_stacked import TEXT_COLUMNS, text_inputs

    progress = progress or (lambda f, m: None)
    split_config = split_config or SplitConfig()
    models = {label: _trained_split(label, m, split_config) for label, m in (trained or {}).items()}
    progress(0.0, "building examples")
    ex = build_examples(ws, name, rules)
    panel = ex.labels.panel
    frame = add_seasons(ws, name, ex)
    progress(0.1, f"reading the text of {len(panel.products):,} products")
    vec, cats = panel_vectors(ws, name, panel)
    reader = TextReader()
    cols = frame["t"].to_numpy()
    T = panel.shape[1]
    horizon = ex.labels.rules.horizon
    pids = frame["product_id"].to_numpy()
    y = frame["stage"].to_numpy()
    splits = {
        "product": (product_split(pids, config=split_config), "product split"),
        "time": time_split_described(cols, T, horizon=horizon, product_ids=pids, config=split_config),
    }
    result = {
        "dataset": name,
        "period": panel.period,
        "labeled": int((y >= 0).sum()),
        "variants": {v: len(c) for v, c in VARIANTS.items()},
        "models": models,
    }
    for i, kind in enumerate(("time", "product")):
        split, layout = splits[kind]
        progress(0.2 + 0.4 * i, f"{kind} split: analogs, text components and text classifiers from the training rows")
        labeled = y >= 0
        fit, val = labeled & (split == TRAIN), labeled & (split == VAL)
        f = frame.copy()
        ref = AnalogReference.from_training(f, split == TRAIN, panel.products, vec, cats, panel.period, k=k)
        for k_, v in ref.features(f, panel.products, vec, cats).items():
            f[k_] = v
        slices = _slices(f, split, kind)
        block = {"layout": layout, "slices": {s: {"n": int(m.sum())} for s, m in slices.items()}}
        result[kind] = block
        if not fit.any() or not val.any() or not slices["test"].any() or len(np.unique(y[fit])) < 2:
            continue
        text, _ = text_inputs(reader, ex, f["text_id"].to_numpy(), fit, labeled & ~fit, pids, y, lambda a, b: None)
        for c in TEXT_COLUMNS:
            f[c] = text[c].to_numpy()
        test = slices["test"]
        age = f["age"].to_numpy(dtype=float)
        probas = {}  # (rows, 4) stage probabilities of each variant and model, filled on the test rows
        for variant, columns in VARIANTS.items():
            t0 = time.perf_counter()
            proba = np.zeros((len(f), 4))
            if variant == "gbm":
                model = GBMBaseline(columns=columns).fit(f.loc[fit], y[fit])
                proba[test] = model.predict_proba(f.loc[test])
            else:
                cols_ = [c for c in columns if np.isfinite(f.loc[fit, c].to_numpy(dtype=float)).any()]
                b = fit_booster(f.loc[fit, cols_].to_numpy(float), y[fit], f.loc[val, cols_].to_numpy(float), y[val])
                # Calibrated on the validation rows as the stacked model is (young rows on their own).
                raw_va = np.asarray(b.predict(f.loc[val, cols_].to_numpy(float), raw_score=True))
                temp, young = fit_stage_calibration(raw_va, y[val], age[val])
                raw = np.asarray(b.predict(f.loc[test, cols_].to_numpy(float), raw_score=True))
                proba[test] = _softmax(calibrated_logits(raw, temp, young, age[test]))
            _score_slices(block, slices, y, proba, variant)
            probas[variant] = proba
            block.setdefault("seconds", {})[variant] = round(time.perf_counter() - t0, 1)
        for label in (m for m, on in models.items() if on == kind):
            t0 = time.perf_counter()
            proba = np.zeros((len(f), 4))
            proba[test] = _trained_proba(ws, name, trained[label], ex, test)  # every slice is part of test
            _score_slices(block, slices, y, proba, label)
            probas[label] = proba
            block.setdefault("seconds", {})[label] = round(time.perf_counter() - t0, 1)
        block["differences"] = _differences(slices, y, pids, probas)
    progress(1.0, "done")
    return result


# The differences the ablation reports with their uncertainty: (model, against).
COMPARISONS = (("full", "gbm"), ("full", "full, no text"), ("full", "signals"))


def _score_slices(block: dict, slices: dict, y: np.ndarray, proba: np.ndarray, label: str) -> None:
    for s_, m in slices.items():
        if m.any():
            met = classification_metrics(y[m], proba[m])
            block["slices"][s_][label] = {"macro_f1": met["macro_f1"], "ece": met["ece"]}


def _differences(slices: dict, y: np.ndarray, pids: np.ndarray, probas: dict) -> dict:
    """{slice: {"full - gbm": paired difference, ...}} for COMPARISONS and every trained model against
    gbm: macro-F1 points with a 95 % interval over products (significance.paired_f1_difference)."""
    from .significance import paired_f1_difference

    pairs = [p for p in COMPARISONS if p[0] in probas and p[1] in probas]
    pairs += [(m, "gbm") for m in probas if m not in VARIANTS and "gbm" in probas]
    out = {}
    for s_, m in slices.items():
        if m.any():
            pred = {k: v[m].argmax(axis=1) for k, v in probas.items()}
            out[s_] = {f"{a} - {b}": paired_f1_difference(y[m], pred[a], pred[b], pids[m]) for a, b in pairs}
    return out


def _trained_split(label: str, model, split_config: SplitConfig) -> str:
    """The split a trained model was trained with; an error when its split settings differ from the
    ablation's (its validation or training rows could be test rows here)."""
    settings = getattr(model, "training", None) or {}
    if settings.get("split_config", split_config.to_dict()) != split_config.to_dict():
        raise ValueError(
            f"model {label!r} was trained with split {settings['split_config']}, not {split_config.to_dict()}: "
            "its training rows could be test rows here"
        )
    return (settings.get("train") or {}).get("split", "time")


def _trained_proba(ws, name: str, model, ex, rows: np.ndarray) -> np.ndarray:
    """A trained model's stage probabilities of the example rows ``rows`` (a boolean mask)."""
    from .predict import model_examples

    frame = model_examples(ws, name, model, examples=ex).frame[rows]
    X = frame[list(model.config.feature_names)].to_numpy(dtype=float)
    return model.predict_proba(ex.texts[frame["text_id"].to_numpy()].tolist(), X)
