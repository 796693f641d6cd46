"""The built-in stage estimate: predicting only the rows asked for gives those rows' values, and on
large catalogs the model learns from a fixed random sample of the labels."""

from __future__ import annotations

import numpy as np
import pytest

from lifecycle_core.decisions import stage_matrix
from lifecycle_core.features import build_examples
from lifecycle_core.labeling import LabelRules
from lifecycle_core.stage_now import current_stages, stage_probabilities

from .conftest import demo_workspace


@pytest.fixture(scope="module")
def ex(tmp_path_factory):
    ws = demo_workspace(tmp_path_factory.mktemp("stage_now"), 24, 50, seed=5)
    e = build_examples(ws, "demo", LabelRules(), with_text=False)
    return ws, e, stage_probabilities(e)  # every labeled row learned from, every row predicted


def test_rows_asked_for_get_the_same_values_as_predicting_every_row(ex):
    ws, e, every = ex
    f = e.frame
    latest = f.groupby("product_id")["t"].transform("max").to_numpy() == f["t"].to_numpy()
    np.testing.assert_allclose(stage_probabilities(e, where=latest), every[latest])
    assert stage_probabilities(e, where=np.zeros(len(f), dtype=bool)).shape == (0, 4)
    now = current_stages(ws, "demo", examples=e)
    assert len(now) == f["product_id"].nunique()
    np.testing.assert_allclose(now[["p_introduction", "p_growth", "p_maturity", "p_decline"]].to_numpy(), every[latest])
    # stage_matrix: rule labels where there are some, the estimate's stage on the unlabeled rows.
    S = stage_matrix(e)
    rows, cols, y = f["row"].to_numpy(), f["t"].to_numpy(), f["stage"].to_numpy()
    assert (S[rows[y >= 0], cols[y >= 0]] == y[y >= 0]).all()
    assert (S[rows[y < 0], cols[y < 0]] == every[y < 0].argmax(1)).all()


def test_beyond_max_train_labels_a_fixed_sample_is_learned_from(ex):
    _, e, every = ex
    n_labeled = int((e.frame["stage"] >= 0).sum())
    assert n_labeled > 300
    a = stage_probabilities(e, max_train=300)
    np.testing.assert_array_equal(a, stage_probabilities(e, max_train=300))  # same seed, same sample
    assert not np.allclose(a, every)  # a sample, not every label
    assert not np.allclose(a, stage_probabilities(e, max_train=300, seed=1))
    np.testing.assert_array_equal(stage_probabilities(e, max_train=n_labeled), every)
    assert (a.argmax(1) == every.argmax(1)).mean() > 0.7
