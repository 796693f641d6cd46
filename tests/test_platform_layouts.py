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
