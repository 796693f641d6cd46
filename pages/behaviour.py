"""Customer behaviour page: per stage, the funnel, return rates, rating trends and the review and search
terms rising or falling; one product in detail. All aggregation happens in lifecycle_core.behaviour."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from lifecycle_core import behaviour as behaviour_core
from lifecycle_core.stages import Stage
from ui import data, state, widgets
from ui.escape import plot_text
from ui.state import tr

info = state.analysis_page("behaviour")
lang = state.lang()
ws = state.workspace()
NAMES = state.stage_names()
COLORS = state.stage_colors()

model = state.model_selector(info, require=False)
default_window = behaviour_core.default_window(info.period)
window = st.sidebar.slider(
    tr("behaviour.window"), 2, max(26, 2 * default_window), default_window, key=f"behaviour_window.{info.period}"
)
with st.spinner(tr("quality.computing")):
    stamp = data.predictions_stamp(ws, info.name)
    b = data.behaviour(str(ws.root), info.name, info.id, model, stamp, window)
st.caption(tr(f"behaviour.source.{b.source}", model=model or "", window=window, last=str(b.periods[-1])[:10]))


def named(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(stage_name=[NAMES[int(s)] for s in frame["stage"]])


left, right = st.columns(2)
if len(b.funnel):
    f = named(b.funnel).assign(step_name=lambda d: [tr(f"behaviour.step.{s}") for s in d["step"]])
    # Each stage's funnel as shares of its own first step: stages of very different sizes compare.
    f["share"] = f["value"] / f.groupby("stage")["value"].transform("first").replace(0, float("nan"))
    fig = px.bar(
        f,
        x="step_name",
        y="share",
        color="stage_name",
        barmode="group",
        log_y=True,
        text=[f"{v:.1%}" for v in f["share"]],
        color_discrete_map=COLORS,
        category_orders={"stage_name": NAMES},
        hover_data={"value": ":,.0f"},
        title=tr("behaviour.funnel", window=window),
    )
    fig.update_layout(height=380, xaxis_title=None, yaxis_title=tr("behaviour.share_of_first"), legend_title=None)
    fig.update_yaxes(tickformat=".1%")
    left.plotly_chart(fig, width="stretch", key="funnel")
    rates = f[f["rate"].notna()].pivot_table(index="stage_name", columns="step_name", values="rate")
    rates = rates.reindex([n for n in NAMES if n in rates.index]).rename_axis(tr("common.stage"))
    rates.columns.name = None
    left.caption(tr("behaviour.rates"))
    left.dataframe(rates.style.format("{:.1%}"), width="stretch")
else:
    left.info(tr("behaviour.no_funnel"))


def over_time(frame: pd.DataFrame, y: str, title: str, **extra):
    """One line per stage over the periods, in the stage colours."""
    fig = px.line(
        named(frame),
        x="period",
        y=y,
        color="stage_name",
        color_discrete_map=COLORS,
        category_orders={"stage_name": NAMES},
        title=title,
        **extra,
    )
    fig.update_layout(xaxis_title=None, yaxis_title=None, legend_title=None)
    return fig


if len(b.returns):
    # A rate over a handful of units is noise (one return of two units is 50 %): such points are left out.
    fig = over_time(b.returns[b.returns["units"] >= 20], "return_rate", tr("behaviour.returns"))
    fig.update_layout(height=380, yaxis_tickformat=".0%")
    right.plotly_chart(fig, width="stretch", key="returns")
else:
    right.info(tr("behaviour.no_returns"))

if len(b.ratings):
    fig = over_time(b.ratings, "rating", tr("behaviour.ratings"), hover_data=["reviews"])
    fig.update_layout(height=320)
    st.plotly_chart(fig, width="stretch", key="ratings")

st.subheader(tr("behaviour.terms", window=window))
for tab, s in zip(st.tabs(NAMES), Stage, strict=True):
    with tab:
        cols = st.columns(2)
        for col, (kind, frame) in zip(cols, (("reviews", b.review_terms), ("search", b.search_terms)), strict=True):
            col.markdown(f"**{tr(f'behaviour.terms.{kind}')}**")
            t = frame[frame["stage"] == int(s)] if len(frame) else frame
            if t.empty:
                col.caption(tr("behaviour.no_terms"))
                continue
            t = t.assign(direction=[tr(f"behaviour.{d}") for d in t["direction"]], term=t["term"].map(plot_text))
            colors = {tr("behaviour.rising"): "#2ea043", tr("behaviour.falling"): "#d73a49"}
            fig = px.bar(
                t.sort_values("change"),
                x="change",
                y="term",
                color="direction",
                orientation="h",
                color_discrete_map=colors,
                hover_data=["recent", "before"],
            )
            fig.update_layout(
                height=60 + 22 * len(t),
                xaxis_tickformat="+.1%",
                xaxis_title=tr("behaviour.change"),
                yaxis_title=None,
                legend_title=None,
                margin={"t": 10},
            )
            col.plotly_chart(fig, width="stretch", key=f"terms_{kind}_{int(s)}")

# One product in detail.
st.subheader(tr("behaviour.product"))
products = data.product_titles(str(ws.root), info.name, info.id)
pid = widgets.product_picker(products, "behaviour", on_empty="behaviour.no_product")
d = data.product_behaviour(str(ws.root), info.name, info.id, model, stamp, str(pid))
sales = d["sales"]
steps = [c for c in ("views", "add_to_cart", "orders", "units") if c in sales]
long = sales.melt(id_vars="period", value_vars=steps, var_name="step", value_name="value")
long["step"] = [tr(f"behaviour.step.{s}") for s in long["step"]]
fig = px.line(long, x="period", y="value", color="step", log_y=True, title=tr("behaviour.product_funnel"))
for _, part in sales.dropna(subset=["stage"]).groupby((sales["stage"] != sales["stage"].shift()).cumsum()):
    st_id = int(part["stage"].iloc[0])
    fig.add_vrect(
        x0=part["period"].min(), x1=part["period"].max(), fillcolor=Stage(st_id).color, opacity=0.12, line_width=0
    )
fig.update_layout(height=340, xaxis_title=None, yaxis_title=None, legend_title=None)
st.plotly_chart(fig, width="stretch", key="product_funnel")
c1, c2 = st.columns(2)
if d["reviews"] is not None and len(d["reviews"]):
    c1.markdown(f"**{tr('behaviour.latest_reviews')}**")
    c1.dataframe(d["reviews"].head(20), hide_index=True, width="stretch")
if d["queries"] is not None and len(d["queries"]):
    c2.markdown(f"**{tr('behaviour.top_queries')}**")
    c2.dataframe(d["queries"].head(20), hide_index=True, width="stretch")
