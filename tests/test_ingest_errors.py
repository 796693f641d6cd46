"""Bad input gets a clear report (file, row, column, value, expectation) and leaves the workspace as it was."""

import gzip
import io
import json

import pandas as pd
import pytest

from lifecycle_core.ingest import IngestOptions, ingest
from lifecycle_core.mapping import load_mapping_file
from lifecycle_core.readers import ReadLimits, SourceFile
from lifecycle_core.report import IngestError
from lifecycle_core.store import Workspace, WorkspaceError

from .conftest import snapshot

PRODUCTS = "product_id,title,price\nA,Red mug,3.5\nB,Blue bowl,4\n"
SALES = "product_id,date,units\nA,2024-01-01,3\nA,2024-01-08,5\nB,2024-01-01,2\n"


def src(name: str, text: str | bytes) -> SourceFile:
    return SourceFile(name, text.encode() if isinstance(text, str) else text)


@pytest.fixture
def seeded(ws: Workspace) -> Workspace:
    """A workspace that already holds a dataset, so 'unchanged' means something."""
    ingest(ws, "existing", [src("products.csv", PRODUCTS), src("sales.csv", SALES)])
    return ws


CASES = [
    pytest.param(
        [src("sales.csv", "product_id,date\nA,2024-01-01\n")],
        {},
        "missing_column",
        "'units'",
        id="missing-required-column",
    ),
    pytest.param([src("sales.csv", "")], {}, "empty_file", "empty", id="empty-file"),
    pytest.param([src("sales.csv", bytes(range(256)) * 40)], {}, "binary_file", "binary", id="binary-garbage"),
    pytest.param(
        [src("sales.csv", "product_id,date,units\nA,2024-01-01,3\nA,someday,5\n")],
        {},
        "unparseable_date",
        "not a date",
        id="bad-date",
    ),
    pytest.param(
        [src("products.csv", "product_id,title,price\nA,Mug,-3\n"), src("sales.csv", SALES.replace("B,", "A,"))],
        {},
        "price_below_minimum",
        "price below 0",
        id="negative-price",
    ),
    pytest.param(
        [
            src("products.csv", "product_id,title\nA,Mug\nA,Bowl\n"),
            src("sales.csv", "product_id,date,units\nA,2024-01-01,1\n"),
        ],
        {},
        "conflicting_products",
        "different titles",
        id="conflicting-duplicate-products",
    ),
    pytest.param(
        [src("products.csv", PRODUCTS), src("sales.csv", SALES + "Z,2024-01-01,4\n")],
        {},
        "unknown_product",
        "missing from the products file",
        id="sales-for-unknown-product",
    ),
    pytest.param(
        [src("sales.csv", SALES * 200)],
        {"limits": ReadLimits(max_file_bytes=1000)},
        "file_too_large",
        "over the limit",
        id="file-over-size-limit",
    ),
    pytest.param(
        [src("sales.csv", SALES)],
        {"limits": ReadLimits(max_rows=2)},
        "too_many_rows",
        "over the limit of 2 rows",
        id="too-many-rows",
    ),
    pytest.param(
        [src("sales.csv", "product_id,date,units\nA,2024-01-01,three\n")],
        {},
        "not_a_number",
        "not a number",
        id="non-numeric-units",
    ),
    pytest.param(
        [src("sales.csv", "product_id,date,units\nA,2024-01-01,-4\n")],
        {},
        "units_below_minimum",
        "units below 0",
        id="negative-units",
    ),
    pytest.param(
        [src("sales.csv", SALES), src("reviews.csv", "product_id,date,review,rating\nA,2024-01-02,ok,7\n")],
        {},
        "rating_above_maximum",
        "rating above 5",
        id="rating-out-of-range",
    ),
    pytest.param(
        [
            src("products.csv", "product_id,title,stage\nA,Mug,peak\n"),
            src("sales.csv", "product_id,date,units\nA,2024-01-01,1\n"),
        ],
        {},
        "unknown_stage",
        "not a stage name",
        id="unknown-stage-label",
    ),
    pytest.param(
        [src("sales.csv", SALES), src("orders.csv", "Invoice,StockCode,Quantity,InvoiceDate\n1,A,2,2024-01-01\n")],
        {},
        "two_sales_sources",
        "counted twice",
        id="sales-and-transactions",
    ),
    pytest.param([src("products.csv", PRODUCTS)], {}, "no_sales", "no file holds sales", id="no-sales"),
    pytest.param(
        [src("sales.csv", "product_id,date,units\nA,1901-01-01,3\n")],
        {},
        "date_out_of_range",
        "implausible date",
        id="nonsense-date",
    ),
    pytest.param(
        [src("sales.csv", "product_id,date,units\n,2024-01-01,3\n")],
        {},
        "missing_value",
        "product_id is empty",
        id="missing-product-id",
    ),
    pytest.param(
        [src("orders.csv", "Invoice,StockCode,Description,Quantity,InvoiceDate,Price\n1,A,Mug,2,2024-01-01,-1.5\n")],
        {},
        "price_below_minimum",
        "price below 0",
        id="negative-price-on-invoice-line",
    ),
    pytest.param([src("a.csv", SALES), src("a.csv", SALES)], {}, "duplicate_file", "twice", id="same-file-twice"),
    pytest.param(
        [src("sales.csv", "product_id,date,units\nA,2024-01-01,3\nA,2024-01-01,3,9\n")],
        {},
        "malformed_row",
        "wrong number of fields",
        id="malformed-row",
    ),
]


@pytest.mark.parametrize(("sources", "opts", "code", "text"), CASES)
def test_bad_input_is_reported_and_changes_nothing(seeded, sources, opts, code, text):
    before = snapshot(seeded)
    with pytest.raises(IngestError) as ei:
        ingest(seeded, "new", sources, options=IngestOptions(**opts))
    problems = [p for p in ei.value.report.errors if p.code == code]
    assert problems, ei.value.report.format_text()
    assert any(text in p.message for p in problems), [p.message for p in problems]
    assert all(p.expected for p in problems)  # every error says what was expected
    assert snapshot(seeded) == before
    assert [d.name for d in seeded.list_datasets()] == ["existing"]


def test_errors_point_at_file_row_column_and_value(ws):
    text = "product_id,date,units\nA,2024-01-01,3\nA,2024-13-45,5\nB,2024-01-02,x\n"
    with pytest.raises(IngestError) as ei:
        ingest(ws, "d", [src("sales.csv", text)])
    by_code = {p.code: p for p in ei.value.report.errors}
    date = by_code["unparseable_date"]
    assert (date.file, date.row, date.column, date.value) == ("sales.csv", 3, "date", "2024-13-45")
    num = by_code["not_a_number"]
    assert (num.row, num.column, num.value, num.expected) == (4, "units", "x", "a number")
    assert "row 3" in str(date) and "column 'date'" in str(date)


def test_many_bad_rows_are_summarised(ws):
    text = "product_id,date,units\n" + "A,2024-01-01,bad\n" * 500
    with pytest.raises(IngestError) as ei:
        ingest(ws, "d", [src("sales.csv", text)])
    errors = ei.value.report.errors
    assert len(errors) == 21 and "480 more rows like this (500 in all)" in errors[-1].message


def test_all_files_are_checked_in_one_pass(ws):
    with pytest.raises(IngestError) as ei:
        ingest(ws, "d", [src("empty.csv", ""), src("sales.csv", "product_id,date,units\nA,nope,1\n")])
    files = {p.file for p in ei.value.report.errors}
    assert files == {"empty.csv", "sales.csv"}


def test_existing_name_is_refused_before_any_work(seeded):
    before = snapshot(seeded)
    with pytest.raises(WorkspaceError, match="already exists"):
        ingest(seeded, "existing", [src("sales.csv", SALES)])
    assert snapshot(seeded) == before


def test_mapping_naming_a_missing_column(seeded, tmp_path):
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"sales.csv": {"table": "sales", "columns": {"Qty": "units"}}}))
    with pytest.raises(IngestError) as ei:
        ingest(seeded, "new", [src("sales.csv", SALES)], overrides=load_mapping_file(m))
    p = ei.value.report.errors[0]
    assert p.code == "mapping_unknown_column" and p.column == "Qty" and "product_id" in p.expected


def test_failure_while_writing_leaves_nothing_behind(seeded, monkeypatch):
    before = snapshot(seeded)
    calls = {"n": 0}
    real = pd.DataFrame.to_parquet

    def flaky(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(self, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", flaky)
    with pytest.raises(OSError, match="disk full"):
        ingest(seeded, "new", [src("products.csv", PRODUCTS), src("sales.csv", SALES)])
    assert snapshot(seeded) == before
    assert list((seeded.root / "tmp").iterdir()) == []


def test_failure_at_commit_removes_the_new_folder(seeded, monkeypatch):
    before = snapshot(seeded)
    import lifecycle_core.store as store

    monkeypatch.setattr(store, "_dumps", lambda obj: (_ for _ in ()).throw(RuntimeError("db write failed")))
    with pytest.raises(RuntimeError, match="db write failed"):
        ingest(seeded, "new", [src("products.csv", PRODUCTS), src("sales.csv", SALES)])
    assert snapshot(seeded) == before


def test_gzip_and_excel_errors_name_the_file(ws):
    with pytest.raises(IngestError, match=r"broken\.csv\.gz"):
        ingest(ws, "d", [src("broken.csv.gz", gzip.compress(SALES.encode())[:-10])])
    buf = io.BytesIO()
    pd.DataFrame({"a": [1]}).to_excel(buf, index=False)
    with pytest.raises(IngestError) as ei:
        ingest(ws, "d", [src("book.xlsx", buf.getvalue())])
    assert ei.value.report.errors[0].file == "book.xlsx"


def test_blank_rows_and_a_totals_row_are_left_out_and_said(ws):
    """A spreadsheet export: empty rows between blocks and a "Summe" row at the bottom are left out with a
    warning; a product that happens to be called "Total" is data, and a row missing its id without a
    totals word is still an error."""
    frame = pd.DataFrame(
        {
            "Artikelnummer": ["A", None, "Total", "B", None, "Summe"],
            "Monat": ["2024-01", None, "2024-01", "2024-02", None, None],
            "Menge": ["3", None, "4", "5", None, "12"],
        }
    )
    buf = io.BytesIO()
    frame.to_excel(buf, index=False)
    info = ingest(ws, "d", [src("verkauf.xlsx", buf.getvalue())])
    by_code = {p["code"]: p for p in info.report["problems"]}
    assert "left out 2 empty rows (row 3, 6)" in by_code["blank_rows"]["message"]
    assert "left out 1 totals row (row 7)" in by_code["totals_rows"]["message"]
    assert ws.load_table("d", "sales")["units"].sum() == 12  # 3 + 4 + 5: the "Summe" row is not counted
    with pytest.raises(IngestError) as ei:
        ingest(ws, "e", [src("sales.csv", "product_id,date,units\nA,2024-01-01,3\n,2024-01-08,5\n")])
    assert [p.code for p in ei.value.report.errors] == ["missing_value"]
