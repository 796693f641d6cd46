"""Monthly, daily, short and sparse data with the default options: the period is inferred, windows are
defined in time, and ingest -> label -> train -> evaluate -> actions -> anomalies -> backtest run through."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lifecycle_core import cli
from lifecycle_core.demo import generate
from lifecycle_core.ingest import IngestOptions, ingest
from lifecycle_core.labeling import LabelRules, label_panel, label_report
from lifecycle_core.panel import build_panel
from lifecycle_core.periods import in_time, infer_rhythm, parse_window, period_start, periods_in
from lifecycle_core.readers import SourceFile
from lifecycle_core.report import IngestError
from lifecycle_core.splits import TEST, TRAIN, VAL, time_layout, time_split
from lifecycle_core.store import Workspace

from . import rhythm_data
from .conftest import tiny_bert


def _rhythm(dates, products=None):
    dates = pd.to_datetime(pd.Series(dates))
    ids = pd.Series(products if products is not None else ["A"] * len(dates))
    return infer_rhythm(ids, dates)


@pytest.mark.parametrize(
    ("dates", "period", "kind"),
    [
        (pd.date_range("2022-01-01", periods=18, freq="MS"), "M", "monthly"),
        (pd.date_range("2022-01-31", periods=18, freq="ME"), "M", "monthly"),
        (pd.date_range("2022-01-15", periods=18, freq="MS") + pd.Timedelta(days=14), "M", "monthly"),
        (pd.date_range("2022-01-02", periods=30, freq="W-SUN"), "W", "weekly"),
        (pd.date_range("2022-01-03", periods=30, freq="W-MON")[::3], "W", "weekly"),
        (pd.date_range("2022-01-01", periods=90, freq="D"), "D", "daily"),
        (pd.date_range("2022-01-01", periods=300, freq="D")[::5], "D", "daily"),
    ],
    ids=["month-starts", "month-ends", "mid-month", "week-sundays", "every-3rd-week", "daily", "sparse-daily"],
)
def test_rhythm_is_read_from_the_dates(dates, period, kind):
    r = _rhythm(dates)
    assert (r.period, r.kind) == (period, kind), r.evidence
    assert kind in r.message()


def test_a_few_stray_dates_do_not_change_a_monthly_rhythm():
    months = list(pd.date_range("2020-01-01", periods=60, freq="MS"))
    ids = [f"P{i}" for i in range(20) for _ in months]
    dates = months * 20
    dates[7] = pd.Timestamp("2020-08-17")  # one correction dated mid-month
    r = _rhythm(dates, ids)
    assert r.period == "M" and r.share < 1


def test_weeks_closed_on_different_weekdays_per_product_are_weekly():
    a = pd.date_range("2023-01-01", periods=30, freq="W-SUN")
    b = pd.date_range("2023-01-04", periods=30, freq="W-WED")
    r = _rhythm(list(a) + list(b), ["A"] * 30 + ["B"] * 30)
    assert (r.period, r.kind) == ("W", "weekly"), r.evidence


def test_invoice_lines_are_weekly_events():
    r = infer_rhythm(
        pd.Series(["A", "A"]), pd.to_datetime(pd.Series(["2024-01-01 10:00", "2024-01-01 11:00"])), events=True
    )
    assert (r.period, r.kind) == ("W", "events")


def test_windows_convert_from_weeks_to_periods():
    assert [periods_in(8, p) for p in "DWM"] == [56, 8, 2]
    assert periods_in(1, "M") == 1 and periods_in(0.1, "W", minimum=2) == 2
    assert in_time(2, "M") == "2 months (8.7 weeks)" and in_time(8, "W") == "8 weeks"
    assert parse_window("8", "M") == 8 and parse_window("8w", "M") == 2 and parse_window("2m", "W") == 9
    assert parse_window("56d", "D") == 56
    with pytest.raises(ValueError, match="days, weeks or months"):
        parse_window("eight", "W")
    with pytest.raises(ValueError, match="positive"):
        parse_window("-2w", "W")


def _monthly_sources(tmp_path, anchor="start", products=30, months=24):
    return [
        SourceFile.from_path(p)
        for p in rhythm_data.write_monthly(tmp_path / anchor, products=products, months=months, anchor=anchor)
    ]


def test_ingest_infers_monthly_and_refuses_to_split_months_into_weeks(tmp_path):
    ws = Workspace(tmp_path / "ws")
    info = ingest(ws, "m", _monthly_sources(tmp_path))
    assert info.period == "M"
    assert info.counts["rhythm"].startswith("monthly data: one row per product and month")
    assert info.report["info"]["rhythm"]["chosen"] == "auto"
    with pytest.raises(IngestError) as exc:
        ingest(ws, "w", _monthly_sources(tmp_path), options=IngestOptions(period="W"))
    problem = exc.value.report.errors[0]
    assert problem.code == "period_finer_than_data" and "zero sales that are not sales" in problem.message
    assert "M (month) or coarser" in problem.expected
    assert [d.name for d in ws.list_datasets()] == ["m"]  # nothing written


def test_daily_data_can_be_aggregated_to_weeks(tmp_path):
    ws = Workspace(tmp_path / "ws")
    paths = rhythm_data.write_daily(tmp_path / "d", products=12, weeks=20)
    daily = ingest(ws, "d", [SourceFile.from_path(p) for p in paths])
    weekly = ingest(ws, "w", [SourceFile.from_path(p) for p in paths], options=IngestOptions(period="W"))
    assert (daily.period, weekly.period) == ("D", "W")
    assert "aggregated to week" in weekly.counts["rhythm"]
    assert daily.counts["units"] == weekly.counts["units"]


def test_monthly_rules_are_the_weekly_windows_in_time():
    tables = rhythm_data.to_months(generate(60, 130, seed=1))
    s = tables["sales"].assign(period=lambda d: period_start(pd.to_datetime(d["date"]), "M"))
    r = LabelRules().resolve(build_panel(s, "M"))
    assert (r.period, r.horizon, r.smooth_window, r.peak_window, r.min_run) == ("M", 2, 3, 3, 1)
    assert r.windows()["horizon"] == {"periods": 2, "time": "2 months (8.7 weeks)"}
    assert LabelRules(horizon=3).resolve(build_panel(s, "M")).horizon == 3  # what a user sets stays
    assert r.resolve(build_panel(s, "M")) is r


def test_monthly_and_weekly_data_of_the_same_products_get_the_same_stages():
    """The demo's weekly curves and the same sales summed per month: each month's weekly majority stage
    against the monthly label, where both are labeled."""
    tables = generate(120, 156, seed=2)
    w = tables["sales"].assign(period=lambda d: period_start(pd.to_datetime(d["date"]), "W"))
    weekly = label_panel(build_panel(w, "W")).to_frame().dropna(subset=["stage"])
    m = rhythm_data.to_months(tables)["sales"]
    m = m.assign(period=period_start(pd.to_datetime(m["date"]), "M"))
    monthly = label_panel(build_panel(m, "M")).to_frame().dropna(subset=["stage"])
    weekly["month"] = weekly["period"].dt.to_period("M").dt.to_timestamp()
    majority = weekly.groupby(["product_id", "month"])["stage"].agg(lambda s: s.mode().iloc[0]).rename("weekly")
    both = (
        monthly.set_index(["product_id", "period"])["stage"]
        .rename("monthly")
        .to_frame()
        .join(majority.rename_axis(["product_id", "period"]), how="inner")
    )
    assert len(both) > 800
    agree = (both["monthly"].astype(int) == both["weekly"].astype(int)).mean()
    assert agree > 0.75, agree  # 0.83 measured (docs/labeling.md)


def test_sparse_catalogs_get_volume_thresholds_of_their_own():
    tables = rhythm_data.sparse_catalog(300, 60, seed=1)
    s = tables["sales"].assign(period=lambda d: period_start(pd.to_datetime(d["date"]), "M"))
    panel = build_panel(s, "M")
    r = LabelRules().resolve(panel)
    assert r.min_total_units < 100 and "sparse" in r.volume_basis
    assert r.smooth_window > 3 and r.min_run >= 2  # noisy curves are read over a wider window
    fixed = LabelRules(min_total_units=100.0).resolve(panel)
    assert fixed.volume_basis == "given" and fixed.min_total_units == 100
    rep = label_report(panel)
    assert all(n > 0 for n in rep["counts"].values()), rep["counts"]
    assert rep["labeled"] > 2 * label_report(panel, fixed)["labeled"]


def test_short_histories_split_compactly_or_say_how_many_periods_are_missing():
    lay = time_layout(12, horizon=2)
    assert lay.compact and lay.train == (0, 6) and lay.test == (8, 10)
    t = np.repeat(np.arange(12), 50)
    ids = np.tile([f"P{i}" for i in range(50)], 12)
    split = time_split(t, 12, horizon=2, product_ids=ids)
    assert set(split[t < 6]) == {TRAIN, VAL} and set(split[(t >= 8) & (t < 10)]) == {TEST}
    # Validation holds whole products, never a product's periods on both sides.
    tr, va = set(ids[split == TRAIN]), set(ids[split == VAL])
    assert va and not tr & va
    assert not time_layout(104, horizon=8).compact  # the demo keeps validation periods of its own
    assert time_layout(26, horizon=8).compact
    with pytest.raises(ValueError, match=r"need 8 periods \(1 more\)"):
        time_layout(7, horizon=2)
    with pytest.raises(ValueError, match="pass product_ids"):
        time_split(t, 12, horizon=2)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer BERT with the packaged tokenizer, saved as a local base model for ``train --base-model``."""
    from transformers import AutoTokenizer

    from lifecycle_core.model import default_encoder_path

    out = tmp_path_factory.mktemp("tiny-bert")
    tok = AutoTokenizer.from_pretrained(default_encoder_path())
    tiny_bert(tok.vocab_size).save_pretrained(out)
    tok.save_pretrained(out)
    return out


DATASETS = {
    # name: (writer, expected period)
    "monthly-1st": (lambda d: rhythm_data.write_monthly(d, products=60, months=30, anchor="start"), "M"),
    "monthly-end": (lambda d: rhythm_data.write_monthly(d, products=60, months=30, anchor="end", seed=1), "M"),
    "daily": (lambda d: rhythm_data.write_daily(d, products=30, weeks=40), "D"),
    "15-months": (lambda d: rhythm_data.write_monthly(d, products=100, months=15, seed=2), "M"),
    "sparse": (lambda d: rhythm_data.write_sparse(d, products=400, months=101), "M"),
}


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DATASETS))
def test_the_whole_path_runs_with_default_options(name, tmp_path, tiny_model_dir, capsys):
    write, period = DATASETS[name]
    files = [str(p) for p in write(tmp_path / "files")]
    ws = str(tmp_path / "ws")
    code, out, err = _cli(capsys, "ingest", *files, "--workspace", ws, "--name", name, "--quiet")
    assert code == 0, err
    assert Workspace(ws).dataset(name).period == period
    assert {"M": "monthly data", "D": "daily data"}[period] in out

    d = ["--workspace", ws, "--dataset", name]
    code, out, _ = _cli(capsys, "label", *d, "--json")
    rep = json.loads(out)
    assert rep["period"] == period and rep["windows"]["horizon"]["time"].startswith(
        {"M": "2 months", "D": "56 days"}[period] if name != "sparse" else "4 months"
    )
    assert all(n >= 5 for n in rep["counts"].values()), rep["counts"]
    assert rep["labeled"] >= 0.4 * rep["active_product_periods"], rep

    code, _, err = _cli(
        capsys,
        "train",
        *d,
        "--model-name",
        "m",
        "--base-model",
        str(tiny_model_dir),
        "--max-steps",
        "2",
        "--batch-size",
        "16",
        "--max-length",
        "32",
        "--quiet",
    )
    assert code == 0, err
    saved = json.loads((tmp_path / "ws" / "models" / "m" / "model" / "config.json").read_text())["training"]
    assert saved["labels"]["period"] == period and "label_windows" in saved

    code, out, err = _cli(capsys, "evaluate", *d, "--model", "m", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["baselines"]["gbm"]["macro_f1"] is not None and res["baselines"]["m"]["n"] == res["n_test"]
    assert res["n_train"] > 0 and res["n_val"] > 0

    for cmd, target in (("actions", "a.csv"), ("anomalies", "x.xlsx")):
        code, out, err = _cli(capsys, cmd, *d, "--out", str(tmp_path / target))
        assert code == 0, err
    actions = pd.read_csv(tmp_path / "a.csv")
    assert len(actions) > 0 and actions["weekly_demand"].notna().all()
    code, out, err = _cli(capsys, "backtest", *d, "--json")
    assert code == 0, err
    assert json.loads(out)["products_scored"] > 0
    code, _, err = _cli(capsys, "predict", *d, "--model", "m", "--out", str(tmp_path / "p.csv"))
    assert code == 0, err
    code, out, err = _cli(capsys, "quality", *d, "--model", "m", "--json")
    assert code == 0, err
    assert json.loads(out)["n_test"] == res["n_test"]


@pytest.mark.parametrize(
    ("values", "first"),
    [
        (["Jan 2024", "Feb 2024"], "2024-01-01"),
        (["January 2024", "FEBRUARY 2024"], "2024-01-01"),
        (["Jan-24", "Feb-24"], "2024-01-01"),
        (["01/2024", "02/2024"], "2024-01-01"),
        (["2024M01", "2024M02"], "2024-01-01"),
        (["202401", "202402"], "2024-01-01"),
        ([202401, 202402], "2024-01-01"),
        (["2024年1月", "2024年2月"], "2024-01-01"),
        (["2024-W05", "2024-W06"], "2024-01-29"),
        (["05-Mar-2024", "06-Mar-2024"], "2024-03-05"),
        (["Mar 5, 2024", "March 6, 2024"], "2024-03-05"),
    ],
)
def test_months_and_weeks_named_without_a_day_are_dates(values, first):
    from lifecycle_core.parsing import parse_dates

    got = parse_dates(pd.Series(values))
    assert not got.bad.any() and str(got.values.iloc[0].date()) == first


def test_quarterly_data_is_refused_with_a_reason(tmp_path):
    quarters = pd.date_range("2020-01-01", periods=12, freq="QS").strftime("%Y-%m-%d")
    sales = pd.DataFrame({"product_id": np.repeat(["A", "B"], 12), "date": list(quarters) * 2, "units": 50})
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(IngestError) as exc:
        ingest(ws, "q", [SourceFile("sales.csv", sales.to_csv(index=False).encode())])
    problem = exc.value.report.errors[0]
    assert problem.code == "period_finer_than_data" and problem.message.startswith("quarterly data")
    assert problem.expected == "sales per day, week or month"


def test_a_monthly_export_with_a_month_column_and_month_names_ingests(tmp_path):
    months = pd.date_range("2022-01-01", periods=14, freq="MS").strftime("%b %Y")
    table = pd.DataFrame({"商品编号": np.repeat(["A1", "B2"], 14), "月份": list(months) * 2, "销量": 40})
    ws = Workspace(tmp_path / "ws")
    info = ingest(ws, "m", [SourceFile("月度销量.csv", table.to_csv(index=False).encode("gbk"))])
    assert info.period == "M" and info.counts["periods"] == 14
    assert info.sources[0]["mapping"]["月份"] == "date"


def _lines_source(tmp_path, name, **kw) -> SourceFile:
    path = tmp_path / f"{name}.csv"
    rhythm_data.order_lines(**kw).to_csv(path, index=False)
    return SourceFile.from_path(path)


def _stage_changes(ws: Workspace, name: str) -> float:
    """Changes of stage per labelled product (Introduction -> Decline -> Growth flicker counts twice)."""
    labels = label_panel(build_panel(ws.load_table(name, "sales"), ws.dataset(name).period))
    runs = [row[row >= 0] for row in labels.stage]
    return float(np.mean([np.count_nonzero(np.diff(r)) for r in runs if len(r)]))


def test_sparse_order_lines_are_read_in_months(tmp_path):
    """A small shop selling a unit or two at a time: its weeks are noise, so auto reads months (and says
    why); the user can still ask for weeks; busy lines, or sparse ones with a short history, stay weekly."""
    ws = Workspace(tmp_path / "ws")
    sparse = ingest(ws, "sparse", [_lines_source(tmp_path, "pedidos", peak=2.0)])
    assert sparse.period == "M"
    message = sparse.report["info"]["rhythm"]["message"]
    assert "median product sells 2.0 units in a week it sells" in message and "aggregated to calendar months" in message
    weekly = ingest(ws, "weekly", [_lines_source(tmp_path, "pedidos", peak=2.0)], options=IngestOptions(period="W"))
    assert weekly.period == "W" and weekly.counts["units"] == sparse.counts["units"]
    assert _stage_changes(ws, "sparse") < _stage_changes(ws, "weekly")  # months flicker less
    busy = ingest(ws, "busy", [_lines_source(tmp_path, "busy", peak=12.0)])
    short = ingest(ws, "short", [_lines_source(tmp_path, "short", peak=2.0, n_weeks=30)])
    assert (busy.period, short.period) == ("W", "W")


def test_a_japanese_shop_in_shift_jis_ingests_without_a_mapping(tmp_path):
    """Excel in Japan writes Shift-JIS; the headers (商品コード, 日付, 数量, 売上金額, レビュー, 評価) are known."""
    products = "商品コード,商品名,カテゴリ,価格,説明\nJP-0001,土鍋（国産）,キッチン用品,2980,職人が仕上げました。\n"
    sales = "日付,商品コード,数量,売上金額\n2024/03/05,JP-0001,2,5960\n2024/03/09,JP-0001,1,2980\n"
    reviews = "商品コード,レビュー,評価,投稿日\nJP-0001,とても良いです,5,2024/03/10\n"
    files = [
        SourceFile(name, text.encode("cp932"))
        for name, text in (("商品.csv", products), ("売上.csv", sales), ("レビュー.csv", reviews))
    ]
    ws = Workspace(tmp_path / "ws")
    info = ingest(ws, "jp", files)
    assert {s["encoding"] for s in info.sources} == {"Shift-JIS (cp932)"}
    assert info.counts["units"] == 3 and info.counts["reviews"] == 1
    assert ws.load_table("jp", "products")["title"].tolist() == ["土鍋（国産）"]
    assert ws.load_table("jp", "reviews")["rating"].tolist() == [5]
