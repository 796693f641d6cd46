"""The store of text vectors a model has computed: exact reuse, only new texts encoded, never trusted
across weights or precisions, capped, and a broken file costs a re-encode, not a failure."""

from __future__ import annotations

import numpy as np
import pytest

from lifecycle_core import text_segments
from lifecycle_core.embedding_store import EmbeddingStore, text_keys, weights_digest
from lifecycle_core.features import build_examples
from lifecycle_core.labeling import LabelRules
from lifecycle_core.model import LifecycleModel
from lifecycle_core.predict import model_dir, predict_and_store, score_dataset

from .conftest import demo_workspace, reading_text, train_tiny_and_score


def test_round_trip_keeps_the_newest_and_skips_known_keys(tmp_path):
    store = EmbeddingStore(tmp_path / "e" / "v.npy", max_items=5)
    v = np.arange(24, dtype=np.float32).reshape(6, 4)
    store.add(text_keys(["a", "b", "c"]), v[:3])
    found, got = EmbeddingStore(store.path).lookup(text_keys(["c", "x", "a"]), 4)
    assert found.tolist() == [True, False, True]
    np.testing.assert_array_equal(got, v[[2, 0]])
    # "a" is known: its first vector stays and it counts as recent; 6 keys > 5: "b", the oldest, goes.
    store.add(text_keys(["a", "d", "e", "f"]), v[[5, 3, 4, 5]])
    again = EmbeddingStore(store.path, max_items=5)
    assert len(again) == 5
    found, got = again.lookup(text_keys(["a", "f", "b", "c"]), 4)
    assert found.tolist() == [True, True, False, True]
    np.testing.assert_array_equal(got, v[[0, 5, 2]])
    assert not again.lookup(text_keys(["a"]), 8)[0].any()  # another hidden size: nothing matches


@pytest.mark.parametrize("junk", [b"", b"not numpy at all", b"\x93NUMPY\x01\x00garbage"])
def test_an_unreadable_file_is_ignored_and_replaced(tmp_path, junk):
    path = tmp_path / "v.npy"
    path.write_bytes(junk)
    store = EmbeddingStore(path)
    assert len(store) == 0 and not store.lookup(text_keys(["a"]), 4)[0].any()
    store.add(text_keys(["a"]), np.ones((1, 4)))
    assert EmbeddingStore(path).lookup(text_keys(["a"]), 4)[0].all()


def test_a_store_that_cannot_be_written_warns_and_scoring_goes_on(tmp_path):
    blocker = tmp_path / "embeddings"
    blocker.write_text("a file where the store's folder should be")
    store = EmbeddingStore(blocker / "v.npy")
    with pytest.warns(UserWarning, match="not kept"):
        store.add(text_keys(["a"]), np.ones((1, 4)))
    assert len(store) == 0 and blocker.read_text().startswith("a file")


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    ws = demo_workspace(tmp_path_factory.mktemp("store"), 12, 40, seed=4)
    train_tiny_and_score(ws, "a")
    return ws


def _reading(ws):
    """The trained tiny model, made to read the text (a tiny model's text part may have been switched
    off), saved back so its weights digest is its own."""
    folder = model_dir(ws, "a")
    m = reading_text(LifecycleModel.load(folder))
    m.save(folder)
    return folder, LifecycleModel.load(folder)


def test_scoring_again_encodes_only_new_texts_with_the_same_results(scored):
    folder, m = _reading(scored)
    encoded = []
    orig = m.net.encode
    m.net.encode = lambda ids, mask: encoded.append(ids.shape[0]) or orig(ids, mask)
    store = EmbeddingStore.for_model(folder)
    cold = score_dataset(scored, "demo", m, store=store)
    texts = build_examples(scored, "demo", LabelRules(**m.training["labels"])).texts
    n_texts = len(set(texts.tolist()))  # two periods can assemble the same string
    # A segment-wise model (how training makes them) encodes each distinct segment of the texts once.
    assert m.config.text_segments and sum(encoded) == len(text_segments.plan(texts.tolist())[0]) < len(texts)
    assert len(EmbeddingStore.for_model(folder)) == n_texts
    encoded.clear()
    warm = score_dataset(scored, "demo", m, store=EmbeddingStore.for_model(folder))
    assert encoded == []
    plain = score_dataset(scored, "demo", m)
    cols = ["p_introduction", "p_growth", "p_maturity", "p_decline", "next_demand"]
    np.testing.assert_allclose(warm[cols].to_numpy(), cold[cols].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(warm[cols].to_numpy(), plain[cols].to_numpy(), atol=1e-5)

    # Another weight, or int8: another variant, nothing shared.
    assert EmbeddingStore.for_model(folder, int8=True).path != store.path
    before = weights_digest(folder)
    reading_text(m, std=0.4)
    m.save(folder)
    assert weights_digest(folder) != before and len(EmbeddingStore.for_model(folder)) == 0


def test_a_new_version_of_the_data_encodes_only_its_new_texts(scored, monkeypatch):
    """The weekly refresh: the same catalog again with one more review; predict_and_store (the Predictions
    page's "Score now" and the CLI) encodes exactly the texts that review changed."""
    import pandas as pd

    from lifecycle_core.ingest import ingest
    from lifecycle_core.readers import SourceFile

    _reading(scored)
    predict_and_store(scored, "a", "demo")
    files = scored.root.parent / "files"
    reviews = pd.read_csv(files / "reviews.csv")
    sales = pd.read_csv(files / "sales.csv")
    product, day = sales["product_id"].iloc[-1], sales["date"].max()
    extra = pd.DataFrame([{"product_id": product, "date": day, "rating": 1, "review": "Arrived broken, sent it back"}])
    new = scored.root.parent / "files2"
    new.mkdir()
    for p in files.glob("*.csv"):
        (new / p.name).write_bytes(p.read_bytes())
    pd.concat([reviews, extra]).to_csv(new / "reviews.csv", index=False)
    ingest(scored, "demo2", [SourceFile.from_path(p) for p in sorted(new.glob("*.csv"))])

    old = set(build_examples(scored, "demo", LabelRules()).texts.tolist())
    changed = set(build_examples(scored, "demo2", LabelRules()).texts.tolist()) - old
    assert 1 <= len(changed) <= 3 and all("Arrived broken" in t for t in changed)
    encoded = []
    embed = LifecycleModel.embed
    monkeypatch.setattr(
        LifecycleModel, "embed", lambda self, texts, **kw: encoded.extend(texts) or embed(self, texts, **kw)
    )
    predict_and_store(scored, "a", "demo2")
    assert set(encoded) == changed
