import pandas as pd

from lifecycle_core.privacy import mask_pii, mask_series, pseudonymize


def test_masks_emails_phones_and_ids():
    assert mask_pii("write to jane.doe+x@example.co.uk") == "write to [email]"
    assert mask_pii("电话13812345678，谢谢") == "电话[phone]，谢谢"
    assert mask_pii("call +86 138-1234-5678") == "call [phone]"
    assert mask_pii("ring +44 20 7946 0958 now") == "ring [phone] now"
    assert mask_pii("身份证 110101199003074512") == "身份证 [id]"


def test_keeps_dates_prices_and_quantities():
    text = "bought 2 on 2024-03-05 for 1,000 yuan, size 42"
    assert mask_pii(text) == text
    assert mask_pii(None) is None


def test_mask_series_keeps_missing():
    out = mask_series(pd.Series(["a@b.com", None, "fine"], dtype="str"))
    assert out.tolist()[0] == "[email]" and pd.isna(out.tolist()[1]) and out.tolist()[2] == "fine"


def test_pseudonyms_are_keyed_stable_and_not_the_id():
    ids = pd.Series(["13085", "13085", None, "99"], dtype="str")
    a = pseudonymize(ids, b"k" * 32).tolist()
    b = pseudonymize(ids, b"k" * 32).tolist()
    c = pseudonymize(ids, b"j" * 32).tolist()
    assert a == b and a[0] == a[1] and a[0] != a[3]
    assert pd.isna(a[2])
    assert a[0] != c[0]
    assert "13085" not in a[0] and len(a[0]) == 16


def test_full_width_emails_are_masked():
    assert mask_pii("联系 ａｎｎａ＠ｅｘａｍｐｌｅ．ｃｏｍ 谢谢") == "联系 [email] 谢谢"


def test_no_personal_data_is_stored_from_any_free_text_column_or_the_report(tmp_path):
    """An excluded POST line whose description holds an email and a phone, a phone in the country column,
    an email in a product description and in an extra column: none is stored, in the tables, the
    validation report or the dataset's metadata."""
    import json
    import sqlite3

    from lifecycle_core.ingest import ingest
    from lifecycle_core.readers import SourceFile
    from lifecycle_core.store import Workspace

    weeks = pd.date_range("2024-01-01", periods=20, freq="W-MON")
    rows = [
        (f"I{p}{w}", f"SKU{p}", f"Lamp {p}", 2, d.strftime("%Y-%m-%d"), 9.5, "C1", "United Kingdom")
        for p in range(12)
        for w, d in enumerate(weeks)
    ]
    rows.append(("I999", "POST", "postage for anna.lee@example.com call +44 20 7946 0958", 1, "2024-02-05", 5.0, "C1",
                 "France"))  # fmt: skip
    rows.append(("I998", "SKU1", "Lamp 1", 1, "2024-02-05", 9.5, "C2", "ring 13812345678"))
    lines = pd.DataFrame(
        rows,
        columns=[
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        ],
    )
    products = pd.DataFrame(
        {
            "product_id": [f"SKU{p}" for p in range(12)],
            "title": [f"Lamp {p}" for p in range(12)],
            "description": ["write to bob@shop.example for trade prices"] + ["A lamp."] * 11,
            "supplier_contact": ["+1 (555) 010-9999"] * 12,
        }
    )
    lines.to_csv(tmp_path / "invoices.csv", index=False)
    products.to_csv(tmp_path / "products.csv", index=False)
    ws = Workspace(tmp_path / "ws")
    ingest(
        ws, "shop", [SourceFile.from_path(tmp_path / "invoices.csv"), SourceFile.from_path(tmp_path / "products.csv")]
    )
    secrets = ("anna.lee@example.com", "7946", "13812345678", "bob@shop.example", "010-9999")
    stored = []
    for t in ws.dataset("shop").tables:
        frame = ws.load_table("shop", t)
        stored.append(frame.astype(str).to_csv())
    info = ws.dataset("shop")
    stored.append(json.dumps(info.report, default=str))
    with sqlite3.connect(ws.root / "lifecycle.sqlite") as con:
        for (sql,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            stored.append(str(con.execute(f"SELECT * FROM {sql}").fetchall()))
    for path in (ws.root / "datasets").rglob("*.json"):
        stored.append(path.read_text(encoding="utf-8"))
    blob = "\n".join(stored)
    for s in secrets:
        assert s not in blob, s
