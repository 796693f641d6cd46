from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from lifecycle_core.demo import write_demo
from lifecycle_core.store import Workspace

ROOT = Path(__file__).resolve().parents[1]
RETAIL = ROOT.parent / "shared" / "data" / "online_retail_ii" / "online_retail_ii.csv.gz"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """A small demo catalog (40 products x 30 weeks) written once per test session."""
    out = tmp_path_factory.mktemp("demo")
    write_demo(out, 40, 30, seed=3)
    return out


def snapshot(ws: Workspace) -> dict:
    """Everything observable in a workspace: each file's hash (the database excluded) and every catalog row."""
    files = {}
    for p in sorted(ws.root.rglob("*")):
        if p.is_file() and not p.name.startswith("lifecycle.sqlite"):
            files[str(p.relative_to(ws.root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    con = sqlite3.connect(ws.db_path)
    try:
        rows = con.execute("SELECT * FROM datasets ORDER BY id").fetchall()
    finally:
        con.close()
    return {"files": files, "rows": rows}


def tiny_bert(vocab_size: int, seed: int = 0):
    """A 2-layer BERT with hidden size 32, built from a config (no weights downloaded), for fast model tests."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    return BertModel(
        BertConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
        )
    )
