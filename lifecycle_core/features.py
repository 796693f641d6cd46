"""Causal model inputs per product and period: numeric signals and the text the model reads.

    python -c "from lifecycle_core.store import Workspace; from lifecycle_core.features import build_examples; \
print(build_examples(Workspace('ws'), 'demo').head())"

Everything computed for period t uses data up to the end of t and nothing after: trailing windows,
running maxima, cumulative counts, reviews and search terms dated up to t. tests/test_features.py proves
it by altering every row after t and checking that nothing computed for t changes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .labeling import LabelRules, Labels, apply_overrides, apply_user_labels, label_panel
from .panel import Panel, panel_from_dataset, trailing_count, trailing_sum
from .periods import PERIOD_DAYS, period_start, periods_in, weeks_per_period
from .privacy import mask_pii, mask_series

# lag_k: log units k weeks before t minus the log of the best period up to t. The recent shape of the
# curve, scale-free; the neural model reads it far better than the summary slopes (docs/evaluation.md).
# Names count weeks (log_units_4: the last 4 weeks; age: weeks since launch) whatever the dataset's
# rhythm: windows are converted to its periods (4 weeks = 28 days = 1 month), so monthly and weekly data
# of the same products give comparable inputs. Lags step one period on monthly data (12 months) and one
# week (of weekly means) on daily data.
N_LAGS = 12
FEATURES = (
    "age",
    "log_units",
    "log_units_4",
    "log_units_8",
    "log_units_13",
    "slope_8",
    "ratio_to_max",
    "periods_since_max",
    "log_cum_units",
    "return_rate_8",
    "price_change",
    "rating_mean",
    "rating_trend",
    "log_review_count",
    "log_reviews_4",
    "log_search_clicks_8",
    "ctr_8",
    "cart_rate_4",
    "order_rate_4",
    "category_level",
    *(f"lag_{k}" for k in range(N_LAGS)),
)


@dataclass(frozen=True)
class FeatureConfig:
    """How model inputs are assembled. ``k_reviews``/``k_terms``: latest reviews and search terms in the text."""

    k_reviews: int = 3
    k_terms: int = 3
    max_review_chars: int = 200

    def __post_init__(self) -> None:
        if self.k_reviews < 0 or self.k_terms < 0:
            raise ValueError(f"k_reviews and k_terms must be >= 0, got {self.k_reviews}, {self.k_terms}")
        if self.max_review_chars < 10:
            raise ValueError(f"max_review_chars must be >= 10, got {self.max_review_chars}")

    def to_dict(self) -> dict:
        return asdict(self)


def _per_period_counts(panel: Panel, table: pd.DataFrame | None, value: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(count, sum of ``value``) of a dated table's rows per product and period. Shapes (P, T)."""
    P, T = panel.shape
    cnt, tot = np.zeros((P, T)), np.zeros((P, T))
    if table is None or table.empty or not T:
        return cnt, tot
    per = period_start(pd.to_datetime(table["date"]), panel.period)
    rows = panel.products.get_indexer(table["product_id"].astype("str"))
    cols = panel.periods.get_indexer(per)
    ok = (rows >= 0) & (cols >= 0)
    np.add.at(cnt, (rows[ok], cols[ok]), 1.0)
    if value is not None and value in table:
        v = table[value].to_numpy(dtype="float64")
        ok2 = ok & ~np.isnan(v)
        np.add.at(tot, (rows[ok2], cols[ok2]), v[ok2])
    return cnt, tot


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def _trailing_slope(x: np.ndarray, window: int) -> np.ndarray:
    """OLS slope of x over the last ``window`` periods (fewer at the start), per period. Causal."""
    P, T = x.shape
    t = np.arange(T, dtype="float64")[None, :]
    n = trailing_count(T, window)[None, :]
    sx = trailing_sum(np.broadcast_to(t, (P, T)), window)
    sy = trailing_sum(x, window)
    sxy = trailing_sum(x * t, window)
    sxx = trailing_sum(np.broadcast_to(t * t, (P, T)), window)
    den = n * sxx - sx * sx
    return np.where(den > 0, (n * sxy - sx * sy) / np.where(den > 0, den, 1), 0.0)


def numeric_features(
    panel: Panel,
    *,
    launch_t: np.ndarray | None = None,
    categories: pd.Series | None = None,
    reviews: pd.DataFrame | None = None,
    search_terms: pd.DataFrame | None = None,
) -> dict[str, np.ndarray]:
    """Every feature in FEATURES as a (P, T) float64 matrix, each using data up to t only.

    ``launch_t`` (P,) is the launch period index (may be negative, NaN when unknown); ``categories``
    is indexed like ``panel.products``.
    """
    u = panel.units
    P, T = u.shape
    t = np.arange(T)[None, :]
    wpp = weeks_per_period(panel.period)
    w4, w8, w13 = (periods_in(w, panel.period) for w in (4, 8, 13))
    first = panel.first_sale().astype("float64")
    first[first < 0] = np.nan
    start = first if launch_t is None else np.fmin(first, launch_t)
    f: dict[str, np.ndarray] = {}
    age = np.where(np.isnan(start)[:, None], 0.0, np.maximum(t - np.nan_to_num(start)[:, None], 0.0))
    f["age"] = age * wpp
    f["log_units"] = np.log1p(u)
    mean4 = trailing_sum(u, w4) / trailing_count(T, w4)
    for w, n in ((4, w4), (8, w8), (13, w13)):
        f[f"log_units_{w}"] = np.log1p(trailing_sum(u, n) / trailing_count(T, n))
    # Relative change per week: per period divided by the weeks a period lasts.
    f["slope_8"] = _trailing_slope(u, w8) / (trailing_sum(u, w8) / trailing_count(T, w8) + 1.0) / wpp
    run_max = np.maximum.accumulate(mean4, axis=1)
    f["ratio_to_max"] = _safe_div(mean4, run_max)
    is_new = np.concatenate([np.ones((P, 1), bool), mean4[:, 1:] >= run_max[:, :-1]], axis=1) & (mean4 > 0)
    last_max = np.maximum.accumulate(np.where(is_new, t, 0), axis=1)
    f["periods_since_max"] = (t - last_max).astype("float64") * wpp
    f["log_cum_units"] = np.log1p(np.cumsum(u, axis=1))
    ret = panel.values.get("returns", np.zeros_like(u))
    f["return_rate_8"] = np.clip(_safe_div(trailing_sum(ret, w8), trailing_sum(u, w8)), 0, 5)
    if "revenue" in panel.values:
        price4 = _safe_div(trailing_sum(panel.values["revenue"], w4), trailing_sum(u, w4))
        # First known price, carried forward: the reference a markdown is measured against.
        known = price4 > 0
        first_idx = np.where(known.any(axis=1), known.argmax(axis=1), 0)
        base = price4[np.arange(P), first_idx][:, None]
        seen = np.maximum.accumulate(known, axis=1)
        f["price_change"] = np.where(seen & (price4 > 0) & (base > 0), price4 / np.where(base > 0, base, 1) - 1, 0.0)
    else:
        f["price_change"] = np.zeros((P, T))
    n_rev, sum_rating = _per_period_counts(panel, reviews, "rating")
    has_rating = reviews is not None and "rating" in reviews
    cum_n, cum_r = np.cumsum(n_rev, axis=1), np.cumsum(sum_rating, axis=1)
    mean_all = _safe_div(cum_r, cum_n)
    recent_n, recent_r = trailing_sum(n_rev, w8), trailing_sum(sum_rating, w8)
    older_n, older_r = cum_n - recent_n, cum_r - recent_r
    f["rating_mean"] = np.where(cum_n > 0, mean_all - 3.0, 0.0) if has_rating else np.zeros((P, T))
    trend = _safe_div(recent_r, recent_n) - _safe_div(older_r, older_n)
    f["rating_trend"] = np.where((recent_n > 0) & (older_n > 0), trend, 0.0) if has_rating else np.zeros((P, T))
    f["log_review_count"] = np.log1p(cum_n)
    f["log_reviews_4"] = np.log1p(trailing_sum(n_rev, w4))
    _, clicks = _per_period_counts(panel, search_terms, "clicks")
    _, impr = _per_period_counts(panel, search_terms, "impressions")
    f["log_search_clicks_8"] = np.log1p(trailing_sum(clicks, w8))
    f["ctr_8"] = np.clip(_safe_div(trailing_sum(clicks, w8), trailing_sum(impr, w8)), 0, 1)
    views = panel.values.get("views")
    atc = panel.values.get("add_to_cart")
    orders = panel.values.get("orders")
    f["cart_rate_4"] = (
        np.clip(_safe_div(trailing_sum(atc, w4), trailing_sum(views, w4)), 0, 1)
        if views is not None and atc is not None
        else np.zeros((P, T))
    )
    f["order_rate_4"] = (
        np.clip(_safe_div(trailing_sum(orders, w4), trailing_sum(atc, w4)), 0, 5)
        if orders is not None and atc is not None
        else np.zeros((P, T))
    )
    f["category_level"] = _category_level(f["log_units_4"], panel, categories, first)
    # Daily data: lags of weekly means a week apart (a single day is mostly noise); else one period.
    step = periods_in(1, panel.period)
    base = u if step == 1 else trailing_sum(u, step) / trailing_count(T, step)
    log_u = np.log1p(np.maximum(base, 0))
    best = np.maximum.accumulate(log_u, axis=1)
    for k in range(N_LAGS):
        # Before the first period the curve is unknown: it is padded with the first period's units
        # (edge padding), which reads "no change" rather than inventing a rise or a fall.
        lag = k * step
        shifted = np.concatenate([np.repeat(log_u[:, :1], min(lag, T), axis=1), log_u[:, : max(T - lag, 0)]], axis=1)
        f[f"lag_{k}"] = shifted - best
    assert set(f) == set(FEATURES)
    return f


def _category_level(level: np.ndarray, panel: Panel, categories: pd.Series | None, first: np.ndarray) -> np.ndarray:
    """Product level minus the median level of its category's products selling at t (log scale). Causal:
    the median at t uses only period t's trailing levels."""
    P, T = level.shape
    cats = (
        pd.Series(categories).reindex(panel.products).fillna("").astype("str").to_numpy()
        if categories is not None
        else np.full(P, "")
    )
    started = ~np.isnan(first)[:, None] & (np.arange(T)[None, :] >= np.nan_to_num(first, nan=T)[:, None])
    out = np.zeros((P, T))
    for c in np.unique(cats):
        rows = cats == c
        block = np.where(started[rows], level[rows], np.nan)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(block, axis=0)
        out[rows] = np.where(started[rows], level[rows] - np.nan_to_num(med)[None, :], 0.0)
    return out


def model_texts(
    panel: Panel,
    rows: np.ndarray,
    cols: np.ndarray,
    products: pd.DataFrame,
    reviews: pd.DataFrame | None,
    search_terms: pd.DataFrame | None,
    config: FeatureConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The text the model reads for each (product row, period col): title, category, description,
    the latest ``k_reviews`` reviews and ``k_terms`` search terms dated up to the end of that period,
    with personal data masked.

    Returns (text_id per input pair, distinct texts): many periods share a text, and the model encodes
    each distinct text once.
    """
    config = config or FeatureConfig()
    prod = products.set_index("product_id").reindex(panel.products)
    base = []
    for pid in panel.products:
        r = prod.loc[pid]
        parts = [str(r.get("title") or pid)]
        if isinstance(r.get("category"), str) and r.get("category"):
            parts.append(f"Category: {r['category']}")
        if isinstance(r.get("description"), str) and r.get("description"):
            parts.append(str(r["description"]))
        base.append(mask_pii(" ".join(p.rstrip(" .") + "." for p in parts)))

    def _index(table: pd.DataFrame | None, col: str):
        if table is None or table.empty:
            return None
        tb = table.assign(_per=period_start(pd.to_datetime(table["date"]), panel.period))
        tb = tb.assign(_row=panel.products.get_indexer(tb["product_id"].astype("str")))
        tb = tb[tb["_row"] >= 0].sort_values(["_row", "_per"], kind="stable")
        # Per (product, period): how many of the product's rows are dated up to that period.
        counts = np.zeros(panel.shape)
        ci = panel.periods.get_indexer(tb["_per"])
        ok = ci >= 0
        np.add.at(counts, (tb["_row"].to_numpy()[ok], ci[ok]), 1)
        before = (tb["_per"] < panel.periods[0]).groupby(tb["_row"]).sum().reindex(range(panel.shape[0]), fill_value=0)
        cum = np.cumsum(counts, axis=1) + before.to_numpy()[:, None]
        offsets = np.concatenate([[0], np.cumsum(np.bincount(tb["_row"], minlength=panel.shape[0]))])
        # Masked once per distinct value here, not once per assembled text (millions at 100k products).
        return cum.astype("int64"), offsets, mask_series(tb[col].astype("str")).to_numpy()

    rev = _index(reviews, "text") if reviews is not None and "text" in reviews else None
    srch = _index(search_terms, "query") if search_terms is not None and "query" in search_terms else None
    n_r = rev[0][rows, cols] if rev else np.zeros(len(rows), "int64")
    n_s = srch[0][rows, cols] if srch else np.zeros(len(rows), "int64")
    keys = np.stack([rows.astype("int64"), n_r, n_s], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    texts = []
    for i, nr, ns in uniq:
        parts = [base[i]]
        if rev and nr > 0 and config.k_reviews:
            lo = rev[1][i] + max(0, nr - config.k_reviews)
            latest = [x[: config.max_review_chars] for x in rev[2][lo : rev[1][i] + nr][::-1]]
            parts.append("Reviews: " + " / ".join(latest))
        if srch and ns > 0 and config.k_terms:
            q = srch[2][srch[1][i] : srch[1][i] + ns][::-1]
            seen = list(dict.fromkeys(q))[: config.k_terms]
            parts.append("Searches: " + ", ".join(seen))
        texts.append(" ".join(p.rstrip(" .") + "." for p in parts))
    return inverse.reshape(-1), np.array(texts, dtype=object)


@dataclass
class Examples:
    """One row per active product-period: ids, features, label, text id. ``texts`` holds the distinct texts."""

    frame: pd.DataFrame
    texts: np.ndarray
    labels: Labels
    feature_names: tuple[str, ...] = FEATURES


def build_examples(
    ws,
    name: str,
    rules: LabelRules | None = None,
    config: FeatureConfig | None = None,
    *,
    with_text: bool = True,
) -> Examples:
    """Labels + causal features (+ model text) for every active product-period of a stored dataset.

    ``rules`` default to LabelRules() resolved for the dataset (windows in time, volume relative to the
    catalog); ``Examples.labels.rules`` holds the resolved rules."""
    info = ws.dataset(name)
    products = ws.load_table(name, "products")
    panel = panel_from_dataset(ws, name)
    reviews = ws.load_table(name, "reviews") if "reviews" in info.tables else None
    search = ws.load_table(name, "search_terms") if "search_terms" in info.tables else None
    launch = None
    if "launch_date" in products:
        ld = pd.to_datetime(products.set_index("product_id")["launch_date"]).reindex(panel.products)
        launch = launch_index(ld, panel)
    labels = label_panel(
        panel,
        rules,
        launch_dates=products.set_index("product_id")["launch_date"] if "launch_date" in products else None,
    )
    if "stage" in products and products["stage"].notna().any():
        labels = apply_overrides(labels, products.loc[products["stage"].notna(), ["product_id", "stage"]])
    labels = apply_user_labels(labels, ws.stage_labels(name))
    cats = products.set_index("product_id")["category"] if "category" in products else None
    feats = numeric_features(panel, launch_t=launch, categories=cats, reviews=reviews, search_terms=search)
    return examples_from(panel, labels, feats, products, reviews, search, config, with_text=with_text)


def launch_index(launch_dates: pd.Series, panel: Panel) -> np.ndarray:
    """Launch dates as (fractional) period indices relative to the panel start; NaN when unknown."""
    step = PERIOD_DAYS[panel.period]
    days = (pd.to_datetime(launch_dates) - panel.periods[0]).dt.days.to_numpy(dtype="float64")
    return np.floor(days / step)


def examples_from(panel, labels, feats, products, reviews, search, config, *, with_text=True) -> Examples:
    rows, cols = np.nonzero(labels.active)
    frame = pd.DataFrame(
        {
            "product_id": panel.products.to_numpy()[rows],
            "period": panel.periods.to_numpy()[cols],
            "t": cols,
            "row": rows,
        }
    )
    for k in FEATURES:
        frame[k] = feats[k][rows, cols]
    st = labels.stage[rows, cols]
    frame["stage"] = st.astype("int8")  # -1 = unlabeled
    frame["label_source"] = labels.source[rows, cols]
    frame["next_units"] = np.where(
        cols + 1 < panel.shape[1], panel.units[rows, np.minimum(cols + 1, panel.shape[1] - 1)], np.nan
    )
    if "category" in products:
        frame["category"] = products.set_index("product_id")["category"].reindex(frame["product_id"]).to_numpy()
    texts = np.array([], dtype=object)
    if with_text:
        text_id, texts = model_texts(panel, rows, cols, products, reviews, search, config)
        frame["text_id"] = text_id
    return Examples(frame, texts, labels)
