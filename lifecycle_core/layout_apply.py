"""Carry out a platform layout on a file read as text: join, fill down, id fallbacks, order status.

    python -m lifecycle_core mapping orders_export.csv   # prints "recognised: Shopify orders export"

Every step works on the distinct values and integer codes of a column (exports repeat order numbers,
statuses and names on every line), and counts what it did; rows that are dropped keep their original
row numbers, so every later message still points at the line the user sees in the file.
"""

from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .layouts import ITEM_ID, ITEM_NAME, ITEM_QUANTITY, Applied, Layout, find
from .mapping import TableMapping, normalize_header
from .parsing import as_category, map_categories, parse_numbers
from .readers import RawTable

RETURN_FLAG = "_return"  # rows added for refunded orders: the units that came back
VARIANT_NAME = "_variant_name"  # "Hoodie - Blue / M": how orders name a product's variant
_PRIMARY = "_id_primary"  # rows keyed by the first id column (not by a fallback)


@dataclass
class LayoutResult:
    raw: RawTable
    mapping: TableMapping
    applied: Applied
    inventory: tuple[RawTable, TableMapping] | None = None
    unmatched: tuple[np.ndarray, np.ndarray] | None = None  # (rows, order numbers) the orders file lacks


def _codes(s: pd.Series) -> tuple[np.ndarray, pd.Index]:
    c = as_category(s)
    return c.cat.codes.to_numpy().astype("int64"), c.cat.categories


def _empty(frame: pd.DataFrame, col: str) -> np.ndarray:
    return as_category(frame[col]).isna().to_numpy()


def apply_layout(raw: RawTable, layout: Layout, partner: RawTable | None = None) -> LayoutResult:
    """``raw`` as ``layout`` says: a new RawTable (rows that are not sales dropped, refunds added as
    returns, ids and order fields filled) with the layout's mapping. ``partner``: the order-level file
    a lines file is joined to (Taobao 订单报表 for its 宝贝报表)."""
    applied = Applied(layout)
    frame = raw.frame.copy()
    numbers = raw.numbers().copy()
    cols = list(frame.columns)

    if layout.items_column and (items := find(cols, layout.items_column)):
        frame, numbers = _explode_items(frame, numbers, items)
        cols = list(frame.columns)

    unmatched = None
    if layout.join and partner is not None:
        frame, unmatched_mask = _join(frame, layout, partner)
        if unmatched_mask.any():
            key_col = find(list(frame.columns), layout.order_key)
            keys = as_category(frame[key_col]).astype("str").to_numpy()
            unmatched = (numbers[unmatched_mask], keys[unmatched_mask])
        cols = list(frame.columns)

    if layout.parent and (pcol := find(cols, layout.parent)):
        frame, numbers = _from_parents(frame, numbers, pcol, layout, applied)

    key = find(cols, layout.order_key) if layout.order_key else None
    if key and layout.key_fill_down:
        _fill_key(frame, key, layout, applied)
    if key:
        _fill_down(frame, key, [c for c in dict.fromkeys(find(cols, (h,)) for h in layout.fill_down) if c], applied)

    # After filling down: an eBay order's summary row gives its items their dates before it goes.
    frame, numbers = _drop_non_items(frame, numbers, layout, applied)

    id_col = _fallback_ids(frame, layout, applied) if layout.product_id else None

    for c in dict.fromkeys(find(cols, (h,)) for h in layout.html):
        if c:
            frame[c] = _plain_text(frame[c])

    _net_quantities(frame, layout, applied)
    frame, numbers = _apply_status(frame, numbers, layout, applied)
    frame, numbers = _returned_quantities(frame, numbers, layout, applied)

    if layout.variant_name and (title := find(cols, layout.fields.get("title", ()))):
        options = [c for c in (find(cols, (h,)) for h in layout.variant_name) if c]
        if options:
            frame[VARIANT_NAME] = _variant_names(frame, title, options)
            if id_col is not None and id_col != key and _PRIMARY in frame:
                # A variant with its own SKU is a product of its own: titled as orders name it ("Lamp - Blue").
                # Variants without one share their product's row (keyed by the handle) and its title.
                own = frame[_PRIMARY].to_numpy(dtype=bool)
                if own.any():
                    frame[title] = frame[title].astype("object").where(~own, frame[VARIANT_NAME])
    frame = frame.drop(columns=[_PRIMARY], errors="ignore")

    mapping = _mapping(list(frame.columns), layout, id_col)
    out = dataclasses.replace(raw, frame=frame, row_numbers=numbers)
    inventory = _inventory(out, layout, id_col) if layout.inventory and id_col else None
    return LayoutResult(out, mapping, applied, inventory, unmatched)


def _drop_non_items(
    frame: pd.DataFrame, numbers: np.ndarray, layout: Layout, applied: Applied
) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows that are not items: image rows and order summaries (``keep_if_any`` all empty), store-view
    translations and configurable children (``drop_if_any`` set)."""
    cols = list(frame.columns)
    keep = np.ones(len(frame), dtype=bool)
    present = [c for c in (find(cols, (h,)) for h in layout.keep_if_any) if c]
    if present:
        item = np.zeros(len(frame), dtype=bool)
        for c in present:
            item |= ~_empty(frame, c)
        if (~item).any():
            applied.dropped[f"no {' / '.join(present)}"] = int((~item).sum())
        keep &= item
    for h in layout.drop_if_any:
        c = find(cols, (h,))
        if c:
            hit = ~_empty(frame, c) & keep
            if hit.any():
                applied.dropped[f"{c} set"] = int(hit.sum())
            keep &= ~hit
    return frame.loc[keep].reset_index(drop=True), numbers[keep]


def _mapping(cols: list[str], layout: Layout, id_col: str | None) -> TableMapping:
    columns: dict[str, str] = {}
    if id_col:
        columns[id_col] = "product_id"
    for fname, candidates in layout.fields.items():
        src = find([c for c in cols if c not in columns], candidates)
        if src:
            columns[src] = fname
    # Order exports carry names and addresses: only their mapped columns are read.
    extra = [c for c in cols if c not in columns and not c.startswith("_")] if layout.table == "products" else []
    return TableMapping(layout.table, columns, {c: 1.0 for c in columns}, 1.0, extra)


def _join(frame: pd.DataFrame, layout: Layout, partner: RawTable) -> tuple[pd.DataFrame, np.ndarray]:
    """Take ``layout.join_columns`` from the order-level file by order number; a column the lines file
    has already is kept as it is (its per-line status beats the order's)."""
    key = find(list(frame.columns), layout.order_key)
    pkey = find(partner.columns, layout.order_key)
    if key is None or pkey is None:
        return frame, np.zeros(len(frame), dtype=bool)
    take = [c for c in (find(partner.columns, (h,)) for h in layout.join_columns) if c]
    take = [c for c in dict.fromkeys(take) if find(list(frame.columns), (c,)) is None]
    orders = partner.frame[[pkey, *take]].copy()
    orders[pkey] = as_category(orders[pkey]).astype("str")
    orders = orders.drop_duplicates(pkey).set_index(pkey)
    lines_key = as_category(frame[key]).astype("object")
    for c in take:
        frame[c] = lines_key.map(orders[c]).to_numpy()
    unmatched = ~lines_key.isin(orders.index).to_numpy() & lines_key.notna().to_numpy()
    return frame, unmatched


def _fill_key(frame: pd.DataFrame, key: str, layout: Layout, applied: Applied) -> None:
    """An item row without an order number belongs to the order above it (exports that write order
    columns on an order's first row only); rows with no item at all are left alone."""
    codes, cats = _codes(frame[key])
    item = np.zeros(len(frame), dtype=bool)
    for c in dict.fromkeys(find(list(frame.columns), (h,)) for h in layout.product_id):
        if c:
            item |= ~_empty(frame, c)
    gap = (codes < 0) & item
    if not gap.any():
        return
    filled = pd.Series(np.where(codes >= 0, codes, np.nan)).ffill().to_numpy()
    use = gap & ~np.isnan(filled)
    codes = codes.copy()
    codes[use] = filled[use].astype("int64")
    frame[key] = pd.Categorical.from_codes(codes, categories=cats)
    applied.filled[key] = int(use.sum())


def _fill_down(frame: pd.DataFrame, key: str, cols: list[str], applied: Applied) -> None:
    """Order fields written on an order's first line only, copied to its other lines."""
    kc, _ = _codes(frame[key])
    ok = kc >= 0
    if not ok.any():
        return
    for c in cols:
        if c == key:
            continue
        codes, cats = _codes(frame[c])
        gap = (codes < 0) & ok
        if not gap.any():
            continue
        first = pd.Series(np.where(codes >= 0, codes, np.nan)).groupby(np.where(ok, kc, -1)).transform("first")
        fill = gap & first.notna().to_numpy()
        if not fill.any():
            continue
        codes = codes.copy()
        codes[fill] = first.to_numpy()[fill].astype("int64")
        frame[c] = pd.Categorical.from_codes(codes, categories=cats)
        applied.filled[c] = int(fill.sum())


def _from_parents(
    frame: pd.DataFrame, numbers: np.ndarray, pcol: str, layout: Layout, applied: Applied
) -> tuple[pd.DataFrame, np.ndarray]:
    """Variations (WooCommerce: Parent "id:12" or the parent's SKU) take their parent's description and
    categories where they have none; a parent with variations is not itself sold, so its row goes."""
    cols = list(frame.columns)
    ref = as_category(frame[pcol]).astype("object")
    keys = {}
    for h in layout.product_id:
        c = find(cols, (h,))
        if c is None:
            continue
        prefix = "id:" if normalize_header(c) == "id" else ""
        for i, v in enumerate(as_category(frame[c]).astype("object")):
            if isinstance(v, str):
                keys.setdefault(prefix + v, i)
    parent_row = ref.map(lambda r: keys.get(r) if isinstance(r, str) else None)
    child = parent_row.notna().to_numpy()
    if not child.any():
        return frame, numbers
    src = parent_row[child].astype("int64").to_numpy()
    for c in dict.fromkeys(find(cols, (h,)) for h in layout.fill_down):
        if c is None:
            continue
        values = frame[c].astype("object").to_numpy().copy()
        mine = values[child]
        gap = pd.isna(mine)
        mine[gap] = values[src][gap]
        values[child] = mine
        if gap.any():
            applied.filled[c] = applied.filled.get(c, 0) + int(gap.sum())
        frame[c] = values
    parents = np.zeros(len(frame), dtype=bool)
    parents[np.unique(src)] = True
    applied.dropped["variable products (their variations are listed)"] = int(parents.sum())
    return frame.loc[~parents].reset_index(drop=True), numbers[~parents]


def _fallback_ids(frame: pd.DataFrame, layout: Layout, applied: Applied) -> str | None:
    """Fill empty ids from the next column of ``layout.product_id`` (empty SKU -> listing id -> name),
    in the first of those columns the file has; counts how many rows each fallback keyed."""
    cols = [c for c in dict.fromkeys(find(list(frame.columns), (h,)) for h in layout.product_id) if c]
    if not cols:
        return None
    primary = cols[0]
    ids = as_category(frame[primary]).astype("object")
    frame[_PRIMARY] = ids.notna().to_numpy()
    for c in cols[1:]:
        gap = ids.isna()
        if not gap.any():
            break
        other = as_category(frame[c]).astype("object")
        use = gap & other.notna()
        if use.any():
            ids[use] = other[use]
            applied.id_fallbacks[c] = int(use.sum())
    frame[primary] = ids
    return primary


def _norm_values(s: pd.Series) -> tuple[np.ndarray, list[str]]:
    codes, cats = _codes(s)
    return codes, [normalize_header(v) for v in cats]


def _apply_status(
    frame: pd.DataFrame, numbers: np.ndarray, layout: Layout, applied: Applied
) -> tuple[pd.DataFrame, np.ndarray]:
    """Rules in order; the first rule that decides a row (excluded or returned) wins, so a Taobao order
    closed because it was refunded counts as a return although its status also reads 交易关闭."""
    cols = list(frame.columns)
    drop = np.zeros(len(frame), dtype=bool)
    back = np.zeros(len(frame), dtype=bool)
    for rule in layout.status:
        c = find(cols, rule.column)
        if c is None:
            continue
        open_ = ~(drop | back)
        codes, norm = _norm_values(frame[c])
        cats = list(as_category(frame[c]).cat.categories)
        if rule.any_value or rule.if_empty:
            hit = ((codes >= 0) if rule.any_value else (codes < 0)) & open_
            if hit.any():
                applied.excluded[f"{c} {'set' if rule.any_value else 'empty'}"] = int(hit.sum())
            drop |= hit
            continue
        excl = {normalize_header(v) for v in rule.exclude}
        ret = {normalize_header(v) for v in rule.returned}
        for i, v in enumerate(norm):
            is_excl = v in excl or (rule.contains and any(w in v for w in excl))
            is_ret = not is_excl and (v in ret or (rule.contains and any(w in v for w in ret)))
            if not (is_excl or is_ret):
                continue
            rows = (codes == i) & open_
            n = int(rows.sum())
            if not n:
                continue
            (applied.excluded if is_excl else applied.returned)[f"{c} = {cats[i]}"] = n
            if is_excl:
                drop |= rows
            else:
                back |= rows
    back &= ~drop
    kept = frame.loc[~drop]
    if not back.any():
        return kept.reset_index(drop=True), numbers[~drop]
    out = [kept.assign(**{RETURN_FLAG: False})]
    nums = [numbers[~drop]]
    if back.any():
        # A refunded order was sold and came back: its lines stay as sales and are added again as returns.
        out.append(frame.loc[back].assign(**{RETURN_FLAG: True}))
        nums.append(numbers[back])
    result = pd.concat(out, ignore_index=True) if len(out) > 1 else out[0].reset_index(drop=True)
    return result, np.concatenate(nums)


def _quantity_column(frame: pd.DataFrame, layout: Layout) -> str | None:
    return find(list(frame.columns), layout.fields.get("quantity", ()))


def _net_quantities(frame: pd.DataFrame, layout: Layout, applied: Applied) -> None:
    """Quantities net of cancelled units (Magento: qty_ordered - qty_canceled); the price of a line total
    (Amazon's item-price) as a unit price."""
    qcol = _quantity_column(frame, layout)
    if qcol is None:
        return
    qty, _ = parse_numbers(as_category(frame[qcol]))
    changed = False
    for h in layout.net_of:
        c = find(list(frame.columns), (h,))
        if c:
            less, _ = parse_numbers(as_category(frame[c]))
            less = less.fillna(0.0)
            if (less > 0).any():
                applied.cancelled_units[c] = float(less[less > 0].sum())
                qty = qty - less
                changed = True
    if changed:
        frame[qcol] = qty.clip(lower=0).to_numpy()
    pcol = find(list(frame.columns), layout.fields.get("price", ())) if layout.price_is_line_total else None
    if pcol:
        total, bad = parse_numbers(as_category(frame[pcol]))
        unit = (total / qty.where(qty > 0)).where(~bad)
        # Unparseable prices stay as written, so that ingest reports them with their row.
        frame[pcol] = pd.Series(unit.to_numpy(), dtype="object").where(~bad.to_numpy(), frame[pcol].to_numpy())


def _returned_quantities(
    frame: pd.DataFrame, numbers: np.ndarray, layout: Layout, applied: Applied
) -> tuple[pd.DataFrame, np.ndarray]:
    """Lines with refunded units (Magento's qty_refunded) are added again as returns of those units."""
    qcol = _quantity_column(frame, layout)
    col = find(list(frame.columns), layout.returned_quantity) if layout.returned_quantity else None
    if qcol is None or col is None:
        return frame, numbers
    back, _ = parse_numbers(as_category(frame[col]))
    if RETURN_FLAG not in frame:
        frame[RETURN_FLAG] = False
    hit = (back.fillna(0) > 0).to_numpy() & ~frame[RETURN_FLAG].to_numpy(dtype=bool)
    if not hit.any():
        return frame, numbers
    returns = frame.loc[hit].copy()
    returns[qcol] = back[hit].to_numpy()
    returns[RETURN_FLAG] = True
    applied.returned[f"{col} > 0"] = int(hit.sum())
    frame[qcol] = frame[qcol].astype("object")
    returns[qcol] = returns[qcol].astype("object")
    return pd.concat([frame, returns], ignore_index=True), np.concatenate([numbers, numbers[hit]])


_ITEM = re.compile(r"(?:^|,\s*)(\d+)\s*[×x]\s*")


def _explode_items(frame: pd.DataFrame, numbers: np.ndarray, col: str) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per item of a cell such as "2× Hoodie, 1× Beanie" (each row keeps its order's columns)."""
    rows, qty, names = [], [], []
    for i, cell in enumerate(as_category(frame[col]).astype("object")):
        if not isinstance(cell, str):
            rows.append(i)
            qty.append(None)
            names.append(None)
            continue
        parts = _ITEM.split(cell)
        # split gives ["", q1, name1, q2, name2, ...]; text before the first "N×" is one item of 1.
        if parts[0].strip():
            rows.append(i)
            qty.append("1")
            names.append(parts[0].strip())
        for q, name in zip(parts[1::2], parts[2::2], strict=True):
            rows.append(i)
            qty.append(q)
            names.append(name.strip().rstrip(",").strip())
    out = frame.iloc[rows].reset_index(drop=True)
    out[f"{col} {ITEM_ID}"] = names
    out[f"{col} {ITEM_NAME}"] = names
    out[f"{col} {ITEM_QUANTITY}"] = qty
    return out, numbers[np.asarray(rows, dtype="int64")]


_TAG = re.compile(r"<[^>]*>")


def _plain_text(s: pd.Series) -> pd.Series:
    """HTML descriptions (Shopify's Body (HTML), Magento's description) as the words a shopper reads."""

    def strip(u: pd.Series) -> pd.Series:
        # WooCommerce writes line breaks inside a description as a literal "\n".
        text = u.str.replace(_TAG, " ", regex=True).str.replace("\\n", " ", regex=False).map(html.unescape)
        return text.str.replace(r"\s+", " ", regex=True).str.strip()

    return map_categories(s, strip)


def _variant_names(frame: pd.DataFrame, title: str, options: list[str]) -> pd.Series:
    """ "Title - Blue / M", as Shopify names a variant's line items; the title alone for a product with
    one variant (its option value is "Default Title")."""
    t = as_category(frame[title]).astype("object")
    parts = [as_category(frame[o]).astype("object") for o in options]
    opts = pd.Series(
        [
            " / ".join(str(v) for v in vals if isinstance(v, str) and v != "Default Title")
            for vals in zip(*parts, strict=True)
        ],
        index=frame.index,
    )
    return t.where(opts == "", t + " - " + opts)


def _inventory(raw: RawTable, layout: Layout, id_col: str) -> tuple[RawTable, TableMapping] | None:
    """The stock column of a products export as an inventory table: one row per product (variants keyed
    by one id are summed), rows without a stock figure left out, an oversold (negative) stock read as 0."""
    qty = find(raw.columns, layout.inventory)
    if qty is None:
        return None
    f = raw.frame
    values, bad = parse_numbers(as_category(f[qty]))
    ids = as_category(f[id_col]).astype("object")
    has = values.notna().to_numpy() & ids.notna().to_numpy() & ~bad.to_numpy()
    if not has.any():
        return None
    sub = pd.DataFrame({"id": ids[has].to_numpy(), "on_hand": values[has].clip(lower=0).to_numpy()})
    first = pd.Series(raw.numbers()[has]).groupby(sub["id"].to_numpy(), sort=False).first()
    total = sub.groupby("id", sort=False)["on_hand"].sum()
    frame = pd.DataFrame({id_col: total.index.astype("str"), qty: total.map(lambda v: f"{v:g}").to_numpy()})
    inv = dataclasses.replace(raw, frame=frame, row_numbers=first.loc[total.index].to_numpy().astype("int64"))
    columns = {id_col: "product_id", qty: "on_hand"}
    return inv, TableMapping("inventory", columns, {c: 1.0 for c in columns}, 1.0, [])
