"""Scoring throughput: the project's batch scoring vs a transformers pipeline scoring one text at a time.

    python bench/predict_throughput.py [--products 300] [--weeks 104] [--baseline-rows 400]

Both use the packaged MiniLM encoder, on the same demo catalog, in this process:

(a) baseline: ``transformers.pipeline("text-classification")`` over the same encoder (with a 4-way
    classification head), called once per product-period text: the obvious way to score a catalog;
    timed on ``--baseline-rows`` rows spread over the catalog and extrapolated per row;
(b) ``lifecycle_core.predict.score_dataset`` at its defaults with a model as training now makes it
    (segment-wise text: each product's catalog text, each review and each set of search terms encoded
    once, sorted by length into batches, the heads over all rows), fp32, and again with int8 dynamic
    quantization, over every product-period of the catalog, end to end (features included); then a
    model that reads each text as one sequence (``--joint-text``, models trained before segments), fp32;
(c) the weekly refresh: the catalog one week shorter is scored first, then the full catalog with the
    model's stored text vectors (``embedding_store``): only texts the new week changed are encoded;
(d) the same for a model whose text part is zero (training switches it off when the text does not
    improve validation): scoring skips the encoder, with identical probabilities.

Prints product-periods per second for each, the ratios, products per second for the latest period
alone (where no text is shared), and the int8 agreement with fp32. Target (issue 4): (b) >= 10x (a).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--products", type=int, default=300)
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--baseline-rows", type=int, default=400)
    ap.add_argument("--skip-joint", action="store_true", help="skip the joint-sequence model (~100 s)")
    a = ap.parse_args()

    import numpy as np
    import pandas as pd
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
    from transformers.utils import logging

    from lifecycle_core.demo import write_demo
    from lifecycle_core.embedding_store import EmbeddingStore
    from lifecycle_core.features import FEATURES, build_examples
    from lifecycle_core.ingest import ingest
    from lifecycle_core.model import FeatureScaler, LifecycleModel, ModelConfig, default_encoder_path
    from lifecycle_core.predict import quantization_agreement, score_dataset
    from lifecycle_core.readers import SourceFile
    from lifecycle_core.stage_now import PROB_COLUMNS
    from lifecycle_core.store import Workspace

    logging.set_verbosity_error()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")
        files = write_demo(Path(tmp) / "files", a.products, a.weeks)
        ingest(ws, "demo", [SourceFile.from_path(p) for p in files])
        ex = build_examples(ws, "demo")
        f = ex.frame
        texts = ex.texts[f["text_id"].to_numpy()]
        X = f[list(FEATURES)].to_numpy(float)
        print(
            f"demo {a.products} x {a.weeks}: {len(f):,} product-periods, {len(ex.texts):,} distinct texts, "
            f"{torch.get_num_threads()} CPU threads",
            flush=True,
        )
        # Heads are untrained here: speed does not depend on the weights' values, except that a text part
        # of exactly zero (how a new model starts, and what training leaves when the text did not help)
        # lets scoring skip the encoder; (b) gets a text part that reads the text, (d) one that does not.
        model = LifecycleModel.create(ModelConfig(feature_names=FEATURES, text_segments=True), FeatureScaler.fit(X))
        torch.nn.init.normal_(model.net.text_head[-1].weight, std=0.02)
        assert model.reads_text()

        path = str(default_encoder_path())
        clf = AutoModelForSequenceClassification.from_pretrained(path, num_labels=4)
        pipe = pipeline("text-classification", model=clf, tokenizer=AutoTokenizer.from_pretrained(path), device=-1)
        sample = texts[np.linspace(0, len(texts) - 1, a.baseline_rows).astype(int)].tolist()
        pipe(sample[:5])  # warm-up
        t0 = time.perf_counter()
        for text in sample:
            pipe(text, truncation=True, max_length=128)
        base_rate = len(sample) / (time.perf_counter() - t0)
        print(f"(a) pipeline, one text per call   {base_rate:8.1f} product-periods/s", flush=True)

        t0 = time.perf_counter()
        preds = score_dataset(ws, "demo", model)
        fp32_s = time.perf_counter() - t0
        fp32_rate = len(preds) / fp32_s
        print(f"(b) score_dataset fp32            {fp32_rate:8.1f} product-periods/s ({fp32_s:.1f} s)", flush=True)
        q = model.quantized()
        t0 = time.perf_counter()
        preds8 = score_dataset(ws, "demo", q)
        int8_s = time.perf_counter() - t0
        int8_rate = len(preds8) / int8_s
        print(f"(b) score_dataset int8            {int8_rate:8.1f} product-periods/s ({int8_s:.1f} s)", flush=True)
        joint_rate = float("nan")
        if not a.skip_joint:
            joint = LifecycleModel.create(ModelConfig(feature_names=FEATURES), FeatureScaler.fit(X))
            joint.net.load_state_dict(model.net.state_dict())
            t0 = time.perf_counter()
            joint_rate = len(score_dataset(ws, "demo", joint)) / (time.perf_counter() - t0)
            print(f"(b) joint-sequence model, fp32    {joint_rate:8.1f} product-periods/s", flush=True)

        # (c) The weekly refresh: the catalog one week shorter scored first (filling the model's store of
        # text vectors), then the full catalog, as after uploading one more week of data.
        prev = Path(tmp) / "prev"
        prev.mkdir()
        cut = pd.to_datetime(pd.read_csv(files[0].parent / "sales.csv")["date"]).max() - pd.Timedelta(days=7)
        for p in files:
            frame = pd.read_csv(p)
            if "date" in frame:
                frame = frame[pd.to_datetime(frame["date"]) <= cut]
            frame.to_csv(prev / p.name, index=False)
        ingest(ws, "prev", [SourceFile.from_path(prev / p.name) for p in files])
        store = EmbeddingStore(Path(tmp) / "embeddings.npy")
        score_dataset(ws, "prev", model, store=store)
        before = len(store)
        t0 = time.perf_counter()
        preds_d = score_dataset(ws, "demo", model, store=EmbeddingStore(store.path))
        refresh_s = time.perf_counter() - t0
        refresh_rate = len(preds_d) / refresh_s
        new_texts = len(EmbeddingStore(store.path)) - before
        print(
            f"(c) one more week, stored vectors {refresh_rate:8.1f} product-periods/s ({refresh_s:.1f} s, "
            f"{new_texts:,} new texts encoded)",
            flush=True,
        )
        same_d = np.abs(preds_d[list(PROB_COLUMNS)].to_numpy() - preds[list(PROB_COLUMNS)].to_numpy()).max()

        off = LifecycleModel.create(ModelConfig(feature_names=FEATURES), FeatureScaler.fit(X))
        t0 = time.perf_counter()
        preds_off = score_dataset(ws, "demo", off)
        off_rate = len(preds_off) / (time.perf_counter() - t0)
        print(f"(d) score_dataset, text part off  {off_rate:8.1f} product-periods/s (no encoder pass)", flush=True)

        t0 = time.perf_counter()
        latest = score_dataset(ws, "demo", q, latest_only=True)
        latest_rate = len(latest) / (time.perf_counter() - t0)
        print(f"    latest period only, int8      {latest_rate:8.1f} products/s ({len(latest):,} products)")
        rows = np.random.default_rng(0).choice(len(f), min(len(f), 1500), replace=False)
        agree = quantization_agreement(model, texts[rows].tolist(), X[rows])
        same = (preds["stage"].to_numpy() == preds8["stage"].to_numpy()).mean()
        print(
            f"ratio fp32/(a): {fp32_rate / base_rate:.1f}x   int8/(a): {int8_rate / base_rate:.1f}x  (target >= 10x)   "
            f"joint fp32/(a): {joint_rate / base_rate:.1f}x   "
            f"text part off/(a): {off_rate / base_rate:.0f}x   one more week/(a): {refresh_rate / base_rate:.0f}x"
        )
        print(f"(c) vs (b) fp32 from scratch: largest probability difference {same_d:.1e}")
        print(f"int8 vs fp32: same stage on {same:.2%} of all rows; {agree}")


if __name__ == "__main__":
    main()
