"""Ablation: what each part of the stage model's inputs adds, on the test rows of honest splits.

    python -m lifecycle_core evaluate --workspace ws --dataset demo --ablation [--json]

Gradient boosting is trained on the training rows of each split with a growing set of inputs:
the causal signals alone (the gbm baseline), + seasons, + analog products (picked by text), + a few
components of the product text's embedding. The last two are where the text enters: comparing
"+ text components" with "+ seasons" is taking the text out. Each variant is scored on the test rows,
on the cold-start slice (unseen products in their first 8 weeks) and by product age (0-7, 8-25 and 26+
weeks), macro-F1 and ECE each.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from .analogs import ANALOG_FEATURES, analog_features, catalog_texts, neighbours, text_vectors
from .baselines import GBMBaseline
from .evaluate import COLD_START_WEEKS, classification_metrics
from .features import FEATURES, build_examples
from .labeling import LabelRules
from .seasons import SEASON_FEATURES, season_features
from .splits import TEST, TRAIN, SplitConfig, product_split, time_split_described

N_COMPONENTS = 8
TEXT_COMPONENTS = tuple(f"text_pc_{i}" for i in range(N_COMPONENTS))
VARIANTS = {
    "gbm": FEATURES,
    "+ seasons": FEATURES + SEASON_FEATURES,
    "+ analogs": FEATURES + SEASON_FEATURES + ANALOG_FEATURES,
    "+ text components": FEATURES + SEASON_FEATURES + ANALOG_FEATURES + TEXT_COMPONENTS,
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


def _text_components(vectors: np.ndarray, fit_rows: np.ndarray, n: int) -> np.ndarray:
    """(P, n) principal components of the product vectors, fitted on the training products only."""
    from sklearn.decomposition import PCA

    out = np.full((len(vectors), n), np.nan)
    if len(fit_rows) <= n:
        return out
    pca = PCA(n_components=n, random_state=0).fit(vectors[fit_rows])
    out[:] = pca.transform(vectors)
    return out


def ablation(
    ws,
    name: str,
    *,
    rules: LabelRules | None = None,
    split_config: SplitConfig | None = None,
    k: int = 10,
    progress: Callable[[float, str], None] | None = None,
) -> dict:
    """Macro-F1 / ECE of every VARIANTS entry on the time and the product split, per slice.

    Returns {"dataset", "period", "variants": {variant: columns count}, "time": {"layout", "slices":
    {slice: {"n", variant: metrics}}}, "product": {...}}; a split or slice without rows is reported
    with ``n`` 0 and no metrics."""
    progress = progress or (lambda f, m: None)
    split_config = split_config or SplitConfig()
    progress(0.0, "building examples")
    ex = build_examples(ws, name, rules, with_text=False)
    panel = ex.labels.panel
    frame = ex.frame.copy()
    products = ws.load_table(name, "products")
    cats = products.set_index("product_id")["category"] if "category" in products else None
    seasons = season_features(panel, cats)
    rows, cols = frame["row"].to_numpy(), frame["t"].to_numpy()
    for k_, v in seasons.items():
        frame[k_] = v[rows, cols]
    progress(0.1, f"reading the text of {len(panel.products):,} products")
    vectors = text_vectors(catalog_texts(products, panel.products))
    cat_arr = (
        pd.Series(cats).reindex(panel.products).fillna("").astype("str").to_numpy()
        if cats is not None
        else np.full(len(panel.products), "")
    )
    T = panel.shape[1]
    horizon = ex.labels.rules.horizon
    pids = frame["product_id"].to_numpy()
    splits = {
        "product": (product_split(pids, config=split_config), "product split"),
        "time": time_split_described(cols, T, horizon=horizon, product_ids=pids, config=split_config),
    }
    result = {
        "dataset": name,
        "period": panel.period,
        "labeled": int((frame["stage"] >= 0).sum()),
        "variants": {v: len(c) for v, c in VARIANTS.items()},
    }
    for i, kind in enumerate(("time", "product")):
        split, layout = splits[kind]
        progress(0.2 + 0.4 * i, f"{kind} split: analogs and text components from the training rows")
        train_rows = split == TRAIN
        candidates = np.unique(rows[train_rows])
        nb = neighbours(vectors, cat_arr, candidates, k=k)
        f = frame.copy()
        for k_, v in analog_features(f, train_rows, nb, len(panel.products), panel.period).items():
            f[k_] = v
        pcs = _text_components(vectors, candidates, N_COMPONENTS)
        for j, c in enumerate(TEXT_COMPONENTS):
            f[c] = pcs[rows, j]
        fit = train_rows & (f["stage"].to_numpy() >= 0)
        slices = _slices(f, split, kind)
        block = {"layout": layout, "slices": {s: {"n": int(m.sum())} for s, m in slices.items()}}
        for variant, columns in VARIANTS.items():
            if not fit.any() or not slices["test"].any():
                continue
            t0 = time.perf_counter()
            model = GBMBaseline(columns=columns).fit(f.loc[fit], f.loc[fit, "stage"].to_numpy())
            test = slices["test"]
            proba = np.zeros((len(f), 4))
            proba[test] = model.predict_proba(f.loc[test])
            for s, m in slices.items():
                if m.any():
                    met = classification_metrics(f.loc[m, "stage"].to_numpy(), proba[m])
                    block["slices"][s][variant] = {"macro_f1": met["macro_f1"], "ece": met["ece"]}
            block.setdefault("seconds", {})[variant] = round(time.perf_counter() - t0, 1)
        result[kind] = block
    progress(1.0, "done")
    return result
