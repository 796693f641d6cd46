"""Locating malformed CSV rows: the reader (one forward pass) against locating each row from the start
of the file (the earlier way), side by side on the same bytes.

    python bench/malformed_rows.py [--rows 40000]

The file has ``--rows`` ragged rows among 3x as many lines. (a) baseline: every bad row's text searched
for, and its newlines counted, from byte 0; (b) readers.read_source, which reports the first 20 with
their line and counts the rest. Prints seconds and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=40_000)
    a = ap.parse_args()
    from lifecycle_core.readers import SourceFile, read_source
    from lifecycle_core.report import IngestError

    lines = [b"a,b,c"] + [b"%d,%d,%d" % (i, i, i) if i % 3 else b"%d,%d" % (i, i) for i in range(3 * a.rows)]
    data = b"\n".join(lines) + b"\n"
    bad = [ln for ln in lines[1:] if ln.count(b",") == 1]
    t0 = time.perf_counter()
    numbers = [data.count(b"\n", 0, data.find(b)) + 1 for b in bad]
    base = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        read_source(SourceFile("bad.csv", data))
    except IngestError as exc:
        n = len(exc.report.errors)
    ours = time.perf_counter() - t0
    print(f"{len(bad):,} malformed rows in {len(data) / 2**20:.1f} MiB ({len(numbers):,} located by the baseline)")
    print(f"(a) locate each from the start: {base:7.2f} s")
    print(f"(b) readers.read_source:        {ours:7.2f} s  ({n} errors reported)")
    print(f"ratio (a)/(b): {base / ours:.0f}x")


if __name__ == "__main__":
    main()
