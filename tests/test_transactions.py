"""Invoice lines: returns, adjustments, fees, duplicates, titles and pseudonyms, checked by hand."""

import pandas as pd
import pytest

from lifecycle_core.ingest import ingest
from lifecycle_core.readers import SourceFile
from lifecycle_core.transactions import TransactionRules

LINES = """Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country
1001,A,RED MUG,6,2024-01-01 10:00:00,2.5,100.0,UK
1001,A,RED MUG,6,2024-01-01 10:00:00,2.5,100.0,UK
1002,A,RED MUG ,4,2024-01-03 11:00:00,2.5,200.0,UK
1003,A,red mug old,2,2024-01-09 09:00:00,2.5,100.0,UK
C1004,A,RED MUG,-3,2024-01-10 12:00:00,2.5,100.0,UK
1005,B,BLUE BOWL,10,2024-01-02 09:00:00,4.0,300.0,FR
1006,B,damages,-5,2024-01-04 09:00:00,0,,UK
1007,POST,POSTAGE,1,2024-01-02 09:00:00,18.0,300.0,FR
1008,B,,12,2024-01-05 09:00:00,0,,UK
1009,B,BLUE BOWL,0,2024-01-05 09:00:00,4.0,300.0,FR
1010,gift_0001_20,Gift voucher,1,2024-01-05 09:00:00,20.0,300.0,FR
"""


@pytest.fixture
def stored(ws):
    info = ingest(ws, "lines", [SourceFile("orders.csv", LINES.encode())])
    return ws, info


def test_sales_per_week_by_hand(stored):
    ws, _ = stored
    s = ws.load_table("lines", "sales").set_index(["product_id", "period"])
    a1 = s.loc[("A", pd.Timestamp("2024-01-01"))]
    assert (a1.units, a1.returns, a1.revenue, a1.orders, a1.customers) == (10, 0, 25.0, 2, 2)
    a2 = s.loc[("A", pd.Timestamp("2024-01-08"))]
    assert (a2.units, a2.returns, a2.revenue) == (2, 3, 5.0)  # the cancellation is a return, not -3 sales
    b1 = s.loc[("B", pd.Timestamp("2024-01-01"))]
    assert (b1.units, b1.returns, b1.revenue, b1.orders) == (10, 0, 40.0, 1)
    assert set(s.index.get_level_values(0)) == {"A", "B"}  # POST and the voucher are not products


def test_exclusions_are_counted_with_examples(stored):
    _, info = stored
    stats = info.report["info"]["transactions"]["orders.csv"]
    assert stats["lines"] == 11
    assert stats["duplicate_lines"] == 1
    assert stats["non_product_lines"] == 2
    assert {e["code"] for e in stats["non_product_lines_examples"]} == {"POST", "gift_0001_20"}
    assert stats["stock_adjustments"] == 2
    assert stats["zero_quantity"] == 1
    assert stats["return_lines"] == 1 and stats["sale_lines"] == 4
    codes = {p["code"] for p in info.report["problems"]}
    assert {"duplicate_lines", "non_product_lines", "stock_adjustments", "zero_quantity"} <= codes


def test_title_is_the_most_frequent_description(stored):
    ws, _ = stored
    p = ws.load_table("lines", "products").set_index("product_id")
    assert p.loc["A", "title"] == "RED MUG"
    assert p.loc["B", "title"] == "BLUE BOWL"
    assert p.loc["A", "price"] == 2.5


def test_customer_ids_are_never_stored_raw(stored):
    ws, info = stored
    t = ws.load_table("lines", "transactions")
    assert not t["customer_id"].isin(["100", "200", "300", "100.0"]).any()
    assert t["customer_id"].dropna().str.len().eq(16).all()
    for p in info.path.glob("*.parquet"):
        assert b"13085" not in p.read_bytes()
    # The same customer maps to the same pseudonym within the workspace.
    a_lines = t[(t["product_id"] == "A") & ~t["is_return"]]
    assert a_lines["customer_id"].nunique() == 2


def test_rules_are_configurable_and_validated(ws):
    rules = TransactionRules(cancel_prefixes=("R",), non_product_codes=())
    from lifecycle_core.ingest import IngestOptions

    text = "Invoice,StockCode,Quantity,InvoiceDate,Price\nR1,A,2,2024-01-01,1\n2,A,5,2024-01-01,1\n"
    info = ingest(ws, "r", [SourceFile("o.csv", text.encode())], options=IngestOptions(transaction_rules=rules))
    s = ws.load_table("r", "sales")
    assert (s.units.sum(), s.returns.sum()) == (5, 2)
    assert info.counts["products"] == 1
    with pytest.raises(ValueError, match="invalid regular expression"):
        TransactionRules(non_product_code_pattern="(")


def test_monthly_and_daily_periods(ws):
    from lifecycle_core.ingest import IngestOptions

    for period, n in (("D", 5), ("M", 1)):  # kept lines fall on 5 distinct days
        ingest(ws, f"p{period}", [SourceFile("orders.csv", LINES.encode())], options=IngestOptions(period=period))
        assert ws.dataset(f"p{period}").counts["periods"] == n


def test_an_order_numbering_that_starts_with_c_is_not_cancellations(ws):
    """Online Retail marks a cancellation with a C before another invoice's number; a shop numbering its
    orders CMD-17608 had every line read as a return (no sales left). Refunds there are negative lines."""
    text = (
        "N° de commande;Date;Référence;Désignation;Quantité;Prix unitaire\n"
        "CMD-17608;07/01/2023 12:55;FR1034;Torchon imprimé;2;19,99\n"
        "CMD-17609;08/01/2023 10:00;FR1034;Torchon imprimé;1;19,99\n"
        "CMD-17610;09/01/2023 10:00;FR1035;Nappe en lin;3;49,00\n"
        "CMD-17611;20/01/2023 10:00;FR1035;Nappe en lin;-1;49,00\n"
    )
    info = ingest(ws, "fr", [SourceFile("commandes.csv", text.encode("utf-8"))])
    stats = next(iter(info.report["info"]["transactions"].values()))
    assert (stats["sale_lines"], stats["return_lines"]) == (3, 1)
    assert info.counts["units"] == 6 and info.counts["returned_units"] == 1
    sales = ws.load_table("fr", "sales")
    assert set(sales.columns) >= {"orders"} and sales["orders"].sum() == 3  # N° de commande is the order id


def test_refunds_dated_after_the_last_sale_do_not_extend_the_calendar(ws):
    """An export run weeks after the last order carries refunds dated later: as periods of their own
    every product would stop selling at once there (47 of 60 products' latest stage was read in them)."""
    text = (
        "Order,Date,SKU,Qty,Price\n"
        "1,2024-01-01,A,5,2\n2,2024-01-08,A,4,2\n3,2024-01-08,B,6,3\n"
        "4,2024-01-29,A,-2,2\n5,2024-02-05,B,-1,3\n"  # refunds 3 and 4 weeks after the last sale
        "6,2023-12-04,C,1,5\n7,2024-02-05,C,-1,5\n"  # C sold earlier: its late refund gets a row of its own
    )
    info = ingest(ws, "late", [SourceFile("orders.csv", text.encode())])
    sales = ws.load_table("late", "sales")
    assert str(sales["period"].max().date()) == "2024-01-08" and info.counts["periods"] == 3
    assert info.counts["returned_units"] == 4 == sales["returns"].sum()  # counted in the last period
    assert sales.set_index(["product_id", "period"]).loc[("B", "2024-01-08"), "returns"] == 1
    c = sales[(sales["product_id"] == "C") & (sales["period"] == "2024-01-08")].iloc[0]
    assert (c["returns"], c["units"], c["revenue"], c["orders"]) == (1, 0, 0, 0)  # zeros, not missing
    assert sales["orders"].dtype.kind == "i" and sales["lines"].dtype.kind == "i"
    assert "after_last_sale" in [p["code"] for p in info.report["problems"] if p["severity"] == "warning"]


def test_an_export_of_nothing_but_returns_is_refused_with_a_reason(ws):
    from lifecycle_core.report import IngestError

    text = "Invoice,StockCode,Quantity,InvoiceDate,Price\nC1,A,-2,2024-01-01,2\nC2,B,-1,2024-01-08,3\n"
    with pytest.raises(IngestError) as exc:
        ingest(ws, "returns", [SourceFile("orders.csv", text.encode())])
    assert exc.value.report.errors[0].code == "no_sales_left"


@pytest.mark.parametrize(
    ("invoices", "cancelled"),
    [
        (["489449", "489450", "489451", "C489449", "C-489450"], [0, 0, 0, 1, 1]),  # with a separator too
        (["9998", "9999", "C10000"], [0, 0, 1]),  # numbered past the invoices' digits
        (["CMD-1", "CMD-2", "CMD-3"], [0, 0, 0]),  # the shop's own numbering
        (["ORD-1", "ORD-2", "CMD-3"], [0, 0, 0]),  # another shape: not a cancellation of ORD-3
    ],
)
def test_a_cancellation_prefix_marks_the_shops_own_invoice_numbers(invoices, cancelled):
    from lifecycle_core.transactions import prefixed_cancellations

    assert prefixed_cancellations(pd.Series(invoices), ("C",)).astype(int).tolist() == cancelled
