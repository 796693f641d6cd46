"""Platform exports upload as they are: each layout recognised, mapped and read with its order semantics."""

from __future__ import annotations

import pytest

from lifecycle_core.ingest import ingest
from lifecycle_core.readers import SourceFile
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
