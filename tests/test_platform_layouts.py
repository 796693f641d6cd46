"""Platform exports upload as they are: each layout recognised, mapped and read with its order semantics."""

from __future__ import annotations

import pytest

from lifecycle_core.ingest import ingest
from lifecycle_core.plan import plan_files
from lifecycle_core.readers import SourceFile
from lifecycle_core.report import IngestError
from lifecycle_core.store import Workspace
from tests import platform_exports as px


@pytest.mark.parametrize("platform", sorted(px.EXPECTED))
def test_platform_export_ingests_with_no_mapping(platform, tmp_path):
    exp = px.EXPECTED[platform]
    paths = px.write(platform, tmp_path)
    ws = Workspace(tmp_path / "ws")
    info = ingest(ws, platform, [SourceFile.from_path(p) for p in paths])
    layouts = {s["name"]: s["layout"] for s in info.sources}
    assert {k: layouts[k] for k in exp.layouts} == exp.layouts
    lines = ws.load_table(platform, "transactions")
    sold = lines[~lines["is_return"]].groupby("product_id")["quantity"].sum().to_dict()
    assert sold == exp.units
    back = lines[lines["is_return"]].groupby("product_id")["quantity"].sum().to_dict()
    assert back == exp.returns
    assert lines.loc[~lines["is_return"], "invoice_id"].nunique() == exp.orders
    excluded = sum(
        sum(v["excluded"].values()) for v in info.report["info"].get("layouts", {}).values() if "excluded" in v
    )
    assert excluded == exp.excluded
    # Every product sold, and no phantom products (image rows, variable parents, store-view rows).
    assert set(ws.load_table(platform, "products")["product_id"]) == set(exp.units)
    sales = ws.load_table(platform, "sales")
    assert sales.groupby("product_id")["units"].sum().to_dict() == exp.units


def test_every_layout_is_documented():
    from lifecycle_core.layouts import LAYOUTS

    from .conftest import ROOT

    doc = (ROOT / "docs" / "data.md").read_text(encoding="utf-8")
    for layout in LAYOUTS:
        assert f"| {layout.label}" in doc, layout.label


def test_columns_in_another_order_with_extra_columns_and_padded_names_are_still_recognised(tmp_path):
    import csv
    import io

    rows = list(csv.reader(io.StringIO(px.shopify_orders())))
    order = list(reversed(range(len(rows[0]))))
    out = io.StringIO()
    w = csv.writer(out)
    for i, r in enumerate(rows):
        w.writerow([r[k] if i else f"  {r[k].upper()} " for k in order] + (["Shop note"] if i == 0 else ["x"]))
    plans, report = plan_files([SourceFile("export (3).csv", out.getvalue().encode())])
    assert report.ok and plans[0].layout == "Shopify orders export"
    assert plans[0].applied.excluded == {"FINANCIAL STATUS = voided": 1, "CANCELLED AT set": 1}


def test_items_without_their_orders_file_say_what_to_add(tmp_path):
    items = tmp_path / "ExportOrderDetailList.csv"
    items.write_bytes(px.taobao_items())
    with pytest.raises(IngestError) as err:
        ingest(Workspace(tmp_path / "ws"), "t", [SourceFile.from_path(items)])
    codes = {p.code for p in err.value.report.errors}
    assert "needs_another_file" in codes
    assert any("订单报表" in (p.expected or "") for p in err.value.report.errors)


def test_lines_whose_order_is_missing_from_the_orders_file_are_errors_with_their_row(tmp_path):
    orders = px.taobao_orders().decode("gb18030").splitlines()
    short = "\n".join(line for line in orders if "2024031912345678903" not in line) + "\n"
    files = [SourceFile("items.csv", px.taobao_items()), SourceFile("orders.csv", short.encode("gb18030"))]
    with pytest.raises(IngestError) as err:
        ingest(Workspace(tmp_path / "ws"), "t", files)
    (problem,) = [p for p in err.value.report.errors if p.code == "order_not_in_orders_file"]
    assert problem.row == 5 and problem.file == "items.csv" and problem.column == "订单编号"
    assert problem.value == "[id]"  # 19 digits read like a card number: masked in the report, as all such values


def test_the_mapping_command_names_the_layout(tmp_path, capsys):
    import json

    from lifecycle_core.cli import main

    paths = px.write("taobao", tmp_path)
    assert main(["mapping", *map(str, paths)]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["ExportOrderDetailList202403.csv"]["recognised"] == "Taobao/Tmall 宝贝报表 (order items)"
    assert "ExportOrderList202403.csv" not in out and "joined into" in captured.err


def test_woocommerce_exports_from_a_german_site_are_recognised(tmp_path):
    files = [
        SourceFile("wc-product-export-de.csv", px.woocommerce_products_de().encode()),
        SourceFile("bestellungen.csv", px.woocommerce_analytics_orders_de().encode()),
    ]
    plans, report = plan_files(files)
    assert report.ok
    assert [p.layout for p in plans[:1]] == ["WooCommerce products export"]
    assert plans[-1].layout == "WooCommerce Analytics orders report"
    assert plans[-1].applied.excluded == {"Status = Storniert": 1}
    ws = Workspace(tmp_path / "ws")
    ingest(ws, "de", [files[1]])
    lines = ws.load_table("de", "transactions")
    assert lines.groupby("product_id")["quantity"].sum().to_dict() == {"Stoneware Mug": 3, "Wool Beanie - Grey": 1}


def _ingest(tmp_path, files):
    ws = Workspace(tmp_path / "ws")
    info = ingest(ws, "x", [SourceFile(n, d if isinstance(d, bytes) else d.encode()) for n, d in files])
    return ws, info


def test_database_dumps_write_null_for_empty(tmp_path):
    """sales_order_item through phpMyAdmin: NULL in parent_item_id is empty, not a child line."""
    text = px.magento_order_items()
    header, *rows = text.strip().split("\n")
    rows = [",".join(c if c else "NULL" for c in r.split(",")) for r in rows]
    ws, _ = _ingest(tmp_path, [("sales_order_item.csv", "\n".join([header, *rows]) + "\n")])
    lines = ws.load_table("x", "transactions")
    assert lines[~lines["is_return"]].groupby("product_id")["quantity"].sum().to_dict() == {"TEE-ORG": 3, "CAP-WAX": 1}


def test_a_file_whose_every_line_is_excluded_says_so(tmp_path):
    text = px.jd_orders().decode("gb18030").replace("完成", "已取消").replace("等待出库", "已取消")
    with pytest.raises(IngestError) as err:
        _ingest(tmp_path, [("jd.csv", text.encode("gb18030"))])
    assert [p.code for p in err.value.report.errors] == ["no_sales_left"]


def test_shopify_variants_without_skus_roll_up_to_their_product(tmp_path):
    """No SKUs anywhere: a product's variants share its handle, in the catalogue, the stock and the sales."""
    products = (
        "Handle,Title,Body (HTML),Vendor,Type,Option1 Name,Option1 Value,Variant SKU,Variant Inventory Qty,Variant Price\n"
        "classic-tee,Classic Tee,<p>Heavy cotton</p>,Lumo,Tee,Size,M,,42,24.00\n"
        "classic-tee,,,,,,L,,17,24.00\n"
    )
    header = ",".join(px.SHOPIFY_ORDERS_HEADER)
    idx = {h: i for i, h in enumerate(px.SHOPIFY_ORDERS_HEADER)}

    def line(name, qty, variant, status="paid"):
        r = [""] * len(idx)
        r[idx["Name"]], r[idx["Created at"]], r[idx["Financial Status"]] = name, "2024-03-05 10:00:00 +0100", status
        r[idx["Lineitem quantity"]], r[idx["Lineitem name"]], r[idx["Lineitem price"]] = str(qty), variant, "24.00"
        return ",".join(r)

    orders = "\n".join([header, line("#1", 2, "Classic Tee - M"), line("#2", 3, "Classic Tee - L")]) + "\n"
    ws, info = _ingest(tmp_path, [("orders_export_1.csv", orders), ("products_export_1.csv", products)])
    codes = {p["code"] for p in info.report["problems"]}
    assert "products_only_in_orders" not in codes
    assert ws.load_table("x", "sales").groupby("product_id")["units"].sum().to_dict() == {"classic-tee": 5}
    assert ws.load_table("x", "inventory").set_index("product_id")["on_hand"].to_dict() == {"classic-tee": 59}


def test_woocommerce_order_numbers_on_the_first_row_only(tmp_path):
    text = px.woocommerce_orders()
    header, *rows = text.strip().split("\n")
    # The second line of order 2001 without its order number, as the plugin writes it.
    rows[1] = rows[1].replace("2001,", ",", 1)
    ws, _ = _ingest(tmp_path, [("orders.csv", "\n".join([header, *rows]) + "\n")])
    lines = ws.load_table("x", "transactions")
    assert lines.groupby("invoice_id")["quantity"].sum().to_dict() == {"2001": 3, "2003": 1}


def test_a_taobao_order_closed_by_a_refund_is_a_return(tmp_path):
    orders = px.taobao_orders().decode("gb18030").replace("交易成功", "交易关闭", 1)
    lines_ = orders.split("\n")
    head = lines_[0].split(",")
    first = lines_[1].split(",")
    first[head.index("订单关闭原因")] = "退款"
    lines_[1] = ",".join(first)
    items = px.taobao_items().decode("gb18030").replace("交易成功", "交易关闭")
    ws, info = _ingest(
        tmp_path, [("items.csv", items.encode("gb18030")), ("orders.csv", "\n".join(lines_).encode("gb18030"))]
    )
    lines = ws.load_table("x", "transactions")
    back = lines[lines["is_return"]].groupby("product_id")["quantity"].sum().to_dict()
    assert back == {"YZ-001": 1, "ZT-002": 2}
    layout = info.report["info"]["layouts"]["items.csv"]
    assert layout["returned"] == {"订单关闭原因 = 退款": 2} and layout["excluded"] == {"订单状态 = 交易关闭": 1}


def test_etsy_items_alone_warn_that_cancellations_need_the_orders_file(tmp_path):
    _, info = _ingest(tmp_path, [("EtsySoldOrderItems2024.csv", px.etsy_order_items())])
    assert any(
        p["code"] == "partner_file_missing" and "EtsySoldOrders" in p["message"] for p in info.report["problems"]
    )
