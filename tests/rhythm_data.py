"""Sales files of other rhythms than the demo's weeks, made in the test: monthly (dates on the 1st or on
month ends), daily, a short 15-month catalog, a sparse one with a few units per product and month, and
order lines of a small shop whose products sell a unit or two at a time.

    python -c "from tests.rhythm_data import write_monthly; print(write_monthly('/tmp/m', anchor='end'))"

Monthly and daily files are the demo catalog re-cut (the same products and curves, so their stages can
be compared with the weekly ones); the sparse catalog is drawn directly: Poisson sales around Bass-shaped
curves that peak at a few units a month.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lifecycle_core.demo import generate


def to_months(tables: dict[str, pd.DataFrame], *, anchor: str = "start") -> dict[str, pd.DataFrame]:
    """The demo tables with sales summed per calendar month, dated on its 1st (``start``) or last day (``end``).

    Each week's sales are spread evenly over its 7 days first, so weeks that straddle two months are split."""
    s = tables["sales"].copy()
    s["date"] = pd.to_datetime(s["date"])
    cols = [c for c in ("units", "revenue", "returns", "views", "add_to_cart", "orders") if c in s]
    days = s.loc[s.index.repeat(7)].copy()
    days["date"] = days["date"] + pd.to_timedelta(np.tile(np.arange(7), len(s)), unit="D")
    days[cols] = days[cols] / 7.0
    days["month"] = days["date"].dt.to_period("M")
    m = days.groupby(["product_id", "month"], as_index=False)[cols].sum()
    m[cols] = m[cols].round()
    ts = m["month"].dt.to_timestamp(how="start")
    m["date"] = (ts + pd.offsets.MonthEnd(0)) if anchor == "end" else ts
    out = dict(tables)
    out["sales"] = m.drop(columns="month")[["product_id", "date", *cols]]
    return out


def to_days(tables: dict[str, pd.DataFrame], *, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The demo tables with each week's units spread at random over its 7 days (days without sales dropped)."""
    rng = np.random.default_rng(seed)
    s = tables["sales"].copy()
    s["date"] = pd.to_datetime(s["date"])
    split = rng.multinomial(s["units"].clip(lower=0).astype(int).to_numpy(), np.full(7, 1 / 7))
    days = pd.DataFrame(
        {
            "product_id": np.repeat(s["product_id"].to_numpy(), 7),
            "date": (s["date"].to_numpy()[:, None] + np.arange(7) * np.timedelta64(1, "D")).ravel(),
            "units": split.ravel(),
        }
    )
    price = (s["revenue"] / s["units"].where(s["units"] > 0)).fillna(0).to_numpy()
    days["revenue"] = (days["units"] * np.repeat(price, 7)).round(2)
    out = dict(tables)
    out["sales"] = days[days["units"] > 0].reset_index(drop=True)
    return out


def sparse_catalog(n_products: int = 300, n_months: int = 101, *, seed: int = 0) -> dict[str, pd.DataFrame]:
    """A slow-moving catalog: each product peaks at 1-6 units a month; most months sell 0-3 units."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2017-01-01", periods=n_months, freq="MS")
    launch = rng.integers(-12, n_months - 12, n_products)
    life = rng.uniform(18, 60, n_products)
    peak = rng.uniform(1, 6, n_products)
    t = np.arange(n_months)[None, :] - launch[:, None]
    x = np.clip(t / life[:, None], 0, None)
    # A rise to the peak at a third of the life, then a slow fall: a Bass-like hump.
    shape = np.where(t >= 0, (x / 0.33) * np.exp(1 - x / 0.33), 0.0)
    units = rng.poisson(peak[:, None] * shape)
    ids = np.array([f"S{i:04d}" for i in range(n_products)])
    pi, ti = np.nonzero(units)
    sales = pd.DataFrame({"product_id": ids[pi], "date": months[ti], "units": units[pi, ti]})
    kinds = np.array(["ceramic mug", "linen napkin", "brass hook", "oak shelf", "wool throw"])
    kind = kinds[rng.integers(0, len(kinds), n_products)]
    products = pd.DataFrame(
        {
            "product_id": ids,
            "title": [f"{k.title()} no. {i}" for i, k in enumerate(kind)],
            "category": kind,
            "price": rng.uniform(5, 80, n_products).round(2),
        }
    )
    return {"products": products, "sales": sales}


def order_lines(n_products: int = 40, n_weeks: int = 78, *, peak: float = 2.0, seed: int = 0) -> pd.DataFrame:
    """Order lines of a shop whose products peak at about ``peak`` units a week (Bass-like humps, Poisson
    weeks), one or two units per line at a random hour of the week, a few lines returned later."""
    rng = np.random.default_rng(seed)
    launch = rng.integers(-8, n_weeks // 2, n_products)
    life = rng.uniform(30, 90, n_products)
    t = np.arange(n_weeks)[None, :] - launch[:, None]
    x = np.clip(t / life[:, None], 0, None)
    shape = np.where(t >= 0, (x / 0.33) * np.exp(1 - x / 0.33), 0.0)
    weekly = rng.poisson(peak * rng.uniform(0.5, 1.5, n_products)[:, None] * shape)
    pi, wi = np.nonzero(weekly)
    rows = []
    for p, w in zip(pi, wi, strict=True):
        left = int(weekly[p, w])
        while left > 0:
            q = min(left, int(rng.integers(1, 3)))
            left -= q
            rows.append((p, w, q))
    p, w, q = (np.array(c) for c in zip(*rows, strict=True))
    start = pd.Timestamp("2023-01-02")
    when = start + pd.to_timedelta(w * 7 * 24 + rng.integers(0, 7 * 24, len(w)), unit="h")
    lines = pd.DataFrame(
        {
            "Pedido": [f"P{i:06d}" for i in range(len(w))],
            "Fecha": when.strftime("%Y-%m-%d %H:%M"),
            "SKU": [f"ES-{i:03d}" for i in p],
            "Cantidad": q,
            "Precio": np.round(9.5 + p % 7 * 4.0, 2),
        }
    )
    back = rng.random(len(lines)) < 0.03  # returns: the same product, a week later, negative quantity
    ret = lines[back].assign(
        Pedido=lambda d: "R" + d["Pedido"].str[1:],
        Fecha=(when[back] + pd.Timedelta(days=7)).strftime("%Y-%m-%d %H:%M"),
        Cantidad=lambda d: -d["Cantidad"],
    )
    return pd.concat([lines, ret], ignore_index=True)


def write(tables: dict[str, pd.DataFrame], out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in tables.items():
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False, date_format="%Y-%m-%d")
        paths.append(path)
    return paths


def write_monthly(out_dir, *, products: int = 60, months: int = 30, anchor: str = "start", seed: int = 0):
    return write(to_months(generate(products, int(months * 4.35) + 1, seed=seed), anchor=anchor), out_dir)


def write_daily(out_dir, *, products: int = 40, weeks: int = 52, seed: int = 0):
    return write(to_days(generate(products, weeks, seed=seed), seed=seed), out_dir)


def write_sparse(out_dir, *, products: int = 300, months: int = 101, seed: int = 0):
    return write(sparse_catalog(products, months, seed=seed), out_dir)
