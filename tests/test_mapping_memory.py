"""Mappings that last: mapping-file entries by name or glob, saved per export layout, and never a
catalogue stored as sales."""

from __future__ import annotations

import json

import pytest

from lifecycle_core.cli import main
from lifecycle_core.ingest import ingest
from lifecycle_core.mapping import load_mapping_file
from lifecycle_core.plan import header_signature, plan_files
from lifecycle_core.readers import SourceFile
from lifecycle_core.report import IngestError
from lifecycle_core.store import Workspace

# A till nobody has a preset or synonyms for: "Art" is the product, "Stk" (Stück) the units.
HEADER = "Bon;Tag;Art;Bez;Stk;Lager\n"


def month(n: int, *, reorder: bool = False) -> bytes:
    rows = [
        f"R{n}{i};2024-{n:02d}-{d:02d};A{i % 4};Teekanne {i % 4};{1 + i % 3};5\n" for i, d in enumerate(range(1, 25))
    ]
    text = HEADER + "".join(rows)
    if reorder:  # the same export with its columns in another order and padded names
        lines = [ln.split(";") for ln in text.strip().split("\n")]
        order = [2, 0, 1, 4, 3, 5]
        lines = [[ln[i] for i in order] for ln in lines]
        lines[0] = [f" {h} " for h in lines[0]]
        text = "\n".join(";".join(ln) for ln in lines) + "\n"
    return text.encode()


MAPPING = {"table": "transactions", "columns": {"Bon": "invoice_id", "Tag": "timestamp", "Art": "product_id",
           "Bez": "description", "Stk": "quantity", "Lager": None}}  # fmt: skip


def test_a_confirmed_mapping_maps_next_months_export(tmp_path):
    ws = Workspace(tmp_path / "ws")
    mfile = tmp_path / "mapping.json"
    mfile.write_text(json.dumps({"*.csv": MAPPING}))
    ingest(ws, "jan", [SourceFile("kasse_2024_01.csv", month(1))], overrides=load_mapping_file(mfile))
    saved = ws.saved_mappings()
    assert len(saved) == 1
    (entry,) = saved.values()
    assert entry["file"] == "kasse_2024_01.csv" and entry["mapping"].columns["Stk"] == "quantity"
    # Next month: another file name, columns reordered and padded; no mapping file.
    feb = SourceFile("kasse_2024_02.csv", month(2, reorder=True))
    plans, _ = plan_files([feb], saved=ws.saved_mappings())
    assert plans[0].saved_from["file"] == "kasse_2024_01.csv"
    assert plans[0].mapping.source_of("quantity").strip() == "Stk"
    assert "Lager" not in {c.strip() for c in plans[0].mapping.columns}  # left unmapped, as the user chose
    info = ingest(ws, "feb", [feb])
    assert info.counts["units"] == sum(1 + i % 3 for i in range(24))
    assert info.report["info"]["saved_mappings"]["kasse_2024_02.csv"]["from"] == "kasse_2024_01.csv"
    ws.forget_mapping(header_signature(plans[0].raw.columns))
    assert ws.saved_mappings() == {}


def test_the_guess_is_not_remembered(tmp_path):
    """Only a mapping the user changed is saved: an unchanged guess would freeze today's guesser."""
    ws = Workspace(tmp_path / "ws")
    sales = "product_id,date,units\n" + "".join(f"P{i % 3},2024-01-{1 + i:02d},{i}\n" for i in range(20))
    mfile = tmp_path / "m.json"
    mfile.write_text(json.dumps({"sales.csv": {"table": "sales", "columns": {"product_id": "product_id",
                                 "date": "date", "units": "units"}}}))  # fmt: skip
    ingest(ws, "s", [SourceFile("sales.csv", sales.encode())], overrides=load_mapping_file(mfile))
    assert ws.saved_mappings() == {}


def test_a_mapping_entry_that_matches_no_file_is_an_error_listing_the_files(tmp_path):
    mfile = tmp_path / "m.json"
    mfile.write_text(json.dumps({"kasse_2024_01.xlsx": MAPPING}))
    _, report = plan_files([SourceFile("kasse_2024_01.csv", month(1))], overrides=load_mapping_file(mfile))
    (err,) = report.errors
    assert err.code == "mapping_entry_unused"
    assert "kasse_2024_01.xlsx" in err.message and "kasse_2024_01.csv" in err.expected


def test_one_glob_entry_covers_many_files(tmp_path):
    mfile = tmp_path / "m.json"
    mfile.write_text(json.dumps({"kasse_*": MAPPING}))
    files = [SourceFile(f"kasse_2024_0{n}.csv", month(n)) for n in (1, 2, 3)]
    plans, report = plan_files(files, overrides=load_mapping_file(mfile))
    assert report.ok
    assert [p.mapping.source_of("quantity") for p in plans] == ["Stk"] * 3


def test_a_catalogue_guessed_as_sales_is_read_as_products(tmp_path):
    """Every product id once, with a date and a quantity: a stock list, not 300 units sold in one day."""
    rows = "".join(f"SKU{i},Lamp {i},2023-0{1 + i % 9}-01,{10 + i}\n" for i in range(12))
    catalogue = SourceFile("export.csv", ("sku,name,created_at,qty\n" + rows).encode())
    plans, _ = plan_files([catalogue])
    assert plans[0].mapping.table == "products"
    assert "one row only" in plans[0].note
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(IngestError) as err:
        ingest(ws, "x", [catalogue])
    assert "add the sales" in err.value.report.errors[0].expected


def test_sales_with_one_dated_row_per_product_are_refused_unless_forced(tmp_path, capsys):
    # Two rows per id on distinct dates for a few products, one row for most: ids repeat, so this is not
    # read as a catalogue, but most products have a single dated row.
    rows = [f"P{i},2024-01-{1 + i % 28:02d},3" for i in range(30)] + ["P0,2024-02-01,2", "P1,2024-02-02,1"]
    path = tmp_path / "sales.csv"
    path.write_text("product_id,date,units\n" + "\n".join(rows) + "\n")
    ws_path = str(tmp_path / "ws")
    code = main(["ingest", str(path), "--workspace", ws_path, "--name", "s", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "single dated sales row" in err and "--force" in err
    assert Workspace(ws_path).list_datasets() == []
    assert main(["ingest", str(path), "--workspace", ws_path, "--name", "s", "--quiet", "--force"]) == 0


@pytest.mark.parametrize(
    ("platform", "part", "code", "words"),
    [
        ("taobao", "OrderList", "needs_another_file", "宝贝报表"),  # orders without their items
        ("shopify", "products", "no_sales", "Shopify orders export"),  # a catalogue without orders
    ],
)
def test_a_file_that_cannot_stand_alone_says_what_to_add(tmp_path, platform, part, code, words):
    from tests import platform_exports as px

    path = next(p for p in px.write(platform, tmp_path) if part in p.name)
    with pytest.raises(IngestError) as err:
        ingest(Workspace(tmp_path / "ws"), "t", [SourceFile.from_path(path)])
    (problem,) = err.value.report.errors
    assert problem.code == code and words in problem.expected
