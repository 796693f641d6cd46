"""Invoice lines -> clean sales per product and period, with returns, adjustments and fees set apart.

    python -m lifecycle_core ingest ../shared/data/online_retail_ii/online_retail_ii.csv.gz \
        --workspace ws --name retail

Merchants' line exports mix sales with things that are not sales: cancellations (returns), stock
adjustments ("damages", "?"), postage and fees, vouchers, exact duplicate lines. Each is detected by a
documented rule in ``TransactionRules``, excluded or reclassified, and counted with examples in the
report; nothing is dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .periods import check_period, period_start
from .report import ValidationReport

# Codes that are never goods in Online Retail II-style exports. Single letters (M, D, S, B) are left to
# the description rule ("Manual", "Discount", "SAMPLES", "Adjust bad debt"): as codes they would
# also catch other merchants' real products.
_DEFAULT_CODES = (
    "POST", "DOT", "C2", "C3", "BANK CHARGES", "AMAZONFEE", "ADJUST", "ADJUST2", "CRUK", "TEST001", "TEST002", "GIFT",
)  # fmt: skip


@dataclass(frozen=True)
class TransactionRules:
    """How invoice lines are classified. Patterns are case-insensitive regular expressions.

    - ``cancel_prefixes``: an invoice starting with one of these is a cancellation: its lines are returns.
      Only where the prefix marks some invoices of the shop's own numbering (Online Retail's C489449 for
      489449: the rest has the shape of the other invoice numbers); a shop numbering every order CMD-1,
      CMD-2, ... has no cancellations by prefix (``prefixed_cancellations``).
    - ``non_product_codes`` / ``non_product_code_pattern`` / ``non_product_description_pattern``: lines
      that are not goods (postage, fees, manual corrections, vouchers, tests); excluded and reported.
    - stock adjustments: lines of a non-cancelled invoice with a zero price that either have a negative
      quantity, no customer, or a description matching ``adjustment_description_pattern``; excluded.
    - ``drop_duplicates``: exact duplicate lines (every column equal) are reported and dropped.
    """

    cancel_prefixes: tuple[str, ...] = ("C",)
    non_product_codes: tuple[str, ...] = _DEFAULT_CODES
    non_product_code_pattern: str = r"^(?:gift_|test\d|adjust)"
    non_product_description_pattern: str = (
        r"\b(?:postage|carriage|shipping charge|bank charges?|amazon fee|manual|discount|"
        r"adjust bad debt|adjustment by|test product|samples?|gift voucher|voucher|commission)\b"
    )
    adjustment_description_pattern: str = (
        r"damage|check|missing|lost|smash|broken|thrown|wet|crush|found|adjust|unsaleable|destroy|"
        r"count|dotcom|ebay|amazon|wrong|mix|sold as|given away|faulty|mould|rust|display|stock|^\W*$"
    )
    drop_duplicates: bool = True

    def __post_init__(self) -> None:
        for name in ("non_product_code_pattern", "non_product_description_pattern", "adjustment_description_pattern"):
            try:
                re.compile(getattr(self, name))
            except re.error as exc:
                raise ValueError(f"TransactionRules.{name}: invalid regular expression ({exc})") from exc
        if any(not p for p in self.cancel_prefixes):
            raise ValueError(f"cancel_prefixes must be non-empty strings, got {self.cancel_prefixes!r}")


def _flag_unique(values: pd.Series, fn) -> np.ndarray:
    """Apply a per-value test once per distinct value; returns a bool array aligned with ``values``."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, uniq = values.cat.codes.to_numpy(), values.cat.categories
    else:
        codes, uniq = pd.factorize(values)
    if len(uniq) == 0:
        return np.zeros(len(values), dtype=bool)
    flags = np.asarray(fn(pd.Series(uniq, dtype="str")), dtype=bool)
    out = flags[np.where(codes >= 0, codes, 0)]
    return out & (codes >= 0)


def _shape(s: pd.Series) -> pd.Series:
    """Each invoice number's shape: a run of digits as 9 (a cancellation numbered past the invoices'
    digits, C10000 next to 9999, keeps their shape), each letter as A ("INV-1001" -> "AAA-9": letters
    are not collapsed, or CMD-3 would pass for a cancellation of ORD-3)."""
    return s.str.replace(r"\d+", "9", regex=True).str.replace(r"[^\W\d_]", "A", regex=True)


def prefixed_cancellations(invoices: pd.Series, prefixes: tuple[str, ...]) -> pd.Series:
    """For distinct invoice numbers, whether each is a cancellation by ``prefixes``: it starts with one,
    and what follows has the shape of an invoice number without any (the numbering the prefix marks).
    Where no invoice is unprefixed, or the prefixed are most of them, the prefix is the shop's own
    numbering and nothing is a cancellation by it."""
    upper = invoices.str.upper()
    flags = pd.Series(False, index=invoices.index)
    for p in (p.upper() for p in prefixes):
        starts = upper.str.startswith(p)
        plain = ~upper.str.startswith(tuple(q.upper() for q in prefixes))
        if not starts.any() or not plain.any() or starts.mean() > 0.5:
            continue
        shapes = set(_shape(upper[plain]).unique())
        rest = upper.str[len(p) :].str.replace(r"^[-_ /#]", "", regex=True)  # C-489449, C 489449
        flags |= starts & _shape(rest).isin(shapes)
    return flags


def exact_duplicates(frame: pd.DataFrame) -> np.ndarray:
    """Rows equal to an earlier row in every column (the first copy is not flagged).

    A 64-bit hash of each row finds the few candidate rows; only those are compared exactly, so
    the answer is exact while a million rows cost one vectorised pass.
    """
    n = len(frame)
    cols = []
    for c in frame.columns:
        s = frame[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            cols.append(s.cat.codes.to_numpy().astype("int64"))
        elif pd.api.types.is_datetime64_any_dtype(s):
            cols.append(s.to_numpy().view("int64"))
        elif pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            cols.append(s.to_numpy(dtype="float64", na_value=np.nan))
        else:
            cols.append(pd.factorize(s)[0].astype("int64"))
    h = np.zeros(n, dtype=np.uint64)
    for arr in cols:
        h = (h * np.uint64(1_000_003)) ^ pd.util.hash_array(arr)
    candidates = pd.Series(h).duplicated(keep=False).to_numpy()
    out = np.zeros(n, dtype=bool)
    if candidates.any():
        exact = pd.DataFrame({i: arr[candidates] for i, arr in enumerate(cols)}).duplicated(keep="first")
        out[np.flatnonzero(candidates)] = exact.to_numpy()
    return out


def classify_lines(lines: pd.DataFrame, rules: TransactionRules) -> pd.Series:
    """One label per line: "sale", "return", "non_product", "adjustment" or "zero".

    ``lines`` has canonical columns (product_id, quantity; optional invoice_id, price, customer_id,
    description).
    """
    n = len(lines)
    qty = lines["quantity"].to_numpy(dtype="float64")
    codes_upper = {c.upper() for c in rules.non_product_codes}
    code_re = re.compile(rules.non_product_code_pattern, re.I)
    non_product = _flag_unique(
        lines["product_id"],
        lambda u: u.str.upper().isin(codes_upper) | u.str.contains(code_re, regex=True),
    )
    has_desc = "description" in lines
    if has_desc:
        desc_re = re.compile(rules.non_product_description_pattern, re.I)
        non_product |= _flag_unique(lines["description"], lambda u: u.str.contains(desc_re, regex=True))
    if "invoice_id" in lines:
        cancelled = _flag_unique(lines["invoice_id"], lambda u: prefixed_cancellations(u, rules.cancel_prefixes))
    else:
        cancelled = np.zeros(n, dtype=bool)
    if "_return" in lines:
        # Lines a platform layout added for refunded orders (layout_apply.RETURN_FLAG).
        cancelled = cancelled | lines["_return"].to_numpy(dtype=bool)
    adjustment = np.zeros(n, dtype=bool)
    if "price" in lines:
        zero_price = lines["price"].fillna(0).to_numpy() == 0
        no_customer = lines["customer_id"].isna().to_numpy() if "customer_id" in lines else np.ones(n, bool)
        adj_desc = np.zeros(n, dtype=bool)
        if has_desc:
            adj_re = re.compile(rules.adjustment_description_pattern, re.I)
            adj_desc = _flag_unique(lines["description"], lambda u: u.str.contains(adj_re, regex=True))
            adj_desc |= lines["description"].isna().to_numpy()
        adjustment = ~cancelled & zero_price & ((qty < 0) | no_customer | adj_desc)
    elif has_desc:
        adj_re = re.compile(rules.adjustment_description_pattern, re.I)
        adj_desc = _flag_unique(lines["description"], lambda u: u.str.contains(adj_re, regex=True))
        adjustment = ~cancelled & (qty < 0) & adj_desc
    codes = np.zeros(n, dtype="int8")
    codes[cancelled | (qty < 0)] = 1
    codes[qty == 0] = 2
    codes[adjustment] = 3
    codes[non_product] = 4
    cats = pd.Index(["sale", "return", "zero", "adjustment", "non_product"], dtype="str")
    return pd.Series(pd.Categorical.from_codes(codes, categories=cats), index=lines.index)


def clean_transactions(
    lines: pd.DataFrame, *, rules: TransactionRules, report: ValidationReport, file: str, raw_columns: list[str]
) -> pd.DataFrame:
    """Drop duplicates, exclude non-products and adjustments, mark returns; report each with examples.

    Returns the kept lines with an ``is_return`` bool column and ``quantity`` made positive.
    """
    n0 = len(lines)
    stats: dict[str, object] = {"lines": n0}
    if rules.drop_duplicates and raw_columns:
        dup = exact_duplicates(lines[raw_columns])
        n_dup = int(dup.sum())
        stats["duplicate_lines"] = n_dup
        if n_dup:
            ex = lines.loc[dup, "_row"].head(5).tolist()
            report.warning(
                "duplicate_lines",
                f"{n_dup:,} exact duplicate lines dropped (first kept); e.g. rows {ex}",
                file=file,
            )
            lines = lines.loc[~dup]
    kind = classify_lines(lines, rules)
    for label, code, what in (
        ("non_product", "non_product_lines", "non-product lines (postage, fees, manual lines, vouchers) excluded"),
        ("adjustment", "stock_adjustments", "stock-adjustment lines (zero price: damages, checks, found) excluded"),
        ("zero", "zero_quantity", "lines with quantity 0 excluded"),
    ):
        mask = (kind == label).to_numpy()
        count = int(mask.sum())
        stats[code] = count
        if not count:
            continue
        sub = lines.loc[mask]
        top = sub.groupby("product_id", observed=True).size().sort_values(ascending=False).head(8)
        examples = []
        for pid, k in top.items():
            row = sub.loc[sub["product_id"] == pid].iloc[0]
            desc = row.get("description") if "description" in sub else None
            examples.append({"code": pid, "lines": int(k), "description": None if pd.isna(desc) else str(desc)})
        stats[f"{code}_examples"] = examples
        shown = ", ".join(f"{e['code']} ({e['lines']:,})" for e in examples[:6])
        report.warning(code, f"{count:,} {what}; top codes: {shown}", file=file)
    keep = kind.isin(["sale", "return"]).to_numpy()
    lines = lines.loc[keep].copy()
    is_return = (kind[keep] == "return").to_numpy()
    stats["return_lines"] = int(is_return.sum())
    stats["sale_lines"] = int((~is_return).sum())
    lines["is_return"] = is_return
    lines["quantity"] = lines["quantity"].abs()
    report.info.setdefault("transactions", {})[file] = stats
    return lines


def aggregate_lines(lines: pd.DataFrame, period: str) -> pd.DataFrame:
    """Clean lines -> one row per product and period.

    Output columns: product_id, period (period start), units, returns, revenue, orders, customers,
    lines. Units and revenue count sales only; returns are the returned units in that period.
    """
    check_period(period)
    # Work on integer keys (product code x period index): bincount beats a group-by on a million rows.
    pid_codes, pids = _codes(lines["product_id"])
    per_codes, pers = pd.factorize(period_start(lines["timestamp"], period).to_numpy(), sort=True)
    key = pid_codes.astype("int64") * max(1, len(pers)) + per_codes
    gkey, keys = pd.factorize(key, sort=True)
    n = len(keys)
    sale = ~lines["is_return"].to_numpy()
    qty = lines["quantity"].to_numpy(dtype="float64")
    out = pd.DataFrame(
        {
            "product_id": pd.Series(np.asarray(pids, dtype=object)[keys // max(1, len(pers))], dtype="str"),
            "period": pd.Series(np.asarray(pers)[keys % max(1, len(pers))]).astype("datetime64[ns]"),
            "units": np.bincount(gkey, weights=np.where(sale, qty, 0.0), minlength=n),
            "returns": np.bincount(gkey, weights=np.where(sale, 0.0, qty), minlength=n),
            "lines": np.bincount(gkey, minlength=n).astype("int64"),
        }
    )
    if "price" in lines:
        rev = np.where(sale, qty * lines["price"].fillna(0).to_numpy(dtype="float64"), 0.0)
        out["revenue"] = np.bincount(gkey, weights=rev, minlength=n)
    for src, name in (("invoice_id", "orders"), ("customer_id", "customers")):
        if src not in lines:
            continue
        codes, uniq = _codes(lines[src])
        ok = sale & (codes >= 0)
        pair = pd.unique(gkey[ok].astype("int64") * (len(uniq) + 1) + codes[ok])
        out[name] = np.bincount(pair // (len(uniq) + 1), minlength=n).astype("int64")
    return out


def _codes(s: pd.Series) -> tuple[np.ndarray, pd.Index]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.codes.to_numpy().astype("int64"), s.cat.categories
    codes, uniq = pd.factorize(s)
    return codes.astype("int64"), pd.Index(uniq)


def products_from_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Product table derived from lines: the most frequent description is the title, the median sale price the price."""
    sales = lines.loc[~lines["is_return"]]
    out = pd.DataFrame(index=pd.Index(pd.unique(lines["product_id"].dropna()), name="product_id", dtype="str"))
    if "description" in lines:
        out["title"] = mode_per_product(lines, "description")
    if "category" in lines:
        out["category"] = mode_per_product(lines, "category")
    if "price" in lines:
        out["price"] = sales.groupby("product_id", observed=True)["price"].median()
    out["first_sale"] = sales.groupby("product_id", observed=True)["timestamp"].min().dt.normalize()
    out["last_sale"] = sales.groupby("product_id", observed=True)["timestamp"].max().dt.normalize()
    return out.reset_index()


def mode_per_product(df: pd.DataFrame, col: str) -> pd.Series:
    """The most frequent non-missing value of ``col`` per product (ties: the first in sort order)."""
    counts = df.groupby(["product_id", col], observed=True, sort=True).size()
    if counts.empty:
        return pd.Series(dtype="str")
    counts = counts.sort_values(ascending=False, kind="stable")
    top = counts[~counts.index.get_level_values(0).duplicated()]
    return pd.Series(top.index.get_level_values(1), index=top.index.get_level_values(0), dtype="str")
