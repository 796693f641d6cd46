"""Segment-wise text reading: the split, pooling equal to the segments' token-weighted means, each
distinct segment encoded once, the training path agreeing with scoring, old models loading as joint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from lifecycle_core import text_segments
from lifecycle_core.explain import explain_inputs
from lifecycle_core.model import FeatureScaler, LifecycleModel, ModelConfig, batch_texts, default_encoder_path

from .conftest import reading_text, tiny_bert

TEXTS = [
    "Red Mug. Category: Home. A sturdy mug. Reviews: great mug / handle broke. Searches: red mug, mug.",
    "Red Mug. Category: Home. A sturdy mug. Reviews: great mug.",
    "Red Mug. Category: Home. A sturdy mug. Reviews: cheaper elsewhere / great mug / handle broke.",
    "Blue Bowl. Category: Home.",
]


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(default_encoder_path())


def model(tokenizer, segments=True, seed=0):
    cfg = ModelConfig(
        feature_names=("f0", "f1"), max_length=32, mlp_hidden=16, dropout=0.0, text_dropout=0.0, text_segments=segments
    )
    enc = tiny_bert(tokenizer.vocab_size, seed=seed)
    return reading_text(
        LifecycleModel.create(cfg, FeatureScaler([0.0, 0.0], [1.0, 1.0]), encoder=enc, tokenizer=tokenizer)
    )


def test_split_at_review_and_search_markers():
    assert text_segments.split(TEXTS[0]) == [
        "Red Mug. Category: Home. A sturdy mug.",
        "Reviews: great mug",
        "handle broke.",
        "Searches: red mug, mug.",
    ]
    assert text_segments.split(TEXTS[3]) == [TEXTS[3]]
    # A masked marker joins its neighbours (the split is a function of the string, masks included).
    assert text_segments.split("Red Mug. [MASK]: great mug / ok.") == ["Red Mug. [MASK]: great mug", "ok."]
    # SHAP's Text masker drops the space after a masked token: the markers still split.
    assert text_segments.split("Red [MASK]Reviews: great [MASK]/ ok [MASK]Searches: mug") == [
        "Red [MASK]",
        "Reviews: great [MASK]",
        "ok [MASK]",
        "Searches: mug",
    ]
    assert text_segments.split("Rated 5/5 / GoodReviews: fine") == ["Rated 5/5", "GoodReviews: fine"]
    assert text_segments.split("") == [""] and text_segments.split("   ") == ["   "]
    segs, members = text_segments.plan(TEXTS[:2])
    assert len(segs) == 5 and members[1].tolist() == [0, 4]  # the catalog text is one segment of both


def test_a_text_vector_is_the_token_weighted_mean_of_its_segments(tokenizer):
    m = model(tokenizer)
    got = m.embed(TEXTS)
    for text, row in zip(TEXTS, got, strict=True):
        vecs, lengths = m._embed_sequences(text_segments.split(text), 8)  # each segment alone
        want = (vecs * torch.tensor(lengths, dtype=torch.float32)[:, None]).sum(0) / lengths.sum()
        torch.testing.assert_close(row, want, atol=1e-6, rtol=1e-5)
    joint = model(tokenizer, segments=False).embed(TEXTS)
    assert not torch.allclose(joint[0], got[0], atol=1e-3)  # segments do not attend to each other


def test_each_distinct_segment_is_encoded_once_and_a_cache_carries_them(tokenizer):
    m = model(tokenizer)
    rows = []
    m.net.encoder.register_forward_pre_hook(
        lambda mod, args, kw: rows.append(kw["input_ids"].shape[0]), with_kwargs=True
    )
    first = m.embed(TEXTS)
    distinct = len(text_segments.plan(TEXTS)[0])
    assert sum(rows) == distinct == 8  # 13 segments in the four texts, 8 distinct
    cache: dict = {}
    m.embed(TEXTS[:2], segment_cache=cache)
    rows.clear()
    again = m.embed(TEXTS, segment_cache=cache)
    assert sum(rows) == distinct - 5  # the first two texts' segments came from the cache
    torch.testing.assert_close(again, first, atol=1e-6, rtol=1e-5)


def test_the_training_path_pools_like_scoring(tokenizer, monkeypatch):
    """The training forward (segments padded together, trimmed chunk by chunk) gives the probabilities
    scoring gives (each distinct segment encoded alone)."""
    monkeypatch.setattr("lifecycle_core.model.SEGMENT_CHUNK", 3)  # several chunks of 8 segments
    m = model(tokenizer)
    X = np.random.default_rng(0).normal(size=(len(TEXTS), 2))
    enc, _ = batch_texts(TEXTS, tokenizer, 32, segments=True)
    assert enc["segment_combine"].shape == (4, 8) and torch.allclose(enc["segment_combine"].sum(1), torch.ones(4))
    m.net.eval()
    with torch.no_grad():
        logits, _ = m._forward(TEXTS, X)
    np.testing.assert_allclose(torch.softmax(logits, -1).numpy(), m.predict_proba(TEXTS, X), atol=1e-5)


def test_models_saved_before_segments_load_as_joint(tokenizer, tmp_path):
    m = model(tokenizer, segments=False)
    X = np.zeros((len(TEXTS), 2))
    before = m.predict_proba(TEXTS, X)
    out = m.save(tmp_path / "old")
    meta = json.loads((out / "config.json").read_text(encoding="utf-8"))
    del meta["model"]["text_segments"]  # a config written before the field existed
    (out / "config.json").write_text(json.dumps(meta), encoding="utf-8")
    old = LifecycleModel.load(out)
    assert old.config.text_segments is False
    np.testing.assert_allclose(old.predict_proba(TEXTS, X), before, atol=1e-6)
    seg = model(tokenizer)
    again = LifecycleModel.load(seg.save(tmp_path / "new"))
    assert again.config.text_segments is True
    np.testing.assert_allclose(again.predict_proba(TEXTS, X), seg.predict_proba(TEXTS, X), atol=1e-6)


def test_explanations_of_a_segment_model_add_up_and_reuse_segments(tokenizer):
    m = model(tokenizer)
    x = np.array([0.3, -1.0])
    rows = []
    hook = m.net.encoder.register_forward_pre_hook(
        lambda mod, args, kw: rows.append(kw["input_ids"].shape[0]), with_kwargs=True
    )
    exp = explain_inputs(m, TEXTS[0], x, budget=64, feature_budget=200, cache=None)
    hook.remove()
    np.testing.assert_allclose(exp.totals(), exp.probabilities, atol=1e-5)
    np.testing.assert_allclose(exp.probabilities, m.predict_proba([TEXTS[0]], x[None, :])[0], atol=1e-5)
    # Each masked copy has 4 segments; most are left whole by a mask and come from the segment cache.
    assert exp.evaluations > 8 and sum(rows) < 0.7 * 4 * exp.evaluations
