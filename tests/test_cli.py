"""The command line, as a user runs it: python -m lifecycle_core ..."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lifecycle_core", *args], cwd=cwd, capture_output=True, text=True)


def test_demo_then_ingest_then_list(tmp_path):
    out = tmp_path / "D"
    r = run("demo", "--out", str(out), "--products", "25", "--weeks", "20", "--seed", "1")
    assert r.returncode == 0, r.stderr
    files = sorted(str(p) for p in out.iterdir())
    assert len(files) == 5
    r = run("ingest", *files, "--workspace", str(tmp_path / "W"), "--name", "demo")
    assert r.returncode == 0, r.stderr
    assert "products: 25" in r.stdout and "periods: 20" in r.stdout
    assert "[100.0%] done" in r.stderr
    r = run("datasets", "--workspace", str(tmp_path / "W"), "--json")
    rows = json.loads(r.stdout)
    assert rows[0]["name"] == "demo" and rows[0]["products"] == 25


def test_invalid_input_exits_2_with_report_and_writes_nothing(tmp_path):
    bad = tmp_path / "sales.csv"
    bad.write_text("product_id,date,units\nA,2024-01-01,lots\n")
    ws = tmp_path / "W"
    r = run("ingest", str(bad), "--workspace", str(ws), "--name", "x")
    assert r.returncode == 2
    assert "not_a_number" in r.stderr and "row 2" in r.stderr and "nothing was written" in r.stderr
    assert list((ws / "datasets").iterdir()) == []
    r = run("ingest", str(tmp_path / "nope.csv"), "--workspace", str(ws), "--name", "x")
    assert r.returncode == 2 and "no such file" in r.stderr


def test_existing_name_exits_2(tmp_path):
    f = tmp_path / "sales.csv"
    f.write_text("product_id,date,units\nA,2024-01-01,1\n")
    assert run("ingest", str(f), "--workspace", str(tmp_path / "W"), "--name", "x", "--quiet").returncode == 0
    r = run("ingest", str(f), "--workspace", str(tmp_path / "W"), "--name", "x", "--quiet")
    assert r.returncode == 2 and "already exists" in r.stderr
    assert run("ingest", str(f), "--workspace", str(tmp_path / "W"), "--name", "x", "--replace").returncode == 0


def test_mapping_round_trip_with_chinese_headers(tmp_path):
    f = tmp_path / "导出.csv"
    f.write_bytes("货品,时间,件数,备注\nA1,2024-03-05,3,x\n".encode("gbk"))
    mfile = tmp_path / "m.json"
    r = run("mapping", str(f), "--out", str(mfile))
    assert r.returncode == 0, r.stderr
    m = json.loads(mfile.read_text(encoding="utf-8"))
    # The user corrects the guess: 货品 is the product, 件数 the units, 备注 is ignored.
    m["导出.csv"] = {"table": "sales", "columns": {"货品": "product_id", "时间": "date", "件数": "units", "备注": None}}
    mfile.write_text(json.dumps(m, ensure_ascii=False), encoding="utf-8")
    r = run("ingest", str(f), "--workspace", str(tmp_path / "W"), "--name", "zh", "--mapping", str(mfile), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"]["units"] == 3


def test_bad_mapping_file_exits_2(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("product_id,date,units\nA,2024-01-01,1\n")
    m = tmp_path / "m.json"
    m.write_text("{broken")
    r = run("ingest", str(f), "--workspace", str(tmp_path / "W"), "--name", "x", "--mapping", str(m))
    assert r.returncode == 2 and "cannot read JSON" in r.stderr


def test_delete_dataset(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("product_id,date,units\nA,2024-01-01,1\n")
    run("ingest", str(f), "--workspace", str(tmp_path / "W"), "--name", "x", "--quiet")
    assert run("delete-dataset", "--workspace", str(tmp_path / "W"), "--name", "x").returncode == 0
    assert "no datasets" in run("datasets", "--workspace", str(tmp_path / "W")).stdout
    r = run("delete-dataset", "--workspace", str(tmp_path / "W"), "--name", "x")
    assert r.returncode == 1 and "no dataset named" in r.stderr


def test_mapping_prints_a_plain_inventory_file(tmp_path):
    """Only a products export's stock (read as inventory by its layout) has no mapping of its own."""
    f = tmp_path / "stock.csv"
    f.write_text("Référence;Stock\nFR1000;22\n", encoding="utf-8")
    r = run("mapping", str(f))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["stock.csv"]["columns"] == {"Référence": "product_id", "Stock": "on_hand"}


def test_a_taken_model_name_says_whose_it_is_and_what_to_do(tmp_path):
    from lifecycle_core.cli import _name_taken

    folder = tmp_path / "models" / "first"
    (folder / "model").mkdir(parents=True)
    cfg = {"kind": "stacked", "training": {"model_kind": "stacked", "dataset": "demo"}}
    (folder / "model" / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    msg = _name_taken(folder, "first", "fr")
    assert "stacked model named 'first' trained on dataset 'demo'" in msg and "'fr-first'" in msg
    assert "--resume" not in msg  # a stacked model has no checkpoints to resume
    cfg["training"]["model_kind"] = "neural"
    (folder / "model" / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    assert "--resume to continue its training" in _name_taken(folder, "first", "fr")
