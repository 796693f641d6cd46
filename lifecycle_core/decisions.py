"""Decisions for a stored dataset: the actions table and the anomaly list, as the CLI and the pages use them.

python -m lifecycle_core actions --workspace ws --dataset demo --out actions.csv
python -m lifecycle_core anomalies --workspace ws --dataset demo --out anomalies.xlsx
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .anomalies import AnomalyPolicy, detect_anomalies
from .features import Examples, build_examples
from .forecast import ForecastConfig, backtest, forecast_panel
from .inventory import PROBS, InventoryPolicy, suggest_actions
from .labeling import LabelRules
from .periods import PERIOD_DAYS
from .seasons import seasonal_low
from .stage_now import current_stages, stage_probabilities, stage_probs_by_origin
from .stages import Stage


@dataclass
class Plan:
    actions: pd.DataFrame  # one row per product (inventory.suggest_actions)
    forecasts: pd.DataFrame  # product_id, step, period, mean, lower, upper, sigma, method
    stages: pd.DataFrame  # stage_now.current_stages
    has_inventory: bool


def plan_actions(
    ws,
    name: str,
    *,
    policy: InventoryPolicy | None = None,
    forecast_config: ForecastConfig | None = None,
    rules: LabelRules | None = None,
    examples: Examples | None = None,
    model_stages: pd.DataFrame | None = None,
) -> Plan:
    """Current stages, forecasts from the last period and one suggestion per product.

    ``model_stages`` (a trained model's scores: product_id, period, p_introduction...p_decline) replaces
    the built-in stage estimate; each product's latest scored period is used."""
    info = ws.dataset(name)
    ex = examples or build_examples(ws, name, rules, with_text=False)
    if model_stages is not None:
        latest = model_stages.sort_values("period").drop_duplicates("product_id", keep="last")
        stages = latest[["product_id", "period", *PROBS]].reset_index(drop=True)
    else:
        stages = current_stages(ws, name, examples=ex)
    panel = ex.labels.panel
    probs = np.tile(np.eye(4)[int(Stage.MATURITY)], (panel.shape[0], 1))
    rows = panel.products.get_indexer(stages["product_id"])
    probs[rows] = stages[list(PROBS)].to_numpy()
    fc = forecast_panel(panel, stage_probs=probs, config=forecast_config).to_frame()
    inventory = ws.load_table(name, "inventory") if "inventory" in info.tables else None
    products = ws.load_table(name, "products")
    actions = suggest_actions(
        products,
        fc,
        stages,
        inventory,
        policy=policy,
        period_days=PERIOD_DAYS[info.period],
        seasonal=seasonal_low(panel),
        last_sale=_last_sale(panel),
        as_of=panel.periods[-1] if len(panel.periods) else None,
    )
    actions = actions.merge(stages[["product_id", "period"]].rename(columns={"period": "as_of"}), on="product_id")
    return Plan(actions, fc, stages, inventory is not None)


def _last_sale(panel) -> pd.Series:
    """product_id -> the start of its last period with units sold (NaT for a product that never sold)."""
    last = panel.last_sale()
    if not len(panel.periods):
        return pd.Series(pd.NaT, index=panel.products)
    return pd.Series(panel.periods[np.maximum(last, 0)], index=panel.products).where(last >= 0)


def stage_matrix(ex: Examples) -> np.ndarray:
    """(P, T) stage per product-period: the rule label where there is one, the predicted stage elsewhere."""
    stages = ex.labels.stage.astype(int).copy()
    rows, cols = ex.frame["row"].to_numpy(), ex.frame["t"].to_numpy()
    unl = stages[rows, cols] < 0
    if unl.any():
        stages[rows[unl], cols[unl]] = stage_probabilities(ex, where=unl).argmax(axis=1)
    return stages


def find_anomalies(
    ws,
    name: str,
    *,
    policy: AnomalyPolicy | None = None,
    rules: LabelRules | None = None,
    examples: Examples | None = None,
) -> pd.DataFrame:
    """Every anomaly flag of a dataset, strongest first, with titles and categories joined in."""
    info = ws.dataset(name)
    ex = examples or build_examples(ws, name, rules, with_text=False)
    products = ws.load_table(name, "products").set_index("product_id")
    tx = ws.load_table(name, "transactions") if "transactions" in info.tables else None
    flags = detect_anomalies(
        ex.labels.panel,
        stage_matrix(ex),
        ex.labels.active,
        transactions=tx,
        categories=products.get("category", None),
        policy=policy,
    )
    if len(flags):
        flags.insert(1, "title", products["title"].reindex(flags["product_id"]).to_numpy())
        flags.insert(
            2,
            "category",
            products["category"].reindex(flags["product_id"]).to_numpy() if "category" in products else None,
        )
    return flags


def forecast_backtest(ws, name: str, *, config: ForecastConfig | None = None, rules: LabelRules | None = None) -> dict:
    """Rolling-origin backtest with stage probabilities learned only from labels known at each origin."""
    ex = build_examples(ws, name, rules, with_text=False)
    horizon = ex.labels.rules.horizon
    return backtest(ex.labels.panel, stage_probs_at=stage_probs_by_origin(ex, horizon), config=config)
