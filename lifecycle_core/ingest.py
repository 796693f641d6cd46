"""Ingest merchants' files into a workspace dataset: read, map columns, validate, normalise, store.

    python -m lifecycle_core ingest sales.csv products.xlsx --workspace ws --name spring

An ingest either stores the whole dataset or nothing: every problem is collected into one
ValidationReport (file, row, column, value, what was expected) and any error stops it before a
single byte is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import schema
from .layout_apply import RETURN_FLAG, VARIANT_NAME
from .mapping import TableMapping
from .parsing import as_category, normalize_ids, parse_dates, parse_numbers
from .periods import (
    AGGREGATED_WORDS,
    PERIODS,
    RHYTHM_WORDS,
    Rhythm,
    check_aggregation,
    check_period,
    infer_rhythm,
    period_start,
    sparse_weeks,
)
from .plan import FilePlan, plan_files
from .privacy import mask_series, pseudonymize
from .readers import RawTable, ReadLimits, SourceFile
from .report import ERROR, IngestError, ValidationReport
from .stages import parse_stage
from .transactions import TransactionRules, aggregate_lines, clean_transactions, mode_per_product, products_from_lines

if TYPE_CHECKING:
    from .store import DatasetInfo, Workspace

Progress = Callable[[float, str], None]


def _no_progress(_f: float, _msg: str) -> None:
    return None


@dataclass(frozen=True)
class IngestOptions:
    """Settings of one ingest; saved with the dataset.

    ``period``: "auto" (the rhythm of the sales dates: daily, weekly or monthly; invoice lines weekly,
    monthly when they are sparse: ``periods.sparse_weeks``),
    or "D", "W", "M" to aggregate to that period (coarser than the data only)."""

    period: str = "auto"
    date_order: str = "auto"
    limits: ReadLimits = field(default_factory=ReadLimits)
    transaction_rules: TransactionRules = field(default_factory=TransactionRules)
    # Dates outside [min_year, today + max_future_days] are nonsense in a sales export.
    min_year: int = 1990
    max_future_days: int = 366

    def __post_init__(self) -> None:
        if self.period != "auto":
            check_period(self.period)
        if self.date_order not in ("auto", "day-first", "month-first"):
            raise ValueError(f"date_order must be auto, day-first or month-first, got {self.date_order!r}")
        if not 1900 <= self.min_year <= 2100:
            raise ValueError(f"min_year must be a plausible year, got {self.min_year}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PreparedDataset:
    """Validated, normalised tables ready to store. Only built when the report has no errors."""

    tables: dict[str, pd.DataFrame]
    report: ValidationReport
    sources: list[dict]
    options: IngestOptions
    content_hash: str
    counts: dict
    period: str = "W"  # the period the sales were aggregated to (options.period resolved)


def ingest(
    workspace: Workspace,
    name: str,
    sources: Sequence[SourceFile],
    *,
    overrides: dict[str, TableMapping] | None = None,
    options: IngestOptions | None = None,
    replace: bool = False,
    progress: Progress | None = None,
    force: bool = False,
    remember: bool = True,
) -> DatasetInfo:
    """Read, validate and store ``sources`` as dataset ``name``; raises IngestError and writes nothing on error.

    The workspace's saved mappings are used for files whose header they match; with ``remember``, the
    mapping-file entries that were used are saved for the next export of the same layout.
    ``force``: store sales where most products have a single dated row (refused otherwise: such a file
    is usually a catalogue or a one-day snapshot, not sales over time)."""
    options = options or IngestOptions()
    progress = progress or _no_progress
    workspace.check_dataset_name(name, replace=replace)
    progress(0.0, "reading files")
    plans, report = plan_files(sources, overrides=overrides, options=options, saved=workspace.saved_mappings())
    # Unreadable files do not stop the others from being checked: one report lists every problem.
    prepared = prepare(plans, options=options, key=workspace.secret_key(), report=report, progress=progress)
    single = [p for p in prepared.report.warnings if p.code == SINGLE_ROWS]
    if single and not force:
        refusal = ValidationReport()
        refusal.error(
            SINGLE_ROWS,
            single[0].message,
            expected="sales over time (several dated rows per product); if this really is your sales, ingest "
            "again with --force",
        )
        raise IngestError(refusal)
    progress(0.9, "saving")
    info = workspace.save_dataset(name, prepared, replace=replace)
    if remember and overrides:
        for plan in plans:
            if plan.changed_by_user:
                workspace.save_mapping(plan.signature, plan.mapping, file=plan.raw.file)
    progress(1.0, "done")
    return info


def prepare(
    plans: Sequence[FilePlan],
    *,
    options: IngestOptions,
    key: bytes,
    report: ValidationReport | None = None,
    progress: Progress | None = None,
) -> PreparedDataset:
    """Validate and normalise the planned files into canonical tables; raises IngestError on any error."""
    report = report or ValidationReport()
    progress = progress or _no_progress
    by_table: dict[str, list[pd.DataFrame]] = {}
    for plan in plans:
        _report_plan(plan, report)
    for i, plan in enumerate(plans):
        if not plan.used:
            continue
        progress(0.1 + 0.6 * i / max(1, len(plans)), f"validating {plan.raw.file}")
        tm = plan.mapping
        for f in tm.missing_required:
            spec = schema.TABLES[tm.table]
            report.error(
                "missing_column",
                f"no column is mapped to the required field {f!r} of table {tm.table!r}",
                file=plan.raw.file,
                expected=f"a column for {f} ({spec.field(f).doc or 'see docs/data.md'}); "
                f"columns found: {plan.raw.columns}; fix the mapping or rename the column",
            )
        if tm.missing_required:
            continue
        opts = options
        if options.date_order == "auto" and plan.date_order:
            opts = dataclasses.replace(options, date_order=plan.date_order)
        frame = convert(plan.raw, tm, report, options=opts)
        if tm.table == "transactions":
            if "customer_id" in frame:
                frame["customer_id"] = pseudonymize(frame["customer_id"], key)
            raw_cols = [c for c in frame.columns if c not in ("_row", "_file")]
            frame = clean_transactions(
                frame, rules=options.transaction_rules, report=report, file=plan.raw.file, raw_columns=raw_cols
            )
            _check_range(frame, "price", 0, None, report, plan.raw.file, tm, "a price >= 0 on a product line")
        by_table.setdefault(tm.table, []).append(frame)
    if not report.ok:
        raise IngestError(report)
    progress(0.75, "combining tables")
    tables = _combine(by_table, report, options, plans)
    if not report.ok:
        raise IngestError(report)
    sources = [
        {
            "name": p.raw.file,
            "sha256": p.raw.sha256,
            "size_bytes": p.raw.size_bytes,
            "format": p.raw.format,
            "encoding": p.raw.encoding,
            "delimiter": p.raw.delimiter,
            "sheet": p.raw.sheet,
            "rows": p.raw.n_rows,
            "table": p.mapping.table if p.used else None,
            "mapping": p.mapping.columns,
            "confidence": p.mapping.confidence,
            "extra_columns": p.mapping.extra,
            "layout": p.layout,
            "joined_into": p.joined_into,
        }
        for p in plans
    ]
    h = hashlib.sha256()
    for s in sorted(sources, key=lambda s: s["name"]):
        h.update(json.dumps([s["sha256"], s["table"], s["mapping"]], sort_keys=True).encode())
    h.update(json.dumps(options.to_dict(), sort_keys=True, default=str).encode())
    period = report.info["rhythm"]["aggregated_to"]
    counts = _counts(tables) | {"period": period, "rhythm": report.info["rhythm"]["message"]}
    return PreparedDataset(tables, report, sources, options, h.hexdigest(), counts, period)


SINGLE_ROWS = "mostly_single_rows"


def _report_plan(plan: FilePlan, report: ValidationReport) -> None:
    """What recognising the file's layout did (or what it still needs), in the report kept with the data."""
    file = plan.raw.file
    if plan.needs:
        report.error(
            "needs_another_file",
            f"{plan.layout or 'this file'} cannot make a dataset on its own",
            file=file,
            expected=plan.needs,
        )
    if plan.joined_into:
        report.info.setdefault("layouts", {})[file] = {"layout": plan.layout, "joined_into": plan.joined_into}
    if plan.note:
        report.warning("read_as_catalogue", plan.note, file=file)
    if plan.hint:
        report.warning("partner_file_missing", plan.hint, file=file)
    if plan.saved_from:
        when = plan.saved_from.get("saved_at", "")
        report.info.setdefault("saved_mappings", {})[file] = {"from": plan.saved_from.get("file"), "saved_at": when}
    if plan.unmatched is not None:
        rows, values = plan.unmatched
        report.rows(
            ERROR,
            "order_not_in_orders_file",
            "the order number is not in the orders file joined to this one, so the line has no date",
            file=file,
            column=plan.mapping.source_of("invoice_id"),
            rows=pd.Series(rows),
            values=pd.Series(values),
            expected="the orders export of the same period as the items export",
        )
    a = plan.applied
    if a is None or plan.mapping.table == "inventory":
        return
    info = {
        "layout": a.layout.label,
        "excluded": a.excluded,
        "returned": a.returned,
        "filled": a.filled,
        "id_fallbacks": a.id_fallbacks,
        "dropped": a.dropped,
        "cancelled_units": a.cancelled_units,
    }
    report.info.setdefault("layouts", {})[file] = info
    parts = [f"recognised: {a.layout.label}"]
    if a.excluded:
        parts.append("excluded " + _counted(a.excluded, "line"))
    if a.cancelled_units:
        parts.append(
            "cancelled units taken off the quantities ("
            + ", ".join(f"{k}: {v:,g}" for k, v in a.cancelled_units.items())
            + ")"
        )
    if a.returned:
        parts.append("counted as returns " + _counted(a.returned, "line"))
    if a.id_fallbacks:
        parts.append(
            "product id taken from " + _counted(a.id_fallbacks, "row") + " where the first id column was empty"
        )
    if a.filled:
        unit = "product's first row (or its parent)" if a.layout.table == "products" else "order's first line"
        parts.append(f"empty cells filled from each {unit} ({sum(a.filled.values()):,} cells)")
    if a.dropped:
        parts.append("skipped rows that are not items " + _counted(a.dropped, "row"))
    report.warning("platform_layout", "; ".join(parts), file=file)


def _counted(counts: dict[str, int], noun: str) -> str:
    total = sum(counts.values())
    detail = ", ".join(f"{k}: {v:,}" for k, v in counts.items())
    return f"{total:,} {noun}{'s' if total != 1 else ''} ({detail})"


def convert(raw: RawTable, tm: TableMapping, report: ValidationReport, *, options: IngestOptions) -> pd.DataFrame:
    """Typed canonical columns from a raw table; every bad cell is reported with its row number.

    Output: one column per mapped field, ``_row`` (the row number the user sees), and, for products,
    the unmapped columns as attributes.
    """
    spec = schema.TABLES[tm.table]
    src = raw.frame
    rows = pd.Series(raw.numbers(), index=src.index)
    skip = _blank_or_totals(src, tm, spec, rows, raw.file, report)
    if skip.any():
        src, rows = src[~skip], rows[~skip]
    out = pd.DataFrame({"_row": rows, "_file": pd.Categorical.from_codes(np.zeros(len(src), "int8"), [raw.file])})
    today = pd.Timestamp.now().normalize()
    lo, hi = pd.Timestamp(year=options.min_year, month=1, day=1), today + pd.Timedelta(days=options.max_future_days)
    for col, fname in tm.columns.items():
        f = spec.field(fname)
        s = src[col]
        if pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s):
            s = as_category(s)
        missing = s.isna()
        if f.kind == schema.ID:
            v = normalize_ids(s)
        elif f.kind == schema.TEXT:
            v = s
        elif f.kind == schema.DATE:
            pdt = parse_dates(s, date_order=options.date_order)
            v = pdt.values
            _bad_rows(
                report,
                pdt.bad,
                rows,
                s,
                raw.file,
                col,
                "unparseable_date",
                "not a date",
                "a date such as 2024-03-05, 05/03/2024 or an Excel date number",
            )
            out_of_range = v.notna() & ((v < lo) | (v > hi))
            _bad_rows(
                report,
                out_of_range,
                rows,
                s,
                raw.file,
                col,
                "date_out_of_range",
                "implausible date",
                f"a date between {lo.date()} and {hi.date()}",
            )
            if pdt.ambiguous:
                report.warning(
                    "ambiguous_dates",
                    f"dates could be day-first or month-first; read as {pdt.form}",
                    file=raw.file,
                    column=col,
                    expected="set the date order (CLI --date-order) if this is wrong",
                )
        elif f.kind in (schema.FLOAT, schema.INT):
            v, bad = parse_numbers(s)
            _bad_rows(report, bad, rows, s, raw.file, col, "not_a_number", "not a number", "a number")
        elif f.kind == schema.STAGE:
            parsed = s.astype("object").map(parse_stage)
            bad = s.notna() & parsed.isna()
            _bad_rows(
                report,
                bad,
                rows,
                s,
                raw.file,
                col,
                "unknown_stage",
                "not a stage name",
                "Introduction, Growth, Maturity, Decline (or 初期, 成长期, 成熟期, 衰退期, or 0-3)",
            )
            v = parsed.map(lambda x: None if x is None or pd.isna(x) else int(x)).astype("Int64")
        else:  # pragma: no cover - schema kinds are closed
            raise AssertionError(f.kind)
        if f.required:
            _bad_rows(
                report, missing, rows, s, raw.file, col, "missing_value", f"{fname} is empty", f"a value for {fname}"
            )
        out[fname] = v
        if f.kind in (schema.FLOAT, schema.INT) and tm.table != "transactions":
            _check_range(out, fname, f.min_value, f.max_value, report, raw.file, tm, None)
    if tm.table == "products":
        for col in tm.extra:
            out[_attr_name(col, out.columns)] = as_category(src[col]).astype("str")
        if VARIANT_NAME in src:
            out[VARIANT_NAME] = src[VARIANT_NAME].to_numpy()
    if tm.table == "transactions" and RETURN_FLAG in src:
        out[RETURN_FLAG] = src[RETURN_FLAG].to_numpy(dtype=bool)
    return out


# A spreadsheet's summary row names itself in one cell ("Summe", "Total:", "合计") and leaves the product
# or the date empty; a row with all of them filled is data, whatever its cells say.
TOTALS_WORDS = frozenset(
    [
        *("total", "totals", "grand total", "sum", "subtotal", "sub-total", "sub total"),  # English
        *("summe", "gesamt", "gesamtsumme", "zwischensumme", "endsumme", "total gesamt"),  # German
        *("somme", "total général", "sous-total"),  # French
        *("suma", "total general", "importe total", "subtotal"),  # Spanish
        *("totale", "totale generale", "somma"),  # Italian
        *("totaal", "subtotaal", "totaal generaal"),  # Dutch
        *("合计", "总计", "小计", "合計", "總計", "小計", "итого", "всего"),
    ]
)


def _blank_or_totals(src: pd.DataFrame, tm: TableMapping, spec, rows: pd.Series, file: str, report) -> np.ndarray:
    """Rows to leave out of a table, reported as a warning each kind: rows with no value in any cell, and
    totals rows (a cell that is a totals word, with a required field empty). Anything else stays data
    and is checked as such."""
    if src.empty:
        return np.zeros(0, dtype=bool)
    blank = src.isna().all(axis=1).to_numpy()
    required = [c for c, f in tm.columns.items() if f in spec.required]
    totals = np.zeros(len(src), dtype=bool)
    if required:
        gap = src[required].isna().any(axis=1).to_numpy() & ~blank
        for col in src.columns:
            if not gap.any():
                break
            s = src[col]
            if not (pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)):
                continue
            words = s[gap].astype("string").str.strip().str.rstrip(":：").str.lower()
            hit = words.isin(TOTALS_WORDS).fillna(False).to_numpy(dtype=bool)
            totals[np.flatnonzero(gap)[hit]] = True
    for mask, code, what in ((blank, "blank_rows", "empty row"), (totals, "totals_rows", "totals row")):
        if mask.any():
            what += "s" if mask.sum() > 1 else ""
            shown = ", ".join(f"{int(r):,}" for r in rows.to_numpy()[mask][:10]) + (" …" if mask.sum() > 10 else "")
            report.warning(
                code,
                f"left out {int(mask.sum()):,} {what} (row {shown})",
                file=file,
                expected="nothing to do: they hold no sales"
                if code == "blank_rows"
                else "nothing to do: a sum of the rows above, not a product",
            )
    return blank | totals


def _attr_name(col: str, taken) -> str:
    name = f"attr_{col}"
    return name if name not in taken else f"{name}_{len(taken)}"


def _bad_rows(report, mask, rows, values, file, column, code, message, expected) -> None:
    mask = pd.Series(np.asarray(mask, dtype=bool), index=rows.index)
    if mask.any():
        report.rows(
            ERROR, code, message, file=file, column=column, rows=rows[mask], values=values[mask], expected=expected
        )


def _check_range(frame, fname, lo, hi, report, file, tm, expected) -> None:
    if fname not in frame:
        return
    v = frame[fname]
    col = tm.source_of(fname) or fname
    for bound, bad, code, word, op in (
        (lo, v < lo if lo is not None else None, "below_minimum", "below", ">="),
        (hi, v > hi if hi is not None else None, "above_maximum", "above", "<="),
    ):
        if bound is not None and bad.any():
            report.rows(
                ERROR,
                f"{fname}_{code}",
                f"{fname} {word} {bound:g}",
                file=file,
                column=col,
                rows=frame.loc[bad, "_row"],
                values=v[bad],
                expected=expected or f"{fname} {op} {bound:g}",
            )


def _combine(
    by_table: dict[str, list[pd.DataFrame]],
    report: ValidationReport,
    options: IngestOptions,
    plans: Sequence[FilePlan] = (),
) -> dict[str, pd.DataFrame]:
    tables: dict[str, pd.DataFrame] = {}
    cat = {t: pd.concat(fs, ignore_index=True) for t, fs in by_table.items()}
    if "sales" in cat and "transactions" in cat:
        report.error(
            "two_sales_sources",
            "both a sales table and a transactions table were given; sales would be counted twice",
            expected="either aggregated sales or invoice lines, not both (remove one file or remap it)",
        )
        return {}
    if "sales" not in cat and "transactions" not in cat:
        if not any(p.code == "needs_another_file" for p in report.errors):
            report.error(
                "no_sales", "no file holds sales: the life cycle is read from sales over time", **_what_to_add(plans)
            )
        return {}
    derived_products: pd.DataFrame
    period = _choose_period(cat, options, report)
    if period is None:
        return {}
    catalogue = _dedupe_products(cat["products"], report) if "products" in cat else None
    if "transactions" in cat and catalogue is not None:
        # Names from every catalogue row: a shop without SKUs lists each variant on a row of its own
        # (Shopify: "Classic Tee - L / Black"), all keyed by the product's handle.
        cat["transactions"] = _ids_from_names(cat["transactions"], cat["products"], report)
    if "transactions" in cat:
        lines = cat["transactions"]
        sales = aggregate_lines(lines, period)
        derived_products = products_from_lines(lines)
        keep = [
            c
            for c in (
                "product_id",
                "timestamp",
                "invoice_id",
                "customer_id",
                "quantity",
                "price",
                "is_return",
                "country",
            )
            if c in lines
        ]
        tables["transactions"] = lines[keep].reset_index(drop=True)
    else:
        s = cat["sales"]
        s = s.assign(period=period_start(s["date"], period))
        num = [c for c in ("units", "returns", "revenue", "views", "add_to_cart", "orders") if c in s]
        sales = s.groupby(["product_id", "period"], sort=True, observed=True)[num].sum(min_count=1).reset_index()
        sales["units"] = sales["units"].fillna(0.0)
        derived_products = pd.DataFrame({"product_id": pd.unique(s["product_id"])})
        for c in schema.PRODUCT_LEVEL_FIELDS:
            if c in s:
                derived_products[c] = derived_products["product_id"].map(mode_per_product(s, c))
    if sales.empty or not (sales["units"] > 0).any():
        report.error(
            "no_sales_left",
            "no sales are left once the lines that are not sales were set apart (see the warnings)",
            expected="sales lines: check the status, quantity and product id columns of the orders file",
        )
        return {}
    sales = _fold_late_periods(sales, report)
    first_last = sales[sales["units"] > 0].groupby("product_id")["period"].agg(["min", "max"])
    if catalogue is not None:
        products = catalogue
        if "transactions" in cat:
            products = _add_sold_products(products, derived_products, report)
        known = set(products["product_id"])
        for t, frame in (
            ("sales", cat.get("sales")),
            ("transactions", cat.get("transactions")),
            ("reviews", cat.get("reviews")),
            ("search_terms", cat.get("search_terms")),
            ("inventory", cat.get("inventory")),
        ):
            if frame is not None:
                _unknown_products(frame, known, t, report)
        for c in ("title", "category", "description"):
            if c in derived_products and c in products:
                products[c] = products[c].fillna(
                    products["product_id"].map(derived_products.set_index("product_id")[c])
                )
    else:
        products = derived_products.drop(columns=["first_sale", "last_sale"], errors="ignore")
        if "title" not in products or products["title"].isna().any():
            n = int(products["title"].isna().sum()) if "title" in products else len(products)
            report.warning(
                "titles_from_ids",
                f"{n:,} products have no title in any file; their product id is used as the title",
                expected="a products file with titles, or a product name column mapped as title (description in "
                "invoice lines): correct the mapping (mapping --out m.json, then ingest --mapping m.json) "
                "so the model can read the text",
            )
            title = products["title"] if "title" in products else pd.Series(None, index=products.index, dtype="str")
            products["title"] = title.fillna(products["product_id"])
    products = products.drop(columns=["_row", "_file", VARIANT_NAME], errors="ignore")
    _single_rows(sales, report)
    products["first_sale"] = products["product_id"].map(first_last["min"])
    products["last_sale"] = products["product_id"].map(first_last["max"])
    tables["products"] = products.reset_index(drop=True)
    tables["sales"] = sales
    if "reviews" in cat:
        r = cat["reviews"].drop(columns=["_row", "_file"])
        r["text"] = mask_series(r["text"])
        tables["reviews"] = r.sort_values(["product_id", "date"], kind="stable").reset_index(drop=True)
    if "search_terms" in cat:
        q = cat["search_terms"].drop(columns=["_row", "_file"])
        q["query"] = mask_series(q["query"])
        tables["search_terms"] = q.sort_values(["product_id", "date"], kind="stable").reset_index(drop=True)
    if "inventory" in cat:
        tables["inventory"] = _dedupe_inventory(cat["inventory"], report)
    for t, frame in tables.items():
        _mask_free_text(t, frame)
        if t != "transactions":
            tables[t] = _plain_strings(frame)
    no_sales = products["first_sale"].isna().sum()
    if no_sales:
        report.warning("products_without_sales", f"{no_sales:,} products have no sales in the data")
    return tables


def _what_to_add(plans: Sequence[FilePlan]) -> dict:
    """One sentence on what would make the given files a dataset."""
    tables = {p.mapping.table for p in plans if p.used}
    needs = [p for p in plans if p.used and p.applied is not None and p.applied.layout.needs]
    if needs:
        return {
            "file": needs[0].raw.file,
            "expected": f"{needs[0].layout} is a product list: {needs[0].applied.layout.needs}",
        }
    if tables & {"products", "inventory", "reviews", "search_terms"}:
        given = ", ".join(sorted(tables))
        return {
            "expected": f"only {given} were given: add the sales, either your orders export with line items "
            "(order, date, product, quantity) or a sales file (product, date, units)"
        }
    return {"expected": "a sales file (product, date, units) or invoice lines (product, timestamp, quantity)"}


def _ids_from_names(lines: pd.DataFrame, products: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    """Lines that name their product rather than give its id (a shop without SKUs: Shopify's line item
    "Hoodie - Blue / M") are matched to the products file by title or variant name, case-insensitively."""
    ids = lines["product_id"].astype("object")
    known = set(products["product_id"].astype("str"))
    unknown = ids.notna() & ~ids.isin(known)
    if not unknown.any():
        return lines
    by_name: dict[str, str] = {}
    for col in (VARIANT_NAME, "title"):
        if col in products:
            for name, pid in zip(products[col], products["product_id"], strict=True):
                if isinstance(name, str):
                    by_name.setdefault(name.casefold().strip(), str(pid))
    if not by_name:
        return lines
    names = ids[unknown].astype("str").str.casefold().str.strip()
    found = names.map(by_name)
    hit = found.notna()
    if not hit.any():
        return lines
    lines = lines.copy()
    ids = ids.copy()
    ids[found[hit].index] = found[hit]
    lines["product_id"] = as_category(ids)
    report.warning(
        "ids_from_names",
        f"{int(hit.sum()):,} lines name their product instead of giving its id; matched to the products file "
        f"by title ({names[hit].nunique():,} product{'s' if names[hit].nunique() != 1 else ''})",
    )
    return lines


def _add_sold_products(products: pd.DataFrame, derived: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    """Products sold in the orders but missing from the products file (deleted or renamed since) are kept,
    titled by their lines: an orders export covers years, a catalogue export shows today's products."""
    known = set(products["product_id"].astype("str"))
    sold = derived[~derived["product_id"].astype("str").isin(known)]
    if sold.empty:
        return products
    examples = ", ".join(str(v) for v in sold["product_id"].head(5))
    report.warning(
        "products_only_in_orders",
        f"{len(sold):,} product(s) sold in the orders are not in the products file (e.g. {examples}); "
        "they are kept, titled by their order lines",
    )
    extra = sold.drop(columns=["first_sale", "last_sale"], errors="ignore")
    return pd.concat([products, extra], ignore_index=True)


def _single_rows(sales: pd.DataFrame, report: ValidationReport) -> None:
    """Sales where most products have one dated row are usually a catalogue or a one-day snapshot."""
    per = sales.loc[sales["units"] > 0].groupby("product_id", observed=True).size()
    if len(per) >= 10 and (per == 1).mean() > 0.5:
        report.warning(
            SINGLE_ROWS,
            f"{(per == 1).mean():.0%} of {len(per):,} products have a single dated sales row, over "
            f"{sales['period'].nunique()} period(s): this looks like a catalogue or a one-day snapshot, not sales "
            "over time",
        )


def _fold_late_periods(sales: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    """Periods after the last one in which anything sold hold only refunds or zeros (an export run a few
    weeks after the last order, refunds dated weeks later): as periods of their own they would be weeks in
    which every product stopped at once, and every product's latest stage would be read there. Their
    returns are counted in the last period with sales; the other values of those rows are dropped. On
    daily data a tail shorter than a week stays (a last day of refunds is an ordinary day)."""
    end = sales.loc[sales["units"] > 0, "period"].max()
    late = (sales["period"] > end).to_numpy()
    if not late.any() or sales["period"].max() - end < pd.Timedelta(days=7):
        return sales
    tail = sales.loc[late]
    kept = sales.loc[~late]
    returned = float(tail["returns"].fillna(0).sum()) if "returns" in tail else 0.0
    if returned:
        moved = tail.loc[tail["returns"].fillna(0) > 0, ["product_id", "returns"]].groupby("product_id").sum()
        at_end = kept["period"] == end
        base = kept.loc[at_end].set_index("product_id")
        extra = moved["returns"].reindex(base.index).fillna(0.0)
        kept.loc[at_end, "returns"] = (base["returns"].fillna(0.0) + extra).to_numpy()
        missing = moved.index.difference(base.index)
        if len(missing):
            rows = pd.DataFrame({"product_id": missing, "period": end, "returns": moved.loc[missing, "returns"]})
            # Counts of the added rows are 0 (no sale, order or line in that period), not missing.
            zero = {c: 0 for c in ("units", "revenue", "orders", "customers", "lines") if c in kept}
            dtypes = kept.dtypes
            kept = pd.concat([kept, rows.assign(**zero)], ignore_index=True)
            kept = kept.astype({c: dtypes[c] for c in zero})
            kept = kept.sort_values(["product_id", "period"], kind="stable").reset_index(drop=True)
    n = tail["period"].nunique()
    report.warning(
        "after_last_sale",
        f"{n:,} period(s) after the last sale ({end.date()!s}) hold no sale of any product, only "
        f"{returned:,.0f} returned units and zeros: the data is taken to end at the last sale, those returns "
        f"are counted in its period",
        expected="an export that ends with the last period of sales (refunds dated later are expected)",
    )
    return kept.reset_index(drop=True)


def _choose_period(cat: dict[str, pd.DataFrame], options: IngestOptions, report: ValidationReport) -> str | None:
    """The period sales are aggregated to: the data's own rhythm for ``auto``, else the user's choice
    when it is not finer than the data (reported as an error otherwise). Recorded in ``report.info``."""
    if "transactions" in cat:
        lines = cat["transactions"]
        rhythm = infer_rhythm(lines["product_id"], lines["timestamp"], events=True)
        file = str(lines["_file"].iloc[0]) if len(lines) else None
        sparse = None
        if options.period == "auto":
            sold = lines["quantity"].where(~lines["is_return"].astype(bool), 0.0)
            sparse = sparse_weeks(lines["product_id"], lines["timestamp"], sold)
        if sparse:
            rhythm = Rhythm("M", "events", f"{rhythm.evidence}; {sparse}")
    else:
        s = cat["sales"]
        rhythm = infer_rhythm(s["product_id"], s["date"])
        file = str(s["_file"].iloc[0]) if len(s) else None
    period = rhythm.period if options.period == "auto" else options.period
    why_not = None if rhythm.kind == "events" else check_aggregation(period, rhythm)
    if why_not:
        report.error(
            "period_finer_than_data",
            why_not,
            file=file,
            column="date",
            expected="sales per day, week or month"
            if rhythm.kind in ("quarterly", "yearly")
            else f"period {rhythm.period} ({PERIODS[rhythm.period]}) or coarser, or auto",
        )
        return None
    report.info["rhythm"] = rhythm.to_dict() | {
        "aggregated_to": period,
        "chosen": "auto" if options.period == "auto" else "user",
    }
    if period != rhythm.period:
        report.info["rhythm"]["message"] = f"{rhythm.message()}; aggregated to {AGGREGATED_WORDS[period]}"
    if rhythm.share < 1 and rhythm.kind in RHYTHM_WORDS.values() and rhythm.share > 0:
        report.warning(
            "irregular_dates",
            f"{1 - rhythm.share:.1%} of dates do not follow the file's {rhythm.kind} rhythm; they are counted in "
            f"the {PERIODS[period]} that holds them",
            file=file,
            column="date",
        )
    return period


def _plain_strings(frame: pd.DataFrame) -> pd.DataFrame:
    # Categoricals speed up ingest; stored tables other than invoice lines use plain strings so that
    # joins between them never trip over mismatched categories.
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].astype("str").where(frame[c].notna(), None)
    return frame


def _dedupe_products(p: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    dup = p["product_id"].duplicated(keep=False)
    if not dup.any():
        return p
    sub = p[dup]
    titles = sub.groupby("product_id")["title"].nunique(dropna=True)
    conflicting = titles[titles > 1].index
    if len(conflicting):
        bad = sub[sub["product_id"].isin(conflicting)]
        for file, part in bad.groupby("_file", observed=True):
            report.rows(
                ERROR,
                "conflicting_products",
                "the same product id has different titles",
                file=str(file),
                column="product_id",
                rows=part["_row"],
                values=part["product_id"].astype("str")
                + " / "
                + part["title"].astype("object").fillna("").astype("str"),
                expected="one title per product id (fix the ids or the titles)",
            )
    n = int(p["product_id"].duplicated().sum())
    report.warning("duplicate_products", f"{n:,} repeated product rows with identical titles merged (first kept)")
    return p.drop_duplicates("product_id", keep="first")


def _mask_free_text(table: str, frame: pd.DataFrame) -> None:
    """Mask emails, phone and id numbers in every text column of ``frame`` before it is stored: titles,
    descriptions, categories, countries and extra columns as well as reviews and search terms. Ids are
    left alone (they join the tables; customer ids are pseudonymised already). Each distinct value is
    masked once."""
    spec = schema.TABLES.get(table)
    for col in frame.columns:
        if col.startswith("_") or (
            spec is not None and col in spec.field_names and spec.field(col).kind != schema.TEXT
        ):
            continue
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(s) or s.dtype == object:
            if s.dtype == object and not s.map(lambda v: isinstance(v, str) or v is None).all():
                continue  # not text (dates, numbers kept as objects)
            frame[col] = mask_series(s)


def _dedupe_inventory(inv: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    inv = inv.drop(columns=["_row", "_file"]).copy()
    dup = inv.duplicated("product_id", keep=False)
    if dup.any():
        exact = inv.duplicated(keep="first")
        conflicting = inv[dup & ~inv.duplicated(keep=False)]["product_id"].unique()
        if len(conflicting):
            report.error(
                "conflicting_inventory",
                f"{len(conflicting):,} products have several different stock rows, e.g. {list(conflicting[:5])}",
                column="product_id",
                expected="one stock row per product",
            )
        inv = inv[~exact]
    return inv.reset_index(drop=True)


def _unknown_products(frame: pd.DataFrame, known: set, table: str, report: ValidationReport) -> None:
    ids = frame["product_id"]
    bad = ~ids.isin(known) & ids.notna()
    if bad.any():
        n_ids = ids[bad].nunique()
        for file, part in frame[bad].groupby("_file", observed=True):
            report.rows(
                ERROR,
                "unknown_product",
                f"{table} refers to a product id missing from the products file ({n_ids:,} distinct ids)",
                file=str(file),
                column="product_id",
                rows=part["_row"],
                values=part["product_id"],
                expected="an id listed in the products file (add the product or fix the id)",
            )


def _counts(tables: dict[str, pd.DataFrame]) -> dict:
    sales = tables["sales"]
    counts = {
        "products": len(tables["products"]),
        "sales_rows": len(sales),
        "periods": int(sales["period"].nunique()),
        "first_period": str(sales["period"].min().date()) if len(sales) else None,
        "last_period": str(sales["period"].max().date()) if len(sales) else None,
        "units": float(sales["units"].sum()),
    }
    if "returns" in sales and sales["returns"].sum() > 0:
        counts["returned_units"] = float(sales["returns"].sum())
    for t in ("transactions", "reviews", "search_terms", "inventory"):
        if t in tables:
            counts[t] = len(tables[t])
    return counts
