"""Fine-tuning through the Hugging Face Trainer with a tiny BERT: steps, checkpoints, resume, saving."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoTokenizer

from lifecycle_core.explain import DEFAULT_BUDGET
from lifecycle_core.model import LifecycleModel, default_encoder_path
from lifecycle_core.train import TrainConfig, last_complete_checkpoint, train

from .conftest import ROOT, demo_workspace, tiny_bert


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return demo_workspace(tmp_path_factory.mktemp("train"), 40, 60, seed=6)


def tiny_parts():
    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    enc = tiny_bert(tok.vocab_size, seed=0)
    return enc, tok


def test_train_a_few_steps_saves_a_model_and_reports_progress(small, tmp_path):
    enc, tok = tiny_parts()
    seen = []
    cfg = TrainConfig(model_kind="neural", max_steps=6, save_steps=3, batch_size=16, max_length=48, learning_rate=1e-3)
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


def run_tiny(small, folder, cfg: TrainConfig, *, resume: bool = False):
    """Train a fresh tiny BERT into ``folder`` (or resume there); returns (result, progress messages)."""
    enc, tok = tiny_parts()
    seen = []
    res = train(
        small,
        "demo",
        cfg,
        output_dir=folder,
        encoder=enc,
        tokenizer=tok,
        resume=resume,
        progress=lambda f, m: seen.append(m),
    )
    return res, seen


def test_resume_continues_from_the_last_checkpoint(small, tmp_path):
    cfg = TrainConfig(model_kind="neural", max_steps=4, save_steps=2, batch_size=16, max_length=32, learning_rate=1e-3)
    run_tiny(small, tmp_path / "run", cfg)
    more = TrainConfig(model_kind="neural", max_steps=6, save_steps=2, batch_size=16, max_length=32, learning_rate=1e-3)
    res, _ = run_tiny(small, tmp_path / "run", more, resume=True)
    steps = [h["step"] for h in res.history if "loss" in h]
    assert res.steps == 6 and min(steps) > 4  # the resumed run logged only the new steps


def test_a_resumed_run_reads_the_text_as_its_checkpoint_did(small, tmp_path):
    joint = TrainConfig(
        model_kind="neural", max_steps=2, save_steps=2, batch_size=16, max_length=32, text_segments=False
    )
    run_tiny(small, tmp_path / "run", joint)
    (tmp_path / "run" / "run.json").unlink()  # as a run from before segment-wise reading left it
    more = TrainConfig(
        model_kind="neural", max_steps=4, save_steps=2, batch_size=16, max_length=32
    )  # segment-wise by default
    res, seen = run_tiny(small, tmp_path / "run", more, resume=True)
    assert res.model.config.text_segments is False and res.steps == 4
    assert any("reads the text as one sequence" in m for m in seen)
    assert LifecycleModel.load(tmp_path / "run" / "model").config.text_segments is False


def test_resume_skips_a_checkpoint_cut_short_by_a_kill(small, tmp_path):
    # A process killed while saving leaves a checkpoint folder without trainer_state.json (written
    # last). Resuming picks the newest complete checkpoint and removes the broken one.
    cfg = TrainConfig(model_kind="neural", max_steps=4, save_steps=2, batch_size=16, max_length=32, learning_rate=1e-3)
    run_tiny(small, tmp_path / "run", cfg)
    ckpts = tmp_path / "run" / "checkpoints"
    (ckpts / "checkpoint-4" / "trainer_state.json").unlink()
    cut = ckpts / "checkpoint-5"  # a state file cut off mid-write
    cut.mkdir()
    (cut / "model.safetensors").write_bytes(b"")
    (cut / "trainer_state.json").write_text('{"global_step": 5, "log_hi', encoding="utf-8")
    assert last_complete_checkpoint(ckpts) == ckpts / "checkpoint-2"
    assert not (ckpts / "checkpoint-4").exists() and not cut.exists()
    (ckpts / "checkpoint-4").mkdir()  # broken again, now for train() itself to deal with
    more = TrainConfig(model_kind="neural", max_steps=6, save_steps=2, batch_size=16, max_length=32, learning_rate=1e-3)
    res, seen = run_tiny(small, tmp_path / "run", more, resume=True)
    steps = [h["step"] for h in res.history if "loss" in h]
    assert res.steps == 6 and min(steps) > 2  # continued from checkpoint-2, not from 0
    assert any("removing incomplete checkpoint checkpoint-4" in m for m in seen)
    assert last_complete_checkpoint(ckpts) == ckpts / "checkpoint-6"
    assert last_complete_checkpoint(tmp_path / "nothing") is None


def test_frozen_encoder_does_not_change(small, tmp_path):
    enc, tok = tiny_parts()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    res = train(
        small,
        "demo",
        TrainConfig(model_kind="neural", mode="frozen", max_steps=3, batch_size=16, max_length=32),
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
        "--model-kind",
        "neural",
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
        TrainConfig(model_kind="neural", max_steps=2, batch_size=16, max_length=32),
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


def test_lora_trains_adapters_only_and_saves_a_plain_merged_model(small, tmp_path):
    enc, tok = tiny_parts()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    cfg = TrainConfig(
        model_kind="neural", mode="lora", train_layers=1, max_steps=4, batch_size=16, max_length=32, learning_rate=5e-3
    )
    res = train(small, "demo", cfg, output_dir=tmp_path / "l", encoder=enc, tokenizer=tok)
    merged = res.model.net.encoder.state_dict()
    assert set(merged) == set(before)  # adapters folded in: a plain encoder again
    changed = {k for k in before if not torch.equal(before[k], merged[k])}
    # Only the attention query/value weights of the top block moved (LoRA targets), nothing below it.
    assert changed and all(".1." in k and ("query" in k or "value" in k) for k in changed), changed
    loaded = LifecycleModel.load(tmp_path / "l" / "model")
    texts, X = ["a red mug. Reviews: nice."] * 3, np.zeros((3, len(loaded.config.feature_names)))
    np.testing.assert_allclose(loaded.predict_proba(texts, X), res.model.predict_proba(texts, X), atol=1e-6)


def test_top_layer_fine_tuning_leaves_lower_layers_alone(small, tmp_path):
    enc, tok = tiny_parts()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    cfg = TrainConfig(
        model_kind="neural", train_layers=1, max_steps=3, batch_size=16, max_length=32, learning_rate=1e-2
    )
    after = train(small, "demo", cfg, output_dir=tmp_path / "t", encoder=enc, tokenizer=tok).model.net.encoder
    changed = {k for k, v in after.state_dict().items() if not torch.equal(before[k], v)}
    assert changed and all(k.startswith("encoder.layer.1.") for k in changed), changed


def test_int8_scoring_agrees_with_fp32(small, tmp_path):
    from lifecycle_core.features import FEATURES, build_examples
    from lifecycle_core.predict import quantization_agreement

    enc, tok = tiny_parts()
    res = train(
        small,
        "demo",
        TrainConfig(model_kind="neural", max_steps=4, batch_size=16, max_length=32),
        output_dir=tmp_path / "q",
        encoder=enc,
        tokenizer=tok,
    )
    ex = build_examples(small, "demo")
    rows = ex.frame.head(300)
    agree = quantization_agreement(
        res.model, ex.texts[rows["text_id"].to_numpy()].tolist(), rows[list(FEATURES)].to_numpy(float)
    )
    assert agree["rows"] == 300 and agree["stage_agreement"] >= 0.95 and agree["max_abs_diff"] < 0.1
    q = res.model.quantized()
    assert any(".quantized." in type(m).__module__ for m in q.net.modules())
    assert not any(".quantized." in type(m).__module__ for m in res.model.net.modules())  # the original is untouched


def test_text_batches_share_texts_and_cover_every_row_once():
    from lifecycle_core.train import augment_text, text_batches

    rng = np.random.default_rng(0)
    row_text = rng.integers(0, 50, 400)
    lengths = rng.integers(5, 120, 50)
    batches = text_batches(row_text, lengths, 32, seed=1)
    rows = np.concatenate(batches)
    assert sorted(rows) == list(range(400))  # every row exactly once
    owner = {}
    for i, b in enumerate(batches):
        for t in np.unique(row_text[b]):
            assert owner.setdefault(t, i) == i  # all rows of one text sit in one batch
    assert np.mean([len(b) for b in batches]) >= 32
    text = "Mug. Reviews: good / bad / fine. Searches: mug."
    out = augment_text(text, np.random.default_rng(3), 0.5)
    assert out != text and "Searches:" in out


@pytest.mark.slow
def test_cli_train_predict_evaluate(small, tmp_path):
    """CLI train -> predict -> evaluate --model, with a tiny base model saved as a folder."""
    import subprocess
    import sys

    enc, tok = tiny_parts()
    base = tmp_path / "tiny"
    enc.save_pretrained(base)
    tok.save_pretrained(base)
    common = ["--workspace", str(small.root), "--dataset", "demo"]

    def run(*args):
        return subprocess.run([sys.executable, "-m", "lifecycle_core", *args], cwd=ROOT, capture_output=True, text=True)

    r = run(
        "train",
        *common,
        "--model-name",
        "flow",
        "--model-kind",
        "neural",
        "--base-model",
        str(base),
        "--max-steps",
        "3",
        "--max-length",
        "32",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "p.csv"
    r = run("predict", *common, "--model", "flow", "--out", str(out), "--int8")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "int8 vs fp32" in r.stdout and out.exists()
    assert (small.root / "models" / "flow" / "predictions").exists()
    r = run("evaluate", *common, "--model", "flow", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert {"majority", "rules", "gbm", "flow"} <= set(res["baselines"])
    assert 0 <= res["baselines"]["flow"]["macro_f1"] <= 1
    r = run("evaluate", *common, "--model", "nope")
    assert r.returncode == 2 and "no trained model" in r.stderr
    product = pd.read_csv(out)["product_id"].iloc[0]
    for extra, budget in (([], DEFAULT_BUDGET), (["--budget", "24"], 24)):
        r = run("explain", *common, "--model", "flow", "--product", str(product), "--json", *extra)
        assert r.returncode == 0, r.stderr[-3000:]
        exp = json.loads(r.stdout)
        assert exp["budget"] == budget and exp["product_id"] == str(product)
        assert abs(sum(exp["probabilities"].values()) - 1) < 1e-4 and exp["sentence_en"].startswith("Predicted")
    r = run("explain", *common, "--model", "flow", "--product", "no-such-product")
    assert r.returncode == 2 and "no-such-product" in r.stderr


def test_the_kept_model_is_never_worse_than_the_signals_alone_on_validation(small, tmp_path):
    enc, tok = tiny_parts()
    cfg = TrainConfig(
        model_kind="neural",
        max_steps=6,
        save_steps=3,
        batch_size=16,
        max_length=32,
        learning_rate=3e-2,
        head_learning_rate=3e-2,
    )
    res = train(small, "demo", cfg, output_dir=tmp_path / "s", encoder=enc, tokenizer=tok)
    signals = json.loads((tmp_path / "s" / "signals_only.json").read_text(encoding="utf-8"))["macro_f1"]
    part = res.model.training["text_part"]
    if part.startswith("off"):
        head = res.model.net.text_head[-1]
        assert not head.weight.any() and not head.bias.any()
        X = np.zeros((2, len(res.model.config.feature_names)))
        a, b = res.model.predict_proba(["one text", "a completely different text"], X)
        np.testing.assert_allclose(a, b, atol=1e-6)  # the text no longer moves anything
        assert res.metrics["macro_f1"] == pytest.approx(signals, abs=1e-4)
    else:
        assert part == "on" and res.metrics["macro_f1"] >= signals


@pytest.mark.parametrize(("kw", "match"), [({"precision": "fp8"}, "precision"), ({"split": "random"}, "split")])
def test_precision_and_split_are_validated(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without a GPU")
def test_mixed_precision_without_a_gpu_fails_before_any_work(small, tmp_path):
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        train(
            small, "demo", TrainConfig(model_kind="neural", precision="bf16", max_steps=1), output_dir=tmp_path / "bf16"
        )
    assert not (tmp_path / "bf16").exists()


@pytest.mark.slow
def test_torchrun_two_processes_train_and_one_saves(small, tmp_path):
    """`python -m lifecycle_core train` runs unchanged under torchrun (gloo on CPU): every rank evaluates
    the whole validation split itself, so they stop alike; rank 0 alone writes and reports."""
    import os
    import shutil
    import socket
    import subprocess

    with socket.socket() as sock:  # a free port for the rendezvous (port 0 hangs the static backend)
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    torchrun = shutil.which("torchrun")
    assert torchrun, "torchrun comes with torch"
    enc, tok = tiny_parts()
    base = tmp_path / "tiny"
    enc.save_pretrained(base)
    tok.save_pretrained(base)
    launcher = [torchrun, "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", port]
    cmd = ["-m", "lifecycle_core", "train", "--workspace", str(small.root), "--dataset", "demo"]
    cmd += [
        "--model-name",
        "ddp",
        "--model-kind",
        "neural",
        "--base-model",
        str(base),
        "--max-steps",
        "4",
        "--save-steps",
        "2",
    ]
    r = subprocess.run(
        [*launcher, *cmd, "--batch-size", "8", "--max-length", "32"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("saved in") == 1, r.stdout  # one report, from rank 0
    model = LifecycleModel.load(small.root / "models" / "ddp" / "model")
    assert model.training["steps"] == 4
    assert json.loads((small.root / "models" / "ddp" / "model" / "config.json").read_text())["training"]["steps"] == 4
