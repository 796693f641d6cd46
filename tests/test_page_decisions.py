"""AppTest of the Actions and Anomalies pages on a small demo workspace."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from lifecycle_core.demo import write_demo
from lifecycle_core.ingest import ingest
from lifecycle_core.readers import SourceFile
from lifecycle_core.store import Workspace

from .conftest import ROOT


@pytest.fixture(scope="module")
def ws_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    ws = Workspace(root / "ws")
    paths = write_demo(root / "files", 60, 60, seed=4)
    ingest(ws, "demo", [SourceFile.from_path(p) for p in paths])
    products = next(p for p in paths if p.name == "products.csv")
    sales = next(p for p in paths if p.name == "sales.csv")
    ingest(ws, "no-stock", [SourceFile.from_path(products), SourceFile.from_path(sales)])
    return ws.root


@pytest.fixture
def app(ws_root, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(ws_root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    return at


def test_actions_page_totals_filters_and_download(app):
    app.switch_page("pages/actions.py").run()
    assert not app.exception
    assert app.title[0].value == "Actions"
    metrics = {m.label: m.value for m in app.metric}
    assert set(metrics) == {
        "Products shown",
        "Units to order",
        "Capital needed",
        "Expected markdown cost",
        "Capital released",
    }
    table = app.dataframe[0].value
    assert {"Action", "Quantity", "Reason"} <= set(table.columns)
    assert len(app.get("download_button")) == 2
    app.multiselect(key="act_filter.en").set_value(["clearance"]).run()
    assert not app.exception
    table = app.dataframe[0].value
    assert set(table["Action"]) <= {"Clearance"}
    assert app.metric[1].value == "0"  # no units to order among clearance rows


def test_actions_page_without_inventory_says_so(app):
    app.switch_page("pages/actions.py").run()
    app.selectbox(key="dataset.en").set_value("no-stock").run()
    assert not app.exception
    assert "no inventory file" in app.warning[0].value


def test_anomalies_page_in_chinese(app):
    app.radio(key="lang").set_value("zh").run()
    app.switch_page("pages/anomalies.py").run()
    assert not app.exception
    assert app.title[0].value == "异常预警"
    if app.info and "未发现异常" in app.info[0].value:
        return
    assert app.metric[0].label == "显示预警数"
    assert len(app.get("plotly_chart")) >= 1
    table = app.dataframe[0].value
    assert "原因" in table.columns


@pytest.mark.parametrize("page", ["pages/actions.py", "pages/anomalies.py"])
def test_analysis_pages_on_an_empty_workspace_point_to_the_data_page(tmp_path, monkeypatch, page):
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(tmp_path / "empty"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(page).run()
    assert not at.exception
    assert "No dataset yet" in at.info[0].value
