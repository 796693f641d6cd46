"""Forecasts (intervals, intermittent demand, stage damping, backtest) and safe exports."""

import io

import numpy as np
import pandas as pd
import pytest

from lifecycle_core.export import safe_cell, safe_frame, to_csv_bytes, to_excel_bytes, write
from lifecycle_core.forecast import ForecastConfig, backtest, forecast_panel, stopped_selling
from lifecycle_core.panel import Panel


def _panel(units):
    units = np.atleast_2d(np.asarray(units, dtype=float))
    T = units.shape[1]
    return Panel(
        pd.Index([f"P{i}" for i in range(units.shape[0])], dtype="str"),
        pd.date_range("2023-01-02", periods=T, freq="W-MON"),
        "W",
        {"units": units},
        {"units": units > 0},
    )


def test_flat_demand_forecasts_its_level_with_an_interval():
    rng = np.random.default_rng(0)
    fc = forecast_panel(_panel(rng.poisson(50, (1, 60))))
    assert fc.mean.shape == (1, 8)
    assert fc.mean[0].mean() == pytest.approx(50, rel=0.15)
    assert (fc.lower <= fc.mean).all() and (fc.mean <= fc.upper).all() and (fc.lower >= 0).all()
    assert fc.upper[0, -1] - fc.lower[0, -1] > fc.upper[0, 0] - fc.lower[0, 0]  # wider further out
    assert fc.periods[0] == pd.Timestamp("2023-01-02") + pd.Timedelta(weeks=60)


def test_stage_damps_or_keeps_the_trend():
    units = np.arange(1, 41, dtype=float) * 5  # steady growth
    p = _panel(units)
    growth = forecast_panel(p, stage_probs=np.array([[0, 1, 0, 0]]))
    mature = forecast_panel(p, stage_probs=np.array([[0, 0, 1, 0]]))
    assert growth.mean[0, -1] > growth.mean[0, 0] > mature.mean[0, 0] - 1e-9
    assert np.allclose(mature.mean[0], mature.mean[0, 0])  # Maturity: no trend


def test_intermittent_demand_uses_croston():
    units = np.zeros(60)
    units[::12] = 24  # one order of 24 every 12 weeks
    fc = forecast_panel(_panel(units))
    assert fc.method[0] == "croston"
    assert fc.mean[0, 0] == pytest.approx(2.0, rel=0.25)


def test_forecast_uses_data_up_to_the_origin_only():
    rng = np.random.default_rng(1)
    u = rng.poisson(30, (3, 50)).astype(float)
    a = forecast_panel(_panel(u), origin=30)
    u2 = u.copy()
    u2[:, 31:] = 999
    b = forecast_panel(_panel(u2), origin=30)
    assert np.allclose(a.mean, b.mean) and np.allclose(a.upper, b.upper)


def test_backtest_scores_against_baselines():
    rng = np.random.default_rng(2)
    u = rng.poisson(np.linspace(10, 80, 80)[None, :] * np.ones((20, 1)))
    res = backtest(_panel(u))
    for k in ("stage_holt", "seasonal_naive", "ses"):
        assert res[k]["mase_mean"] > 0
    assert 0 <= res["stage_holt"]["coverage"] <= 1 and res["products_scored"] == 20 * res["origins"]
    with pytest.raises(ValueError, match="too few"):
        backtest(_panel(u[:, :20]))


def test_forecast_config_is_validated():
    with pytest.raises(ValueError, match="damping"):
        ForecastConfig(damping=(1.2, 0, 0, 0))


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", '=HYPERLINK("http://x","y")', "\t=1"])
def test_formula_injection_is_escaped(text):
    assert safe_cell(text) == "'" + text


def test_plain_text_and_numbers_untouched(tmp_path):
    assert safe_cell("Red mug") == "Red mug" and safe_cell(-5) == -5
    frame = pd.DataFrame({"title": ["=cmd|' /C calc'!A0", "ok"], "qty": [-3, 4]})
    safe = safe_frame(frame)
    assert safe["title"].tolist() == ["'=cmd|' /C calc'!A0", "ok"] and safe["qty"].tolist() == [-3, 4]
    csv = to_csv_bytes(frame).decode("utf-8-sig")
    assert "'=cmd" in csv and "\n-3" not in csv.replace(",-3", "")
    back = pd.read_excel(io.BytesIO(to_excel_bytes(frame)))
    assert back["title"][0] == "'=cmd|' /C calc'!A0" and back["qty"][0] == -3
    assert write(frame, tmp_path / "x.xlsx").exists() and write(frame, tmp_path / "x.csv").read_bytes().startswith(
        b"\xef\xbb\xbf"
    )


def test_a_bare_cr_inside_a_title_cannot_start_a_formula_row(tmp_path):
    import csv

    attack = "Aurora lamp\r=cmd|' /C calc'!A0"
    frame = pd.DataFrame({"title": [attack, "line one\n+SUM(A1)"], "units": [1, 2]})
    raw = to_csv_bytes(frame).decode("utf-8-sig")
    # Read back by a spreadsheet that ends a row at any CR or LF, ignoring quotes: no line starts a formula.
    for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        assert not line.lstrip('"').startswith(("=", "+", "-", "@")), line
    # A standard reader sees one cell per title, quoted, each inner line neutralised.
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert rows[1][0] == "Aurora lamp\r'=cmd|' /C calc'!A0" and rows[2][0] == "line one\n'+SUM(A1)"
    out = write(frame, tmp_path / "a.csv")
    assert out.read_bytes() == to_csv_bytes(frame)


def test_xlsx_export_drops_control_characters_instead_of_failing(tmp_path):
    frame = pd.DataFrame({"title": ["Lamp\x07 with bell\x1b", "ok"], "units": [1, 2]})
    path = write(frame, tmp_path / "a.xlsx")
    back = pd.read_excel(path)
    assert back["title"].tolist() == ["Lamp with bell", "ok"]


def test_an_unwritable_out_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    frame = pd.DataFrame({"a": [1]})
    with pytest.raises(ValueError, match="does not exist"):
        write(frame, tmp_path / "nope" / "x.csv")
    with pytest.raises(ValueError, match="is a folder"):
        write(frame, tmp_path)
    from lifecycle_core import cli

    from .conftest import demo_workspace

    ws = demo_workspace(tmp_path / "w", 12, 30, seed=1)
    for cmd in ("actions", "anomalies"):
        code = cli.main([cmd, "--workspace", str(ws.root), "--dataset", "demo", "--out", "/nonexistent/x.csv"])
        assert code == 2 and "does not exist" in capsys.readouterr().err


def test_a_product_that_stopped_selling_is_forecast_to_sell_nothing():
    """Croston's rate only moves when a sale comes: a product delisted 80 weeks ago kept its old rate.
    Stopped: silent past half a year, past 3 usual gaps and past any silence it came back from."""
    u = np.zeros((4, 120))
    u[0, :40] = 3  # sold 40 weeks, silent for 80: stopped
    u[1, ::12] = 24  # an order every 12 weeks, the last 11 weeks ago: selling
    for year in (0, 52, 104):
        u[2, year + 44 : year + 50] = 10  # a Christmas item between seasons (silent 10 weeks, 46 before)
    u[3, :10], u[3, 60] = 1, 1  # came back once after 50 silent weeks, silent 59 since: stopped
    fc = forecast_panel(_panel(u))
    assert list(fc.method) == ["stopped", "croston", "holt", "stopped"]
    assert (fc.mean[[0, 3]] == 0).all() and (fc.upper[[0, 3]] == 0).all()
    assert (fc.mean[[1, 2]] > 0).all()
    assert np.array_equal(stopped_selling(u, 26), [True, False, False, True])
    # The same product 30 weeks after its last sale is stopped only with a window under 30 weeks.
    assert not stopped_selling(u[:1, :70], 30)[0] and stopped_selling(u[:1, :70], 26)[0]
