"""The built-in stage estimate (gradient boosting on the rule labels) on a large catalog: every labeled
row and every row predicted vs the project's defaults (a fixed random sample of labeled rows, only the
rows a caller needs predicted).

    python bench/stage_estimate.py [--products 20000] [--weeks 52] [--workspace WS --dataset NAME]

The Actions and Anomalies pages (and `actions`, `anomalies` on the CLI) need a stage for every product
now and for the unlabeled product-periods; without a trained model they take it from
``stage_now.stage_probabilities``. In one process, on the same demo catalog:

(a) the estimate as it was: fitted on every labeled row, every row predicted, then the rows selected;
(b) ``stage_probabilities`` at its defaults: fitted on at most 200,000 labeled rows (fixed seed), only
    the latest row per product and the unlabeled rows predicted (as current_stages and stage_matrix ask).

Prints the seconds of (a) and of (b) for each page, the ratios, and how often (b) gives the same stage
as (a) on those rows.
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
    ap.add_argument("--products", type=int, default=20_000)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--workspace", help="an existing workspace instead of a generated demo catalog")
    ap.add_argument("--dataset", default="demo")
    a = ap.parse_args()

    import numpy as np

    from lifecycle_core.demo import write_demo
    from lifecycle_core.features import build_examples
    from lifecycle_core.ingest import ingest
    from lifecycle_core.labeling import LabelRules
    from lifecycle_core.readers import SourceFile
    from lifecycle_core.stage_now import stage_probabilities
    from lifecycle_core.store import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        if a.workspace:
            ws, name = Workspace(a.workspace), a.dataset
        else:
            ws, name = Workspace(Path(tmp) / "ws"), "demo"
            files = write_demo(Path(tmp) / "files", a.products, a.weeks)
            ingest(ws, name, [SourceFile.from_path(p) for p in files])
        ex = build_examples(ws, name, LabelRules(), with_text=False)
        f = ex.frame
        latest = f.groupby("product_id")["t"].transform("max").to_numpy() == f["t"].to_numpy()
        unlabeled = f["stage"].to_numpy() < 0
        print(
            f"{name}: {f['product_id'].nunique():,} products, {len(f):,} product-periods, {int((~unlabeled).sum()):,} labeled, "
            f"{int(unlabeled.sum()):,} unlabeled, {int(latest.sum()):,} latest (prepared in {time.perf_counter() - t0:.0f} s)",
            flush=True,
        )

        t0 = time.perf_counter()
        full = stage_probabilities(ex, max_train=None)
        old_latest, old_unl = full[latest], full[unlabeled]
        old_s = time.perf_counter() - t0
        print(f"(a) every labeled row, every row predicted (each page, before)  {old_s:7.1f} s", flush=True)

        t0 = time.perf_counter()
        new_latest = stage_probabilities(ex, where=latest)
        latest_s = time.perf_counter() - t0
        print(f"(b) defaults, latest rows (Actions)                           {latest_s:7.1f} s", flush=True)
        t0 = time.perf_counter()
        new_unl = stage_probabilities(ex, where=unlabeled)
        unl_s = time.perf_counter() - t0
        print(f"(b) defaults, unlabeled rows (Anomalies)                      {unl_s:7.1f} s", flush=True)

        same_latest = (old_latest.argmax(1) == new_latest.argmax(1)).mean()
        same_unl = (old_unl.argmax(1) == new_unl.argmax(1)).mean()
        print(f"ratio (a)/(b): Actions {old_s / latest_s:.1f}x, Anomalies {old_s / unl_s:.1f}x")
        print(
            f"same stage as (a): {same_latest:.2%} of latest rows, {same_unl:.2%} of unlabeled rows; "
            f"largest probability difference on latest rows {np.abs(old_latest - new_latest).max():.3f}"
        )


if __name__ == "__main__":
    main()
