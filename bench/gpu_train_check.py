"""GPU check: mixed-precision fine-tuning and scoring of the demo catalog on one CUDA GPU.

    python bench/gpu_train_check.py [--products 300] [--weeks 104] [--steps 300] [--base-model DIR]

Runs, in this process on the same demo catalog and time split, ``lifecycle_core.train.train`` for
``--steps`` optimizer steps (evaluating every 100) in these settings, side by side:

  1. defaults (top two encoder blocks learn), precision auto (bf16 on GPUs that support it);
  2. every encoder block learns (``train_layers=0``), bf16, batch 32;
  3. the same in fp32, the baseline for the bf16 ratio;
  4. and 5. the same two at batch 128.

An unreported run of the default settings goes first: on a fresh process the first pass over the
catalog's batch shapes (dynamic padding gives many) costs 40-50 s of CUDA library loading and kernel
selection on an H200, and a 30-step warm-up was measured to be too short to absorb it.

For each it prints product-periods per second in the Trainer's training steps (evaluations left out),
the whole run's seconds, peak GPU memory (``torch.cuda.max_memory_allocated``) and validation macro-F1;
then the bf16/fp32 ratio, and the scoring rate of the saved default model on the GPU (every
product-period of the catalog, each distinct text encoded once). Needs a CUDA GPU; exits 2 without one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(ws, name: str, out: Path, **settings) -> dict:
    import torch

    from lifecycle_core.train import TrainConfig, train

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    res = train(ws, name, TrainConfig(patience=100, **settings), output_dir=out)
    seconds = time.perf_counter() - started
    runtime = next(h["train_runtime"] for h in res.history if "train_runtime" in h)
    evals = sum(h.get("eval_runtime", 0.0) for h in res.history)
    epochs = max(h.get("epoch", 0.0) for h in res.history)
    rows = epochs * res.model.training["n_train"]
    return {
        "settings": settings,
        "steps": res.steps,
        "rows_trained": round(rows),
        "rows_per_s_in_steps": round(rows / (runtime - evals), 1),
        "seconds_total": round(seconds, 1),
        "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20),
        "val_macro_f1": res.metrics["macro_f1"],
        "text_part": res.model.training["text_part"],
        "model": str(out / "model"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--products", type=int, default=300)
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--base-model", default="", help="local encoder folder (default: the packaged MiniLM)")
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU: this check needs one", file=sys.stderr)
        return 2
    from lifecycle_core.demo import write_demo
    from lifecycle_core.ingest import ingest
    from lifecycle_core.model import LifecycleModel
    from lifecycle_core.predict import score_dataset
    from lifecycle_core.readers import SourceFile
    from lifecycle_core.store import Workspace

    gpu = torch.cuda.get_device_name(0)
    print(f"{gpu}, torch {torch.__version__}, bf16 supported: {torch.cuda.is_bf16_supported()}", flush=True)
    results: dict = {"gpu": gpu, "torch": torch.__version__, "runs": []}
    common = {"max_steps": a.steps, "save_steps": 100, "base_model": a.base_model}
    settings = [
        {"precision": "auto"},
        {"precision": "bf16", "train_layers": 0},
        {"precision": "fp32", "train_layers": 0},
        {"precision": "bf16", "train_layers": 0, "batch_size": 128},
        {"precision": "fp32", "train_layers": 0, "batch_size": 128},
    ]
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")
        files = write_demo(Path(tmp) / "files", a.products, a.weeks)
        ingest(ws, "demo", [SourceFile.from_path(p) for p in files])
        print(f"demo {a.products} x {a.weeks}, {a.steps} steps per run", flush=True)
        run(ws, "demo", Path(tmp) / "warm-up", **common)
        for i, s in enumerate(settings):
            r = run(ws, "demo", Path(tmp) / f"run{i}", **common, **s)
            results["runs"].append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "model"}), flush=True)
        rate = [r["rows_per_s_in_steps"] for r in results["runs"]]
        results["bf16_over_fp32"] = {"batch 32": round(rate[1] / rate[2], 2), "batch 128": round(rate[3] / rate[4], 2)}
        print(f"bf16 / fp32 training-step ratio (every block learns): {results['bf16_over_fp32']}", flush=True)

        model = LifecycleModel.load(results["runs"][0]["model"], device="cuda")
        score_dataset(ws, "demo", model, latest_only=True)  # warm-up: CUDA kernels, tokenizer
        torch.cuda.synchronize()
        started = time.perf_counter()
        preds = score_dataset(ws, "demo", model, batch_size=256)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        results["scoring"] = {
            "rows": len(preds),
            "seconds": round(seconds, 2),
            "rows_per_s": round(len(preds) / seconds),
        }
        print(f"scoring on the GPU (fp32, batch 256): {results['scoring']}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
