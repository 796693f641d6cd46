"""Training the stacked stage model (stacked.py), the default of ``train``.

    python -m lifecycle_core train --workspace ws --dataset demo --model-name first

Steps: examples with the model's label rules; season inputs; analog products picked by text among the
training products; the text read by a sentence encoder (each distinct segment once); text components
fitted on training texts; text-only stage classifiers cross-fitted over product folds; then gradient
boosting with every part, leaving parts out one at a time while that raises validation macro-F1 by
PART_GAIN (backward elimination); temperature scaling on validation; a demand booster. Minutes on 2 cores.
A small catalog (few validation products, few rows) scores the candidates by cross-validation over product
folds of the training and validation rows instead, and trains the chosen booster on all of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .analogs import ANALOG_FEATURES, AnalogReference
from .calibration import YOUNG_WEEKS, calibrated_logits, fit_stage_calibration
from .evaluate import classification_metrics, expected_calibration_error
from .features import FEATURES, Examples, build_examples
from .labeling import LabelRules
from .seasons import SEASON_FEATURES
from .splits import TRAIN, VAL, SplitConfig, split_rows
from .stacked import (
    CATALOG_PCS,
    K_FOLDS,
    PART_GAIN,
    PARTS,
    TEXT_PARTS,
    TEXT_PROBS,
    VOICE_PCS,
    Reference,
    StackedConfig,
    StackedModel,
    TextProjection,
    TextReader,
    _lgb,
    _softmax,
    add_seasons,
    booster_params,
    class_weights,
    fit_booster,
    panel_vectors,
    product_folds,
)
from .stages import Stage
from .train_config import TrainConfig

TEXT_COLUMNS = CATALOG_PCS + VOICE_PCS + TEXT_PROBS


def text_inputs(reader, ex, tid, tr, va, pids, y, progress) -> tuple[pd.DataFrame, TextProjection]:
    """TEXT_COLUMNS for the training and validation rows (NaN elsewhere) and the fitted projection.

    Training rows get out-of-fold text probabilities: the classifier of their product's fold never saw
    the product. Validation rows get the mean of the fold classifiers, as any row scored later does."""
    used = np.unique(tid[tr | va])
    progress(0.2, f"reading {len(used):,} distinct texts (each segment once)")
    V = reader.vectors(ex.texts[used].tolist())
    pos = np.full(len(ex.texts), -1, dtype=np.int64)
    pos[used] = np.arange(len(used))
    proj = TextProjection.fit(V, np.unique(pos[tid[tr]]), reader.dim)
    progress(0.4, f"text-only stage classifiers over {K_FOLDS} product folds")
    folds = product_folds(pids)
    proj.fit_classifiers(V, pos[tid[tr]], y[tr], folds[tr], class_weights(y[tr]))
    out = pd.DataFrame(np.nan, index=np.arange(len(tid)), columns=list(TEXT_COLUMNS), dtype=np.float32)
    rows = np.flatnonzero(tr | va)
    Vr = V[pos[tid[rows]]]
    out.loc[rows, list(CATALOG_PCS + VOICE_PCS)] = proj.components(Vr, reader.dim)
    probs = proj.probabilities(Vr)
    is_tr = tr[rows]
    for k in range(K_FOLDS):
        own = is_tr & (folds[rows] == k)
        if own.any():
            probs[own] = proj.probabilities(Vr[own], fold=k)
    out.loc[rows, list(TEXT_PROBS)] = probs
    return out, proj


def _ordered(columns: list[str]) -> tuple[list[str], list[str]]:
    """(non-text inputs, text inputs), each in its canonical order."""
    text = set(TEXT_COLUMNS)
    return [c for c in columns if c not in text], [c for c in TEXT_COLUMNS if c in columns]


def train_stacked(
    ws,
    name: str,
    config: TrainConfig | None = None,
    *,
    output_dir: str | Path,
    progress: Callable[[float, str], None] | None = None,
    rules: LabelRules | None = None,
    split: SplitConfig | None = None,
    on_log: Callable[[dict], None] | None = None,
    reader: TextReader | None = None,
):
    """Train a StackedModel on dataset ``name``; saved in output_dir/model. Returns train.TrainResult."""
    from .train import TrainResult, _too_few_hint

    cfg = config or TrainConfig()
    progress = progress or (lambda f, m: None)
    started = time.perf_counter()
    out = Path(output_dir)
    progress(0.0, "building examples")
    ex = build_examples(ws, name, rules)
    rules = ex.labels.rules
    f = ex.frame
    panel = ex.labels.panel
    T = panel.shape[1]
    pids = f["product_id"].to_numpy()
    which = split_rows(cfg.split, f["t"].to_numpy(), pids, T, horizon=rules.horizon, config=split)
    y = f["stage"].to_numpy()
    labeled = y >= 0
    tr, va = labeled & (which == TRAIN), labeled & (which == VAL)
    # Few validation products (a small catalog): one validation set cannot tell the parts apart (a few
    # dozen products decide), so parts, rounds and the temperature come from cross-validation over product
    # folds of the training and validation rows, and the booster is then trained on all of them. Such a
    # catalog can do without validation labels (a short, sparse history whose held-out products have none).
    cv = _CrossValidation.plan(pids, tr, va, y, seed=cfg.seed)
    if tr.sum() < 8 or (va.sum() < 2 and cv is None):
        raise ValueError(
            f"dataset {name!r} has {int(tr.sum())} training and {int(va.sum())} validation labels on the "
            f"{cfg.split} split ({int(labeled.sum())} labeled product-periods of {len(f)}); need at least 8 and 2: "
            + _too_few_hint(ex, cfg.split)
        )
    progress(0.05, "season inputs")
    frame = add_seasons(ws, name, ex)
    progress(0.1, f"analog products among {len(np.unique(pids[which == TRAIN])):,} training products")
    vec, cats = panel_vectors(ws, name, panel)
    analogs = AnalogReference.from_training(frame, which == TRAIN, panel.products, vec, cats, panel.period)
    for k, v in analogs.features(frame, panel.products, vec, cats).items():
        frame[k] = v
    reader = reader or TextReader(cfg.base_model, max_length=cfg.max_length)
    text, projection = text_inputs(reader, ex, f["text_id"].to_numpy(), tr, va, pids, y, progress)
    for c in TEXT_COLUMNS:
        frame[c] = text[c].to_numpy()

    # Inputs with no value on any training row (no year of history yet, no reviews) carry nothing.
    candidates = FEATURES + SEASON_FEATURES + ANALOG_FEATURES + TEXT_COLUMNS
    informative = {c for c in candidates if np.isfinite(frame.loc[tr, c].to_numpy(dtype=float)).any()}
    y_tr, y_va = y[tr], y[va]
    n_classes = int((np.bincount(y_tr, minlength=len(Stage)) > 0).sum())
    base = [c for c in FEATURES if c in informative]
    available = {p: [c for c in cols if c in informative] for p, cols in PARTS.items()}
    history = [{"inputs": p, "skipped": "no values on the training rows"} for p, c in available.items() if not c]
    fits: dict[tuple[str, ...], _Fit] = {}

    def fit(parts_: tuple[str, ...]) -> _Fit:
        """Boosting with the signals and ``parts_``, scored on the validation rows, or on every training
        and validation row out of fold under cv (then no booster yet: ``cv.final`` trains it)."""
        key = tuple(sorted(parts_))
        if key not in fits:
            nt, tx = _ordered(base + [c for p in parts_ for c in available[p]])
            if cv is not None:
                proba, rounds = cv.out_of_fold(frame[nt + tx].to_numpy(dtype=np.float64))
                f1 = classification_metrics(cv.y, proba)["macro_f1"]
                fits[key] = _Fit(None, f1, proba, nt + tx, rounds)
            else:
                M_tr = frame.loc[tr, nt + tx].to_numpy(dtype=np.float64)
                M_va = frame.loc[va, nt + tx].to_numpy(dtype=np.float64)
                b = fit_booster(M_tr, y_tr, M_va, y_va, seed=cfg.seed)
                proba = _softmax(np.asarray(b.predict(M_va, raw_score=True)).reshape(len(y_va), len(Stage)))
                f1 = classification_metrics(y_va, proba)["macro_f1"]
                rounds = b.best_iteration or b.current_iteration()
                fits[key] = _Fit(b, f1, proba, nt + tx, rounds)
            label = " + ".join(["signals", *key])
            history.append({"inputs": label, "validation_macro_f1": f1, "rounds": fits[key].rounds})
            if on_log is not None:
                on_log({"step": len(fits), "max_steps": len(fits), "eval_macro_f1": f1, "inputs": label})
            progress(min(0.9, 0.5 + 0.03 * len(fits)), f"gradient boosting with {label}: {how} macro-F1 {f1}")
        return fits[key]

    how = f"{cv.folds}-fold cross-validated" if cv is not None else "validation"
    parts: tuple[str, ...] = ()
    booster = val_proba = None
    best_f1 = -1.0
    chosen = base
    y_sel = cv.y if cv is not None else y_va
    if n_classes >= 2:
        # Backward elimination from every part: a part stays while taking it out lowers validation F1.
        parts = tuple(p for p, c in available.items() if c)
        best_f1 = fit(parts).f1
        while parts:
            trials = {p: fit(tuple(q for q in parts if q != p)).f1 for p in parts}
            drop = max(trials, key=lambda p: (trials[p], -list(PARTS).index(p)))
            if trials[drop] < best_f1 + PART_GAIN:
                break
            parts, best_f1 = tuple(q for q in parts if q != drop), trials[drop]
        # The signals alone are always a candidate: elimination one part at a time can stop at a set of
        # parts that together do worse on validation than none of them (small daily catalogs).
        if parts and fit(()).f1 >= best_f1:
            parts = ()
        booster, best_f1, val_proba, chosen, rounds = fit(parts)
        if cv is not None:  # the chosen inputs, trained on every training and validation row
            booster = cv.final(frame[chosen].to_numpy(dtype=np.float64), rounds)
    left_out = [p for p in PARTS if p not in parts]
    non_text, text_cols = _ordered(chosen)
    temperature, only, young = 1.0, None, None
    if booster is None:  # one stage in training: it is predicted with certainty
        only = int(np.flatnonzero(np.bincount(y_tr, minlength=len(Stage)))[0])
        val_proba = np.zeros((len(y_va), len(Stage)))
        val_proba[:, only] = 1.0
        uncal = classification_metrics(y_va, val_proba)
        metrics = dict(uncal)
    else:
        uncal = classification_metrics(y_sel, val_proba)
        age_sel = frame["age"].to_numpy(dtype=float)[cv.rows if cv is not None else va]
        raw = np.log(np.clip(val_proba, 1e-12, 1.0))  # the margins up to a constant per row
        temperature, young = fit_stage_calibration(raw, y_sel, age_sel)
        calibrated = _softmax(calibrated_logits(raw, temperature, young, age_sel))
        metrics = classification_metrics(y_sel, calibrated)
        is_young = age_sel < YOUNG_WEEKS
        if is_young.any():
            metrics["ece_young_uncalibrated"] = round(
                expected_calibration_error(y_sel[is_young], val_proba[is_young]), 4
            )
            metrics["ece_young"] = round(expected_calibration_error(y_sel[is_young], calibrated[is_young]), 4)
    metrics["selection"] = (
        f"{cv.folds}-fold cross-validation by product over {len(cv.y):,} training and validation rows"
        if cv is not None
        else f"{len(y_va):,} validation rows"
    )
    metrics["ece_uncalibrated"] = uncal["ece"]
    metrics["temperature"] = round(temperature, 4)
    progress(0.93, "demand booster")
    demand = _fit_demand(frame, chosen, tr, va, cfg.seed)
    ref = frame.loc[tr, non_text].astype(float).mean(skipna=True)
    text_part = (
        "on: " + ", ".join(p for p in parts if p in TEXT_PARTS)
        if text_cols
        else f"off: validation macro-F1 {best_f1} without the text, "
        + str(max((fit_[1] for key, fit_ in fits.items() if set(key) & set(TEXT_PARTS)), default="n/a"))
        + " at best with it"
    )
    model = StackedModel(
        StackedConfig(
            feature_names=tuple(non_text),
            text_columns=tuple(text_cols),
            parts=tuple(parts),
            base_model=cfg.base_model,
            max_length=cfg.max_length,
        ),
        booster=booster,
        demand=demand,
        projection=projection,
        analogs=analogs if set(ANALOG_FEATURES) & set(non_text) else None,
        reference=Reference([float(v) if np.isfinite(v) else float("nan") for v in ref.to_numpy()]),
        reader=reader,
        only_stage=only,
        temperature=temperature,
        young=young,
    )
    model.metrics = {"validation": metrics}
    model.training = {
        "model_kind": "stacked",
        "train": cfg.to_dict(),
        "parts": {"used": ["signals", *parts], "left_out": left_out, "selection": history},
        "text_part": text_part,
        "labels": rules.to_dict(),
        "label_windows": rules.windows(),
        "split_config": (split or SplitConfig()).to_dict(),
        "dataset": name,
        "n_train": int((tr | va).sum()) if cv is not None else int(tr.sum()),
        "n_val": int(va.sum()),
        "steps": int(booster.best_iteration or booster.current_iteration()) if booster is not None else 0,
    }
    model.fingerprint = ws.dataset(name).content_hash
    model.save(out / "model")
    seconds = time.perf_counter() - started
    progress(
        1.0,
        f"done in {seconds:,.0f} s: validation macro-F1 {metrics['macro_f1']} with {', '.join(['signals', *parts])}"
        + (f" (left out: {', '.join(left_out)})" if left_out else ""),
    )
    return TrainResult(
        model, metrics, out, model.training["steps"], seconds, history, Examples(frame, ex.texts, ex.labels)
    )


def _fit_demand(frame, columns, tr, va, seed):
    """LightGBM regression of log1p(next-period units) on the chosen inputs (None without targets)."""
    lgb = _lgb()
    nxt = frame["next_units"].to_numpy(dtype=float)
    ok_tr, ok_va = tr & np.isfinite(nxt), va & np.isfinite(nxt)
    if ok_tr.sum() < 8:
        return None
    params = {**booster_params(int(ok_tr.sum()), seed), "objective": "regression"}
    params.pop("num_class")
    d_tr = lgb.Dataset(frame.loc[ok_tr, columns].to_numpy(float), np.log1p(np.clip(nxt[ok_tr], 0, None)))
    callbacks, valid = [], []
    if ok_va.sum() >= 2:
        valid = [
            lgb.Dataset(
                frame.loc[ok_va, columns].to_numpy(float), np.log1p(np.clip(nxt[ok_va], 0, None)), reference=d_tr
            )
        ]
        callbacks = [lgb.early_stopping(30, verbose=False)]
    return lgb.train(params, d_tr, 400, valid_sets=valid, callbacks=callbacks)


class _Fit(NamedTuple):
    """One candidate set of inputs, fitted and scored (train_stacked's backward elimination)."""

    booster: object  # None under cross-validation until the chosen set is trained on every row
    f1: float  # macro-F1 on the selection rows (validation, or out of fold)
    proba: np.ndarray  # held-out probabilities of the selection rows
    columns: list[str]
    rounds: int


# Cross-validation replaces the validation rows when they hold fewer than CV_BELOW_PRODUCTS products and
# the training and validation rows are fewer than CV_BELOW_ROWS (above that, a fit costs seconds, and
# five folds times a dozen candidate inputs would cost minutes: the demo took 5 min instead of 15 s).
CV_BELOW_PRODUCTS = 150
CV_BELOW_ROWS = 6_000
CV_FOLDS = 5
CV_MAX_ROUNDS = 600  # rounds tried (learning rate 0.05), scored every CV_ROUND_STEP
CV_ROUND_STEP = 10
CV_PATIENCE = 100


class _CrossValidation:
    """Out-of-fold scoring over product folds of the training and validation rows (small catalogs)."""

    def __init__(self, rows: np.ndarray, y: np.ndarray, fold: np.ndarray, folds: int, seed: int):
        self.rows, self.y, self.fold, self.folds, self.seed = rows, y, fold, folds, seed

    @classmethod
    def plan(cls, pids, tr, va, y, *, seed: int = 0) -> _CrossValidation | None:
        """Cross-validation when the validation rows hold fewer than CV_BELOW_PRODUCTS products, there are
        fewer than CV_BELOW_ROWS training and validation rows and enough products for CV_FOLDS folds;
        None: the validation rows decide."""
        rows = np.flatnonzero(tr | va)
        n_val = len(np.unique(pids[va].astype(str)))
        n_products = len(np.unique(pids[rows].astype(str)))
        if n_val >= CV_BELOW_PRODUCTS or len(rows) >= CV_BELOW_ROWS or n_products < 2 * CV_FOLDS:
            return None
        return cls(rows, y[rows], product_folds(pids[rows], seed + 1, CV_FOLDS), CV_FOLDS, seed)

    def out_of_fold(self, M: np.ndarray) -> tuple[np.ndarray, int]:
        """(held-out probabilities of every row, the number of rounds) for inputs ``M`` (all rows of the
        frame; only self.rows are used). The folds' boosters grow in step; the rounds are the ones with
        the best macro-F1 over all held-out rows pooled, stopping CV_PATIENCE rounds after it (one fold's
        own best, a few dozen products, stopped after 6-40 rounds, probabilities barely off the prior)."""
        lgb = _lgb()
        X = M[self.rows]
        raw = np.zeros((len(self.y), len(Stage)))
        growing = []
        for k in range(self.folds):
            hold = self.fold == k
            y_fit = self.y[~hold]
            counts = np.bincount(y_fit, minlength=len(Stage))
            if (counts > 0).sum() < 2:  # a fold's training side of one stage: its share, nothing learnt
                raw[hold] = np.log(np.maximum(counts, 1e-3) / max(1, len(y_fit)))
                continue
            w = class_weights(y_fit)
            data = lgb.Dataset(X[~hold], y_fit, weight=w[y_fit], free_raw_data=True)
            growing.append((lgb.Booster(booster_params(len(y_fit), self.seed), data), hold))
        best_f1, best_rounds, best_proba = -1.0, 0, _softmax(raw)
        for done in range(CV_ROUND_STEP, CV_MAX_ROUNDS + 1, CV_ROUND_STEP):
            for b, hold in growing:
                for _ in range(CV_ROUND_STEP):
                    b.update()
                # Only the newest trees: the raw score is the sum of every tree's output.
                raw[hold] += np.asarray(
                    b.predict(
                        X[hold], raw_score=True, start_iteration=done - CV_ROUND_STEP, num_iteration=CV_ROUND_STEP
                    )
                ).reshape(int(hold.sum()), len(Stage))
            proba = _softmax(raw)
            f1 = classification_metrics(self.y, proba)["macro_f1"]
            if f1 > best_f1:
                best_f1, best_rounds, best_proba = f1, done, proba
            elif done - best_rounds >= CV_PATIENCE or not growing:
                break
        return best_proba, max(best_rounds, 1)

    def final(self, M: np.ndarray, rounds: int):
        """The booster on every training and validation row, with the cross-validated number of rounds."""
        lgb = _lgb()
        X, y = M[self.rows], self.y
        w = class_weights(y)
        data = lgb.Dataset(X, y, weight=w[y], free_raw_data=True)
        return lgb.train(booster_params(len(y), self.seed), data, max(1, rounds))
