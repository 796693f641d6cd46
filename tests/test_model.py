"""The stage model: a tiny BERT built here with the packaged tokenizer; save/load; shared text encoding."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from lifecycle_core.model import FeatureScaler, LifecycleModel, ModelConfig, batch_texts, default_encoder_path

from .conftest import reading_text, tiny_bert


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(default_encoder_path())


def tiny(tokenizer, n_features=3, seed=0):
    enc = tiny_bert(tokenizer.vocab_size, seed=seed)
    cfg = ModelConfig(
        base_model="tiny",
        feature_names=tuple(f"f{i}" for i in range(n_features)),
        max_length=32,
        mlp_hidden=16,
        dropout=0.0,
    )
    X = np.random.default_rng(0).normal(size=(50, n_features))
    return LifecycleModel.create(cfg, FeatureScaler.fit(X), encoder=enc, tokenizer=tokenizer)


def test_a_model_whose_text_part_is_zero_scores_without_the_encoder(tokenizer):
    """Training switches the text part off (its output layer to zero) when the text did not help: the text
    then adds exactly nothing, so scoring skips the encoder, and every probability stays the same."""
    m = tiny(tokenizer)
    assert not m.reads_text() and not m.quantized().reads_text()
    texts, X = ["red mug, new", "blue bowl, outdated", "green jug"], np.random.default_rng(1).normal(size=(3, 3))
    calls = []
    m.net.encoder.register_forward_pre_hook(lambda *a: calls.append(1))
    fast = m.predict_proba(texts, X)
    assert calls == []
    full = m.predict_from_embeddings(m.embed(texts), np.arange(3), X)[0]  # the encoder's real vectors
    assert len(calls) > 0
    np.testing.assert_array_equal(fast, full)
    reading_text(m)
    assert m.reads_text() and m.quantized().reads_text()
    assert not np.allclose(m.predict_proba(texts, X), fast)


def test_default_encoder_ships_in_the_package():
    p = default_encoder_path()
    assert (p / "model.safetensors").exists() and (p / "config.json").exists()


def test_probabilities_shape_and_sum(tokenizer):
    m = tiny(tokenizer)
    texts = ["red mug, new", "blue bowl, outdated", "red mug, new"]
    proba = m.predict_proba(texts, np.zeros((3, 3)))
    assert proba.shape == (3, 4) and np.allclose(proba.sum(axis=1), 1)
    assert np.allclose(proba[0], proba[2])  # same text, same features
    assert m.predict(texts, np.zeros((3, 3))).shape == (3,)


def test_each_distinct_text_is_encoded_once(tokenizer):
    enc, index = batch_texts(["a b", "c", "a b", "c", "a b"], tokenizer, 16)
    assert enc["input_ids"].shape[0] == 2 and index.tolist() == [0, 1, 0, 1, 0]
    m = reading_text(tiny(tokenizer))
    calls = []
    orig = m.net.encode
    m.net.encode = lambda ids, mask: calls.append(ids.shape[0]) or orig(ids, mask)
    m.predict_proba(["x y"] * 7 + ["z"], np.zeros((8, 3)))
    assert calls == [2]


def test_a_few_steps_make_the_loss_fall(tokenizer):
    m = tiny(tokenizer)
    rng = np.random.default_rng(1)
    words = ["new arrival", "everyone buys", "reliable classic", "outdated cheaper"]
    y = rng.integers(0, 4, 64)
    texts = [f"{words[s]} item {i % 5}" for i, s in enumerate(y)]
    X = rng.normal(size=(64, 3))
    nxt = rng.integers(0, 50, 64).astype(float)
    nxt[::7] = np.nan  # last periods have no next period
    opt = torch.optim.AdamW(m.net.parameters(), lr=3e-3)
    m.net.train()
    first = m.loss(texts, X, y, nxt).item()
    for _ in range(60):
        opt.zero_grad()
        loss = m.loss(texts, X, y, nxt)
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
    assert (m.predict(texts, X) == y).mean() > 0.9  # the planted words decide the stage


def test_save_load_round_trip_without_pickle(tokenizer, tmp_path):
    m = tiny(tokenizer)
    m.metrics = {"macro_f1": 0.5}
    m.fingerprint = "abc123"
    texts = ["red mug", "blue bowl"]
    X = np.random.default_rng(2).normal(size=(2, 3))
    before = m.predict_all(texts, X)
    out = m.save(tmp_path / "model")
    meta = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert meta["id2label"] == {"0": "Introduction", "1": "Growth", "2": "Maturity", "3": "Decline"}
    assert meta["stage_names"]["zh"] == ["初期", "成长期", "成熟期", "衰退期"]
    assert meta["data_fingerprint"] == "abc123" and meta["metrics"]["macro_f1"] == 0.5
    assert not list(out.rglob("*.bin")) and not list(out.rglob("*.pkl"))
    again = LifecycleModel.load(out)
    after = again.predict_all(texts, X)
    assert np.allclose(before[0], after[0], atol=1e-6) and np.allclose(before[1], after[1], atol=1e-5)
    assert again.scaler.mean == m.scaler.mean and again.config == m.config


def test_load_refuses_what_is_not_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved Lifecycle Studio model"):
        LifecycleModel.load(tmp_path)


def test_model_config_is_validated():
    with pytest.raises(ValueError, match="max_length"):
        ModelConfig(max_length=2)


@pytest.mark.slow
def test_packaged_minilm_loads_offline_and_scores(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = ModelConfig(feature_names=("a", "b"))
    m = LifecycleModel.create(cfg, FeatureScaler.fit(np.zeros((4, 2))))
    assert m.config.base_model == str(default_encoder_path())
    assert m.net.encoder.config.hidden_size == 384
    proba = m.predict_proba(["Nordic ceramic mug, just arrived", "北欧风马克杯"], np.zeros((2, 2)))
    assert proba.shape == (2, 4) and np.allclose(proba.sum(axis=1), 1)
