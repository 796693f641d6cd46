"""The product x period panel: every sales signal as a dense (products, periods) matrix.

    python -c "from lifecycle_core.store import Workspace; from lifecycle_core.panel import panel_from_dataset; \
print(panel_from_dataset(Workspace('ws'), 'demo').units.shape)"

Labels and features are column-wise operations on these matrices (rolling windows, running maxima),
which keeps them vectorised and makes "uses only data up to t" easy to see and to test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .periods import period_index

SIGNALS = ("units", "returns", "revenue", "views", "add_to_cart", "orders")


@dataclass
class Panel:
    """Dense sales matrices. Shapes: (P products, T periods); missing product-periods are 0 units."""

    products: pd.Index  # product ids, str
    periods: pd.DatetimeIndex  # period starts, consecutive
    period: str  # "D", "W" or "M"
    values: dict[str, np.ndarray] = field(default_factory=dict)  # signal -> (P, T) float64
    present: dict[str, np.ndarray] = field(default_factory=dict)  # signal -> (P, T) bool: a value was reported

    @property
    def units(self) -> np.ndarray:
        return self.values["units"]

    @property
    def shape(self) -> tuple[int, int]:
        return self.units.shape

    def first_sale(self) -> np.ndarray:
        """Index of each product's first period with units > 0; -1 for products that never sold. Shape (P,)."""
        sold = self.units > 0
        return np.where(sold.any(axis=1), sold.argmax(axis=1), -1)

    def last_sale(self) -> np.ndarray:
        """Index of each product's last period with units > 0; -1 for products that never sold. Shape (P,)."""
        sold = self.units[:, ::-1] > 0
        T = self.units.shape[1]
        return np.where(sold.any(axis=1), T - 1 - sold.argmax(axis=1), -1)

    def active(self, tail: int) -> np.ndarray:
        """(P, T) bool: from the first sale to ``tail`` periods after the last one (a delisted product
        stays visible long enough for its decline to show, then leaves the panel)."""
        T = self.units.shape[1]
        t = np.arange(T)[None, :]
        first, last = self.first_sale()[:, None], self.last_sale()[:, None]
        return (first >= 0) & (t >= first) & (t <= last + tail)


def build_panel(sales: pd.DataFrame, period: str, *, products: pd.Index | None = None) -> Panel:
    """Pivot a canonical sales table (product_id, period, units, ...) into a Panel.

    ``products`` fixes the row order (products without sales get zero rows).
    """
    if products is None:
        products = pd.Index(pd.unique(sales["product_id"]), dtype="str")
    periods = period_index(sales["period"].min(), sales["period"].max(), period) if len(sales) else pd.DatetimeIndex([])
    P, T = len(products), len(periods)
    rows = products.get_indexer(sales["product_id"])
    cols = periods.get_indexer(sales["period"])
    keep = (rows >= 0) & (cols >= 0)
    rows, cols = rows[keep], cols[keep]
    panel = Panel(products, periods, period)
    for sig in SIGNALS:
        if sig not in sales:
            continue
        v = sales[sig].to_numpy(dtype="float64")[keep]
        mat = np.zeros((P, T))
        has = np.zeros((P, T), dtype=bool)
        ok = ~np.isnan(v)
        np.add.at(mat, (rows[ok], cols[ok]), v[ok])
        has[rows[ok], cols[ok]] = True
        panel.values[sig] = mat
        panel.present[sig] = has
    if "units" not in panel.values:
        panel.values["units"] = np.zeros((P, T))
        panel.present["units"] = np.zeros((P, T), dtype=bool)
    return panel


def panel_from_dataset(ws, name: str) -> Panel:
    info = ws.dataset(name)
    products = pd.Index(ws.load_table(name, "products", columns=["product_id"])["product_id"], dtype="str")
    return build_panel(ws.load_table(name, "sales"), info.period, products=products)


def centered_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Centered moving average along axis 1; near the edges the window shrinks to what exists. Shape kept."""
    if window <= 1:
        return x.astype("float64")
    half = window // 2
    T = x.shape[1]
    c = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    lo = np.clip(np.arange(T) - half, 0, T)
    hi = np.clip(np.arange(T) + half + 1, 0, T)
    return (c[:, hi] - c[:, lo]) / (hi - lo)


def trailing_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum of the last ``window`` periods up to and including t (fewer at the start). Causal."""
    T = x.shape[1]
    c = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    lo = np.clip(np.arange(T) - window + 1, 0, T)
    return c[:, np.arange(T) + 1] - c[:, lo]


def trailing_count(T: int, window: int) -> np.ndarray:
    """How many periods ``trailing_sum`` covered at each t. Shape (T,)."""
    return np.minimum(np.arange(T) + 1, window).astype("float64")


def centered_median(x: np.ndarray, window: int) -> np.ndarray:
    """Centered rolling median along axis 1 (shrinking at the edges). Robust to one-off spikes. Shape kept."""
    if window <= 1:
        return x.astype("float64")
    half = window // 2
    padded = np.pad(x.astype("float64"), ((0, 0), (half, half)), constant_values=np.nan)
    view = np.lib.stride_tricks.sliding_window_view(padded, window, axis=1)
    return np.nanmedian(view, axis=2)
