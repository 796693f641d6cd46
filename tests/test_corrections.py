"""Stage labels set by users: stored with who and when, applied from a period on, used by training and the
label report, undone; set and undone on the Explain page and from the command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lifecycle_core import cli
from lifecycle_core.features import build_examples
from lifecycle_core.ingest import ingest
from lifecycle_core.labeling import LabelRules, Labels, apply_user_labels, label_panel
from lifecycle_core.readers import SourceFile
from lifecycle_core.stages import Stage
from lifecycle_core.store import WorkspaceError

from .conftest import ROOT, demo_workspace, train_tiny_and_score
from .test_labeling import bass_curve, make_panel


@pytest.fixture
def demo(tmp_path):
    return demo_workspace(tmp_path, 12, 40, seed=1)


def test_labels_are_stored_with_author_and_time_and_can_be_undone(demo):
    ws = demo
    pid = ws.load_table("demo", "products")["product_id"].iloc[0]
    first = ws.add_stage_label("demo", pid, 3, "2023-06-07", author="ana\u202e\n")
    second = ws.add_stage_label("demo", pid, 2, "2023-08-01", author="")
    got = ws.stage_labels("demo")
    assert got["id"].tolist() == [first, second] and got["stage"].tolist() == [3, 2]
    assert got["author"].tolist() == ["ana", "unknown"]  # control and bidi characters are dropped
    assert got["period"].iloc[0] == pd.Timestamp("2023-06-07") and got["created_at"].iloc[0].startswith("20")
    ws.undo_stage_label(first, author="bo")
    assert ws.stage_labels("demo")["id"].tolist() == [second]
    history = ws.stage_labels("demo", include_undone=True)
    assert history.loc[history["id"] == first, "undone_by"].item() == "bo"
    with pytest.raises(WorkspaceError, match="no active stage label"):
        ws.undo_stage_label(first, author="bo")
    with pytest.raises(WorkspaceError, match="has no product"):
        ws.add_stage_label("demo", "NOPE", 1, "2023-06-07", author="ana")
    with pytest.raises(WorkspaceError, match="stage must be 0-3"):
        ws.add_stage_label("demo", pid, 7, "2023-06-07", author="ana")
    with pytest.raises(WorkspaceError, match="no dataset named"):
        ws.add_stage_label("other", pid, 1, "2023-06-07", author="ana")


def test_labels_outlive_a_replacing_ingest_and_go_with_the_dataset(demo, tmp_path):
    ws = demo
    pid = ws.load_table("demo", "products")["product_id"].iloc[0]
    ws.add_stage_label("demo", pid, 1, "2023-03-06", author="ana")
    files = sorted((tmp_path / "files").iterdir())
    ingest(ws, "demo", [SourceFile.from_path(p) for p in files], replace=True)
    assert len(ws.stage_labels("demo")) == 1  # the next export of the same shop keeps its corrections
    ws.delete_dataset("demo")
    assert ws.stage_labels("demo").empty


def test_a_user_label_holds_from_its_period_until_the_next_one():
    panel = make_panel({"a": bass_curve(), "b": bass_curve(launch=20)})
    base = label_panel(panel, LabelRules())
    p = panel.periods
    table = pd.DataFrame(
        {"product_id": ["a", "a", "zz"], "period": [p[30] + pd.Timedelta(days=2), p[60], p[10]], "stage": [3, 1, 0]}
    )
    got = apply_user_labels(base, table)
    assert isinstance(got, Labels)
    a = got.stage[0]
    assert (a[30:60][base.active[0][30:60]] == 3).all() and (a[60:][got.active[0][60:]] == 1).all()
    assert (a[:30] == base.stage[0][:30]).all()
    assert (got.source[0][30:][got.active[0][30:]] == "user").all()
    assert (got.stage[1] == base.stage[1]).all()  # other products (and unknown ids) change nothing
    assert not (got.stage[0][~base.active[0]] >= 0).any()  # never labels an inactive period


def test_training_examples_and_the_label_report_use_them(demo, capsys):
    ws = demo
    ex = build_examples(ws, "demo", with_text=False)
    f = ex.frame
    row = f[f["stage"] >= 0].iloc[len(f) // 3]
    other = int((int(row["stage"]) + 1) % 4)
    when = str(pd.Timestamp(row["period"]).date())
    ws.add_stage_label("demo", row["product_id"], other, when, author="ana")
    again = build_examples(ws, "demo", with_text=False).frame
    mine = again[(again["product_id"] == row["product_id"]) & (again["period"] >= row["period"])]
    assert (mine["stage"] == other).all() and (mine["label_source"] == "user").all()
    assert cli.main(["label", "--workspace", str(ws.root), "--dataset", "demo", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["user_labels"] == len(mine)


def test_correct_command_sets_lists_and_undoes(demo, capsys):
    ws = demo
    pid = ws.load_table("demo", "products")["product_id"].iloc[2]
    d = ["--workspace", str(ws.root), "--dataset", "demo"]
    assert cli.main(["correct", *d, "--product", pid, "--stage", "衰退期", "--from", "2023-05-01", "--by", "ana"]) == 0
    assert "is Decline from 2023-05-01 (by ana)" in capsys.readouterr().out
    assert cli.main(["correct", *d, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["product_id"] == pid and rows[0]["stage"] == int(Stage.DECLINE)
    assert cli.main(["correct", *d, "--undo", str(rows[0]["id"])]) == 0
    assert cli.main(["correct", *d]) == 0
    assert "no stage labels" in capsys.readouterr().out
    assert cli.main(["correct", *d, "--product", pid, "--stage", "soon"]) == 2
    assert "needs --stage" in capsys.readouterr().err


@pytest.mark.slow
def test_explain_page_stores_a_correction_undoes_it_and_opens_a_similar_product(tmp_path, monkeypatch):
    ws = demo_workspace(tmp_path, 16, 40, seed=3)
    train_tiny_and_score(ws, "m")
    monkeypatch.setenv("LIFECYCLE_WORKSPACE", str(ws.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("pages/explain.py").run()
    assert not at.exception, at.exception
    form = next(e for e in at.selectbox if e.label == "Stage")
    form.set_value(int(Stage.DECLINE))
    next(e for e in at.text_input if e.label == "Your name").set_value("ana")
    next(b for b in at.button if b.label == "Save as a label").click().run()
    assert not at.exception, at.exception
    stored = ws.stage_labels("demo")
    assert len(stored) == 1 and stored["stage"].item() == int(Stage.DECLINE) and stored["author"].item() == "ana"
    assert any("Stored as a label: Decline" in s.value for s in at.success)
    undo = next(b for b in at.button if b.label == f"Undo label {stored['id'].item()}")
    undo.click().run()
    assert not at.exception and ws.stage_labels("demo").empty
    np.testing.assert_equal(len(ws.stage_labels("demo", include_undone=True)), 1)
    # Products like this one: a table of analogs; "Open #1" shows the first of them.
    assert any("Products like this one" in h.value for h in at.subheader)
    assert any("Text similarity" in list(d.value.columns) for d in at.dataframe)
    before = at.selectbox(key="explain_product").value
    next(b for b in at.button if b.label == "Open #1").click().run()
    assert not at.exception, at.exception
    after = at.selectbox(key="explain_product").value
    assert after != before
