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
    """Everything observable in a workspace: each file's hash (the database and cache/, derived data that
    may be rebuilt at any time, excluded) and every catalog row."""
    files = {}
    for p in sorted(ws.root.rglob("*")):
        if (
            p.is_file()
            and not p.name.startswith("lifecycle.sqlite")
            and "cache" not in p.relative_to(ws.root).parts[:1]
        ):
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


def demo_workspace(root: Path, products: int, weeks: int, seed: int) -> Workspace:
    """A workspace under ``root`` holding the demo catalog as dataset "demo"."""
    from lifecycle_core.ingest import ingest
    from lifecycle_core.readers import SourceFile

    ws = Workspace(root / "ws")
    ingest(ws, "demo", [SourceFile.from_path(p) for p in write_demo(root / "files", products, weeks, seed=seed)])
    return ws


def train_tiny_and_score(ws: Workspace, name: str, seed: int = 0, kind: str = "neural") -> None:
    """A model ``name`` trained on "demo" with a tiny BERT (the neural kind: 2 steps; the stacked kind
    reads the text with it), every product-period scored and stored."""
    from transformers import AutoTokenizer

    from lifecycle_core.model import default_encoder_path
    from lifecycle_core.predict import predict_and_store
    from lifecycle_core.train import TrainConfig, train

    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    if kind == "stacked":  # its reader is reloaded from base_model when the model is loaded
        base = ws.root / "tiny_base"
        tiny_bert(tok.vocab_size).save_pretrained(base)
        tok.save_pretrained(base)
        cfg = TrainConfig(model_kind=kind, base_model=str(base), seed=seed)
        train(ws, "demo", cfg, output_dir=ws.root / "models" / name)
    else:
        cfg = TrainConfig(model_kind=kind, max_steps=2, batch_size=16, max_length=32, head_warmup_epochs=3, seed=seed)
        train(ws, "demo", cfg, output_dir=ws.root / "models" / name, encoder=tiny_bert(tok.vocab_size), tokenizer=tok)
    predict_and_store(ws, name, "demo")


def reading_text(model, std: float = 0.5, seed: int = 0):
    """``model`` with a text part that is not zero, so it reads (and encodes) the text: a new model's
    text part starts at exactly zero, and training may switch it off."""
    import torch

    torch.manual_seed(seed)
    torch.nn.init.normal_(model.net.text_head[-1].weight, std=std)
    assert model.reads_text()
    return model


def analog_frame():
    """Three products (rows 0-2) at ages 0 and 1 (weeks) with labels and levels: the smallest frame the
    analog functions read."""
    import pandas as pd

    return pd.DataFrame(
        {
            "row": [0, 0, 1, 1, 2, 2],
            "age": [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
            "stage": [0, 1, 0, 2, 3, 3],
            "ratio_to_max": [0.2, 1.0, 0.3, 1.0, 1.0, 0.5],
            "log_units_4": [1.0, 2.0, 1.0, 3.0, 3.0, 1.0],
        }
    )
