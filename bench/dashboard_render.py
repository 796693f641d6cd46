"""Page render times at two catalog sizes: how the dashboard grows from 1,000 to 100,000 products.

    python bench/dashboard_render.py [--small 1000] [--large 100000] [--weeks 52] [--workdir /tmp/render]

For each size, a workspace is made once in --workdir (reused by later runs): the demo generator's
catalog ingested, a tiny BERT (2 layers, hidden 32, the packaged tokenizer) trained for a few steps as
a stand-in for the real model (training the MiniLM on 100,000 products would take hours on a CPU, and
the pages only read what a model stored), every product-period scored and stored by the real scoring
code, and the per-stage influence computed for 2 products per stage.

Then every page script runs through Streamlit's AppTest in this process, in a fresh session opened on
app.py (untimed) and switched to the page (timed): once cold
(cached results computed) and then three times warm (what a user sees once the caches are filled; the
median is kept). Prints seconds per page and size, the warm large/small growth ratio, and whether each
page stays under the issue's target of 3 s warm at the large size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = ["welcome", "data", "train", "predictions", "explain", "quality", "behaviour", "actions", "anomalies"]


def make_workspace(folder: Path, products: int, weeks: int) -> None:
    """Demo catalog + a tiny model with stored scores, once per folder."""
    from transformers import AutoTokenizer

    from lifecycle_core.demo import write_demo
    from lifecycle_core.ingest import ingest
    from lifecycle_core.model import default_encoder_path
    from lifecycle_core.predict import predict_and_store
    from lifecycle_core.quality import stage_influence
    from lifecycle_core.readers import SourceFile
    from lifecycle_core.store import Workspace
    from lifecycle_core.train import TrainConfig, train
    from tests.conftest import tiny_bert

    done = folder / "ready.json"
    if done.exists():
        return
    ws = Workspace(folder / "ws")
    t = time.perf_counter()
    if not ws.list_datasets():
        files = write_demo(folder / "files", products, weeks, seed=0)
        ingest(ws, "demo", [SourceFile.from_path(p) for p in files])
    made = {"ingest_s": round(time.perf_counter() - t, 1)}
    print(f"  {products:,} products: ingested in {made['ingest_s']} s", flush=True)
    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    t = time.perf_counter()
    if not (ws.root / "models" / "tiny" / "model").exists():  # a run stopped after training resumes here
        cfg = TrainConfig(max_steps=3, batch_size=64, max_length=32, head_warmup_epochs=1)
        enc = tiny_bert(tok.vocab_size)
        train(ws, "demo", cfg, output_dir=ws.root / "models" / "tiny", encoder=enc, tokenizer=tok)
    made["train_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    predict_and_store(ws, "tiny", "demo")
    made["score_s"] = round(time.perf_counter() - t, 1)
    stage_influence(ws, "demo", "tiny", per_stage=2)
    print(f"  {products:,} products: model trained in {made['train_s']} s, scored in {made['score_s']} s", flush=True)
    done.write_text(json.dumps(made), encoding="utf-8")


def render(ws_root: Path, page: str) -> float:
    from streamlit.testing.v1 import AppTest

    os.environ["LIFECYCLE_WORKSPACE"] = str(ws_root)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=3600)
    at.run()  # a new session on the landing page (untimed); pages link to each other through app.py
    t = time.perf_counter()
    at.switch_page(f"pages/{page}.py").run()
    seconds = time.perf_counter() - t
    if at.exception:
        raise RuntimeError(f"{page} at {ws_root}: {at.exception[0].message}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--large", type=int, default=100_000)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--workdir", default="/tmp/lifecycle-render")
    ap.add_argument("--pages", nargs="*", default=PAGES)
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sizes = [a.small, a.large]
    for n in sizes:
        make_workspace(Path(a.workdir) / f"p{n}", n, a.weeks)
    results: dict[str, dict[int, dict]] = {}
    for page in a.pages:
        results[page] = {}
        for n in sizes:
            ws_root = Path(a.workdir) / f"p{n}" / "ws"
            cold = render(ws_root, page)
            warm = statistics.median(render(ws_root, page) for _ in range(3))
            results[page][n] = {"cold": cold, "warm": warm}
        s, big = results[page][a.small], results[page][a.large]
        ok = "ok" if big["warm"] < 3 else "OVER 3 s"
        print(
            f"{page:12s} warm {s['warm']:6.2f} s -> {big['warm']:6.2f} s  (x{big['warm'] / s['warm']:5.1f})"
            f"   cold {s['cold']:7.2f} s -> {big['cold']:7.2f} s   {ok}",
            flush=True,
        )
    worst = max(results, key=lambda p: results[p][a.large]["warm"])
    print(f"slowest warm page at {a.large:,} products: {worst} ({results[worst][a.large]['warm']:.2f} s)")


if __name__ == "__main__":
    main()
