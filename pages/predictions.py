"""Predictions page: the fine-tuned model's stages across the catalog, by category, over time, and the
products that moved between the two latest periods."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from lifecycle_core.predict import predict_and_store, predictions_path
from ui import data, state, widgets
from ui.escape import plot_text
from ui.state import tr

info = state.analysis_page("predictions")
lang = state.lang()
ws = state.workspace()
STAGE_ORDER = state.stage_names()
COLORS = state.stage_colors()

model = state.model_selector(info)

path = predictions_path(ws, model, info.name)
if not path.exists():
    st.info(tr("predictions.not_scored"))
    if st.button(tr("predictions.score_now"), type="primary"):
        with st.spinner(tr("predictions.scoring")):
            predict_and_store(ws, model, info.name)
        st.rerun()
    st.stop()
summary = data.predictions_summary(str(ws.root), model, info.name, info.id, path.stat().st_mtime)
periods = summary["periods"]
last = summary["last"]
last = last.assign(stage_name=pd.Categorical.from_codes(last["stage"], STAGE_ORDER))
st.caption(tr("predictions.latest", period=str(periods[-1])[:10]))

c1, c2 = st.columns(2)
dist = last["stage_name"].value_counts().reindex(STAGE_ORDER, fill_value=0).rename_axis("stage").reset_index()
fig = px.bar(dist, x="stage", y="count", color="stage", color_discrete_map=COLORS, title=tr("predictions.distribution"))
fig.update_layout(showlegend=False, height=340, xaxis_title=None, yaxis_title=tr("predictions.count"))
c1.plotly_chart(fig, width="stretch", key="dist")
if "category" in last and last["category"].notna().any():
    bycat = last.groupby(["category", "stage_name"]).size().rename("n").reset_index()
    bycat["category"] = bycat["category"].map(plot_text)  # Plotly renders HTML in labels: data stays text
    fig = px.bar(
        bycat,
        y="category",
        x="n",
        color="stage_name",
        orientation="h",
        color_discrete_map=COLORS,
        category_orders={"stage_name": STAGE_ORDER},
        title=tr("predictions.by_category"),
    )
    fig.update_layout(height=340, xaxis_title=tr("predictions.count"), yaxis_title=None, legend_title=None)
    c2.plotly_chart(fig, width="stretch", key="bycat")

# Shares over time are aggregated here (periods x 4), never plotted row by row.
share = summary["share"].reindex(columns=range(len(STAGE_ORDER)), fill_value=0)
share.columns = STAGE_ORDER
fig = px.area(
    share.reset_index().melt(id_vars="period", var_name="stage", value_name="share"),
    x="period",
    y="share",
    color="stage",
    color_discrete_map=COLORS,
    title=tr("predictions.over_time"),
)
fig.update_layout(height=320, xaxis_title=None, yaxis_title=None, yaxis_tickformat=".0%", legend_title=None)
st.plotly_chart(fig, width="stretch", key="over_time")

st.subheader(tr("predictions.products"))
f1, f2, f3, f4 = st.columns([2, 2, 2, 1])
query = f1.text_input(tr("predictions.search"), key="pred_search")
stages = f2.multiselect(tr("common.stage"), STAGE_ORDER, key=f"pred_stages.{lang}", placeholder=tr("common.all"))
cats = sorted(last["category"].dropna().unique()) if "category" in last else []
chosen = f3.multiselect(tr("common.category"), cats, key="pred_cats", placeholder=tr("common.all"))
min_conf = f4.slider(tr("predictions.min_conf"), 0.0, 1.0, 0.0, 0.05, key="pred_conf")
view = last
view = widgets.search_products(view, query)
if stages:
    view = view[view["stage_name"].isin(stages)]
if chosen:
    view = view[view["category"].isin(chosen)]
view = view[view["confidence"] >= min_conf]
cols = {
    "product_id": tr("common.product"),
    "title": tr("actions.col.title"),
    "category": tr("common.category"),
    "stage_name": tr("common.stage"),
    "confidence": tr("predictions.col.confidence"),
    "next_demand": tr("predictions.col.demand"),
}
cols = {k: v for k, v in cols.items() if k in view}
st.dataframe(
    view.sort_values("confidence", ascending=False)[list(cols)].rename(columns=cols),
    hide_index=True,
    width="stretch",
    height=380,
)
export = view.drop(columns=["stage_name"])
widgets.download_buttons(export, f"predictions_{info.name}_{model}", "predictions", key="predictions")

if len(periods) >= 2:
    a, b = periods[-2], periods[-1]
    st.subheader(tr("predictions.transitions", a=str(a)[:10], b=str(b)[:10]))
    prev = summary["previous"]
    prev = pd.DataFrame(
        {"product_id": prev["product_id"], "before": pd.Categorical.from_codes(prev["stage"], STAGE_ORDER)}
    )
    pair = last[["product_id", "stage_name", "confidence"] + [c for c in ("title",) if c in last]].merge(
        prev, on="product_id"
    )
    matrix = pd.crosstab(pair["before"], pair["stage_name"]).reindex(
        index=STAGE_ORDER, columns=STAGE_ORDER, fill_value=0
    )
    c1, c2 = st.columns([1, 1])
    fig = px.imshow(
        matrix,
        text_auto=True,
        color_continuous_scale="Blues",
        labels={"x": tr("predictions.to"), "y": tr("predictions.from"), "color": tr("predictions.count")},
    )
    fig.update_layout(height=340, coloraxis_showscale=False)
    c1.plotly_chart(fig, width="stretch", key="migration")
    moved = pair[pair["before"] != pair["stage_name"]]
    with c2:
        st.markdown(f"**{tr('predictions.moved')}** ({len(moved):,})")
        if moved.empty:
            st.caption(tr("predictions.none_moved"))
        else:
            mc = {
                "product_id": tr("common.product"),
                "title": tr("actions.col.title"),
                "before": tr("predictions.col.previous"),
                "stage_name": tr("common.stage"),
                "confidence": tr("predictions.col.confidence"),
            }
            mc = {k: v for k, v in mc.items() if k in moved}
            st.dataframe(moved[list(mc)].rename(columns=mc), hide_index=True, width="stretch", height=300)
