"""Both rule families on hand-made curves with known answers, the unlabeled mask, overrides, the report."""

import numpy as np
import pandas as pd
import pytest

from lifecycle_core.demo import bass_rate
from lifecycle_core.labeling import (
    UNLABELED,
    LabelRules,
    apply_overrides,
    bass_turning_points,
    cohen_kappa,
    fit_bass,
    label_panel,
    label_report,
)
from lifecycle_core.panel import Panel
from lifecycle_core.stages import Stage

I, G, M, D = (int(s) for s in Stage)  # noqa: E741 - the stage initials read best here


def make_panel(curves: dict[str, np.ndarray]) -> Panel:
    T = len(next(iter(curves.values())))
    units = np.vstack([np.asarray(c, dtype=float) for c in curves.values()])
    return Panel(
        pd.Index(list(curves), dtype="str"),
        pd.date_range("2023-01-02", periods=T, freq="W-MON"),
        "W",
        {"units": units},
        {"units": units > 0},
    )


def bass_curve(T=120, launch=5, p=0.004, q=0.15, m=6000.0):
    t = np.arange(T, dtype=float) - launch
    return bass_rate(t, np.array(p), np.array(q), np.array(m))


def labels_of(curve, **kw):
    lab = label_panel(make_panel({"x": curve}), LabelRules(**kw))
    return lab.stage[0], lab


def test_clean_bass_curve_goes_through_the_stages_in_order():
    stage, _ = labels_of(bass_curve())
    seq = stage[stage >= 0]
    assert set(seq) == {I, G, M, D}
    assert (np.diff(seq) >= 0).all()  # never goes back
    # The level rule agrees with where the Bass turning points really are.
    t1, tp, t2 = (5 + x for x in bass_turning_points(0.004, 0.15))
    assert stage[int(t1) - 8] == I
    assert stage[int((t1 + tp) / 2)] == G
    assert stage[int(t2) + 15] == D


def test_flat_product_is_mature_throughout():
    rng = np.random.default_rng(0)
    stage, lab = labels_of(rng.poisson(40, 100).astype(float))
    seq = stage[stage >= 0]
    assert (seq == M).mean() > 0.95
    assert (lab.reason[0] == "intro_before_data").sum() == 0 or I not in seq


def test_seasonal_spike_does_not_start_a_decline():
    curve = np.full(100, 30.0)
    curve[50:52] = 200.0  # a two-week promotion or bulk order
    stage, _ = labels_of(curve)
    after = stage[55:90]
    assert (after == M).all()


def test_product_already_mature_when_data_starts_has_no_introduction():
    curve = bass_curve(launch=-40)  # launched 40 periods before the data
    stage, _ = labels_of(curve)
    assert I not in stage[stage >= 0]
    assert stage[0] != I
    assert {M, D} <= set(stage[stage >= 0])


def test_intro_of_a_product_selling_at_data_start_is_masked():
    curve = bass_curve(launch=-2)  # just launched before the data: its start looks like an introduction
    stage, lab = labels_of(curve)
    assert (lab.reason[0] == "intro_before_data").any()
    assert I not in stage[stage >= 0]


def test_product_still_growing_when_the_data_ends():
    curve = bass_curve(T=45, launch=10, p=0.003, q=0.08)  # the peak (period 50) comes after the data ends
    stage, lab = labels_of(curve)
    assert stage[-1] == UNLABELED and (lab.reason[0][-8:] == "tail").all()
    seq = stage[stage >= 0]
    assert seq[-1] in (I, G) and D not in seq


def test_low_volume_products_are_unlabeled():
    stage, lab = labels_of(np.r_[np.zeros(20), np.ones(30) * 2])  # 60 units in all
    assert (stage == UNLABELED).all()
    assert (lab.reason[0][lab.active[0]] != "").all()


def test_labels_look_at_most_h_periods_ahead():
    curve = bass_curve()
    base, _ = labels_of(curve)
    h = LabelRules().resolve(make_panel({"x": curve})).horizon
    t = 40
    changed = curve.copy()
    changed[t + h + 1 :] = 0  # the product vanishes right after the confirmation window
    again, _ = labels_of(changed)
    assert (again[: t + 1] == base[: t + 1]).all()


def test_bass_fit_recovers_parameters():
    y = bass_curve(T=150, launch=10, p=0.005, q=0.12, m=5000)
    (_m, p, q, t0), r2 = fit_bass(y, first=10)
    assert r2 > 0.99
    assert p == pytest.approx(0.005, rel=0.1) and q == pytest.approx(0.12, rel=0.1)
    assert t0 == pytest.approx(10, abs=1)


def test_bass_rule_on_a_clean_curve_matches_the_turning_points():
    T, launch = 150, 10
    stage, _ = labels_of(bass_curve(T=T, launch=launch, p=0.005, q=0.12), rule="bass")
    t1, tp, t2 = (launch + x for x in bass_turning_points(0.005, 0.12))
    for t, want in ((int(t1) - 2, I), (int(t1) + 2, G), (int(tp) + 2, M), (int(t2) + 3, D)):
        assert stage[t] == want, (t, stage[t], want)


def test_rules_agree_on_clean_curves():
    panel = make_panel({f"p{i}": bass_curve(launch=3 + 5 * i, q=0.1 + 0.02 * i) for i in range(5)})
    rep = label_report(panel)
    assert rep["agreement"]["cohen_kappa"] > 0.5
    assert rep["counts"]["Growth"] > 0 and rep["paths"][0]["path"].startswith("Introduction")


def test_user_labels_override_rules():
    panel = make_panel({"a": bass_curve(), "b": bass_curve(launch=20)})
    lab = label_panel(panel)
    ov = pd.DataFrame({"product_id": ["a", "b"], "stage": ["衰退期", "Growth"], "period": [pd.NaT, panel.periods[30]]})
    out = apply_overrides(lab, ov)
    last = np.flatnonzero(out.active[0])[-1]
    assert out.stage[0, last] == D and out.source[0, last] == "user"  # the tail is labeled by the user
    assert out.stage[1, 30] == G and out.source[1, 30] == "user"
    assert (out.source == "user").sum() == 2


def test_cohen_kappa_matches_sklearn():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(1)
    a = rng.integers(0, 4, 500)
    b = np.where(rng.random(500) < 0.6, a, rng.integers(0, 4, 500))
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"rule": "vibes"}, "rule must be one of"),
        ({"horizon": 0}, "horizon"),
        ({"horizon": 8, "smooth_window": 21, "peak_window": 5, "min_run": 3}, "smooth_window"),
        ({"intro_level": 0.6}, "levels must satisfy"),
        ({"growth_slope": -0.1}, "decline_slope < 0 < growth_slope"),
        ({"horizon": 8, "smooth_window": 5, "peak_window": 5, "min_run": 20}, "min_run"),
    ],
)
def test_label_rules_are_validated(kw, match):
    with pytest.raises(ValueError, match=match):
        LabelRules(**kw)
