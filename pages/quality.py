"""Model quality page: a model's test metrics on its own split (confusion, per-stage F1, calibration),
against the baselines and the dataset's other models, and what it relies on per stage (SHAP)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from lifecycle_core.explain import feature_label
from lifecycle_core.predict import predictions_path
from lifecycle_core.quality import load_influence, stage_influence
from lifecycle_core.stages import Stage
from ui import data, state
from ui.escape import plot_text
from ui.state import tr

info = state.analysis_page("quality")
lang = state.lang()
ws = state.workspace()
NAMES = state.stage_names()
COLORS = state.stage_colors()

model = state.model_selector(info)
path = predictions_path(ws, model, info.name)
if not path.exists():
    st.info(tr("quality.not_scored"))
    st.page_link("pages/predictions.py", label=tr("nav.predictions"), icon="📊")
    st.stop()

with st.spinner(tr("quality.computing")):
    report = data.quality(str(ws.root), info.name, info.id, model, data.predictions_stamp(ws, info.name))
m = report["metrics"]
split_name = tr(f"quality.split.{report['split']}")
st.caption(tr("quality.about", n=f"{report['n_test']:,}", split=split_name))
c = st.columns(4)
vs = m.get("vs_gbm") or {}
c[0].metric(
    tr("quality.macro_f1"),
    f"{m['macro_f1']:.3f}",
    delta=tr("quality.vs_gbm", diff=vs["diff"]) if vs else None,
    help=tr("quality.vs_gbm_help", low=vs["low"], high=vs["high"]) if vs.get("low") is not None else None,
)
c[1].metric(tr("quality.accuracy"), f"{m['accuracy']:.3f}")
c[2].metric(
    tr("quality.ece"),
    f"{m['ece']:.3f}",
    help=tr("quality.ece_help", n=f"{report['n_test']:,}", floor=f"{m.get('ece_floor') or 0:.3f}"),
)
c[3].metric(tr("quality.n_test"), f"{report['n_test']:,}")
rows = report.get("test_rows") or {}
if rows.get("kind") == "few":
    st.warning(tr("quality.few_rows", n=f"{rows['rows']:,}", products=rows["products"], stages=len(rows["stages"])))
elif rows.get("kind") == "one_sided":
    top = NAMES[[s.label("en") for s in Stage].index(rows["top"])]
    st.warning(tr("quality.one_sided", share=f"{rows['top_share']:.0%}", stage=top))
for b in report.get("below") or []:
    st.warning(tr("quality.below", points=f"{b['points']:.1f}", baseline=b["baseline"]))

left, right = st.columns(2)
cm = np.array(m["confusion"], dtype=float)
share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
fig = px.imshow(
    share,
    x=NAMES,
    y=NAMES,
    color_continuous_scale="Blues",
    zmin=0,
    zmax=1,
    labels={"x": tr("quality.predicted"), "y": tr("quality.actual"), "color": tr("quality.share")},
    title=tr("quality.confusion"),
)
fig.update_traces(text=cm.astype(int), texttemplate="%{text}")
fig.update_layout(height=380, coloraxis_showscale=False)
left.plotly_chart(fig, width="stretch", key="confusion")

per = pd.DataFrame([{"stage": NAMES[s], "F1": m["per_stage"][Stage(s).label("en")]["f1"]} for s in Stage])
fig = px.bar(per, x="stage", y="F1", color="stage", color_discrete_map=COLORS, range_y=[0, 1], title=tr("quality.f1"))
fig.update_layout(showlegend=False, height=380, xaxis_title=None)
right.plotly_chart(fig, width="stretch", key="f1")

left, right = st.columns(2)
cal = pd.DataFrame(report["calibration"])
fig = go.Figure()
fig.add_trace(
    go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#999"}, name=tr("quality.ideal"))
)
fig.add_trace(
    go.Scatter(
        x=cal["confidence"],
        y=cal["accuracy"],
        mode="lines+markers",
        marker={"size": np.clip(np.sqrt(cal["rows"]) / 2, 5, 22)},
        text=cal["rows"],
        hovertemplate="%{x:.2f} → %{y:.2f} (%{text} rows)<extra></extra>",
        name=model,
    )
)
fig.update_layout(
    title=tr("quality.calibration"),
    xaxis_title=tr("quality.confidence"),
    yaxis_title=tr("quality.observed"),
    height=380,
    xaxis_range=[0, 1],
    yaxis_range=[0, 1],
)
left.plotly_chart(fig, width="stretch", key="calibration")

rows = [{"name": model, "kind": tr("quality.kind.this"), **{k: m[k] for k in ("macro_f1", "accuracy", "ece")}}]
rows += [
    {"name": n, "kind": tr("quality.kind.model"), **{k: v[k] for k in ("macro_f1", "accuracy", "ece")}}
    for n, v in report["models"].items()
]
rows += [
    {"name": n, "kind": tr("quality.kind.baseline"), **{k: v[k] for k in ("macro_f1", "accuracy", "ece")}}
    for n, v in report["baselines"].items()
]
table = pd.DataFrame(rows).sort_values("macro_f1", ascending=False)
fig = px.bar(
    table,
    x="macro_f1",
    y="name",
    color="kind",
    orientation="h",
    range_x=[0, 1],
    title=tr("quality.compare"),
    labels={"macro_f1": tr("quality.macro_f1"), "name": "", "kind": ""},
)
fig.update_layout(height=380, yaxis={"categoryorder": "total ascending"})
right.plotly_chart(fig, width="stretch", key="compare")
st.dataframe(
    table.rename(
        columns={
            "name": tr("quality.col.name"),
            "kind": tr("quality.col.kind"),
            "macro_f1": tr("quality.macro_f1"),
            "accuracy": tr("quality.accuracy"),
            "ece": tr("quality.ece"),
        }
    ),
    hide_index=True,
    width="stretch",
)

# What the model relies on: SHAP over a sample of products per predicted stage, computed on request.
st.subheader(tr("quality.influence"))
st.caption(tr("quality.influence_intro"))
influence = load_influence(ws, model, info.name)
per_stage = st.slider(tr("quality.per_stage"), 2, 20, 6, key="influence_n")
if st.button(tr("quality.compute_influence", s=f"{per_stage * 4 * 1.6:,.0f}"), key="influence_go"):
    bar = st.progress(0.0, text=tr("quality.computing"))
    influence = stage_influence(
        ws, info.name, model, per_stage=per_stage, progress=lambda f, msg: bar.progress(min(f, 1.0), text=msg)
    )
    bar.empty()
if influence is None:
    st.info(tr("quality.no_influence"))
    st.stop()
if not str(influence.get("text_part", "on")).startswith("on"):
    st.caption(tr("quality.text_off"))
feats = pd.DataFrame(influence["features"])
toks = pd.DataFrame(influence["tokens"])
for tab, s in zip(st.tabs(NAMES), Stage, strict=True):
    with tab:
        a, b = st.columns(2)
        f = feats[feats["stage"] == int(s)] if len(feats) else feats
        if len(f):
            f = f.assign(label=[feature_label(x, lang) for x in f["feature"]]).head(8)
            fig = px.bar(f, x="mean", y="label", orientation="h", title=tr("quality.top_features"))
            fig.update_traces(marker_color=[s.color if v > 0 else "#d73a49" for v in f["mean"]])
            fig.update_layout(
                height=340, yaxis={"autorange": "reversed"}, yaxis_title=None, xaxis_title=tr("quality.mean_shap")
            )
            a.plotly_chart(fig, width="stretch", key=f"feat{int(s)}")
        t = toks[toks["stage"] == int(s)] if len(toks) else toks
        if len(t):
            top = t.head(10).assign(token=lambda d: d["token"].map(plot_text))  # words of the data: text only
            fig = px.bar(top, x="mean", y="token", orientation="h", title=tr("quality.top_tokens"))
            fig.update_traces(marker_color=s.color)
            fig.update_layout(
                height=340, yaxis={"autorange": "reversed"}, yaxis_title=None, xaxis_title=tr("quality.mean_shap")
            )
            b.plotly_chart(fig, width="stretch", key=f"tok{int(s)}")
        else:
            b.caption(tr("quality.no_tokens"))
        n = len(influence["products"].get(Stage(s).label("en"), []))
        st.caption(tr("quality.sampled", n=n))
