"""Data never becomes markup: markdown escaping (ui/escape.py) and the Anomalies page with a hostile
invoice id."""

from __future__ import annotations

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from lifecycle_core.ingest import ingest
from lifecycle_core.readers import SourceFile
from lifecycle_core.store import Workspace
from ui.escape import md, plot_text

from .conftest import ROOT

ATTACK = "![p](http://host/b.png)[Re-login](https://evil/)"


def test_md_escapes_links_images_emphasis_latex_and_directives():
    for s in (ATTACK, "**bold** _it_", "$x^2$", ":red[alert]", "# head", "<b>x</b>", "a\nb\r- item"):
        out = md(s)
        # Every markdown-significant character is preceded by a backslash; no newline starts a block.
        for i, ch in enumerate(out):
            if ch in "![]()*_$:#<>-" and (i == 0 or out[i - 1] != "\\"):
                raise AssertionError(f"{ch!r} unescaped in {out!r}")
        assert "\n" not in out and "\r" not in out
    assert md("P00012") == "P00012"


def test_plot_text_shows_html_as_text():
    assert (
        plot_text('<span style="font-size:90px">x</span>')
        == "&lt;span style=&quot;font-size:90px&quot;&gt;x&lt;/span&gt;"
    )


def test_anomalies_page_shows_a_hostile_invoice_id_as_text(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    rows = []
    weeks = pd.date_range("2024-01-01", periods=30, freq="W-MON")
    for p in range(12):
        for w, day in enumerate(weeks):
            for o in range(3):
                rows.append((f"I{p}-{w}-{o}", f"SKU{p}", f"Lamp model {p}", int(rng.integers(1, 4)), day, 9.5, f"C{o}"))
    rows.append((ATTACK, "SKU3", "Lamp model 3", 900, weeks[20], 9.5, "C9"))
    lines = pd.DataFrame(
        rows, columns=["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"]
    )
    path = tmp_path / "invoices.csv"
    lines.to_csv(path, index=False)
    ws = Workspace(tmp_path / "ws")
    ingest(ws, "shop", [SourceFile.from_path(path)])
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(ws.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/anomalies.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="an_product").set_value("SKU3").run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown]
    hits = [v for v in shown if "Re" in v and "login" in v]
    assert hits, shown  # the bulk order is listed, its id quoted
    for v in shown:
        assert "![p](" not in v and "[Re-login](" not in v, v
