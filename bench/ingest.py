"""Full validated ingest vs a bare pandas read + weekly group-by of the same file, side by side.

    python bench/ingest.py [--file ../shared/data/online_retail_ii/online_retail_ii.csv.gz] [--repeat 3]

Each variant runs in its own fresh subprocess (so peak RSS is its own), alternating, ``--repeat``
times; the script prints the median seconds of each, the ratio full/bare, and peak memory.
Target (issue 2): ratio <= 3, full ingest peak RSS < 1.5 GiB.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT.parent / "shared" / "data" / "online_retail_ii" / "online_retail_ii.csv.gz"


def bare(path: str) -> dict:
    import pandas as pd

    t = time.perf_counter()
    df = pd.read_csv(path)
    week = pd.to_datetime(df["InvoiceDate"]).dt.to_period("W-SUN").dt.start_time
    g = df.groupby([df["StockCode"], week])["Quantity"].sum()
    return {"seconds": time.perf_counter() - t, "rows": len(g)}


def full(path: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from lifecycle_core.ingest import ingest
    from lifecycle_core.readers import SourceFile
    from lifecycle_core.store import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(tmp)
        t = time.perf_counter()
        info = ingest(ws, "bench", [SourceFile.from_path(path)])
        return {"seconds": time.perf_counter() - t, "rows": info.counts["sales_rows"], "counts": info.counts}


def child(variant: str, path: str) -> None:
    res = {"bare": bare, "full": full}[variant](path)
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default=str(DEFAULT_FILE))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", choices=["bare", "full"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.file)
        return
    runs: dict[str, list[dict]] = {"bare": [], "full": []}
    for _ in range(args.repeat):
        for variant in ("bare", "full"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", variant, "--file", args.file],
                check=True,
                capture_output=True,
                text=True,
            )
            runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {v: statistics.median(r["seconds"] for r in rs) for v, rs in runs.items()}
    rss = {v: max(r["peak_rss_mib"] for r in rs) for v, rs in runs.items()}
    print(f"file: {args.file}")
    print(f"bare read_csv + weekly groupby: {med['bare']:.2f} s  peak RSS {rss['bare']:.0f} MiB")
    print(f"full validated ingest:          {med['full']:.2f} s  peak RSS {rss['full']:.0f} MiB")
    print(f"ratio full/bare: {med['full'] / med['bare']:.2f}x  (target <= 3.0x; peak RSS target < 1536 MiB)")
    print(
        json.dumps(
            {
                "median_seconds": med,
                "peak_rss_mib": rss,
                "ratio": med["full"] / med["bare"],
                "counts": runs["full"][-1]["counts"],
            }
        )
    )


if __name__ == "__main__":
    main()
