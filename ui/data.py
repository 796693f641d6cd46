"""Cached core results for the pages: computed once per dataset version, shared by every session."""

from __future__ import annotations

import json

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


# Large tables (millions of product-periods at 100,000 products) are held once per process with
# st.cache_resource: shared by every session without the copy st.cache_data makes on each read. Pages
# never modify them; they read the small views below (st.cache_data: latest period, shares, one product).


@st.cache_resource(max_entries=2, show_spinner=False)
def scores(ws_root: str, model: str, name: str, dataset_id: str, stamp: float):
    """(stored scores of ``model`` on ``name``, row positions per product); ``stamp`` (the file's
    modification time) makes a re-score a new key. None when not scored."""
    from lifecycle_core.predict import load_predictions

    preds = load_predictions(Workspace(ws_root), model, name)
    if preds is None:
        return None
    return preds, preds.groupby("product_id", sort=False).indices


def _titles(ws: Workspace, name: str) -> pd.DataFrame:
    products = ws.load_table(name, "products")
    keep = [c for c in ("product_id", "title", "category") if c in products]
    return products[keep].drop_duplicates("product_id")


@st.cache_data(show_spinner=False, max_entries=8)
def predictions_summary(ws_root: str, model: str, name: str, dataset_id: str, stamp: float) -> dict | None:
    """What the Predictions and Explain pages show, aggregated once per scores version: ``periods``;
    ``last`` (rows of the latest period, with titles and categories); ``share`` (periods x stage
    shares); ``previous`` (stage per product at the period before the latest); ``latest`` (each
    product's latest scored row, for pickers)."""
    held = scores(ws_root, model, name, dataset_id, stamp)
    if held is None:
        return None
    preds = held[0]
    titles = _titles(Workspace(ws_root), name)
    periods = sorted(preds["period"].unique())
    last = preds[preds["period"] == periods[-1]].merge(titles, on="product_id", how="left")
    share = pd.crosstab(preds["period"], preds["stage"], normalize="index")
    previous = preds.loc[preds["period"] == periods[-2], ["product_id", "stage"]] if len(periods) > 1 else None
    latest = preds.loc[preds.groupby("product_id", sort=False)["t"].idxmax()].merge(titles, on="product_id", how="left")
    return {"periods": periods, "last": last, "share": share, "previous": previous, "latest": latest}


@st.cache_data(show_spinner=False, max_entries=64)
def product_scores(ws_root: str, model: str, name: str, dataset_id: str, stamp: float, product: str) -> pd.DataFrame:
    """One product's scored rows, in period order."""
    preds, where = scores(ws_root, model, name, dataset_id, stamp)
    return preds.iloc[where[product]].sort_values("period") if product in where else preds.iloc[:0]


@st.cache_resource(max_entries=2, show_spinner=False)
def _sales(ws_root: str, name: str, dataset_id: str):
    sales = Workspace(ws_root).load_table(name, "sales", columns=["product_id", "period", "units"])
    return sales, sales.groupby("product_id", sort=False).indices


@st.cache_data(show_spinner=False, max_entries=64)
def product_sales(ws_root: str, name: str, dataset_id: str, product: str) -> pd.DataFrame:
    """One product's units per period."""
    sales, where = _sales(ws_root, name, dataset_id)
    rows = sales.iloc[where[product]] if product in where else sales.iloc[:0]
    return rows.groupby("period", as_index=False)["units"].sum()


@st.cache_resource(max_entries=2, show_spinner=False)
def examples(ws_root: str, name: str, dataset_id: str, rules: str):
    """The model inputs of every product-period (features and texts), built once per dataset version:
    explaining another product then costs a lookup, not a rebuild."""
    from lifecycle_core.features import build_examples
    from lifecycle_core.labeling import LabelRules

    return build_examples(Workspace(ws_root), name, LabelRules.from_dict(json.loads(rules)))


@st.cache_resource(max_entries=4)
def model(ws_root: str, name: str, stamp: float):
    """A loaded model (kept in memory: loading costs seconds); ``stamp`` is its weights' mtime."""
    from lifecycle_core.predict import load_model, model_dir

    return load_model(model_dir(Workspace(ws_root), name))


@st.cache_resource(max_entries=2, show_spinner=False)
def model_examples(ws_root: str, name: str, dataset_id: str, model_name: str, stamp: float):
    """The dataset's examples as the model reads them (its label rules; a stacked model's season and
    analog inputs added once for every product-period, then looked up)."""
    from lifecycle_core.predict import model_examples as build

    m = model(ws_root, model_name, stamp)
    rules = json.dumps(m.training.get("labels") or {}, sort_keys=True)
    return build(Workspace(ws_root), name, m, examples=examples(ws_root, name, dataset_id, rules))


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


@st.cache_resource(max_entries=2, show_spinner=False)
def stages(ws_root: str, name: str, dataset_id: str, model_name: str | None, stamp: float) -> pd.DataFrame:
    """Stage per product-period (the model's stored scores, else the rule-based estimate); shared."""
    from lifecycle_core.behaviour import stages_by_period

    return stages_by_period(Workspace(ws_root), name, model_name)


@st.cache_data(show_spinner=False, max_entries=8)
def behaviour(ws_root: str, name: str, dataset_id: str, model_name: str | None, stamp: float, window: int):
    """The per-stage behaviour aggregates (a few hundred rows whatever the catalog's size)."""
    from lifecycle_core.behaviour import behaviour as aggregate

    return aggregate(Workspace(ws_root), name, stages(ws_root, name, dataset_id, model_name, stamp), window=window)


@st.cache_data(show_spinner=False, max_entries=8)
def product_titles(ws_root: str, name: str, dataset_id: str) -> pd.DataFrame:
    products = Workspace(ws_root).load_table(name, "products")
    return products[[c for c in ("product_id", "title") if c in products]].drop_duplicates("product_id")


@st.cache_data(show_spinner=False, max_entries=32)
def product_behaviour(ws_root: str, name: str, dataset_id: str, model_name: str | None, stamp: float, product: str):
    from lifecycle_core.behaviour import product_detail

    held = stages(ws_root, name, dataset_id, model_name, stamp)
    return product_detail(Workspace(ws_root), name, product, held)


@st.cache_data(max_entries=256, show_spinner=False)
def analog_names(ws_root: str, name: str, dataset_id: str, model_name: str, stamp: float, product: str) -> list[str]:
    """The training products the model takes as ``product``'s analogs (titles), for the sentence."""
    from lifecycle_core.explain import analog_names as names

    return names(Workspace(ws_root), name, model(ws_root, model_name, stamp), product)


@st.cache_data(max_entries=256, show_spinner=False)
def similar(ws_root: str, name: str, dataset_id: str, product: str, rules: str) -> pd.DataFrame:
    """The products whose text reads most like ``product`` and what they did at its age (analogs.py);
    the catalog's text vectors are computed once per dataset version and kept in the workspace."""
    from lifecycle_core.analogs import similar_products

    ex = examples(ws_root, name, dataset_id, rules)
    return similar_products(Workspace(ws_root), name, product, examples=ex)
