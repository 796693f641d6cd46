import json

import pytest

from lifecycle_core.mapping import complete_mapping, guess_mapping, load_mapping_file, normalize_header

RETAIL_COLS = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]


def test_normalize_header():
    assert normalize_header(" Customer_ID ") == "customerid"
    assert normalize_header("商品 编号（新）") == "商品编号新"


@pytest.mark.parametrize(
    ("columns", "table", "expected"),
    [
        (
            RETAIL_COLS,
            "transactions",
            {"StockCode": "product_id", "Invoice": "invoice_id", "Customer ID": "customer_id"},
        ),
        (
            ["商品编号", "日期", "销量", "销售额"],
            "sales",
            {"商品编号": "product_id", "销量": "units", "销售额": "revenue"},
        ),
        (["商品编号", "商品名称", "类目", "价格"], "products", {"商品名称": "title", "类目": "category"}),
        (["商品编号", "评论", "评分", "评论时间"], "reviews", {"评论": "text", "评分": "rating", "评论时间": "date"}),
        (
            ["SKU", "Stock on hand", "Lead time (days)", "MOQ"],
            "inventory",
            {"Stock on hand": "on_hand", "MOQ": "min_order_qty"},
        ),
        (["product_id", "date", "search_term", "clicks", "impressions"], "search_terms", {"search_term": "query"}),
        (["Item ID", "Week", "Units Sold", "Page Views"], "sales", {"Units Sold": "units", "Page Views": "views"}),
    ],
)
def test_guesses_table_and_columns(columns, table, expected):
    m = guess_mapping(columns)
    assert m.table == table
    assert expected.items() <= m.columns.items()
    assert not m.missing_required
    assert all(0 < c <= 1 for c in m.confidence.values())


def test_unknown_columns_are_extra_and_low_confidence_is_visible():
    m = guess_mapping(["product_id", "title", "colour", "Material"])
    assert m.table == "products"
    assert set(m.extra) == {"colour", "Material"}


def test_fuzzy_header_has_lower_confidence_than_exact():
    m = guess_mapping(["product_id", "date", "unitss"])
    assert m.columns.get("unitss") == "units"
    assert m.confidence["unitss"] < m.confidence["product_id"]


def test_mapping_file_round_trip_and_completion(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"x.csv": {"table": "sales", "columns": {"Menge": "units", "Extra": None}}}))
    over = load_mapping_file(path)["x.csv"]
    full = complete_mapping(over, ["SKU", "Tag", "Menge", "Extra", "date"])
    assert full.columns["Menge"] == "units"
    assert full.columns["SKU"] == "product_id" and full.columns["date"] == "date"
    assert "Extra" not in full.columns  # explicitly ignored stays ignored


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("not json", "cannot read JSON"),
        ("[]", "expected an object keyed by file name"),
        ('{"x.csv": {"columns": {}}}', "needs a 'table' key"),
        ('{"x.csv": {"table": "orders"}}', "is not one of"),
        ('{"x.csv": {"table": "sales", "columns": {"a": "qty"}}}', "not a field of sales"),
    ],
)
def test_bad_mapping_files_say_what_is_wrong(tmp_path, content, match):
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_mapping_file(path)


def test_a_synonym_inside_a_header_counts_on_whole_words_only():
    """ "order" is not in "allow_backorders" (a Magento catalog was once read with it as the invoice id)."""
    m = guess_mapping(["sku", "created_at", "qty", "allow_backorders"])
    assert m.columns.get("allow_backorders") != "invoice_id"
    assert guess_mapping(["Item ID", "Week", "Qty Sold (units)"]).columns.get("Qty Sold (units)") == "units"
    assert (
        guess_mapping(["商品编号", "日期", "销售数量合计"]).columns.get("销售数量合计") == "units"
    )  # no spaces in Chinese


@pytest.mark.parametrize(
    ("columns", "table", "expected"),
    [
        (
            ["Datum", "Artikelnr", "Menge", "Umsatz"],
            "sales",
            {"Artikelnr": "product_id", "Menge": "units", "Umsatz": "revenue"},
        ),
        (
            ["Rechnungsnummer", "Rechnungsdatum", "Artikelnummer", "Bezeichnung", "Menge", "Preis"],
            "transactions",
            {"Rechnungsnummer": "invoice_id", "Bezeichnung": "description", "Preis": "price"},
        ),
        (["Fecha", "Referencia", "Cantidad", "Precio"], "sales", {"Referencia": "product_id", "Cantidad": "units"}),
        # A German article list and monthly sales with names and groups, Spanish and French order lines.
        (
            ["Artikelnummer", "Bezeichnung", "Warengruppe", "Beschreibung", "Preis (EUR)", "Marke"],
            "products",
            {"Warengruppe": "category", "Beschreibung": "description", "Preis (EUR)": "price", "Marke": "brand"},
        ),
        (
            ["Artikelnummer", "Artikelbezeichnung", "Warengruppe", "Monat", "Menge"],
            "sales",
            {"Artikelbezeichnung": "title", "Warengruppe": "category", "Monat": "date"},
        ),
        (
            ["Fecha", "Pedido", "Referencia", "Producto", "Cantidad", "Precio"],
            "transactions",
            {"Producto": "description", "Pedido": "invoice_id", "Cantidad": "quantity"},
        ),
        (
            ["Référence", "Produit", "Catégorie", "Description", "Prix", "Marque"],
            "products",
            {"Produit": "title", "Catégorie": "category", "Prix": "price", "Marque": "brand"},
        ),
    ],
)
def test_german_and_spanish_headers(columns, table, expected):
    m = guess_mapping(columns)
    assert m.table == table and expected.items() <= m.columns.items() and not m.missing_required
