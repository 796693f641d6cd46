"""Explanations: additivity, planted words and features found, cache, safe HTML, the stored data untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from lifecycle_core.explain import CACHE, MIN_SHARE, explain_inputs, feature_label, highlight_html
from lifecycle_core.model import FeatureScaler, LifecycleModel, ModelConfig, default_encoder_path

from .conftest import tiny_bert

WORDS = ["zebra", "kettle", "violin", "lantern"]


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(default_encoder_path())


def make(tokenizer, seed=0):
    enc = tiny_bert(tokenizer.vocab_size, seed=seed)
    cfg = ModelConfig(feature_names=("f0", "f1", "f2"), max_length=32, mlp_hidden=32, dropout=0.0, text_dropout=0.0)
    X = np.random.default_rng(0).normal(size=(200, 3))
    return LifecycleModel.create(cfg, FeatureScaler.fit(X), encoder=enc, tokenizer=tokenizer)


def fit(model, texts, X, y, steps=150):
    opt = torch.optim.AdamW(model.net.parameters(), lr=3e-3)
    model.net.train()
    for _ in range(steps):
        opt.zero_grad()
        model.loss(texts, X, y, np.full(len(y), np.nan)).backward()
        opt.step()
    model.net.eval()
    return model


@pytest.fixture(scope="module")
def word_model(tokenizer):
    """The stage is decided by one planted word; the features are noise."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 160)
    texts = [f"plain item number {i % 7} {WORDS[s]} in stock" for i, s in enumerate(y)]
    X = rng.normal(size=(160, 3))
    return fit(make(tokenizer), texts, X, y)


@pytest.fixture(scope="module")
def feature_model(tokenizer):
    """The stage is decided by feature f1 (its sign); the text is the same everywhere."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 3))
    y = np.where(X[:, 1] > 0, 3, 1)
    return fit(make(tokenizer, seed=1), ["the same text for all"] * 200, X, y)


def test_parts_add_up_to_the_model_output(word_model):
    exp = explain_inputs(word_model, "plain item number 3 violin in stock", np.array([0.3, -1.0, 2.0]), cache=None)
    probs = word_model.predict_proba([exp.text], np.array([[0.3, -1.0, 2.0]]))[0]
    np.testing.assert_allclose(exp.probabilities, probs, atol=1e-5)
    np.testing.assert_allclose(exp.totals(), exp.probabilities, atol=1e-4)
    assert set(exp.tokens.columns) == {"token", "start", "end", "stage", "value"}
    for r in exp.tokens.itertuples():
        if r.end > r.start:
            assert exp.text[r.start : r.end] == r.token.strip()


def test_word_pieces_are_summed_into_whole_words(word_model):
    """A long or foreign word is several tokenizer pieces; the sentence and the word lists name the word
    with the pieces' total, and the total over words is still the text's share (additivity)."""
    text = "Nussknacker Räuchermännchen 马克杯, lantern-set"
    exp = explain_inputs(word_model, text, np.zeros(3), cache=None)
    assert len(exp.tokens[exp.tokens["stage"] == 3]) > 8  # the tokenizer cut the German words in pieces
    for s in range(4):
        w = exp.words(s)
        np.testing.assert_allclose(w["value"].sum(), exp.text_share(s), atol=1e-9)
        assert {"Nussknacker", "Räuchermännchen", "马克杯", "lantern", "set"} <= set(w["token"])
        assert all(text[a:b] == t for a, b, t in zip(w["start"], w["end"], w["token"], strict=True))
    top = exp.top_tokens(3, 10, words_only=True)["token"]
    assert "," not in set(top) and "-" not in set(top)


def test_words_of_scripts_without_spaces_are_runs_of_one_script(word_model):
    """Japanese had no word in the sentence: each character was a 'word' and one-letter words are left
    out. A run of one script is a word now (kanji 職人, katakana ステンレス, Hangul 텀블러), a long Han run
    (a clause) stays a character each; the headings the text builder writes ('Reviews:') are no words."""
    text = "ステンレスの土鍋 職人手作り. Reviews: 텀블러 좋아요 / 这是一款非常好用的不锈钢保温杯"
    exp = explain_inputs(word_model, text, np.zeros(3), cache=None)
    words = set(exp.words(3)["token"])
    assert {"ステンレス", "の", "土鍋", "職人手作", "り", "텀블러", "좋아요"} <= words
    assert "这是一款非常好用的不锈钢保温杯" not in words and {"这", "杯"} <= words  # 15 Han characters
    np.testing.assert_allclose(exp.words(3)["value"].sum(), exp.text_share(3), atol=1e-9)
    listed = set(exp.top_tokens(3, 100, words_only=True)["token"].str.strip())
    assert "Reviews" not in listed and {"土鍋", "这"} <= listed  # one Chinese character is a word


def test_the_planted_word_is_the_top_token(word_model):
    exp = explain_inputs(word_model, "plain item number 5 lantern in stock", np.zeros(3), cache=None)
    assert exp.stage == 3
    assert exp.top_tokens(3, 1)["token"].str.strip().iloc[0] == "lantern"
    assert abs(exp.text_share(3)) > abs(exp.features[exp.features["stage"] == 3]["value"]).sum()


def test_the_planted_feature_is_the_top_feature(feature_model):
    exp = explain_inputs(feature_model, "the same text for all", np.array([0.1, 1.5, -0.2]), cache=None)
    assert exp.stage == 3
    assert exp.top_features(3, 1)["feature"].iloc[0] == "f1"
    assert "f1" in exp.sentence("en") and "预测为" in exp.sentence("zh")


def test_a_cache_hit_returns_identical_values(word_model):
    CACHE.items.clear()
    a = explain_inputs(word_model, "plain item number 1 zebra in stock", np.zeros(3))
    b = explain_inputs(word_model, "plain item number 1 zebra in stock", np.zeros(3))
    assert a is b
    c = explain_inputs(word_model, "plain item number 1 kettle in stock", np.zeros(3))
    assert c is not a and not np.allclose(c.probabilities, a.probabilities)


def test_html_escapes_text_from_the_data(word_model):
    text = 'nice <script>alert("x")</script> & zebra'
    exp = explain_inputs(word_model, text, np.zeros(3), cache=None)
    out = highlight_html(exp, exp.stage)
    assert "<script" not in out and "</script" not in out and "&lt;" in out and "&amp;" in out


def test_feature_labels_in_both_languages():
    assert feature_label("ratio_to_max", "en") == "units relative to their peak"
    assert feature_label("lag_3", "zh") == "3 期前销量相对峰值"


def test_a_model_that_does_not_read_text_is_explained_without_the_encoder(tokenizer):
    """A text part switched off by training: no masked text is encoded, every word gets exactly 0, the
    parts still add up, and neither the sentence nor the page claims the words matter."""
    m = make(tokenizer, seed=3)
    assert not m.reads_text()
    calls = []
    m.net.encoder.register_forward_pre_hook(lambda *a: calls.append(1))
    exp = explain_inputs(m, "plain item number 2 kettle in stock", np.array([0.5, -0.2, 1.0]), cache=None)
    assert calls == [] and exp.evaluations == 0 and not exp.reads_text
    assert (exp.tokens["value"] == 0).all() and len(exp.tokens) > 0
    np.testing.assert_allclose(exp.totals(), exp.probabilities, atol=1e-4)
    assert not exp.text_matters(exp.stage) and "text mentions" not in exp.sentence("en")


def test_the_sentence_names_only_contributions_a_reader_would_notice(word_model):
    exp = explain_inputs(word_model, "plain item number 5 kettle in stock", np.zeros(3), cache=None)
    assert exp.stage == 1 and "kettle" in exp.sentence("en") and exp.text_matters(1)
    # The same explanation with every word a millionth as strong (a settled prediction): no word named.
    faint = explain_inputs(word_model, "plain item number 5 kettle in stock", np.zeros(3), cache=None)
    faint.tokens = faint.tokens.assign(value=faint.tokens["value"] * 1e-6)
    assert faint.tokens["value"].abs().max() < MIN_SHARE / 10
    assert "text mentions" not in faint.sentence("en") and "文本提到" not in faint.sentence("zh")
    assert not faint.text_matters(1)
    assert "rgba(46,160,67,0.00)" in highlight_html(faint, 1)  # noise stays uncoloured
