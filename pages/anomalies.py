"""Anomalies page: a timeline and a table of flags with reasons; drill into one product."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from lifecycle_core.anomalies import TYPES
from ui import data, state, widgets
from ui.escape import md, plot_text
from ui.state import tr

info = state.analysis_page("anomalies")
lang = state.lang()
root = str(state.workspace().root)
with st.spinner(tr("common.computing")):
    flags = data.anomalies(root, info.name, info.id)
if flags.empty:
    st.info(tr("anomalies.none"))
    st.stop()

types = st.multiselect(
    tr("anomalies.filter.type"),
    list(TYPES),
    default=list(TYPES),
    format_func=state.fmt("anomalies.type."),
    key=f"an_types.{lang}",
)
view = flags[flags["type"].isin(types)]
st.metric(tr("anomalies.count"), f"{len(view):,}")

st.subheader(tr("anomalies.timeline"))
# Weekly counts per type: a few hundred points, whatever the number of flags.
counts = view.groupby(["period", "type"]).size().reset_index(name="n")
counts["type_name"] = [tr(f"anomalies.type.{t}") for t in counts["type"]]
fig = px.bar(
    counts,
    x="period",
    y="n",
    color="type_name",
    labels={"n": tr("anomalies.count"), "period": "", "type_name": tr("anomalies.col.type")},
)
fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10), legend_title_text="")
st.plotly_chart(fig, width="stretch", key="an_timeline")

table = view.assign(
    type_name=[tr(f"anomalies.type.{t}") for t in view["type"]],
    reason=view[f"reason_{lang}"],
    period=pd.to_datetime(view["period"]).dt.date,
)
cols = {
    "product_id": tr("common.product"),
    "title": tr("actions.col.title"),
    "period": tr("anomalies.col.period"),
    "type_name": tr("anomalies.col.type"),
    "score": tr("anomalies.col.score"),
    "reason": tr("anomalies.col.reason"),
}
st.dataframe(table[list(cols)].rename(columns=cols).head(5000), hide_index=True, width="stretch", height=360)
widgets.download_buttons(view, f"anomalies_{info.name}", "anomalies", key="anomalies")

st.subheader(tr("anomalies.drill"))
products = view["product_id"].drop_duplicates().tolist()
titles = view.drop_duplicates("product_id").set_index("product_id")["title"]
pick = st.selectbox(
    tr("common.product"), products, format_func=lambda p: f"{p} · {titles.get(p, '')}", key="an_product"
)
curve = data.product_sales(root, info.name, info.id, str(pick))
mine = view[view["product_id"] == pick]
fig2 = go.Figure(go.Scatter(x=curve["period"], y=curve["units"], mode="lines", name=tr("anomalies.units")))
marks = curve.set_index("period")["units"].reindex(mine["period"]).to_numpy()
fig2.add_trace(
    go.Scatter(
        x=mine["period"],
        y=np.nan_to_num(marks),
        mode="markers",
        marker=dict(size=12, color="#D55E00"),
        text=mine[f"reason_{lang}"].map(plot_text),
        hoverinfo="text",
        name=tr("anomalies.title"),
    )
)
fig2.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10))
st.plotly_chart(fig2, width="stretch", key="an_product_chart")
for r in mine.itertuples(index=False):
    reason = md(getattr(r, "reason_" + lang))  # quotes invoice ids and products: data, never markup
    st.markdown(f"- **{md(str(r.period)[:10])}** · {tr('anomalies.type.' + r.type)}: {reason}")
