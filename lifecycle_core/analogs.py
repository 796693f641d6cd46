"""Analog products: for each product, the training products whose text reads most like it (same category
first), and what their curves did at the same age. A new product with two weeks of sales gets a stage
from what products like it did; the text picks the reference products a planner would pick by hand.

    python -c "from lifecycle_core.analogs import text_vectors; print(text_vectors(['Oak shelf', 'Pine shelf']).shape)"

Only training rows inform analogs: the neighbours are drawn from the products that have training rows
(never the product itself, never a test-side product of a product split), and what they did at an age
is read from their training rows only.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .periods import weeks_per_period

ANALOG_FEATURES = (
    "analog_introduction",
    "analog_growth",
    "analog_maturity",
    "analog_decline",
    "analog_level",
    "analog_weeks_to_peak",
)


PAD_SLACK = 1.25  # text_vectors: padded tokens per real token a batch may carry


def catalog_texts(products: pd.DataFrame, ids: pd.Index) -> list[str]:
    """Title, category and description of each product in ``ids`` (its id when it has no title)."""
    p = products.drop_duplicates("product_id").set_index("product_id").reindex(ids)
    out = []
    for pid, r in zip(ids, p.itertuples(index=False), strict=True):
        parts = [str(getattr(r, "title", None) or pid)]
        for col in ("category", "description"):
            v = getattr(r, col, None)
            if isinstance(v, str) and v.strip():
                parts.append(v.strip())
        out.append(". ".join(parts))
    return out


def text_vectors(texts: list[str], *, encoder=None, tokenizer=None, batch_size: int = 64, max_length: int = 64):
    """(n, d) unit-length mean-pooled vectors of ``texts`` from the packaged MiniLM (a sentence-embedding
    model: its cosine similarity is what it was trained for), or from ``encoder``/``tokenizer``."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from .model import default_encoder_path

    if encoder is None or tokenizer is None:
        path = str(default_encoder_path())
        encoder, tokenizer = AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    encoder.eval()
    chunks = []
    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"] if texts else []
    with torch.inference_mode():
        for idx in length_batches(np.array([len(t) for t in ids]), batch_size):
            batch = tokenizer.pad({"input_ids": [ids[j] for j in idx]}, return_tensors="pt")
            hidden = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            v = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            chunks.append((idx, torch.nn.functional.normalize(v, dim=1).numpy()))
    d = chunks[0][1].shape[1] if chunks else 0
    out = np.zeros((len(texts), d), dtype=np.float32)
    for idx, v in chunks:
        out[idx] = v
    return out


def length_batches(lengths: np.ndarray, batch_size: int, slack: float = PAD_SLACK) -> list[np.ndarray]:
    """Indices of texts with token counts ``lengths`` in batches of at most ``batch_size``, sorted by
    length, a batch closed before its padded size would exceed ``slack`` times its real tokens. The
    encoder's cost is its padded tokens: explanations mix a catalog segment of ~80 tokens with reviews of
    ~25 in one call, where one padded batch spent half its work on padding."""
    order = np.argsort(lengths, kind="stable")
    out, start, total = [], 0, 0
    for i, j in enumerate(order):
        n, longest = i - start, int(lengths[j])
        if n and (n >= batch_size or longest * (n + 1) > slack * (total + longest)):
            out.append(order[start:i])
            start, total = i, 0
        total += longest
    if len(order) > start:
        out.append(order[start:])
    return out


def neighbours(
    vectors: np.ndarray,
    categories: np.ndarray,
    candidates: np.ndarray,
    *,
    k: int = 10,
    chunk: int = 1024,
    only: np.ndarray | None = None,
) -> np.ndarray:
    """(P, k) indices of each product's k most similar ``candidates`` (product indices), never itself.

    Similarity: cosine of the text vectors, plus 1 for the same non-empty category, so a product's own
    category is searched first. Rows with fewer candidates than k repeat their last neighbour; -1 when
    there is no candidate at all. ``only``: the product indices to search for (default all); the result
    then has one row per entry of ``only``."""
    targets = np.arange(len(vectors)) if only is None else np.asarray(only, dtype=np.int64)
    P = len(targets)
    cand = np.asarray(candidates, dtype=np.int64)
    out = np.full((P, k), -1, dtype=np.int64)
    if len(cand) == 0 or P == 0:
        return out
    cv, cc = vectors[cand], categories[cand]
    kk = min(k, len(cand))
    for lo in range(0, P, chunk):
        pos = np.arange(lo, min(lo + chunk, P))
        rows = targets[pos]
        sim = vectors[rows] @ cv.T
        same = (categories[rows][:, None] == cc[None, :]) & (categories[rows][:, None] != "")
        sim = sim + same
        sim[rows[:, None] == cand[None, :]] = -np.inf  # never the product itself
        top = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(sim, top, axis=1), axis=1), axis=1)
        picked = cand[top]
        picked[~np.isfinite(np.take_along_axis(sim, top, axis=1))] = -1
        out[pos, :kk] = picked
        if kk < k:
            out[pos, kk:] = picked[:, -1:]
    return out


def analog_features(
    frame: pd.DataFrame, train: np.ndarray, nbrs: np.ndarray, n_products: int, period: str
) -> dict[str, np.ndarray]:
    """What each row's analog products did at the row's age, from their training rows only.

    ``frame``: one row per product-period with ``row`` (product index), ``age`` (weeks), ``stage``
    (-1 unlabeled), ``ratio_to_max`` and ``log_units_4``; ``train`` (n,) bool: the rows analogs may
    learn from; ``nbrs`` (P, k) from ``neighbours``. Returns ANALOG_FEATURES as (n,) arrays:
    the share of analogs in each stage at that age, their median level relative to their peak so far,
    and the median age of their peak minus the row's age (weeks; negative once the analogs had peaked).
    NaN where no analog has a training row at that age."""
    stage, level, peak_age = _curves_by_age(frame, train, n_products, period)
    return _read_analogs(frame, nbrs[frame["row"].to_numpy()], stage, level, peak_age, period)


def _ages(frame: pd.DataFrame, period: str) -> np.ndarray:
    return np.rint(frame["age"].to_numpy(dtype=float) / weeks_per_period(period)).astype(np.int64)


def _curves_by_age(frame: pd.DataFrame, train: np.ndarray, n: int, period: str):
    """Per product (``row``): its training label and level at each age in periods, and the age (weeks) of
    its best 4-week level among its training rows; -1 / NaN where it has no training row."""
    rows, age_p = frame["row"].to_numpy(), _ages(frame, period)
    A = int(age_p.max()) + 1 if len(age_p) else 1
    stage = np.full((n, A), -1, dtype=np.int8)
    level = np.full((n, A), np.nan, dtype=np.float32)
    stage[rows[train], age_p[train]] = frame["stage"].to_numpy()[train]
    level[rows[train], age_p[train]] = frame["ratio_to_max"].to_numpy(dtype=float)[train]
    peak_age = np.full(n, np.nan, dtype=np.float32)
    if train.any():
        t = frame.loc[train, ["row", "age", "log_units_4"]]
        best = t.sort_values(["row", "log_units_4"], ascending=[True, False], kind="stable").drop_duplicates("row")
        peak_age[best["row"].to_numpy()] = best["age"].to_numpy(dtype=float)
    return stage, level, peak_age


def _read_analogs(frame, nb, stage, level, peak_age, period) -> dict[str, np.ndarray]:
    """ANALOG_FEATURES of each row of ``frame`` from its analogs ``nb`` (n, k) (indices into the curve
    tables, -1 none); an age beyond the tables' longest reads as unknown."""
    age_p = _ages(frame, period)
    A = stage.shape[1]
    inside = age_p < A
    age_c = np.minimum(age_p, A - 1)[:, None]
    valid = (nb >= 0) & inside[:, None]
    nb0 = np.where(valid, nb, 0)
    st = np.where(valid, stage[nb0, age_c], -1)
    labeled = (st >= 0).sum(axis=1)
    out = {}
    for s, name in enumerate(ANALOG_FEATURES[:4]):
        share = (st == s).sum(axis=1) / np.maximum(labeled, 1)
        out[name] = np.where(labeled > 0, share, np.nan)
    lv = np.where(valid, level[nb0, age_c], np.nan)
    pk = np.where(nb >= 0, peak_age[np.where(nb >= 0, nb, 0)], np.nan)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no analog has that age
        out["analog_level"] = np.nanmedian(lv, axis=1)
        out["analog_weeks_to_peak"] = np.nanmedian(pk, axis=1) - frame["age"].to_numpy(dtype=float)
    return out


class AnalogReference:
    """The training products a model may take as analogs, kept with the model: their text vectors,
    categories, and what each did at each age (labels and levels from training rows only). Scoring
    any dataset later (the next month's export) finds each product's analogs among them, by text.

    Saved as safetensors arrays + JSON (ids, categories); nothing is pickled."""

    def __init__(self, ids, categories, vectors, stage, level, peak_age, period: str, k: int = 10):
        self.ids = [str(x) for x in ids]
        self.categories = np.asarray(categories, dtype=object).astype(str)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.stage, self.level = np.asarray(stage, dtype=np.int8), np.asarray(level, dtype=np.float32)
        self.peak_age, self.period, self.k = np.asarray(peak_age, dtype=np.float32), period, int(k)

    @classmethod
    def from_training(cls, frame, train, product_ids, vectors, categories, period: str, *, k: int = 10):
        """From the rows ``train`` (n,) of ``frame`` (see analog_features); ``product_ids``, ``vectors``
        and ``categories`` are per product index (``row``). Only products with a training row are kept."""
        stage, level, peak_age = _curves_by_age(frame, np.asarray(train, bool), len(product_ids), period)
        keep = np.unique(frame["row"].to_numpy()[np.asarray(train, bool)])
        return cls(
            np.asarray(product_ids)[keep],
            np.asarray(categories)[keep],
            np.asarray(vectors)[keep],
            stage[keep],
            level[keep],
            peak_age[keep],
            period,
            k=k,
        )

    def features(self, frame, product_ids, vectors, categories) -> dict[str, np.ndarray]:
        """ANALOG_FEATURES for the rows of ``frame`` (``row`` indexes ``product_ids``/``vectors``/
        ``categories``): each product's k most similar reference products, never itself (by id)."""
        n = len(product_ids)
        both = np.concatenate([np.asarray(vectors, np.float32), self.vectors])
        cats = np.concatenate([np.asarray(categories, dtype=object).astype(str), self.categories])
        # Candidates live after the scored products; a reference product that is also being scored is
        # excluded from its own list by id below.
        nb = neighbours(both, cats, np.arange(n, n + len(self.ids)), k=self.k + 1, only=np.arange(n))
        own = pd.Index(self.ids).get_indexer(pd.Index([str(p) for p in product_ids]))
        nb = np.where(nb >= 0, nb - n, -1)
        nb[nb == own[:, None]] = -1
        nb = _drop_and_keep(nb, self.k)
        return _read_analogs(frame, nb[frame["row"].to_numpy()], self.stage, self.level, self.peak_age, self.period)

    def nearest(self, vector: np.ndarray, category: str, product_id: str, k: int = 3) -> list[str]:
        """The ids of the ``k`` reference products most like one product (its catalog text ``vector``,
        ``category``), as ``features`` picks them: same category first, never the product itself."""
        both = np.concatenate([np.asarray(vector, np.float32)[None, :], self.vectors])
        cats = np.concatenate([np.array([str(category)], dtype=object), self.categories.astype(object)])
        nb = neighbours(both, cats, np.arange(1, len(both)), k=k + 1, only=np.array([0]))[0]
        found = dict.fromkeys(self.ids[j - 1] for j in nb if j > 0 and self.ids[j - 1] != str(product_id))
        return list(found)[:k]

    def arrays(self) -> dict[str, np.ndarray]:
        return {"vectors": self.vectors, "stage": self.stage, "level": self.level, "peak_age": self.peak_age}

    def meta(self) -> dict:
        return {"ids": self.ids, "categories": self.categories.tolist(), "period": self.period, "k": self.k}

    @classmethod
    def from_saved(cls, arrays: dict, meta: dict) -> AnalogReference:
        return cls(
            meta["ids"],
            meta["categories"],
            arrays["vectors"],
            arrays["stage"],
            arrays["level"],
            arrays["peak_age"],
            meta["period"],
            k=meta["k"],
        )


def _drop_and_keep(nb: np.ndarray, k: int) -> np.ndarray:
    """The first k entries of each row that are not -1, in order (-1 padding)."""
    out = np.full((len(nb), k), -1, dtype=np.int64)
    for j in range(nb.shape[1]):
        col = nb[:, j]
        filled = (out >= 0).sum(axis=1)
        put = (col >= 0) & (filled < k)
        out[np.flatnonzero(put), filled[put]] = col[put]
    return out


def catalog_vectors(ws, name: str) -> tuple[pd.Index, np.ndarray]:
    """(product ids, (P, d) text vectors) of every product of dataset ``name``, computed once per stored
    version of the dataset and kept in the workspace (``cache/<dataset id>/catalog_vectors.npy``, no
    pickle): 300 products take a second on 2 cores, 5,000 about 15 s, 100,000 a few minutes once."""
    info = ws.dataset(name)
    products = ws.load_table(name, "products")
    ids = pd.Index(products["product_id"].astype("str"))
    folder = ws.root / "cache" / info.id
    path = folder / "catalog_vectors.npy"
    if path.exists():
        try:
            v = np.load(path, allow_pickle=False)
            if v.shape[0] == len(ids):
                return ids, v
        except (OSError, ValueError):
            pass  # a damaged cache is recomputed
    v = text_vectors(catalog_texts(products, ids))
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"catalog_vectors.{os.getpid()}.tmp.npy"
    np.save(tmp, v, allow_pickle=False)
    os.replace(tmp, path)
    return ids, v


def similar_products(ws, name: str, product_id: str, *, examples=None, k: int = 5) -> pd.DataFrame:
    """The ``k`` products of the dataset whose text reads most like ``product_id`` (same category first),
    and what each did at the product's current age: product_id, title, category, similarity (cosine),
    stage_then (its hindsight label at that age; -1 unknown), level_then (units relative to its peak so
    far at that age), age_weeks (the product's age). Empty when the product is unknown."""
    from .features import build_examples

    ids, vectors = catalog_vectors(ws, name)
    if product_id not in ids:
        return pd.DataFrame(columns=["product_id", "title", "category", "similarity", "stage_then", "level_then"])
    products = ws.load_table(name, "products").drop_duplicates("product_id").set_index("product_id").reindex(ids)
    cats = products["category"].fillna("").astype("str").to_numpy() if "category" in products else np.full(len(ids), "")
    i = ids.get_loc(product_id)
    nb = neighbours(vectors, cats, np.arange(len(ids)), k=k + 1, only=np.array([i]))[0]
    nb = [j for j in nb if j >= 0 and j != i][:k]
    ex = examples or build_examples(ws, name, with_text=False)
    f = ex.frame[["product_id", "age", "stage", "ratio_to_max"]]
    # One pass over the (possibly millions of) rows for the product and its analogs, then small groups.
    wanted = {product_id, *(ids[j] for j in nb)}
    groups = dict(tuple(f[f["product_id"].isin(wanted)].groupby("product_id", sort=False)))
    own = groups.get(product_id, f.iloc[:0])
    age = float(own["age"].max()) if len(own) else 0.0
    rows = []
    for j in nb:
        pid = ids[j]
        hist = groups.get(pid, f.iloc[:0])
        at = hist.iloc[(hist["age"] - age).abs().argsort()[:1]] if len(hist) else hist
        rows.append(
            {
                "product_id": pid,
                "title": products["title"].iloc[j] if "title" in products else pid,
                "category": cats[j],
                "similarity": round(float(vectors[i] @ vectors[j]), 3),
                "stage_then": int(at["stage"].iloc[0]) if len(at) else -1,
                "level_then": round(float(at["ratio_to_max"].iloc[0]), 3) if len(at) else np.nan,
                "age_weeks": round(age, 1),
            }
        )
    return pd.DataFrame(rows)
