"""Fine-tuning through the Hugging Face Trainer with a tiny BERT: steps, checkpoints, resume, saving."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from lifecycle_core.demo import write_demo
from lifecycle_core.ingest import ingest
from lifecycle_core.model import LifecycleModel, default_encoder_path
from lifecycle_core.readers import SourceFile
from lifecycle_core.store import Workspace
from lifecycle_core.train import TrainConfig, train

from .conftest import ROOT, tiny_bert


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    ws = Workspace(root / "ws")
    ingest(ws, "demo", [SourceFile.from_path(p) for p in write_demo(root / "files", 40, 60, seed=6)])
    return ws


def tiny_parts():
    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    enc = tiny_bert(tok.vocab_size, seed=0)
    return enc, tok


def test_train_a_few_steps_saves_a_model_and_reports_progress(small, tmp_path):
    enc, tok = tiny_parts()
    seen = []
    cfg = TrainConfig(max_steps=6, save_steps=3, batch_size=16, max_length=48, learning_rate=1e-3)
    res = train(
        small,
        "demo",
        cfg,
        output_dir=tmp_path / "run",
        encoder=enc,
        tokenizer=tok,
        progress=lambda f, m: seen.append((f, m)),
    )
    assert res.steps == 6
    assert seen[0][0] == 0.0 and seen[-1][0] == 1.0 and any("loss" in m for _, m in seen)
    losses = [h["loss"] for h in res.history if "loss" in h]
    assert losses and all(np.isfinite(losses))
    assert 0 <= res.metrics["macro_f1"] <= 1
    saved = tmp_path / "run" / "model"
    meta = json.loads((saved / "config.json").read_text(encoding="utf-8"))
    assert (
        meta["training"]["train"]["max_steps"] == 6 and meta["data_fingerprint"] == small.dataset("demo").content_hash
    )
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("checkpoint-*")) == [
        "checkpoint-3",
        "checkpoint-6",
    ]
    loaded = LifecycleModel.load(saved)
    assert loaded.config.feature_names == res.model.config.feature_names


def test_resume_continues_from_the_last_checkpoint(small, tmp_path):
    enc, tok = tiny_parts()
    cfg = TrainConfig(max_steps=4, save_steps=2, batch_size=16, max_length=32, learning_rate=1e-3)
    train(small, "demo", cfg, output_dir=tmp_path / "run", encoder=enc, tokenizer=tok)
    enc2, _ = tiny_parts()
    more = TrainConfig(max_steps=6, save_steps=2, batch_size=16, max_length=32, learning_rate=1e-3)
    res = train(small, "demo", more, output_dir=tmp_path / "run", encoder=enc2, tokenizer=tok, resume=True)
    steps = [h["step"] for h in res.history if "loss" in h]
    assert res.steps == 6 and min(steps) > 4  # the resumed run logged only the new steps


def test_frozen_encoder_does_not_change(small, tmp_path):
    enc, tok = tiny_parts()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    res = train(
        small,
        "demo",
        TrainConfig(mode="frozen", max_steps=3, batch_size=16, max_length=32),
        output_dir=tmp_path / "f",
        encoder=enc,
        tokenizer=tok,
    )
    after = res.model.net.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize(
    ("kw", "match"), [({"mode": "adapters"}, "mode"), ({"epochs": 0}, "epochs"), ({"batch_size": 0}, "batch_size")]
)
def test_train_config_is_validated(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


@pytest.mark.slow
def test_cli_train_with_the_packaged_model(small, tmp_path):
    import subprocess
    import sys

    args = [
        sys.executable,
        "-m",
        "lifecycle_core",
        "train",
        "--workspace",
        str(small.root),
        "--dataset",
        "demo",
        "--model-name",
        "cli",
        "--max-steps",
        "2",
        "--freeze-encoder",
        "--batch-size",
        "8",
        "--max-length",
        "32",
    ]
    r = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"}
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "validation macro-F1" in r.stdout and "step 2/2" in r.stderr
    assert (small.root / "models" / "cli" / "model" / "model.safetensors").exists()
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr


def test_trained_model_scores_every_product_period(small, tmp_path):
    from lifecycle_core.predict import model_dir, score_dataset

    enc, tok = tiny_parts()
    train(
        small,
        "demo",
        TrainConfig(max_steps=2, batch_size=16, max_length=32),
        output_dir=small.root / "models" / "t",
        encoder=enc,
        tokenizer=tok,
    )
    folder = model_dir(small, "t")
    preds = score_dataset(small, "demo", LifecycleModel.load(folder))
    probs = preds[["p_introduction", "p_growth", "p_maturity", "p_decline"]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1) and (preds["next_demand"] >= 0).all()
    latest = score_dataset(small, "demo", LifecycleModel.load(folder), latest_only=True)
    assert latest["product_id"].is_unique and len(latest) == preds["product_id"].nunique()
    with pytest.raises(FileNotFoundError, match="no trained model 'nope'"):
        model_dir(small, "nope")
