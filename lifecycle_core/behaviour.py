"""Customer behaviour per lifecycle stage: the funnel (views -> add to cart -> orders), return rates,
rating trends, and the review words and search terms rising or falling; one product in detail.

Every product-period carries a stage: the chosen model's stored prediction, or else the causal
rule-based estimate (gradient boosting on the hindsight labels, as on the Actions page). Everything
is aggregated here, in pandas, so the page draws a handful of rows per stage, whatever the catalog's size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .periods import period_start, periods_in

FUNNEL = ("views", "add_to_cart", "orders")
# Words too common in reviews to say anything about a stage (English; Chinese text is cut into bigrams).
_STOP = (
    "the and for with this that was are but not you have had has its it's they them too very just than "
    "then from after before were will would been being our out all any can could one two get got really "
    "also more most much some into over only when what which who why how about there their"
)
STOPWORDS = frozenset(_STOP.split())
_WORD = re.compile(r"[a-z][a-z']{2,}|[\u4e00-\u9fff]+")


def stages_by_period(ws, name: str, model: str | None = None) -> pd.DataFrame:
    """product_id, period, stage (0-3) for every active product-period; ``source`` says where from."""
    if model:
        from .predict import load_predictions

        preds = load_predictions(ws, model, name)
        if preds is not None:
            return preds[["product_id", "period", "stage"]].assign(source="model")
    from .features import build_examples
    from .stage_now import stage_probabilities

    ex = build_examples(ws, name, with_text=False)
    f = ex.frame
    stage = stage_probabilities(ex).argmax(1)
    user = (f["label_source"] == "user").to_numpy()
    stage[user] = f["stage"].to_numpy()[user]
    return f[["product_id", "period"]].assign(stage=stage, source="rules").reset_index(drop=True)


def terms(text: str) -> list[str]:
    """Lower-case words of 3+ letters without stopwords; runs of Chinese characters as bigrams."""
    out = []
    for w in _WORD.findall(text.lower()):
        if "\u4e00" <= w[0] <= "\u9fff":
            out.extend(w[i : i + 2] for i in range(max(1, len(w) - 1)))
        elif w not in STOPWORDS:
            out.append(w)
    return out


def term_trends(
    rows: pd.DataFrame, periods: list, *, window: int, weight: str | None = None, min_count: int = 3, top: int = 8
) -> pd.DataFrame:
    """Terms rising or falling per stage: each term's share of the stage's mentions in the last
    ``window`` periods against the ``window`` before. ``rows``: stage, period, term (and ``weight``).

    Returns stage, term, recent, before (counts or weights), change (share points), direction."""
    recent, before = set(periods[-window:]), set(periods[-2 * window : -window])
    r = rows[rows["period"].isin(recent | before)].assign(recent=lambda d: d["period"].isin(recent))
    if r.empty:
        return pd.DataFrame(columns=["stage", "term", "recent", "before", "change", "direction"])
    w = r[weight] if weight else pd.Series(1.0, index=r.index)
    agg = r.assign(w=w).pivot_table(index=["stage", "term"], columns="recent", values="w", aggfunc="sum", fill_value=0)
    agg = agg.reindex(columns=[False, True], fill_value=0).rename(columns={False: "before", True: "recent"})
    agg = agg.reset_index()
    totals = agg.groupby("stage")[["before", "recent"]].transform("sum").clip(lower=1)
    agg["change"] = agg["recent"] / totals["recent"] - agg["before"] / totals["before"]
    agg = agg[(agg["recent"] + agg["before"]) >= min_count]
    up = agg[agg["change"] > 0].sort_values("change", ascending=False).groupby("stage").head(top)
    down = agg[agg["change"] < 0].sort_values("change").groupby("stage").head(top)
    out = pd.concat([up.assign(direction="rising"), down.assign(direction="falling")], ignore_index=True)
    return out[["stage", "term", "recent", "before", "change", "direction"]]


@dataclass
class Behaviour:
    funnel: pd.DataFrame  # stage, step (views/add_to_cart/orders), value, rate (of the step before)
    returns: pd.DataFrame  # period, stage, units, returns, return_rate
    ratings: pd.DataFrame  # period, stage, reviews, rating
    review_terms: pd.DataFrame  # term_trends of review words
    search_terms: pd.DataFrame  # term_trends of search queries (weighted by clicks)
    window: int
    periods: list
    source: str


def _period_of(ws, name: str, dates: pd.Series) -> pd.Series:
    return period_start(pd.to_datetime(dates), ws.dataset(name).period)


def default_window(period: str) -> int:
    """The recent window of the behaviour views: 8 weeks in the dataset's periods (at least 2)."""
    return periods_in(8, period, minimum=2)


def behaviour(ws, name: str, stages: pd.DataFrame, *, window: int | None = None) -> Behaviour:
    """Aggregates per stage over the dataset's last ``window`` periods (trends: against the window before);
    ``window`` defaults to 8 weeks in the dataset's periods."""
    info = ws.dataset(name)
    window = default_window(info.period) if window is None else window
    if window < 1:
        raise ValueError(f"window must be at least 1 period, got {window}")
    sales = ws.load_table(name, "sales")
    s = sales.merge(stages[["product_id", "period", "stage"]], on=["product_id", "period"], how="inner")
    periods = sorted(s["period"].unique())
    last = s[s["period"].isin(periods[-window:])]
    steps = [c for c in FUNNEL if c in last and last[c].notna().any()]
    if "orders" not in steps and "units" in last:
        steps.append("units")
    funnel = last.groupby("stage")[steps].sum().stack().rename("value").rename_axis(["stage", "step"]).reset_index()
    funnel["rate"] = funnel.groupby("stage")["value"].transform(lambda v: v / v.shift(1).replace(0, np.nan))

    returns = pd.DataFrame(columns=["period", "stage", "units", "returns", "return_rate"])
    if "returns" in s and s["returns"].notna().any():
        returns = s.groupby(["period", "stage"], as_index=False)[["units", "returns"]].sum()
        returns["return_rate"] = returns["returns"] / returns["units"].replace(0, np.nan)

    ratings = pd.DataFrame(columns=["period", "stage", "reviews", "rating"])
    review_terms = term_trends(pd.DataFrame(columns=["stage", "period", "term"]), periods, window=window)
    if "reviews" in info.tables:
        rv = ws.load_table(name, "reviews")
        rv = rv.assign(period=_period_of(ws, name, rv["date"])).merge(
            stages[["product_id", "period", "stage"]], on=["product_id", "period"], how="inner"
        )
        if "rating" in rv and rv["rating"].notna().any():
            ratings = rv.groupby(["period", "stage"], as_index=False).agg(
                reviews=("rating", "size"), rating=("rating", "mean")
            )
        if "text" in rv:
            recent = rv[rv["period"].isin(periods[-2 * window :])]
            words = recent[["stage", "period"]].assign(term=[terms(t) for t in recent["text"].fillna("").astype(str)])
            review_terms = term_trends(words.explode("term").dropna(subset=["term"]), periods, window=window)
    search_terms = term_trends(pd.DataFrame(columns=["stage", "period", "term"]), periods, window=window)
    if "search_terms" in info.tables:
        q = ws.load_table(name, "search_terms")
        q = q.assign(period=_period_of(ws, name, q["date"]), term=q["query"].astype(str).str.lower().str.strip())
        q = q.merge(stages[["product_id", "period", "stage"]], on=["product_id", "period"], how="inner")
        weight = "clicks" if "clicks" in q and q["clicks"].notna().any() else None
        search_terms = term_trends(q, periods, window=window, weight=weight)
    source = str(stages["source"].iloc[0]) if "source" in stages and len(stages) else "rules"
    return Behaviour(funnel, returns, ratings, review_terms, search_terms, window, periods, source)


def product_detail(ws, name: str, product: str, stages: pd.DataFrame) -> dict:
    """One product: its sales and funnel per period with the stage, its latest reviews and top queries."""
    info = ws.dataset(name)
    sales = ws.load_table(name, "sales")
    own = sales[sales["product_id"].astype(str) == str(product)]
    if own.empty:
        raise KeyError(f"product {product!r} has no sales in dataset {name!r}")
    own = own.merge(stages[["product_id", "period", "stage"]], on=["product_id", "period"], how="left")
    if "returns" in own:
        own = own.assign(return_rate=own["returns"] / own["units"].replace(0, np.nan))
    out = {"sales": own.sort_values("period").reset_index(drop=True), "reviews": None, "queries": None}
    if "reviews" in info.tables:
        rv = ws.load_table(name, "reviews")
        out["reviews"] = rv[rv["product_id"].astype(str) == str(product)].sort_values("date", ascending=False)
    if "search_terms" in info.tables:
        q = ws.load_table(name, "search_terms")
        q = q[q["product_id"].astype(str) == str(product)]
        cols = [c for c in ("clicks", "impressions") if c in q]
        out["queries"] = (
            q.groupby("query", as_index=False)[cols].sum().sort_values(cols[0] if cols else "query", ascending=False)
            if len(q)
            else q
        )
    return out
