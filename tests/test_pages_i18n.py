"""Every page, in English and in Chinese, on a workspace with data and a scored model: no exception and
no raw message key anywhere on the page (titles, text, widget labels, metrics, tabs)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from transformers import AutoTokenizer

from lifecycle_core.demo import write_demo
from lifecycle_core.ingest import ingest
from lifecycle_core.model import default_encoder_path
from lifecycle_core.predict import predict_and_store
from lifecycle_core.readers import SourceFile
from lifecycle_core.store import Workspace
from lifecycle_core.train import TrainConfig, train
from ui.i18n import MESSAGES

from .conftest import ROOT, tiny_bert

PAGES = ["data", "train", "predictions", "explain", "quality", "behaviour", "actions", "anomalies", "welcome"]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    root = tmp_path_factory.mktemp("i18n")
    ws = Workspace(root / "ws")
    ingest(ws, "demo", [SourceFile.from_path(p) for p in write_demo(root / "files", 24, 40, seed=4)])
    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    cfg = TrainConfig(max_steps=2, batch_size=16, max_length=32, head_warmup_epochs=3)
    train(ws, "demo", cfg, output_dir=ws.root / "models" / "m", encoder=tiny_bert(tok.vocab_size), tokenizer=tok)
    predict_and_store(ws, "m", "demo")
    return ws


def shown(at: AppTest) -> str:
    """Every piece of text a user can read on the page."""
    parts = []
    for kind in ("title", "header", "subheader", "caption", "info", "success", "error", "warning", "markdown"):
        parts += [str(e.value) for e in getattr(at, kind)]
    for kind in ("button", "selectbox", "multiselect", "slider", "text_input", "number_input", "radio", "checkbox"):
        parts += [str(getattr(e, "label", "")) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [t.label for t in at.tabs]
    return "\n".join(parts)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_page_renders_without_raw_keys(scored, monkeypatch, lang):
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(scored.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.radio(key="lang").set_value(lang).run()
    keys = [k for k in MESSAGES["en"] if "." in k]
    for page in PAGES:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, f"{page}: {at.exception}"
        text = shown(at)
        assert at.title and at.title[0].value == MESSAGES[lang][f"{page}.title"], page
        leaked = [k for k in keys if k in text]
        assert not leaked, f"{page} shows raw keys {leaked}"
