"""AppTest of the Data page: demo, upload with mapping, validation report, save, delete, language."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lifecycle_core.store import Workspace
from ui.i18n import MESSAGES

from .conftest import ROOT, snapshot

GBK_SALES = "商品编号,日期,销量,评论数\nA1,2024-03-04,3,1\nA1,2024-03-11,5,0\nB2,2024-03-04,2,2\n".encode("gbk")
PRODUCTS = "product_id,title,colour\nA1,红色马克杯,red\nB2,Blue bowl,blue\n".encode()


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(tmp_path / "ws"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception and at.title[0].value == "Welcome to Lifecycle Studio"  # empty workspace
    at.switch_page("pages/data.py").run()
    assert not at.exception
    return at


def _texts(at) -> str:
    parts = [
        e.value
        for kind in ("title", "subheader", "caption", "info", "success", "error", "warning", "markdown")
        for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def test_empty_workspace_offers_the_demo(app):
    assert app.title[0].value == "Data"
    assert "No datasets yet" in app.info[0].value
    assert app.button(key="demo_button").label == "Load the demo catalog"


def test_demo_button_ingests_the_demo(app, tmp_path):
    app.button(key="demo_button").click().run()
    assert not app.exception
    assert "stored as dataset “demo”" in app.success[0].value
    ws = Workspace(tmp_path / "ws")
    assert ws.dataset("demo").counts["products"] == 300
    assert len(app.dataframe) >= 1


def test_upload_gbk_with_chinese_headers_map_and_save(app, tmp_path):
    app.file_uploader(key="uploader").set_value(
        [("销售.csv", GBK_SALES, "text/csv"), ("products.csv", PRODUCTS, "text/csv")]
    ).run()
    assert not app.exception
    labels = [e.label for e in app.expander]
    assert "📄 销售.csv" in labels and "📄 products.csv" in labels
    assert "GB18030/GBK" in _texts(app)
    # The guessed mapping is shown for confirmation: 商品编号 -> product_id, 销量 -> units.
    boxes = {sb.label.split("  (")[0]: sb for sb in app.selectbox if sb.key and sb.key.startswith("map_")}
    assert boxes["商品编号"].value == "product_id" and boxes["销量"].value == "units"
    # The user corrects one: 评论数 is not a sales field, keep it out.
    assert boxes["评论数"].value != "units"
    app.text_input(key="dataset_name").set_value("spring").run()
    app.button(key="save_button").click().run()
    assert not app.exception
    assert "Saved dataset “spring”: 2 products" in app.success[0].value
    ws = Workspace(tmp_path / "ws")
    products = ws.load_table("spring", "products")
    assert products.set_index("product_id").loc["A1", "title"] == "红色马克杯"
    assert "attr_colour" in products.columns  # unmapped product columns kept as attributes
    assert ws.load_table("spring", "sales")["units"].sum() == 10


def test_bad_upload_shows_the_report_and_saves_nothing(app, tmp_path):
    ws = Workspace(tmp_path / "ws")
    before = snapshot(ws)
    bad = b"product_id,date,units\nA,2024-01-01,3\nA,not a date,x\n"
    app.file_uploader(key="uploader").set_value(("sales.csv", bad, "text/csv")).run()
    app.text_input(key="dataset_name").set_value("bad").run()
    app.button(key="save_button").click().run()
    assert not app.exception
    assert "error(s) found. Nothing was saved" in app.error[0].value
    report = app.dataframe[-1].value
    assert {"unparseable_date", "not_a_number"} <= set(report["code"])
    assert set(report["row"].dropna().astype(int)) == {3}
    assert snapshot(ws) == before


def test_unreadable_upload_is_reported(app):
    app.file_uploader(key="uploader").set_value(("junk.csv", bytes(range(256)) * 20, "text/csv")).run()
    assert not app.exception
    assert "Some files could not be read." in app.error[0].value


def test_changing_the_table_kind_changes_the_fields(app):
    app.file_uploader(key="uploader").set_value(
        ("sales.csv", b"product_id,date,units\nA,2024-01-01,1\n", "text/csv")
    ).run()
    table_box = next(sb for sb in app.selectbox if sb.key and sb.key.startswith("table_"))
    assert table_box.value == "sales"
    table_box.set_value("reviews").run()
    assert not app.exception
    assert "Required fields not mapped yet: text" in app.warning[0].value


def test_validate_previews_canonical_tables(app):
    buf = io.BytesIO()
    with pd.ExcelWriter(buf) as xw:
        pd.DataFrame({"SKU": ["A", "A"], "Week": ["04/03/2024", "11/03/2024"], "Units Sold": [1, 2]}).to_excel(
            xw, index=False
        )
    app.file_uploader(key="uploader").set_value(("export.xlsx", buf.getvalue(), "application/octet-stream")).run()
    app.button(key="validate_button").click().run()
    assert not app.exception
    assert "No errors: 1 products, 2 periods" in app.success[0].value


def test_delete_needs_confirmation(app, tmp_path):
    app.button(key="demo_button").click().run()
    assert app.button(key="delete_button").disabled
    app.checkbox(key="delete_confirm").check().run()
    app.button(key="delete_button").click().run()
    assert not app.exception
    assert "Deleted “demo”" in app.success[0].value
    assert Workspace(tmp_path / "ws").list_datasets() == []


def test_chinese_ui_shows_no_raw_keys(app):
    app.radio(key="lang").set_value("zh").run()
    app.file_uploader(key="uploader").set_value(
        ("sales.csv", b"product_id,date,units\nA,2024-01-01,1\n", "text/csv")
    ).run()
    assert not app.exception
    assert app.title[0].value == "数据"
    text = _texts(app)
    for key in MESSAGES["en"]:
        assert key not in text
    assert "上传文件" in text


def test_catalogs_have_the_same_keys():
    assert MESSAGES["en"].keys() == MESSAGES["zh"].keys()
    for lang, msgs in MESSAGES.items():
        for key, text in msgs.items():
            assert text.strip(), f"{lang}:{key} is empty"


def test_a_configured_password_guards_every_page(tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("LIFECYCLE_PASSWORD", "s3cret-密码")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception and len(at.text_input) == 1 and not at.file_uploader
    at.text_input[0].set_value("wrong")
    at.button[0].click().run()
    assert any("Wrong password" in e.value for e in at.error) and not at.file_uploader
    at.switch_page("pages/actions.py").run()
    assert at.title[0].value == "Lifecycle Studio" and not at.metric  # another page: still the sign-in form
    at.text_input[0].set_value("s3cret-密码")
    at.button[0].click().run()
    assert not at.exception and "sign_in" not in [f.id for f in at.get("form")]
    assert at.title[0].value != "Lifecycle Studio"


def test_welcome_starts_the_demo_data_and_a_background_training_job(tmp_path, monkeypatch):
    import time

    from lifecycle_core import jobs

    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(tmp_path / "ws"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert at.title[0].value == "Welcome to Lifecycle Studio"
    at.button(key="welcome_start").click().run()
    assert not at.exception, at.exception
    ws = Workspace(tmp_path / "ws")
    assert [d.name for d in ws.list_datasets()] == ["demo"]
    (job,) = jobs.list_jobs(ws)
    assert job.model_name == "demo-quick" and job.config["model_kind"] == "stacked" and job.state == jobs.RUNNING
    assert at.get("progress")  # the page follows the job
    # The one-click demo model trains in seconds: let it finish and check that it reads the text.
    end = time.time() + 300
    while jobs.get_job(ws, job.id).state in jobs.ACTIVE and time.time() < end:
        time.sleep(0.5)
        jobs.refresh(ws)
    done = jobs.get_job(ws, job.id)
    assert done.state == jobs.SUCCEEDED, jobs.log_tail(ws, job.id)
    from lifecycle_core.predict import load_model, load_predictions, model_dir

    model = load_model(model_dir(ws, "demo-quick"))
    assert model.reads_text(), model.training["parts"]
    assert load_predictions(ws, "demo-quick", "demo") is not None


def test_a_platform_export_is_recognised_and_ingests_as_it_is(app, tmp_path):
    from tests import platform_exports as px

    app.file_uploader(key="uploader").set_value(
        [
            ("ExportOrderDetailList202403.csv", px.taobao_items(), "text/csv"),
            ("ExportOrderList202403.csv", px.taobao_orders(), "text/csv"),
        ]
    ).run()
    assert not app.exception
    infos = [e.value for e in app.info]
    assert any("Recognised: Taobao/Tmall 宝贝报表 (order items)" in v for v in infos)
    assert any("Recognised: Taobao/Tmall 订单报表 (orders)" in v for v in infos)
    assert any("Joined into ExportOrderDetailList202403.csv" in c.value.replace("\\", "") for c in app.caption)
    app.text_input(key="dataset_name").set_value("taobao").run()
    app.button(key="save_button").click().run()
    assert not app.exception
    assert "Saved dataset “taobao”: 2 products" in app.success[0].value
    lines = Workspace(tmp_path / "ws").load_table("taobao", "transactions")
    assert lines.groupby("product_id")["quantity"].sum().to_dict() == {"YZ-001": 1, "ZT-002": 4}


def test_a_changed_mapping_is_remembered_for_the_next_export(app, tmp_path):
    sheet = "Bon;Tag;Art;Stk;Notiz\n" + "".join(f"R{i};2024-01-{1 + i:02d};A{i % 3};{i};x\n" for i in range(12))
    app.file_uploader(key="uploader").set_value(("kasse_jan.csv", sheet.encode(), "text/csv")).run()
    boxes = {sb.label.split("  (")[0]: sb for sb in app.selectbox if sb.key and sb.key.startswith("map_")}
    next(sb for sb in app.selectbox if sb.key and sb.key.startswith("table_")).set_value("transactions").run()
    boxes = {sb.label.split("  (")[0]: sb for sb in app.selectbox if sb.key and sb.key.startswith("map_")}
    for col, fname in {
        "Bon": "invoice_id",
        "Tag": "timestamp",
        "Art": "product_id",
        "Stk": "quantity",
    }.items():
        boxes[col].set_value(fname)
    app.run()
    app.text_input(key="dataset_name").set_value("jan").run()
    app.button(key="save_button").click().run()
    assert not app.exception and "Saved dataset “jan”" in app.success[0].value
    # February's export of the same till: mapped by itself, with a way to forget it.
    app.file_uploader(key="uploader").set_value(
        ("kasse_feb.csv", sheet.replace("2024-01", "2024-02").encode(), "text/csv")
    ).run()
    assert any(
        "Using your saved mapping" in e.value and "kasse_jan.csv" in e.value.replace("\\", "") for e in app.success
    )
    boxes = {sb.label.split("  (")[0]: sb for sb in app.selectbox if sb.key and sb.key.startswith("map_")}
    assert boxes["Stk"].value == "quantity" and boxes["Bon"].value == "invoice_id"
    next(b for b in app.button if b.key and b.key.startswith("forget_")).click().run()
    assert not app.exception
    assert Workspace(tmp_path / "ws").saved_mappings() == {}
    assert not any("Using your saved mapping" in e.value for e in app.success)
