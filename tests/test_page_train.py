"""AppTest of the Train and Predictions pages: a real background job with a tiny base model, stored scores."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest
from transformers import AutoTokenizer

from lifecycle_core import jobs
from lifecycle_core.demo import write_demo
from lifecycle_core.ingest import ingest
from lifecycle_core.model import LifecycleModel, default_encoder_path
from lifecycle_core.predict import load_predictions
from lifecycle_core.readers import SourceFile
from lifecycle_core.store import Workspace

from .conftest import ROOT, tiny_bert


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainpage")
    ws = Workspace(root / "ws")
    ingest(ws, "demo", [SourceFile.from_path(p) for p in write_demo(root / "files", 30, 40, seed=5)])
    base = root / "tiny"
    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    tiny_bert(tok.vocab_size).save_pretrained(base)
    tok.save_pretrained(base)
    return ws, str(base)


def _app(ws, monkeypatch) -> AppTest:
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(ws.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    return at


def test_predictions_page_without_a_model_points_to_train(setup, monkeypatch):
    ws, _ = setup
    if any(jobs.list_jobs(ws)):
        pytest.skip("a model exists already")
    at = _app(ws, monkeypatch)
    at.switch_page("pages/predictions.py").run()
    assert not at.exception
    assert any("No trained model" in i.value for i in at.info)


def test_train_page_starts_a_job_and_predictions_show_its_scores(setup, monkeypatch):
    ws, base = setup
    at = _app(ws, monkeypatch)
    at.switch_page("pages/train.py").run()
    assert not at.exception and at.title[0].value == "Train a stage model"
    assert at.text_input[0].value == "demo-1"  # a fresh model name is proposed
    at.text_input[1].set_value(base)
    at.number_input[0].set_value(0.5)  # epochs
    at.number_input[3].set_value(32)  # max length
    assert at.checkbox(key="train_segments").value is True  # segment-wise text by default
    assert at.selectbox(key="train_kind.en").value == "stacked"  # the stacked model by default
    at.selectbox(key="train_kind.en").set_value("neural")
    at.checkbox(key="train_segments").uncheck()
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert any("Job 1" in s.value for s in at.success)
    assert jobs.get_job(ws, 1).config["text_segments"] is False  # the form's choices reach the job
    assert jobs.get_job(ws, 1).config["model_kind"] == "neural"
    end = time.time() + 240
    while (job := jobs.get_job(ws, 1)).state in jobs.ACTIVE and time.time() < end:
        time.sleep(0.5)
        jobs.refresh(ws)
    assert job.state == jobs.SUCCEEDED, jobs.log_tail(ws, 1)
    assert LifecycleModel.load(jobs.model_folder(ws, "demo-1") / "model").config.text_segments is False
    stored = load_predictions(ws, "demo-1", "demo")  # the worker scored the dataset
    assert stored is not None and stored["product_id"].nunique() == 30
    at.run()
    assert not at.exception
    history = at.dataframe[0].value
    assert list(history["Model"]) == ["demo-1"] and list(history["State"]) == ["succeeded"]

    at.switch_page("pages/predictions.py").run()
    assert not at.exception and at.title[0].value == "Predictions"
    assert len(at.get("plotly_chart")) >= 4  # distribution, by category, over time, migration matrix
    table = at.dataframe[0].value
    active_now = (stored["period"] == stored["period"].max()).sum()
    assert len(table) == active_now and {"Product", "Stage", "Confidence"} <= set(table.columns)
    assert len(at.get("download_button")) == 2
    at.text_input(key="pred_search").set_value(table["Product"].iloc[0]).run()
    assert len(at.dataframe[0].value) == 1

    at.radio(key="lang").set_value("zh").run()
    assert not at.exception and at.title[0].value == "预测结果"


def test_train_page_rejects_a_bad_name_without_starting_anything(setup, monkeypatch):
    ws, _ = setup
    before = len(jobs.list_jobs(ws))
    at = _app(ws, monkeypatch)
    at.switch_page("pages/train.py").run()
    at.text_input[0].set_value("../../etc")
    at.button[0].click().run()
    assert not at.exception
    assert any("not valid" in e.value for e in at.error)
    assert len(jobs.list_jobs(ws)) == before


def test_explain_page_and_what_if_edits_leave_stored_data_alone(setup, monkeypatch):
    from .conftest import snapshot

    ws, _ = setup
    if not (ws.root / "models" / "demo-1" / "model").exists():
        pytest.skip("needs the model trained by the Train page test")
    before = snapshot(ws)
    at = _app(ws, monkeypatch)
    at.switch_page("pages/explain.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Explain & what-if"
    assert any("Predicted" in m.value for m in at.markdown)
    assert len(at.get("html")) >= 1 and len(at.get("plotly_chart")) >= 3
    text = at.text_area[0].value
    at.text_area[0].set_value(text + " Reviews: <script>alert(1)</script> outdated, cheaper elsewhere.")
    at.number_input[1].set_value(0.0)  # recent units
    at.button[0].click().run()  # Apply
    assert not at.exception, at.exception
    assert any("Edited" in m.value for m in at.markdown)
    assert any("Suggestion" in m.value for m in at.markdown)
    html = "".join(h.proto.body for h in at.get("html"))
    assert "<script>" not in html and "&lt;" in html
    assert snapshot(ws) == before  # what-if never writes
    at.button[1].click().run()  # Reset
    assert not at.exception and at.text_area[0].value == text
    at.radio(key="lang").set_value("zh").run()
    assert not at.exception and at.title[0].value == "解释与假设分析"
    shown = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "预测为" in shown and "explain." not in shown


def test_model_quality_page_metrics_charts_and_influence(setup, monkeypatch):
    from lifecycle_core.quality import load_influence, quality_report

    ws, _ = setup
    if not (ws.root / "models" / "demo-1" / "model").exists():
        pytest.skip("needs the model trained by the Train page test")
    at = _app(ws, monkeypatch)
    at.switch_page("pages/quality.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Model quality"
    report = quality_report(ws, "demo", "demo-1")
    shown = {m.label: m.value for m in at.metric}
    assert shown["Macro-F1"] == f"{report['metrics']['macro_f1']:.3f}"
    assert len(at.get("plotly_chart")) == 4  # confusion, F1 per stage, calibration, comparison
    table = at.dataframe[0].value
    assert set(table["Name"]) >= {"demo-1", "gbm", "rules", "majority"}
    assert any("Not computed yet" in i.value for i in at.info)
    at.slider(key="influence_n").set_value(2)
    at.button(key="influence_go").click().run()
    assert not at.exception, at.exception
    assert load_influence(ws, "demo-1", "demo") is not None
    assert len(at.get("plotly_chart")) > 4  # per-stage features (and words where the text counts)
    at.radio(key="lang").set_value("zh").run()
    assert not at.exception and at.title[0].value == "模型质量"
