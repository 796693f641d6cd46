"""Explain & what-if page: why the model predicts a product's stage, and what would change it.

Edits live in this session only: they change the model's input, never the stored data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from lifecycle_core.explain import explain_inputs, feature_label, highlight_html, product_inputs
from lifecycle_core.inventory import PROBS, suggest_actions
from lifecycle_core.predict import model_dir, predictions_path
from ui import auth, data, state, widgets
from ui.escape import md
from ui.state import tr

info = state.analysis_page("explain")
state.show_flash()  # a stored or undone stage label says so after the rerun
lang = state.lang()
ws = state.workspace()
model_name = state.model_selector(info)
folder = model_dir(ws, model_name)
model_stamp = (folder / "config.json").stat().st_mtime
model = data.model(str(ws.root), model_name, model_stamp)
STAGES = state.stage_names()
COLORS = state.stage_colors()

path = predictions_path(ws, model_name, info.name)
if not path.exists():
    st.info(tr("predictions.not_scored"))
    st.page_link("pages/predictions.py", label=tr("nav.predictions"), icon="📊")
    st.stop()
stamp = path.stat().st_mtime
summary = data.predictions_summary(str(ws.root), model_name, info.name, info.id, stamp)
latest = summary["latest"]

c1, c2, c3 = st.columns([2, 3, 2])
pid = widgets.product_picker(latest, "explain", search=c1, pick=c2, on_empty="explain.no_match", warn=True)
scored = data.product_scores(str(ws.root), model_name, info.name, info.id, stamp, str(pid))
periods = sorted(scored["period"].astype(str).str[:10].unique(), reverse=True)
period = c3.selectbox(tr("predictions.col.period"), periods, key=f"explain_period.{pid}")


@st.cache_data(show_spinner=False, max_entries=64)
def _inputs(ws_root: str, dataset_id: str, model_key: str, product: str, when: str):
    ex = data.model_examples(ws_root, info.name, dataset_id, model_name, model_stamp)  # built once, then looked up
    text, x, _ = product_inputs(ws, info.name, model, product, when, examples=ex)
    return text, x


text0, x0 = _inputs(str(ws.root), info.id, str(folder), pid, period)
names = list(model.config.feature_names)
like = data.analog_names(str(ws.root), info.name, info.id, model_name, model_stamp, str(pid))
with st.spinner(tr("explain.computing")):
    exp0 = explain_inputs(model, text0, x0, product=pid, period=period, analogs=like)


def _probs_chart(probs: np.ndarray, key: str):
    df = pd.DataFrame({"stage": STAGES, "p": probs})
    fig = px.bar(df, x="p", y="stage", orientation="h", color="stage", color_discrete_map=COLORS, range_x=[0, 1])
    fig.update_layout(height=200, showlegend=False, margin={"l": 0, "r": 0, "t": 10, "b": 0})
    fig.update_layout(xaxis_title=None, yaxis_title=None, xaxis_tickformat=".0%")
    st.plotly_chart(fig, width="stretch", key=key)


def _features_chart(exp, stage: int, key: str):
    top = exp.top_features(stage, 10).iloc[::-1]
    df = pd.DataFrame(
        {
            "feature": [
                f"{feature_label(f, lang)} = {v:.2f}" for f, v in zip(top["feature"], top["input"], strict=True)
            ],
            "value": top["value"].to_numpy(),
        }
    )
    fig = px.bar(df, x="value", y="feature", orientation="h", color=df["value"] > 0,
                 color_discrete_map={True: "#2ea043", False: "#d73a49"})  # fmt: skip
    fig.update_layout(height=340, showlegend=False, margin={"l": 0, "r": 0, "t": 10, "b": 0})
    fig.update_layout(xaxis_title=tr("explain.contribution"), yaxis_title=None)
    st.plotly_chart(fig, width="stretch", key=key)


def _show(exp, key: str, stage: int):
    _probs_chart(exp.probabilities, f"p_{key}")
    st.markdown(f"**{md(exp.sentence(lang))}**")  # the sentence quotes words of the product's text
    st.caption(
        tr(
            "explain.split",
            stage=STAGES[stage],
            base=f"{exp.base[stage]:.0%}",
            text=f"{exp.text_share(stage):+.1%}",
            signals=f"{exp.probabilities[stage] - exp.base[stage] - exp.text_share(stage):+.1%}",
        )
    )
    if not exp.reads_text:
        st.caption(tr("explain.text_off"))
    elif not exp.text_matters(stage):
        st.caption(tr("explain.text_negligible", stage=STAGES[stage]))
    st.html(highlight_html(exp, stage))  # every piece of data text is escaped in highlight_html


stage = st.radio(
    tr("explain.for_stage"),
    list(range(len(STAGES))),
    index=exp0.stage,
    format_func=lambda s: STAGES[s],
    horizontal=True,
    key=f"explain_stage.{lang}.{pid}.{period}",
)
left, right = st.columns(2)
with left:
    st.subheader(tr("explain.why"))
    _show(exp0, "orig", stage)
    _features_chart(exp0, stage, "feat_orig")
with right:
    st.subheader(tr("explain.curve"))
    curve = data.product_sales(str(ws.root), info.name, info.id, str(pid))
    curve = curve.merge(scored[["period", "stage"]], on="period", how="left")
    curve["stage_name"] = [STAGES[int(s)] if s == s else "–" for s in curve["stage"]]
    fig = px.scatter(curve, x="period", y="units", color="stage_name", color_discrete_map={**COLORS, "–": "#bbb"},
                     category_orders={"stage_name": STAGES})  # fmt: skip
    fig.add_scatter(x=curve["period"], y=curve["units"], mode="lines", line={"color": "#bbb"}, showlegend=False)
    fig.add_vline(x=pd.Timestamp(period), line_dash="dot")
    fig.update_layout(height=360, legend_title=None, xaxis_title=None, yaxis_title=tr("anomalies.units"))
    st.plotly_chart(fig, width="stretch", key="curve")

st.divider()
st.subheader(tr("explain.whatif"))
st.caption(tr("explain.whatif_intro"))
ns = f"wi.{pid}.{period}"  # edits belong to one product-period; another product starts fresh
x_idx = {n: i for i, n in enumerate(names)}


def _get(name: str, default: float = 0.0) -> float:
    v = x0[x_idx[name]] if name in x_idx else default
    return float(v) if np.isfinite(v) else default


units0 = float(np.expm1(_get("log_units_4")))
with st.form(f"form.{ns}"):
    text1 = st.text_area(tr("explain.text"), value=text0, height=140, key=f"{ns}.text")
    f1, f2, f3, f4 = st.columns(4)
    price = f1.number_input(tr("explain.price_change"), -95.0, 500.0, round(_get("price_change") * 100, 1), 5.0,
                            key=f"{ns}.price")  # fmt: skip
    units = f2.number_input(tr("explain.recent_units"), 0.0, 1e9, round(units0, 2), key=f"{ns}.units")
    returns = f3.number_input(tr("explain.return_rate"), 0.0, 500.0, round(_get("return_rate_8") * 100, 1), 1.0,
                              key=f"{ns}.returns")  # fmt: skip
    rating = f4.number_input(tr("explain.rating"), 1.0, 5.0, float(np.clip(_get("rating_mean") + 3.0, 1, 5)), 0.1,
                             key=f"{ns}.rating")  # fmt: skip
    b1, b2 = st.columns([1, 6])
    apply = b1.form_submit_button(tr("explain.apply"), type="primary")
    reset = b2.form_submit_button(tr("explain.reset"))

if reset:
    for k in [k for k in st.session_state if str(k).startswith(ns)]:
        del st.session_state[k]
    st.rerun()


def _edited_x() -> np.ndarray:
    """The feature row with the edited signals; features derived from the same quantities move with them."""
    x = x0.copy()

    def put(name, value):
        if name in x_idx:
            x[x_idx[name]] = value

    put("price_change", price / 100)
    put("return_rate_8", returns / 100)
    put("rating_mean", rating - 3.0)
    if abs(units - units0) > 1e-9:
        lu = float(np.log1p(units))
        ratio0 = _get("ratio_to_max", 1.0)
        peak = units0 / ratio0 if ratio0 > 0 and units0 > 0 else max(units, 1e-9)
        put("log_units_4", lu)
        put("log_units", lu)
        put("ratio_to_max", min(1.0, units / peak) if peak > 0 else 1.0)
        if units >= peak:
            put("periods_since_max", 0.0)
        if "lag_0" in x_idx and "log_units" in x_idx:
            best = _get("log_units") - _get("lag_0")  # log of the best period so far
            put("lag_0", lu - max(best, lu))
    return x


if apply or st.session_state.get(f"{ns}.applied"):
    st.session_state[f"{ns}.applied"] = True
    x1 = _edited_x()
    with st.spinner(tr("explain.computing")):
        exp1 = explain_inputs(model, text1, x1, product=pid, period=period, analogs=like)
    o, e = st.columns(2)
    with o:
        st.markdown(f"#### {tr('explain.original')}")
        _show(exp0, "wi_orig", stage)
    with e:
        st.markdown(f"#### {tr('explain.edited')}")
        _show(exp1, "wi_edit", stage)

    plan = data.model_actions(str(ws.root), info.name, info.id, model_name, path.stat().st_mtime)
    products = ws.load_table(info.name, "products")
    inv = ws.load_table(info.name, "inventory") if plan.has_inventory else None
    rows = []
    for label, probs in ((tr("explain.original"), exp0.probabilities), (tr("explain.edited"), exp1.probabilities)):
        sp = pd.DataFrame([dict(zip(PROBS, probs, strict=True), product_id=pid)])
        # The forecast stays as planned; only the stage (and what it implies) follows the edit.
        fc = plan.forecasts[plan.forecasts["product_id"] == pid]
        a = suggest_actions(products[products["product_id"] == pid], fc, sp, inv)
        r = a.iloc[0]
        rows.append(
            {
                "": label,
                tr("common.stage"): STAGES[int(r["stage"])],
                tr("actions.col.action"): tr(f"actions.action.{r['action']}"),
                tr("actions.col.quantity"): r["quantity"],
                tr("actions.col.markdown"): r["markdown_pct"],
                tr("actions.col.reason"): r[f"reason_{lang}"],
            }
        )
    st.markdown(f"#### {tr('explain.suggestion')}")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

st.divider()
st.subheader(tr("explain.similar"))
with st.spinner(tr("explain.similar_computing")):
    like = data.similar(
        str(ws.root), info.name, info.id, str(pid), json.dumps(model.training.get("labels") or {}, sort_keys=True)
    )
if like.empty:
    st.caption(tr("explain.similar_none"))
else:
    known = like[like["stage_then"] >= 0]
    if len(known):
        top = int(known["stage_then"].mode().iloc[0])
        n_top = int((known["stage_then"] == top).sum())
        st.caption(
            tr(
                "explain.similar_summary",
                stage=STAGES[top],
                n=n_top,
                k=len(like),
                weeks=f"{like['age_weeks'].iloc[0]:.0f}",
            )
        )
    shown = like.assign(
        **{"#": range(1, len(like) + 1)},
        stage_then=[STAGES[int(s)] if s >= 0 else "–" for s in like["stage_then"]],
        level_then=like["level_then"].map(lambda v: f"{v:.0%}" if v == v else "–"),
    )
    st.dataframe(
        shown[["#", "product_id", "title", "category", "similarity", "stage_then", "level_then"]].rename(
            columns={
                "product_id": tr("common.product"),
                "title": tr("explain.similar_title"),
                "category": tr("explain.similar_category"),
                "similarity": tr("explain.similar_similarity"),
                "stage_then": tr("explain.similar_stage_then"),
                "level_then": tr("explain.similar_level_then"),
            }
        ),
        hide_index=True,
        width="stretch",
    )

    def _open(product: str) -> None:
        # Runs before the next script run, when the picker's state may still be set.
        st.session_state["explain_search"] = product
        st.session_state["explain_product"] = product

    cols = st.columns(len(like))
    # Button labels render markdown, so they carry the row number, never the (data) product id.
    for n, (col, other) in enumerate(zip(cols, like["product_id"], strict=True), 1):
        col.button(tr("explain.similar_open", n=n), key=f"open_like.{other}", on_click=_open, args=(str(other),))

with st.expander(tr("explain.correct"), expanded=False):
    # A merchandiser who knows better sets the stage; it is a label for training and the label report,
    # stored in the workspace with who and when. Nothing here is rendered as markdown (ids are data).
    st.caption(tr("explain.correct_intro"))
    mine = ws.stage_labels(info.name)
    mine = mine[mine["product_id"] == str(pid)]
    if mine.empty:
        st.caption(tr("explain.no_user_labels"))
    else:
        st.caption(tr("explain.user_labels"))
        shown = mine.assign(stage=[STAGES[int(x)] for x in mine["stage"]], period=mine["period"].dt.date)
        st.dataframe(shown[["id", "stage", "period", "author", "created_at"]], hide_index=True, width="stretch")
        for label_id in mine["id"]:
            if st.button(tr("explain.undo", id=int(label_id)), key=f"undo_label.{label_id}"):
                ws.undo_stage_label(int(label_id), author=auth.current_user() or tr("explain.anonymous"))
                state.flash("success", tr("explain.undone", id=int(label_id)))
                st.rerun()
    with st.form(f"correct.{pid}"):
        g1, g2, g3 = st.columns(3)
        new_stage = g1.selectbox(
            tr("explain.correct_stage"), list(range(len(STAGES))), index=exp0.stage, format_func=lambda s: STAGES[s]
        )
        since = g2.selectbox(tr("explain.correct_from"), periods, index=periods.index(period))
        by = g3.text_input(tr("explain.correct_by"), value=auth.current_user() or "", max_chars=100)
        if st.form_submit_button(tr("explain.correct_save"), type="primary"):
            ws.add_stage_label(info.name, str(pid), int(new_stage), since, author=by or tr("explain.anonymous"))
            state.flash("success", tr("explain.correct_saved", stage=STAGES[int(new_stage)], period=since))
            st.rerun()
