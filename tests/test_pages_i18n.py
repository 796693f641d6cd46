"""Every page, in English and in Chinese, on a workspace with data and a scored model: no exception and
no raw message key anywhere on the page (titles, text, widget labels, metrics, tabs)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ui.i18n import MESSAGES

from .conftest import ROOT, demo_workspace, train_tiny_and_score

PAGES = ["data", "train", "predictions", "explain", "quality", "behaviour", "actions", "anomalies", "welcome"]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    ws = demo_workspace(tmp_path_factory.mktemp("i18n"), 24, 40, seed=4)
    train_tiny_and_score(ws, "m")
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
