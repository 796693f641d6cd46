"""Temperature scaling: fitted on validation rows, keeps the argmax, lowers the ECE of an overconfident
model, saved with the model and applied by every scoring path."""

from __future__ import annotations

import numpy as np

from lifecycle_core.calibration import apply_temperature, fit_temperature
from lifecycle_core.evaluate import classification_metrics


def _overconfident(n=4000, seed=0):
    """Probabilities that put 0.97 on the argmax while it is right only 70 % of the time."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    pred = np.where(rng.random(n) < 0.7, y, rng.integers(0, 4, n))
    proba = np.full((n, 4), 0.01)
    proba[np.arange(n), pred] = 0.97
    return proba, y


def test_an_overconfident_model_is_softened_and_keeps_its_argmax():
    proba, y = _overconfident()
    t = fit_temperature(proba, y)
    assert t > 1.5
    cal = apply_temperature(proba, t)
    assert np.allclose(cal.sum(axis=1), 1) and (cal.argmax(1) == proba.argmax(1)).all()
    before, after = classification_metrics(y, proba), classification_metrics(y, cal)
    assert before["macro_f1"] == after["macro_f1"]
    assert after["ece"] < 0.03 < before["ece"]


def test_a_calibrated_model_stays_at_one_and_no_rows_mean_one():
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(4), 5000)
    y = np.array([rng.choice(4, p=p) for p in proba])  # labels drawn from the probabilities themselves
    assert abs(fit_temperature(proba, y) - 1.0) < 0.1
    assert fit_temperature(np.zeros((0, 4)), np.zeros(0)) == 1.0
    assert apply_temperature(proba, 1.0) is proba


def test_the_temperature_is_saved_and_applied_when_scoring(tmp_path):
    from transformers import AutoTokenizer

    from lifecycle_core.features import FEATURES
    from lifecycle_core.model import FeatureScaler, LifecycleModel, ModelConfig, default_encoder_path

    from .conftest import reading_text, tiny_bert

    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    X = np.random.default_rng(0).normal(size=(6, len(FEATURES)))
    model = LifecycleModel.create(
        ModelConfig(feature_names=FEATURES, max_length=16),
        FeatureScaler.fit(X),
        encoder=tiny_bert(tok.vocab_size),
        tokenizer=tok,
    )
    reading_text(model, std=2.0)
    texts = ["oak shelf", "new launch", "clearance sale", "oak shelf", "wool throw", "mug"]
    plain = model.predict_proba(texts, X)
    model.temperature = 3.0
    soft = model.predict_proba(texts, X)
    assert (soft.argmax(1) == plain.argmax(1)).all() and soft.max(1).mean() < plain.max(1).mean()
    np.testing.assert_allclose(soft, apply_temperature(plain, 3.0), atol=1e-5)
    loaded = LifecycleModel.load(model.save(tmp_path / "m"))
    assert loaded.temperature == 3.0
    np.testing.assert_allclose(loaded.predict_proba(texts, X), soft, atol=1e-6)
    assert loaded.quantized().temperature == 3.0


def test_training_fits_the_temperature_on_validation_rows(tmp_path):
    from lifecycle_core.model import LifecycleModel

    from .conftest import demo_workspace, train_tiny_and_score

    ws = demo_workspace(tmp_path, 20, 40, seed=2)
    train_tiny_and_score(ws, "m")
    model = LifecycleModel.load(ws.root / "models" / "m" / "model")
    val = model.metrics["validation"]
    assert model.temperature == val["temperature"] or abs(model.temperature - val["temperature"]) < 1e-4
    assert val["ece"] <= val["ece_uncalibrated"] + 1e-9  # fitted on these rows: never worse there
