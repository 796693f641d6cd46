"""Training throughput: a straightforward fine-tuning loop vs the project's training at its defaults.

    python bench/train_throughput.py [--products 300] [--weeks 104] [--epochs 1]

Both run in this process on the same demo catalog, the same labels, rows, split and base model
(the packaged MiniLM), for the same number of epochs:

(a) baseline: every training row tokenized on its own and padded to 128 tokens, one encoder pass per
    row (no sharing of texts), fp32 full fine-tuning of every layer, a plain PyTorch loop (AdamW,
    batch 32, class-weighted loss, the same heads);
(b) ``lifecycle_core.train.train`` with ``TrainConfig()`` defaults (text-grouped, length-sorted batches,
    cached tokens, dynamic padding, top-layer fine-tuning, head warm-up), timed end to end including
    its tokenization, warm-up and per-epoch evaluation.

Prints product-periods per second of each (a) in its training steps (tokenizing, forward, backward,
optimizer) and (b) in the Trainer's training loop without its evaluations (``train_runtime`` minus every
``eval_runtime``), their ratio, the same end to end (setup, warm-up, evaluation and saving included), and
the validation macro-F1 of both. Target (issue 4): step ratio >= 5 on CPU, with (b)'s validation
macro-F1 no worse than (a)'s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def baseline(ws, name: str, epochs: float, seed: int = 0) -> dict:
    import numpy as np
    import torch

    from lifecycle_core.evaluate import classification_metrics
    from lifecycle_core.features import FEATURES, build_examples
    from lifecycle_core.labeling import LabelRules
    from lifecycle_core.model import FeatureScaler, LifecycleModel, ModelConfig
    from lifecycle_core.splits import TRAIN, VAL, time_split

    torch.manual_seed(seed)
    started = time.perf_counter()
    ex = build_examples(ws, name, LabelRules())
    f = ex.frame
    which = time_split(f["t"].to_numpy(), ex.labels.panel.shape[1], horizon=ex.labels.rules.horizon)
    y = f["stage"].to_numpy()
    tr, va = np.flatnonzero((y >= 0) & (which == TRAIN)), np.flatnonzero((y >= 0) & (which == VAL))
    X = f[list(FEATURES)].to_numpy(float)
    scaler = FeatureScaler.fit(X[tr])
    model = LifecycleModel.create(ModelConfig(feature_names=FEATURES, text_dropout=0.0), scaler)
    net, tok = model.net, model.tokenizer
    texts = ex.texts[f["text_id"].to_numpy()]
    counts = np.bincount(y[tr], minlength=4)
    cw = torch.tensor(counts.sum() / (4 * np.maximum(counts, 1)), dtype=torch.float32)
    opt = torch.optim.AdamW(net.parameters(), lr=5e-5)
    Xs = torch.from_numpy(scaler.transform(X))
    rng = np.random.default_rng(seed)
    steps = 0
    loop_started = time.perf_counter()
    for _ in range(int(np.ceil(epochs))):
        net.train()
        for b in np.array_split(rng.permutation(tr), int(np.ceil(len(tr) / 32))):
            enc = tok(list(texts[b]), padding="max_length", truncation=True, max_length=128, return_tensors="pt")
            logits, _ = net(enc["input_ids"], enc["attention_mask"], torch.arange(len(b)), Xs[b])
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y[b].astype(np.int64)), weight=cw)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
    train_seconds = time.perf_counter() - started
    step_seconds = time.perf_counter() - loop_started
    net.eval()
    probs = []
    with torch.no_grad():
        for b in np.array_split(va, int(np.ceil(len(va) / 64))):
            enc = tok(list(texts[b]), padding="max_length", truncation=True, max_length=128, return_tensors="pt")
            logits, _ = net(enc["input_ids"], enc["attention_mask"], torch.arange(len(b)), Xs[b])
            probs.append(torch.softmax(logits, -1).numpy())
    f1 = classification_metrics(y[va], np.concatenate(probs))["macro_f1"]
    rows = len(tr) * int(np.ceil(epochs))
    return {"rows": rows, "seconds": train_seconds, "step_seconds": step_seconds, "steps": steps, "val_macro_f1": f1}


def project(ws, name: str, epochs: float, out: Path) -> dict:
    from lifecycle_core.train import TrainConfig, train

    started = time.perf_counter()
    res = train(ws, name, TrainConfig(epochs=epochs, patience=100), output_dir=out)
    seconds = time.perf_counter() - started
    runtime = next(h["train_runtime"] for h in res.history if "train_runtime" in h)
    evals = sum(h.get("eval_runtime", 0.0) for h in res.history)
    return {
        "rows": res.model.training["n_train"] * epochs,
        "seconds": seconds,
        "step_seconds": runtime - evals,
        "steps": res.steps,
        "val_macro_f1": res.metrics["macro_f1"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--products", type=int, default=300)
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--epochs", type=int, default=1)
    a = ap.parse_args()

    import torch

    from lifecycle_core.demo import write_demo
    from lifecycle_core.ingest import ingest
    from lifecycle_core.readers import SourceFile
    from lifecycle_core.store import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")
        ingest(ws, "demo", [SourceFile.from_path(p) for p in write_demo(Path(tmp) / "files", a.products, a.weeks)])
        print(f"demo {a.products} x {a.weeks}, {a.epochs} epoch(s), {torch.get_num_threads()} CPU threads", flush=True)
        b = project(ws, "demo", a.epochs, Path(tmp) / "run")
        print(f"(b) project  {b['rows'] / b['step_seconds']:8.1f} product-periods/s in steps  {b}", flush=True)
        base = baseline(ws, "demo", a.epochs)
        print(f"(a) baseline {base['rows'] / base['step_seconds']:8.1f} product-periods/s in steps  {base}", flush=True)
        step_ratio = (b["rows"] / b["step_seconds"]) / (base["rows"] / base["step_seconds"])
        ratio = (b["rows"] / b["seconds"]) / (base["rows"] / base["seconds"])
        print(f"training-step ratio (b)/(a): {step_ratio:.2f}x  (target >= 5x)")
        print(f"end-to-end ratio (b)/(a): {ratio:.2f}x  (setup, warm-up, evaluation and saving included)")
        print(f"validation macro-F1: (a) {base['val_macro_f1']}  (b) {b['val_macro_f1']}  (target: (b) >= (a))")


if __name__ == "__main__":
    main()
