"""Online Retail II (real invoice lines, ../shared/data): a sample, and the whole file (slow)."""

import gzip

import pandas as pd
import pytest

from lifecycle_core.ingest import ingest
from lifecycle_core.readers import SourceFile

from .conftest import RETAIL

pytestmark = pytest.mark.skipif(not RETAIL.exists(), reason=f"{RETAIL} not present (shared data)")


@pytest.fixture(scope="module")
def sample_bytes() -> bytes:
    with gzip.open(RETAIL, "rb") as fh:
        lines = [fh.readline() for _ in range(80_001)]
    return gzip.compress(b"".join(lines))


def test_sample_ingests_with_traps_reported(ws, sample_bytes):
    info = ingest(ws, "retail", [SourceFile("online_retail_ii.csv.gz", sample_bytes)])
    src = info.sources[0]
    assert src["table"] == "transactions" and src["rows"] == 80_000
    assert src["mapping"]["StockCode"] == "product_id" and src["mapping"]["Invoice"] == "invoice_id"
    stats = info.report["info"]["transactions"]["online_retail_ii.csv.gz"]
    assert stats["non_product_lines"] > 0
    assert {"POST", "M"} <= {e["code"] for e in stats["non_product_lines_examples"]}
    assert stats["return_lines"] > 0 and stats["duplicate_lines"] > 0 and stats["stock_adjustments"] > 0
    sales = ws.load_table("retail", "sales")
    assert (sales["units"] >= 0).all() and (sales["returns"] >= 0).all()
    assert sales["returns"].sum() > 0
    products = ws.load_table("retail", "products")
    assert not products["product_id"].isin(["POST", "DOT", "M", "BANK CHARGES"]).any()
    assert products.set_index("product_id").loc["85123A", "title"].startswith("WHITE HANGING HEART")
    assert sales["period"].dt.day_of_week.eq(0).all()  # weeks start on Monday


def test_sample_returns_match_the_cancellations(ws, sample_bytes):
    raw = pd.read_csv(RETAIL, nrows=80_000, dtype={"Invoice": str, "StockCode": str})
    raw = raw.drop_duplicates()
    cancelled = raw[raw["Invoice"].str.startswith("C") & (raw["Quantity"] < 0)]
    cancelled = cancelled[cancelled["StockCode"].str.match(r"^\d{5}")]  # goods only
    ingest(ws, "retail", [SourceFile("online_retail_ii.csv.gz", sample_bytes)])
    sales = ws.load_table("retail", "sales")
    stored = sales.loc[sales["product_id"].str.match(r"^\d{5}"), "returns"].sum()
    assert stored == pytest.approx(-cancelled["Quantity"].sum())


@pytest.mark.slow
def test_whole_file(ws):
    info = ingest(ws, "retail", [SourceFile.from_path(RETAIL)])
    c = info.counts
    assert c["periods"] == 106 - 2  # 2009-11-30 .. 2011-12-05, Monday weeks
    assert 4_500 < c["products"] < 5_000
    stats = info.report["info"]["transactions"]["online_retail_ii.csv.gz"]
    assert stats["lines"] == 1_044_847
    assert stats["duplicate_lines"] > 10_000
    assert stats["return_lines"] > 15_000
