"""Explanation latency and fidelity: SHAP's documented default for text vs the project's explainer.

    python bench/explain_latency.py [--model WORKSPACE/models/NAME/model --workspace WS --dataset D] [--products 12]

On the same products and model, in this process:

(a) SHAP's default for text: ``shap.Explainer(f, shap.maskers.Text(tokenizer))`` called with default
    settings (Partition explainer, 500 evaluations), where f scores a list of texts with the product's
    numeric features fixed (``LifecycleModel.predict_proba``);
(b) ``lifecycle_core.explain.explain_inputs`` at its default budget (or ``--budget``, with ``--int8``
    the quantized model), the feature attributions and the sentence included, no cache.

Products: ``--products`` product-periods drawn at random (fixed seed) from every active period of the
catalog, as an analyst picks them on the Explain page (a product's latest period alone would be mostly
end-of-life products the model already puts in Decline with a probability of 1.0).

Prints seconds per product for both (median), the ratio, and the fidelity of (b)'s token attributions
against (a)'s for the predicted stage: Spearman rank correlation and top-5 token overlap (means), over
the product-periods where the words move the predicted stage visibly (some token of (a) reaches 0.05
points). Where none does, the prediction is settled by the signals (a probability near 1.0 leaves the
words no room): (a)'s token values are 1e-4 down to float32 rounding noise, their order carries no
meaning for a reader; those are counted and shown apart (the page says so instead of colouring words).
Target (issue 5): (b) >= 5x faster, rank correlation >= 0.8, median (b) < 2 s at max_length 128.
Without ``--model`` a model is trained first on a small demo catalog (a few minutes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def reading_model(folder: Path):
    """The saved model, or, when training switched its text part off (its words then explain nothing:
    every token is exactly 0), the same run at its best evaluation with the text: the checkpoint the
    Trainer kept as best, before the switch-off."""
    import json

    from safetensors.torch import load_file

    from lifecycle_core.predict import load_model
    from lifecycle_core.train import last_complete_checkpoint

    model = load_model(folder)
    if model.reads_text() or getattr(model, "kind", "neural") == "stacked":
        return model
    last = last_complete_checkpoint(folder.parent / "checkpoints")
    if last is None:
        sys.exit(f"{folder}: the text part is off and no checkpoint is left to read the text from")
    best = json.loads((last / "trainer_state.json").read_text(encoding="utf-8")).get("best_model_checkpoint")
    ckpt = last.parent / Path(best).name if best else last
    state = load_file(str(ckpt / "model.safetensors"))
    model.net.load_state_dict({k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")})
    print(f"text part off in {folder}: explaining {ckpt.name}, the run's best evaluation with the text", flush=True)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a saved model folder (with --workspace and --dataset)")
    ap.add_argument("--workspace")
    ap.add_argument("--dataset", default="demo")
    ap.add_argument("--products", type=int, default=12, help="product-periods to explain")
    ap.add_argument("--budget", type=int, default=0, help="token budget of (b) (default: the model's, model_budget)")
    ap.add_argument("--batch", type=int, default=0, help="masked texts per model call in (b)")
    ap.add_argument("--int8", action="store_true", help="(b) scores masked texts with the int8 model")
    a = ap.parse_args()

    import numpy as np
    import shap
    from scipy.stats import spearmanr

    from lifecycle_core.demo import write_demo
    from lifecycle_core.explain import MIN_SHARE, explain_inputs, model_budget, product_inputs
    from lifecycle_core.ingest import ingest
    from lifecycle_core.readers import SourceFile
    from lifecycle_core.store import Workspace
    from lifecycle_core.train import TrainConfig, train

    tmp = tempfile.TemporaryDirectory()
    if a.model:
        ws, name, folder = Workspace(a.workspace), a.dataset, Path(a.model)
    else:
        ws, name = Workspace(Path(tmp.name) / "ws"), "demo"
        ingest(ws, name, [SourceFile.from_path(p) for p in write_demo(Path(tmp.name) / "files", 80, 80, seed=1)])
        print("training a model on an 80 x 80 demo catalog first…", flush=True)
        folder = train(ws, name, TrainConfig(epochs=2), output_dir=Path(tmp.name) / "m").output_dir / "model"
    model = reading_model(folder)
    budget = a.budget or model_budget(model)
    scorer = model.quantized() if a.int8 else model
    print(
        f"{getattr(model, 'kind', 'neural')} model, max_length {model.config.max_length}, budget {budget} evaluations, int8 {a.int8}",
        flush=True,
    )

    from lifecycle_core.predict import model_examples

    ex = model_examples(ws, name, model)
    picks = ex.frame.iloc[np.random.default_rng(0).permutation(len(ex.frame))[: a.products]]
    times_a, times_b, rhos, overlaps, settled = [], [], [], [], []
    for pid, when in zip(picks["product_id"].astype(str), picks["period"].astype(str).str[:10], strict=True):
        text, x, period = product_inputs(ws, name, model, pid, when, examples=ex)

        def f(texts, _x=x):
            texts = [str(t) for t in texts]
            return model.predict_proba(texts, np.repeat(_x[None, :], len(texts), 0))

        t0 = time.perf_counter()
        ref = shap.Explainer(f, shap.maskers.Text(model.tokenizer))([text])
        times_a.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours = explain_inputs(scorer, text, x, cache=None, budget=budget, batch_size=a.batch or None)
        ours.sentence("en")
        times_b.append(time.perf_counter() - t0)

        s = ours.stage
        va = np.asarray(ref.values[0])[:, s]
        vb = ours.tokens[ours.tokens["stage"] == s]["value"].to_numpy()
        rho = spearmanr(va, vb).statistic if np.std(va) > 0 and np.std(vb) > 0 else float("nan")
        top = len(set(np.argsort(-va)[:5]) & set(np.argsort(-vb)[:5])) / 5
        visible = np.abs(va).max() >= MIN_SHARE / 10
        if visible:
            rhos.append(rho)
            overlaps.append(top)
        else:
            settled.append(rho)
        print(
            f"  {pid} {period}: (a) {times_a[-1]:5.2f} s  (b) {times_b[-1]:5.2f} s  {len(va)} tokens  "
            f"p {ours.probabilities[s]:.3f}  largest token {np.abs(va).max():.1e}  rho {rho:.3f}  top-5 {top:.0%}"
            f"{'' if visible else '  (settled: not counted)'}  {ours.sentence('en')}",
            flush=True,
        )
    ma, mb = statistics.median(times_a), statistics.median(times_b)
    print(f"median seconds per product: (a) SHAP default {ma:.2f}  (b) project {mb:.2f}  ratio {ma / mb:.1f}x")
    if rhos:
        print(
            f"fidelity of (b) vs (a) where the words move the predicted stage ({len(rhos)} of {len(times_a)}): "
            f"Spearman {np.nanmean(rhos):.3f} (min {np.nanmin(rhos):.3f}), top-5 overlap {np.mean(overlaps):.0%}"
        )
    if settled:
        print(
            f"settled by the signals ({len(settled)}, no word moves it 0.05 points): Spearman {np.nanmean(settled):.3f}"
        )
    tmp.cleanup()


if __name__ == "__main__":
    main()
