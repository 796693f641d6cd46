"""Actions page: restock, promotion and clearance suggestions with totals, filters and downloads."""

from __future__ import annotations

import streamlit as st

from lifecycle_core.stages import Stage
from ui import data, state, widgets
from ui.state import tr

info = state.analysis_page("actions")
lang = state.lang()

with st.spinner(tr("common.computing")):
    table, has_inventory = data.actions(str(state.workspace().root), info.name, info.id)
if not has_inventory:
    st.warning(tr("actions.no_inventory"))

c1, c2, c3 = st.columns(3)
actions = c1.multiselect(
    tr("actions.filter.action"),
    ["restock", "promote", "clearance", "watch", "hold"],
    default=["restock", "promote", "clearance", "watch"],
    format_func=state.fmt("actions.action."),
    key=f"act_filter.{lang}",
)
cats = sorted(c for c in table["category"].dropna().unique()) if "category" in table else []
chosen_cats = c2.multiselect(tr("common.category"), cats, key="act_cats", placeholder=tr("common.all"))
stages = c3.multiselect(
    tr("common.stage"),
    [int(s) for s in Stage],
    format_func=lambda s, _l=lang: Stage(s).label(_l),
    key=f"act_stages.{lang}",
    placeholder=tr("common.all"),
)
view = table[table["action"].isin(actions)] if actions else table
if chosen_cats:
    view = view[view["category"].isin(chosen_cats)]
if stages:
    view = view[view["stage"].isin(stages)]

restock = view[view["action"] == "restock"]
clear = view[view["action"] == "clearance"]
m1, m2, m3, m4, m5 = st.columns(5)
m1.metric(tr("actions.products"), f"{len(view):,}")
m2.metric(tr("actions.units_to_order"), f"{restock['quantity'].sum():,.0f}")
m3.metric(tr("actions.capital_needed"), f"{restock['capital'].sum():,.0f}")
m4.metric(tr("actions.markdown_cost"), f"{clear['markdown_cost'].sum():,.0f}")
m5.metric(tr("actions.capital_released"), f"{-clear['capital'].sum():,.0f}")

shown = view.assign(
    stage_name=[Stage(s).label(lang) for s in view["stage"]],
    action_name=[tr(f"actions.action.{a}") for a in view["action"]],
    reason=view[f"reason_{lang}"],
)
# No demand means no finite cover: show an empty cell rather than "Infinity".
shown = shown.replace([float("inf")], float("nan"))
cols = {
    "product_id": tr("common.product"),
    "title": tr("actions.col.title"),
    "stage_name": tr("common.stage"),
    "confidence": tr("actions.col.confidence"),
    "action_name": tr("actions.col.action"),
    "quantity": tr("actions.col.quantity"),
    "markdown_pct": tr("actions.col.markdown"),
    "cover_before": tr("actions.col.cover_before"),
    "cover_after": tr("actions.col.cover_after"),
    "weeks_since_sale": tr("actions.col.weeks_since_sale"),
    "stockout_risk_before": tr("actions.col.risk"),
    "capital": tr("actions.col.capital"),
    "reason": tr("actions.col.reason"),
}
st.dataframe(shown[list(cols)].rename(columns=cols), hide_index=True, width="stretch", height=480)
widgets.download_buttons(view, f"actions_{info.name}", "actions", key="actions")
