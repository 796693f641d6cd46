"""A deterministic synthetic catalog that behaves like a real one, for demos and tests.

    python -m lifecycle_core demo --out demo_data --products 300 --weeks 104 --seed 0

Each product's weekly demand follows a Bass diffusion curve (innovation p, imitation q, market size
m, launch week drawn per category) times category seasonality, with over-dispersed noise. Some
products launched before the window, some launch inside it, some are discontinued. Reviews and
search terms are worded by where the product really is on its curve (novelty early, praise while
rising, "reliable" at the plateau, complaints about being dated late) without naming any stage.
The result is written as the CSV files a merchant would upload and goes through the normal ingest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Category:
    name: str
    name_zh: str
    nouns: tuple[tuple[str, str], ...]  # (English, Chinese)
    base_price: float
    season_amp: float  # multiplicative seasonality amplitude
    season_peak_week: int  # week of year with the most demand
    speed: float  # scales p and q: fast-moving categories live shorter lives


CATEGORIES: tuple[Category, ...] = (
    Category("Home & Kitchen", "家居厨房",
             (("mug", "马克杯"), ("kettle", "水壶"), ("storage jar", "储物罐"), ("cutting board", "砧板"),
              ("teapot", "茶壶"), ("lunch box", "饭盒")), 18.0, 0.10, 48, 0.8),
    Category("Toys & Games", "玩具游戏",
             (("jigsaw puzzle", "拼图"), ("building set", "积木套装"), ("plush bear", "毛绒熊"),
              ("board game", "桌游"), ("kite", "风筝")), 25.0, 0.45, 50, 1.0),
    Category("Apparel", "服饰",
             (("hoodie", "连帽卫衣"), ("scarf", "围巾"), ("rain jacket", "雨衣"), ("t-shirt", "T恤"),
              ("sneakers", "运动鞋")), 35.0, 0.25, 44, 1.2),
    Category("Electronics Accessories", "数码配件",
             (("phone case", "手机壳"), ("charging cable", "充电线"), ("wireless earbuds", "无线耳机"),
              ("power bank", "充电宝"), ("watch band", "表带")), 22.0, 0.15, 47, 1.5),
    Category("Beauty", "美妆个护",
             (("face serum", "精华液"), ("lip balm", "润唇膏"), ("hand cream", "护手霜"), ("sheet mask", "面膜")),
             15.0, 0.10, 50, 0.9),
    Category("Seasonal Decor", "节日装饰",
             (("string lights", "灯串"), ("ornament set", "挂饰套装"), ("wreath", "花环"), ("lantern", "灯笼")),
             20.0, 0.85, 50, 0.7),
)  # fmt: skip

_ADJ = ("Classic", "Nordic", "Vintage", "Eco", "Compact", "Deluxe", "Minimal", "Bold", "Soft", "Urban", "Retro", "Pro")
_ADJ_ZH = ("经典", "北欧风", "复古", "环保", "便携", "豪华", "简约", "潮流", "柔软", "都市", "怀旧", "专业")
_MATERIAL = ("ceramic", "bamboo", "cotton", "steel", "glass", "recycled", "silicone", "linen", "oak", "wool")
_BRANDS = ("Larkspur", "Nordvik", "Hanami", "Bluefin", "Copperleaf", "Maple & Co", "Zhiyun", "Aurora", "Kestrel")

# Wording by true position on the curve: early, rising, plateau, late. Never a stage name.
_REVIEWS_EN = (
    ("Just discovered this {noun}, first impressions are good.", "Brand new to the shop and already ordered one.",
     "Found this {noun} by chance, nothing like it yet.", "Arrived quickly, curious how it holds up."),
    ("Everyone I know is buying this {noun} now!", "Bought a second one as a gift, so popular.",
     "Sold out twice this month, worth the wait.", "My friends saw mine and ordered their own."),
    ("Reliable {noun}, does exactly what it says.", "Solid everyday choice, as expected.",
     "Our household staple, would buy again.", "Good value, nothing surprising."),
    ("Feels a bit dated compared to newer designs.", "There are cheaper alternatives now.",
     "Quality seems lower than the first batch.", "Used to love it, the new ones elsewhere are better."),
)  # fmt: skip
_REVIEWS_ZH = (
    ("刚发现这款{noun}，第一印象不错。", "新上架就下单了，期待使用效果。", "偶然看到的新品，挺特别。", "到货很快，先用用看。"),
    ("身边朋友都在买这款{noun}！", "又买了一个送人，太火了。", "这个月断货两次，值得等。", "朋友看到我的也下单了。"),
    ("很可靠的{noun}，跟描述一致。", "日常好用，中规中矩。", "家里常备，会回购。", "性价比不错，没有惊喜。"),
    ("和新款比有点过时了。", "现在有更便宜的替代品。", "质量不如第一批了。", "以前很喜欢，现在别家的更好。"),
)  # fmt: skip
_QUERIES = (("new {noun}", "{noun} launch"), ("best {noun}", "{noun} trending"), ("{noun}", "{brand} {noun}"),
            ("{noun} sale", "cheap {noun}"))  # fmt: skip
_QUERIES_ZH = (("新款{noun}", "{noun}新品"), ("{noun}推荐", "爆款{noun}"), ("{noun}", "{brand}{noun}"),
               ("{noun}清仓", "便宜{noun}"))  # fmt: skip


def bass_rate(t: np.ndarray, p: np.ndarray, q: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Expected adoptions in period [t, t+1) of a Bass diffusion (units/period); 0 before launch (t < 0).

    Shapes broadcast; t is periods since launch.
    """

    def cum(x: np.ndarray) -> np.ndarray:
        x = np.maximum(x, 0.0)
        e = np.exp(-(p + q) * x)
        return (1 - e) / (1 + (q / p) * e)

    return np.where(t >= 0, m * (cum(t + 1) - cum(t)), 0.0)


def generate(
    n_products: int = 300,
    n_weeks: int = 104,
    *,
    seed: int = 0,
    start: str = "2023-01-02",
    zh_share: float = 0.25,
    reviews_per_unit: float = 0.02,
) -> dict[str, pd.DataFrame]:
    """The demo catalog as merchant-style tables: products, sales, reviews, search_terms, inventory."""
    if n_products < 1 or n_weeks < 8:
        raise ValueError(f"need at least 1 product and 8 weeks, got {n_products} products, {n_weeks} weeks")
    rng = np.random.default_rng(seed)
    start_ts = pd.Timestamp(start)
    start_ts -= pd.Timedelta(days=start_ts.day_of_week)  # weeks start on Monday
    P, W = n_products, n_weeks
    cat_idx = rng.integers(0, len(CATEGORIES), P)
    speed = np.array([CATEGORIES[c].speed for c in cat_idx])
    p = rng.uniform(0.002, 0.01, P) * speed
    q = rng.uniform(0.08, 0.2, P) * speed
    m = np.exp(rng.normal(np.log(2500), 0.7, P))
    peak_age = np.log(q / p) / (p + q)  # weeks from launch to the peak of the Bass rate
    # Launch from before the window to near its end; about a third before it.
    launch = np.round(rng.uniform(-0.45, 0.9, P) * W).astype(int)
    discontinued = rng.random(P) < 0.12
    # Merchants delist products whose demand has faded: at an age where the Bass rate has fallen to
    # 10-35 % of its peak (a few are cut earlier, on purpose, right after the peak).
    fade = rng.uniform(0.1, 0.35, P)
    s_ = p + q
    # Solve rate(age)/peak = fade after the peak (closed form of the logistic-shaped Bass density).
    x = (2 - fade + 2 * np.sqrt(1 - fade)) / fade
    fade_age = (np.log(q / p) + np.log(x)) / s_
    delist = np.where(
        discontinued, launch + (peak_age * rng.uniform(1.1, 1.5, P)).astype(int), launch + fade_age.astype(int)
    )
    # Keep every product on sale for a few weeks inside the window, so the demo has no empty curves.
    delist = np.maximum(delist, rng.integers(6, max(7, W // 3), P))
    weeks = np.arange(W)
    age = weeks[None, :] - launch[:, None]
    woy = ((start_ts.day_of_year // 7) + weeks) % 52
    amp = np.array([CATEGORIES[c].season_amp for c in cat_idx])[:, None]
    peak_w = np.array([CATEGORIES[c].season_peak_week for c in cat_idx])[:, None]
    season = np.clip(1 + amp * np.cos(2 * np.pi * (woy[None, :] - peak_w) / 52), 0.15, None)
    lam = bass_rate(age.astype(float), p[:, None], q[:, None], m[:, None]) * season
    listed = (age >= 0) & (weeks[None, :] < delist[:, None])
    lam = np.where(listed, lam, 0.0)
    units = rng.poisson(lam * rng.gamma(6.0, 1 / 6.0, lam.shape)).astype(float)

    # Phase on the true curve (0 early, 1 rising, 2 plateau, 3 late) drives wording, returns, price.
    rel = age / peak_age[:, None]
    phase = np.select([rel < 0.45, rel < 0.95, rel < 1.9], [0, 1, 2], 3)
    base_price = np.array([CATEGORIES[c].base_price for c in cat_idx]) * rng.uniform(0.6, 1.6, P)
    markdown = np.where((phase == 3) & (rng.random(P) < 0.5)[:, None], 0.8, 1.0)
    price = np.round(base_price[:, None] * markdown, 2)
    ret_rate = np.clip(rng.uniform(0.01, 0.05, P)[:, None] + 0.03 * (phase == 3), 0, 0.5)
    returns = rng.binomial(units.astype(int), ret_rate).astype(float)
    conv = rng.uniform(0.02, 0.06, P)[:, None] * np.where(phase == 1, 1.3, 1.0)
    views = np.round(units / conv + rng.poisson(20, units.shape) * listed)
    add_to_cart = np.round(views * rng.uniform(0.08, 0.15, P)[:, None])
    orders = np.ceil(units / rng.uniform(1.0, 1.3, P)[:, None])

    is_zh = rng.random(P) < zh_share
    noun_idx = rng.integers(0, 100, P)
    adj_idx = rng.integers(0, len(_ADJ), P)
    brand = rng.choice(_BRANDS, P)
    titles, descs, nouns = [], [], []
    for i in range(P):
        cat = CATEGORIES[cat_idx[i]]
        en, zh = cat.nouns[noun_idx[i] % len(cat.nouns)]
        mat = _MATERIAL[(noun_idx[i] + adj_idx[i]) % len(_MATERIAL)]
        if is_zh[i]:
            nouns.append(zh)
            titles.append(f"{brand[i]} {_ADJ_ZH[adj_idx[i]]}{zh}")
            descs.append(f"{_ADJ_ZH[adj_idx[i]]}设计的{zh}，{cat.name_zh}系列，适合日常使用。")
        else:
            nouns.append(en)
            titles.append(f"{brand[i]} {_ADJ[adj_idx[i]]} {mat.title()} {en.title()}")
            descs.append(
                f"A {_ADJ[adj_idx[i]].lower()} {mat} {en} from our {cat.name.lower()} range, made for everyday use."
            )

    products = pd.DataFrame(
        {
            "product_id": [f"P{i + 1:05d}" for i in range(P)],
            "title": titles,
            "description": descs,
            "category": [CATEGORIES[c].name for c in cat_idx],
            "brand": brand,
            "price": np.round(base_price, 2),
            "unit_cost": np.round(base_price * rng.uniform(0.35, 0.6, P), 2),
            "launch_date": [(start_ts + pd.Timedelta(weeks=int(w))).date().isoformat() for w in launch],
        }
    )
    pi, wi = np.nonzero(listed)
    dates = (start_ts + pd.to_timedelta(weeks * 7, unit="D")).strftime("%Y-%m-%d").to_numpy()
    sales = pd.DataFrame(
        {
            "product_id": products["product_id"].to_numpy()[pi],
            "date": dates[wi],
            "units": units[pi, wi].astype(int),
            "revenue": np.round(units[pi, wi] * price[pi, wi], 2),
            "returns": returns[pi, wi].astype(int),
            "views": views[pi, wi].astype(int),
            "add_to_cart": add_to_cart[pi, wi].astype(int),
            "orders": orders[pi, wi].astype(int),
        }
    )

    quality = rng.normal(4.3, 0.35, P)
    n_rev = np.minimum(rng.poisson(units * reviews_per_unit), 4)
    rp, rw = np.nonzero(n_rev)
    reps = n_rev[rp, rw]
    rp, rw = np.repeat(rp, reps), np.repeat(rw, reps)
    ph = phase[rp, rw]
    pick = rng.integers(0, 4, len(rp))
    texts = [
        (_REVIEWS_ZH if is_zh[i] else _REVIEWS_EN)[h][k].format(noun=nouns[i])
        for i, h, k in zip(rp, ph, pick, strict=True)
    ]
    rating = np.clip(np.round(quality[rp] - 0.7 * (ph == 3) + rng.normal(0, 0.6, len(rp))), 1, 5)
    reviews = pd.DataFrame(
        {
            "product_id": products["product_id"].to_numpy()[rp],
            "date": dates[rw],
            "rating": rating.astype(int),
            "review": texts,
        }
    )

    # Search terms every 4 weeks per listed product: the generic query and one that fits the phase.
    sp, sw = np.nonzero(listed[:, ::4])
    sw = sw * 4
    window_units = np.add.reduceat(units, np.arange(0, W, 4), axis=1)[sp, sw // 4]
    qrows = []
    for i, w, u in zip(sp, sw, window_units, strict=True):
        table = _QUERIES_ZH if is_zh[i] else _QUERIES
        pair = table[phase[i, w]]
        clicks = int(u * 0.6) + 1
        for j, tmpl in enumerate((pair[0], pair[1])):
            c = max(1, clicks // (j + 1))
            qrows.append(
                (products["product_id"].iat[i], dates[w], tmpl.format(noun=nouns[i], brand=brand[i]), c, int(c / 0.04))
            )
    search = pd.DataFrame(qrows, columns=["product_id", "date", "search_term", "clicks", "impressions"])

    recent = units[:, -4:].mean(axis=1)
    cover = rng.choice([0.5, 2, 4, 8, 12, 26], P, p=[0.1, 0.2, 0.25, 0.2, 0.15, 0.1])
    still_listed = listed[:, -1]
    inventory = pd.DataFrame(
        {
            "product_id": products["product_id"],
            "on_hand": np.where(
                still_listed, np.round(recent * cover + rng.integers(0, 30, P)), rng.integers(0, 200, P)
            ),
            "on_order": np.where(rng.random(P) < 0.25, np.round(recent * 4), 0).astype(int),
            "lead_time_days": rng.choice([14, 21, 28, 42, 60], P),
            "unit_cost": products["unit_cost"],
            "min_order_qty": rng.choice([1, 12, 24, 48, 100], P),
        }
    )
    inventory["on_hand"] = inventory["on_hand"].astype(int)
    return {
        "products": products,
        "sales": sales,
        "reviews": reviews,
        "search_terms": search,
        "inventory": inventory,
    }


def write_demo(out_dir: str | Path, n_products: int = 300, n_weeks: int = 104, *, seed: int = 0) -> list[Path]:
    """Write the demo catalog as CSV files into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in generate(n_products, n_weeks, seed=seed).items():
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths
