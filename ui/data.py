"""Cached core results for the pages: computed once per dataset version, shared by every session."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lifecycle_core.decisions import find_anomalies, plan_actions
from lifecycle_core.store import Workspace


@st.cache_data(show_spinner=False, max_entries=8)
def actions(ws_root: str, name: str, dataset_id: str) -> tuple[pd.DataFrame, bool]:
    """(actions table, has inventory). ``dataset_id`` changes when the dataset is replaced: a new cache key."""
    plan = plan_actions(Workspace(ws_root), name)
    return plan.actions, plan.has_inventory


@st.cache_data(show_spinner=False, max_entries=8)
def anomalies(ws_root: str, name: str, dataset_id: str) -> pd.DataFrame:
    return find_anomalies(Workspace(ws_root), name)


@st.cache_data(show_spinner=False, max_entries=8)
def sales(ws_root: str, name: str, dataset_id: str) -> pd.DataFrame:
    return Workspace(ws_root).load_table(name, "sales", columns=["product_id", "period", "units"])


@st.cache_data(show_spinner=False, max_entries=8)
def predictions(ws_root: str, model: str, name: str, dataset_id: str, stamp: float) -> pd.DataFrame | None:
    """Stored scores of ``model`` on ``name`` with product titles and categories; ``stamp`` (the file's
    modification time) makes a re-score a new cache key."""
    from lifecycle_core.predict import load_predictions

    ws = Workspace(ws_root)
    preds = load_predictions(ws, model, name)
    if preds is None:
        return None
    products = ws.load_table(name, "products")
    keep = [c for c in ("product_id", "title", "category") if c in products]
    return preds.merge(products[keep].drop_duplicates("product_id"), on="product_id", how="left")


@st.cache_resource(max_entries=4)
def model(ws_root: str, name: str, stamp: float):
    """A loaded model (kept in memory: loading costs seconds); ``stamp`` is its weights' mtime."""
    from lifecycle_core.model import LifecycleModel
    from lifecycle_core.predict import model_dir

    return LifecycleModel.load(model_dir(Workspace(ws_root), name))


@st.cache_data(show_spinner=False, max_entries=4)
def model_actions(ws_root: str, name: str, dataset_id: str, model_name: str, stamp: float):
    """The actions plan with the model's stages (the Explain page re-plans one product from it)."""
    from lifecycle_core.decisions import plan_actions
    from lifecycle_core.predict import load_predictions

    ws = Workspace(ws_root)
    return plan_actions(ws, name, model_stages=load_predictions(ws, model_name, name))


def predictions_stamp(ws, name: str) -> float:
    """Latest modification time of any model's stored scores of ``name``: a re-score anywhere is a new key."""
    dataset_id = ws.dataset(name).id
    files = list((ws.root / "models").glob(f"*/predictions/{dataset_id}.parquet"))
    return max((f.stat().st_mtime for f in files), default=0.0)


@st.cache_data(show_spinner=False, max_entries=8)
def quality(ws_root: str, name: str, dataset_id: str, model_name: str, stamp: float) -> dict:
    """The model quality report (baselines are fitted here: seconds, so once per scores version)."""
    from lifecycle_core.quality import quality_report

    return quality_report(Workspace(ws_root), name, model_name)


@st.cache_data(show_spinner=False, max_entries=8)
def behaviour(ws_root: str, name: str, dataset_id: str, model_name: str | None, stamp: float, window: int):
    """(stage per product-period, behaviour aggregates): from the model's scores when it has them."""
    from lifecycle_core.behaviour import behaviour as aggregate
    from lifecycle_core.behaviour import stages_by_period

    ws = Workspace(ws_root)
    stages = stages_by_period(ws, name, model_name)
    return stages, aggregate(ws, name, stages, window=window)


@st.cache_data(show_spinner=False, max_entries=8)
def product_titles(ws_root: str, name: str, dataset_id: str) -> pd.DataFrame:
    products = Workspace(ws_root).load_table(name, "products")
    return products[[c for c in ("product_id", "title") if c in products]].drop_duplicates("product_id")


@st.cache_data(show_spinner=False, max_entries=32)
def product_behaviour(ws_root: str, name: str, dataset_id: str, model_name: str | None, stamp: float, product: str):
    from lifecycle_core.behaviour import product_detail

    stages, _ = behaviour(ws_root, name, dataset_id, model_name, stamp, 8)
    return product_detail(Workspace(ws_root), name, product, stages)
