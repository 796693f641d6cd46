"""Ingest merchants' files into a workspace dataset: read, map columns, validate, normalise, store.

    python -m lifecycle_core ingest sales.csv products.xlsx --workspace ws --name spring

An ingest either stores the whole dataset or nothing: every problem is collected into one
ValidationReport (file, row, column, value, what was expected) and any error stops it before a
single byte is written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import schema
from .mapping import TableMapping, complete_mapping, guess_mapping
from .parsing import as_category, normalize_ids, parse_dates, parse_numbers
from .periods import (
    AGGREGATED_WORDS,
    PERIODS,
    RHYTHM_WORDS,
    check_aggregation,
    check_period,
    infer_rhythm,
    period_start,
)
from .privacy import mask_series, pseudonymize
from .readers import RawTable, ReadLimits, SourceFile, read_source
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

    ``period``: "auto" (the rhythm of the sales dates: daily, weekly or monthly; invoice lines weekly),
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
class FilePlan:
    """One uploaded file, read, with the mapping that will be applied (guessed or given)."""

    raw: RawTable
    mapping: TableMapping


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


def plan_files(
    sources: Sequence[SourceFile],
    *,
    overrides: dict[str, TableMapping] | None = None,
    options: IngestOptions | None = None,
) -> tuple[list[FilePlan], ValidationReport]:
    """Read every file and guess (or apply) its mapping. Reading problems of all files are reported together."""
    options = options or IngestOptions()
    overrides = overrides or {}
    report = ValidationReport()
    plans: list[FilePlan] = []
    if not sources:
        report.error("no_files", "no files were given", expected="one or more CSV, .csv.gz, .xlsx or .parquet files")
    names = [s.name for s in sources]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        report.error("duplicate_file", "the same file name was given twice", file=dup, expected="distinct files")
    for src in sources:
        try:
            raw = read_source(src, limits=options.limits)
        except IngestError as exc:
            report.extend(exc.report)
            continue
        if src.name in overrides:
            over = overrides[src.name]
            missing_src = [c for c in over.columns if c not in raw.columns]
            kept = {c: f for c, f in over.columns.items() if c in raw.columns}
            mapping = complete_mapping(
                TableMapping(over.table, kept, {c: 1.0 for c in over.confidence if c in raw.columns}, 1.0), raw.columns
            )
            for c in missing_src:
                report.error(
                    "mapping_unknown_column",
                    "the mapping names a column this file does not have",
                    file=src.name,
                    column=c,
                    expected=f"one of {raw.columns}",
                )
        else:
            mapping = guess_mapping(raw.columns, file_name=src.name)
        plans.append(FilePlan(raw, mapping))
    return plans, report


def ingest(
    workspace: Workspace,
    name: str,
    sources: Sequence[SourceFile],
    *,
    overrides: dict[str, TableMapping] | None = None,
    options: IngestOptions | None = None,
    replace: bool = False,
    progress: Progress | None = None,
) -> DatasetInfo:
    """Read, validate and store ``sources`` as dataset ``name``; raises IngestError and writes nothing on error."""
    options = options or IngestOptions()
    progress = progress or _no_progress
    workspace.check_dataset_name(name, replace=replace)
    progress(0.0, "reading files")
    plans, report = plan_files(sources, overrides=overrides, options=options)
    # Unreadable files do not stop the others from being checked: one report lists every problem.
    prepared = prepare(plans, options=options, key=workspace.secret_key(), report=report, progress=progress)
    progress(0.9, "saving")
    info = workspace.save_dataset(name, prepared, replace=replace)
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
    for i, plan in enumerate(plans):
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
        frame = convert(plan.raw, tm, report, options=options)
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
    tables = _combine(by_table, report, options)
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
            "table": p.mapping.table,
            "mapping": p.mapping.columns,
            "confidence": p.mapping.confidence,
            "extra_columns": p.mapping.extra,
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


def convert(raw: RawTable, tm: TableMapping, report: ValidationReport, *, options: IngestOptions) -> pd.DataFrame:
    """Typed canonical columns from a raw table; every bad cell is reported with its row number.

    Output: one column per mapped field, ``_row`` (the row number the user sees), and, for products,
    the unmapped columns as attributes.
    """
    spec = schema.TABLES[tm.table]
    src = raw.frame
    rows = pd.Series(np.arange(len(src), dtype="int64") + raw.first_row, index=src.index)
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
    return out


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
    by_table: dict[str, list[pd.DataFrame]], report: ValidationReport, options: IngestOptions
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
        report.error(
            "no_sales",
            "no file holds sales: the life cycle is read from sales over time",
            expected="a sales file (product, date, units) or invoice lines (product, timestamp, quantity)",
        )
        return {}
    derived_products: pd.DataFrame
    period = _choose_period(cat, options, report)
    if period is None:
        return {}
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
    first_last = sales[sales["units"] > 0].groupby("product_id")["period"].agg(["min", "max"])
    if "products" in cat:
        products = _dedupe_products(cat["products"], report)
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
                expected="a products file with titles, or a title/description column, for text-based predictions",
            )
            title = products["title"] if "title" in products else pd.Series(None, index=products.index, dtype="str")
            products["title"] = title.fillna(products["product_id"])
    products = products.drop(columns=["_row", "_file"], errors="ignore")
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


def _choose_period(cat: dict[str, pd.DataFrame], options: IngestOptions, report: ValidationReport) -> str | None:
    """The period sales are aggregated to: the data's own rhythm for ``auto``, else the user's choice
    when it is not finer than the data (reported as an error otherwise). Recorded in ``report.info``."""
    if "transactions" in cat:
        rhythm = infer_rhythm(cat["transactions"]["product_id"], cat["transactions"]["timestamp"], events=True)
        file = str(cat["transactions"]["_file"].iloc[0]) if len(cat["transactions"]) else None
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
                values=part["product_id"].astype("str") + " / " + part["title"].astype("str"),
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
    for t in ("transactions", "reviews", "search_terms", "inventory"):
        if t in tables:
            counts[t] = len(tables[t])
    return counts
