"""A large Shopify orders export: ingested as recognised (layout applied: fill-down, id fallbacks, order
status, refunds) against the same lines as a plain invoice-lines CSV with a mapping file (no layout),
side by side in one process.

    python bench/platform_ingest.py [--orders 150000]

Each order has 1-4 lines; order fields on its first line only; a tenth of the SKUs empty (keyed by the
line item name); 3 % voided, 2 % cancelled, 2 % refunded. Prints seconds, peak memory of each, the
ratio, and checks both give the same units for the orders the layout keeps.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make(orders: int) -> tuple[bytes, bytes]:
    import numpy as np

    from tests.platform_exports import SHOPIFY_ORDERS_HEADER

    rng = np.random.default_rng(0)
    head = SHOPIFY_ORDERS_HEADER
    shop, plain = io.StringIO(), io.StringIO()
    ws, wp = csv.writer(shop, lineterminator="\n"), csv.writer(plain, lineterminator="\n")
    ws.writerow(head)
    wp.writerow(["order", "when", "sku", "name", "qty", "price"])
    idx = {h: i for i, h in enumerate(head)}
    day0 = np.datetime64("2023-01-01")
    for o in range(orders):
        status = rng.choice(["paid", "voided", "refunded", "paid-cancelled"], p=[0.93, 0.03, 0.02, 0.02])
        when = str(day0 + np.timedelta64(int(o * 730 / orders), "D")) + " 10:00:00 +0100"
        for k in range(int(rng.integers(1, 5))):
            p = int(rng.integers(0, 2000))
            sku = "" if p % 10 == 0 else f"SKU-{p}"
            qty = int(rng.integers(1, 4))
            row = [""] * len(head)
            row[idx["Name"]], row[idx["Email"]], row[idx["Created at"]] = f"#{o}", f"c{o % 5000}@example.com", when
            row[idx["Lineitem quantity"]], row[idx["Lineitem name"]] = str(qty), f"Product {p}"
            row[idx["Lineitem price"]], row[idx["Lineitem sku"]] = "9.50", sku
            if k == 0:
                row[idx["Financial Status"]] = "paid" if status == "paid-cancelled" else status
                row[idx["Cancelled at"]] = when if status == "paid-cancelled" else ""
                row[idx["Billing Country"]] = "DE"
            ws.writerow(row)
            wp.writerow([f"#{o}", when[:19], sku or f"Product {p}", f"Product {p}", qty, "9.50"])
    return shop.getvalue().encode(), plain.getvalue().encode()


def timed(fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, dt, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--orders", type=int, default=150_000)
    a = ap.parse_args()
    from lifecycle_core.ingest import ingest
    from lifecycle_core.mapping import TableMapping
    from lifecycle_core.readers import SourceFile
    from lifecycle_core.store import Workspace

    shop, plain = make(a.orders)
    cols = {"order": "invoice_id", "when": "timestamp", "sku": "product_id", "name": "description", "qty": "quantity",
            "price": "price"}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp) / "ws")
        base, t_base, m_base = timed(
            lambda: ingest(
                ws,
                "plain",
                [SourceFile("lines.csv", plain)],
                overrides={"lines.csv": TableMapping("transactions", cols, {c: 1.0 for c in cols}, 1.0)},
                remember=False,
            )
        )
        ours, t_ours, m_ours = timed(lambda: ingest(ws, "shop", [SourceFile("orders_export_1.csv", shop)]))
        layout = ours.report["info"]["layouts"]["orders_export_1.csv"]
    lines = shop.count(b"\n") - 1
    print(f"{a.orders:,} orders, {lines:,} lines, {len(shop) / 2**20:.0f} MiB as exported")
    print(
        f"(a) plain lines + mapping file:  {t_base:6.2f} s  peak {m_base / 2**20:6.0f} MiB  units {base.counts['units']:,.0f}"
    )
    print(
        f"(b) Shopify layout recognised:   {t_ours:6.2f} s  peak {m_ours / 2**20:6.0f} MiB  units {ours.counts['units']:,.0f}"
    )
    print(f"    excluded {layout['excluded']}, returns {layout['returned']}, ids from names {layout['id_fallbacks']}")
    print(f"ratio (b)/(a): time {t_ours / t_base:.2f}x, peak memory {m_ours / m_base:.2f}x")


if __name__ == "__main__":
    main()
