"""Plan an ingest: read every file and decide how it maps, before anything is validated.

    python -m lifecycle_core mapping orders_export.csv products_export.csv

In order of precedence a file's mapping comes from: the user's mapping file (an entry per file name or
glob), a mapping the user confirmed for the same header before (saved in the workspace per layout
signature), a platform layout recognised by its header (layouts.py), or a guess from the column names.
A guess that would read a catalogue as sales (every product id once) is read as a product list instead.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .layout_apply import apply_layout
from .layouts import ORDERS, Applied, recognise
from .mapping import TableMapping, complete_mapping, guess_columns, guess_mapping, normalize_header
from .parsing import as_category
from .readers import RawTable, ReadLimits, SourceFile, read_source
from .report import IngestError, ValidationReport
from .schema import TABLES


@dataclass
class FilePlan:
    """One uploaded file, read, with the mapping that will be applied (guessed or given)."""

    raw: RawTable
    mapping: TableMapping
    layout: str | None = None  # "Shopify orders export" when recognised
    applied: Applied | None = None  # what the layout did (excluded orders, filled fields)
    joined_into: str | None = None  # an order-level file whose columns were joined into this other file
    needs: str | None = None  # an order-level file alone: what to add to make a dataset
    unmatched: tuple[np.ndarray, np.ndarray] | None = None  # (rows, order numbers) the joined orders file lacks
    saved_from: dict | None = None  # the saved mapping used: {"file", "saved_at"}
    signature: str = ""  # the header's layout signature (saved mappings are kept by it)
    note: str | None = None  # why the table is not the one the column names suggest
    hint: str | None = None  # what a platform file misses without its partner file
    date_order: str = ""  # the layout's date order for ambiguous dates, when the user leaves it on auto
    auto: TableMapping | None = field(default=None, repr=False)  # the mapping before any user choice

    @property
    def changed_by_user(self) -> bool:
        """Whether the mapping differs from the automatic one (worth remembering for this layout)."""
        return (
            self.used
            and bool(self.mapping.columns)
            and self.mapping.columns != (self.auto.columns if self.auto else None)
        )

    @property
    def used(self) -> bool:
        """Whether the file becomes a table of its own (an orders file joined into its lines does not)."""
        return self.joined_into is None and self.needs is None


def header_signature(columns: list[str]) -> str:
    """The same export layout (the same columns, in any order, spelled in any case) -> the same signature."""
    names = sorted({normalize_header(c) for c in columns})
    return hashlib.sha256("\x1f".join(names).encode()).hexdigest()[:16]


def match_overrides(
    overrides: dict[str, TableMapping], names: list[str], report: ValidationReport
) -> dict[str, TableMapping]:
    """Mapping-file entries per input file: an exact name first, else the first glob that matches
    (``"*.csv"``, ``"*"``). An entry that matches no file is an error listing the files given."""
    out: dict[str, TableMapping] = {}
    used: set[str] = set()
    for name in names:
        if name in overrides:
            out[name] = overrides[name]
            used.add(name)
            continue
        for pattern, tm in overrides.items():
            if pattern not in names and fnmatch.fnmatchcase(name.lower(), pattern.lower()):
                out[name] = tm
                used.add(pattern)
                break
    for pattern in overrides:
        if pattern not in used:
            report.error(
                "mapping_entry_unused",
                f"the mapping file has an entry {pattern!r} that matches none of the files given",
                expected=f"an entry named after one of {names} (or a pattern such as '*.csv')",
            )
    return out


def plan_files(
    sources: Sequence[SourceFile],
    *,
    overrides: dict[str, TableMapping] | None = None,
    options=None,
    saved: dict[str, dict] | None = None,
) -> tuple[list[FilePlan], ValidationReport]:
    """Read every file and decide its mapping. Reading problems of all files are reported together.

    ``saved``: the workspace's confirmed mappings by header signature (``Workspace.saved_mappings()``)."""
    limits = getattr(options, "limits", None) or ReadLimits()
    report = ValidationReport()
    if not sources:
        report.error("no_files", "no files were given", expected="one or more CSV, .csv.gz, .xlsx or .parquet files")
    names = [s.name for s in sources]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        report.error("duplicate_file", "the same file name was given twice", file=dup, expected="distinct files")
    raws: list[RawTable] = []
    for src in sources:
        try:
            raws.append(read_source(src, limits=limits))
        except IngestError as exc:
            report.extend(exc.report)
    given = match_overrides(overrides or {}, names, report) if overrides else {}
    layouts = {raw.file: recognise(raw.columns) for raw in raws}
    # An order-level export (Taobao 订单报表) is joined into the lines file that names it as partner.
    partner_of: dict[str, RawTable] = {}
    joined_into: dict[str, str] = {}
    for raw in raws:
        layout = layouts[raw.file]
        if layout is None or not layout.join or (raw.file in given and given[raw.file].table != layout.table):
            continue
        partner = next((r for r in raws if layouts[r.file] is not None and layouts[r.file].key == layout.join), None)
        if partner is not None:
            partner_of[raw.file] = partner
            joined_into.setdefault(partner.file, raw.file)
    plans: list[FilePlan] = []
    for raw in raws:
        if raw.footer_lines:
            report.warning(
                "footer_skipped",
                f"{len(raw.footer_lines)} short line(s) at the end read as the export's footer and skipped: "
                f"lines {raw.footer_lines}",
                file=raw.file,
            )
        if raw.padded_rows:
            report.warning(
                "short_rows_padded",
                f"{raw.padded_rows:,} tab-separated rows have fewer fields than the header; the missing trailing "
                "cells are read as empty",
                file=raw.file,
            )
        plans.extend(_plan_one(raw, layouts[raw.file], given, saved or {}, partner_of, joined_into, report))
    return plans, report


def _plan_one(raw, layout, given, saved, partner_of, joined_into, report) -> list[FilePlan]:
    sig = header_signature(raw.columns)
    chosen = given.get(raw.file)
    entry = saved.get(sig) if chosen is None else None
    if entry is not None:
        chosen = entry["mapping"]
    if layout is not None and chosen is not None and chosen.table != layout.table:
        layout = None  # the user reads this file as another table: the platform's row rules do not apply
    if layout is not None and layout.table == ORDERS:
        tm = TableMapping("transactions", {}, {}, 1.0, [])
        if raw.file in joined_into:
            return [FilePlan(raw, tm, layout=layout.label, joined_into=joined_into[raw.file], signature=sig)]
        return [FilePlan(raw, tm, layout=layout.label, needs=layout.needs, signature=sig)]
    if layout is None:
        auto = guess_mapping(raw.columns, file_name=raw.file)
        note = None
        if chosen is None and auto.table in ("sales", "transactions") and _one_row_per_id(raw, auto):
            alt = _as_catalogue(raw)
            if alt is not None:
                qty = auto.source_of("units") or auto.source_of("quantity") or "its quantity"
                note = (
                    f"read as {alt.table}, not {auto.table}: every product id appears on one row only, so {qty} "
                    "is not sales over time"
                )
                auto = alt
        if chosen is None:
            return [FilePlan(raw, auto, signature=sig, note=note, auto=auto)]
        mapping = _user_mapping(raw, chosen, report, complain=entry is None)
        return [FilePlan(raw, mapping, signature=sig, auto=auto, saved_from=_saved_info(entry))]
    partner = partner_of.get(raw.file)
    res = apply_layout(raw, layout, partner)
    mapping = res.mapping if chosen is None else _user_mapping(res.raw, chosen, report, complain=entry is None)
    plan = FilePlan(
        res.raw,
        mapping,
        layout=layout.label,
        applied=res.applied,
        signature=sig,
        auto=res.mapping,
        date_order=layout.date_order,
        saved_from=_saved_info(entry),
    )
    plan.unmatched = res.unmatched
    if layout.join and partner is None and "timestamp" not in mapping.columns.values():
        plan.needs = layout.needs
    elif layout.join and partner is None and layout.alone:
        plan.hint = layout.alone
    out = [plan]
    if res.inventory is not None:
        inv_raw, inv_map = res.inventory
        out.append(FilePlan(inv_raw, inv_map, layout=layout.label, signature=sig, auto=inv_map))
    return out


def _saved_info(entry: dict | None) -> dict | None:
    return None if entry is None else {"file": entry["file"], "saved_at": entry["saved_at"]}


def _user_mapping(raw: RawTable, over: TableMapping, report: ValidationReport, *, complain: bool) -> TableMapping:
    """The user's columns, completed with guesses for the fields they leave out. A column the file does
    not have is an error in a mapping file; a saved mapping is only used for the same header, so it has
    them all."""
    kept = {c: f for c, f in over.columns.items() if c in raw.columns}
    mapping = complete_mapping(
        TableMapping(over.table, kept, {c: 1.0 for c in over.confidence if c in raw.columns}, 1.0), raw.columns
    )
    if complain:
        for c in (c for c in over.columns if c not in raw.columns):
            report.error(
                "mapping_unknown_column",
                "the mapping names a column this file does not have",
                file=raw.file,
                column=c,
                expected=f"one of {raw.columns}",
            )
    return mapping


def _one_row_per_id(raw: RawTable, tm: TableMapping) -> bool:
    """A "sales" file whose product ids each appear once is a catalogue or a stock list: its quantity is
    what is on hand, not units sold per period (a Magento catalog's qty was once stored as sales)."""
    col = tm.source_of("product_id")
    if col is None or raw.n_rows < 5:
        return False
    ids = as_category(raw.frame[col])
    n = int(ids.notna().sum())
    return n >= 5 and ids.nunique() == n


def _as_catalogue(raw: RawTable) -> TableMapping | None:
    for table in ("products", "inventory"):
        tm = guess_columns(raw.columns, TABLES[table])
        if not tm.missing_required:
            return tm
    return None
