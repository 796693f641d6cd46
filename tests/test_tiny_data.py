"""Tiny, short and one-product datasets: every command and every page answers with a result or a clear
message, never a traceback."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lifecycle_core import cli
from lifecycle_core.ingest import ingest
from lifecycle_core.readers import SourceFile
from lifecycle_core.store import Workspace

from . import rhythm_data
from .conftest import ROOT, train_tiny_and_score
from .test_pages_i18n import PAGES


def _one_product(tmp_path) -> Workspace:
    """One product, 12 months of sales rising and falling."""
    sales = pd.DataFrame(
        {
            "product_id": "A1",
            "date": pd.date_range("2023-01-01", periods=12, freq="MS").strftime("%Y-%m-%d"),
            "units": [2, 10, 40, 90, 150, 180, 170, 140, 90, 50, 20, 8],
        }
    )
    ws = Workspace(tmp_path / "ws")
    ingest(ws, "one", [SourceFile("sales.csv", sales.to_csv(index=False).encode())])
    return ws


def _cli(capsys, *args):
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_one_product_commands_report_instead_of_crashing(tmp_path, capsys):
    ws = _one_product(tmp_path)
    assert ws.dataset("one").period == "M"
    d = ["--workspace", ws.root, "--dataset", "one"]
    code, out, _ = _cli(capsys, "label", *d, "--json")
    assert code == 0 and json.loads(out)["products"] == 1
    code, out, err = _cli(capsys, "evaluate", *d, "--json")
    assert code == 0, err
    res = json.loads(out)
    skipped = [res["product_split"]["baselines"]["gbm"], res["product_split"]["cold_start_first_8"]["baselines"]["gbm"]]
    assert all(m["macro_f1"] is None and "no labeled" in m["skipped"] for m in skipped)
    code, out, _ = _cli(capsys, "evaluate", *d)
    assert code == 0 and "skipped: no labeled" in out
    for cmd, target in (("actions", "a.csv"), ("anomalies", "x.csv")):
        code, _, err = _cli(capsys, cmd, *d, "--out", tmp_path / target)
        assert code == 0, err
    code, _, err = _cli(capsys, "backtest", *d)
    assert code == 0, err  # 12 months: origins with 6 months of history each
    code, _, err = _cli(capsys, "train", *d, "--model-name", "m", "--max-steps", "1")
    assert code == 2 and "need at least 8 and 2" in err and "unlabeled:" in err
    code, _, err = _cli(capsys, "behaviour", *d, "--json")
    assert code == 0, err


def test_too_short_for_a_time_split_says_how_many_more_periods(tmp_path, capsys):
    sales = pd.DataFrame(
        {
            "product_id": [f"P{i}" for i in range(30) for _ in range(5)],
            "date": list(pd.date_range("2024-01-01", periods=5, freq="MS").strftime("%Y-%m-%d")) * 30,
            "units": [50, 80, 120, 100, 60] * 30,
        }
    )
    ws = Workspace(tmp_path / "ws")
    ingest(ws, "short", [SourceFile("sales.csv", sales.to_csv(index=False).encode())])
    code, out, err = _cli(capsys, "evaluate", "--workspace", ws.root, "--dataset", "short", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert "too few for a time split" in res["layout"] and "more)" in res["layout"]
    assert res["baselines"]["gbm"]["skipped"] == "no labeled test rows on this split"
    code, _, err = _cli(capsys, "backtest", "--workspace", ws.root, "--dataset", "short")
    assert code == 2 and "too few for a backtest" in err and "more)" in err


def _pages_render(root, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    for page in PAGES:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, f"{page}: {at.exception}"
    return at


@pytest.mark.slow
def test_every_page_renders_on_a_one_product_dataset(tmp_path, monkeypatch):
    ws = _one_product(tmp_path)
    _pages_render(ws.root, monkeypatch)


@pytest.mark.slow
def test_every_page_renders_on_a_short_monthly_catalog_with_a_model(tmp_path, monkeypatch):
    ws = Workspace(tmp_path / "ws")
    files = rhythm_data.write_monthly(tmp_path / "files", products=40, months=15, seed=4)
    ingest(ws, "demo", [SourceFile.from_path(p) for p in files])
    train_tiny_and_score(ws, "m")
    at = _pages_render(ws.root, monkeypatch)
    at.switch_page("pages/data.py").run()
    assert not at.exception
