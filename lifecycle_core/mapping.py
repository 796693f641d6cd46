"""Guess which canonical table a file holds and which of its columns is which field.

    python -c "from lifecycle_core.mapping import guess_mapping; \
print(guess_mapping(['商品编号', '日期', '销量']))"

Guesses carry a confidence in [0, 1]; the user confirms or corrects them (a form in the UI, a JSON
file in the CLI), so a wrong guess costs a click, never a silent error.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .schema import TABLES, TableSpec

EXACT, CONTAINS, FUZZY_FLOOR = 1.0, 0.75, 0.82


@functools.lru_cache(maxsize=65536)
def normalize_header(name: str) -> str:
    """Lower-case, full-width folded, separators removed: "Customer ID" -> "customerid", "商品 编号" -> "商品编号"."""
    text = unicodedata.normalize("NFKC", str(name)).lower().strip()
    return re.sub(r"[\s_\-./()\[\]#:：（）]+", "", text)


@dataclass
class TableMapping:
    """How one file maps onto a canonical table: source column -> field, with confidences."""

    table: str
    columns: dict[str, str]  # source column name -> canonical field name
    confidence: dict[str, float] = field(default_factory=dict)  # source column -> [0, 1]
    table_confidence: float = 0.0
    extra: list[str] = field(default_factory=list)  # unmapped source columns (kept as attributes)

    @property
    def missing_required(self) -> list[str]:
        have = set(self.columns.values())
        return [f for f in TABLES[self.table].required if f not in have]

    def source_of(self, field_name: str) -> str | None:
        for src, dst in self.columns.items():
            if dst == field_name:
                return src
        return None

    def to_dict(self) -> dict:
        return {"table": self.table, "columns": dict(self.columns)}


@functools.lru_cache(maxsize=1024)
def _normalized(synonyms: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(normalize_header(s) for s in synonyms)


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@functools.lru_cache(maxsize=1)
def _all_synonyms() -> frozenset[str]:
    return frozenset(n for t in TABLES.values() for f in t.fields for n in _normalized(f.synonyms))


def known_header(name: str) -> bool:
    """Whether ``name`` is exactly a column name of some field (normalised), in any language: how the
    reader tells East Asian encodings apart by the header they give."""
    return normalize_header(name) in _all_synonyms()


@functools.lru_cache(maxsize=65536)
def _boundaries(name: str) -> frozenset[int] | None:
    """Word boundaries of a header as offsets into its normalised form ("allow_backorders" -> {0, 5, 15}),
    or None for CJK text, which has no spaces between words. A synonym found inside a header counts
    only on whole words: "order" is not in "allow_backorders", "qty" is in "Qty Sold"."""
    text = unicodedata.normalize("NFKC", str(name)).strip()
    if _CJK.search(text):
        return None
    text = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", " ", text)
    words = [w for w in re.split(r"[\s_\-./()\[\]#:：（）]+", text.lower()) if w]
    cuts, at = {0}, 0
    for w in words:
        at += len(w)
        cuts.add(at)
    return frozenset(cuts)


def _on_words(outer: str, outer_raw: str, inner: str) -> bool:
    cuts = _boundaries(outer_raw)
    if cuts is None:
        return True
    at = outer.find(inner)
    while at >= 0:
        if at in cuts and at + len(inner) in cuts:
            return True
        at = outer.find(inner, at + 1)
    return False


def _score(header: str, synonyms: tuple[str, ...]) -> float:
    h = normalize_header(header)
    if not h:
        return 0.0
    best = 0.0
    lh = len(h)
    for raw_s, s in zip(synonyms, _normalized(synonyms), strict=True):
        if h == s:
            return EXACT
        # "Quantity Sold (units)" contains "quantitysold"; prefer longer matches. Whole words only.
        if len(s) >= 2 and (
            (s in h and _on_words(h, header, s)) or (len(h) >= 3 and h in s and _on_words(s, raw_s, h))
        ):
            overlap = min(len(s), len(h)) / max(len(s), len(h))
            best = max(best, CONTAINS * (0.6 + 0.4 * overlap))
        elif 2 * min(lh, len(s)) >= FUZZY_FLOOR * (lh + len(s)):
            # The length bound (difflib's real_quick_ratio) first, without building a matcher: a
            # 10,000-column header took 12 s of matchers that could never reach the floor.
            sm = difflib.SequenceMatcher(None, h, s)
            # quick_ratio() is a cheap upper bound; most pairs fail it and skip the full match.
            if sm.quick_ratio() >= FUZZY_FLOOR:
                r = sm.ratio()
                if r >= FUZZY_FLOOR:
                    best = max(best, 0.7 * r)
    return best


def guess_columns(columns: list[str], spec: TableSpec) -> TableMapping:
    """Best one-to-one assignment of ``columns`` to ``spec``'s fields (greedy by score)."""
    candidates = []
    for col in columns:
        for f in spec.fields:
            sc = _score(col, (*f.synonyms, f.name))
            if sc > 0:
                candidates.append((sc, f.required, col, f.name))
    candidates.sort(key=lambda c: (-c[0], not c[1]))
    used_cols: set[str] = set()
    used_fields: set[str] = set()
    mapping: dict[str, str] = {}
    conf: dict[str, float] = {}
    for sc, _req, col, fname in candidates:
        if col in used_cols or fname in used_fields:
            continue
        mapping[col] = fname
        conf[col] = round(sc, 2)
        used_cols.add(col)
        used_fields.add(fname)
    extra = [c for c in columns if c not in mapping]
    tm = TableMapping(spec.name, mapping, conf, 0.0, extra)
    tm.table_confidence = _table_score(tm, spec)
    return tm


def _table_score(tm: TableMapping, spec: TableSpec) -> float:
    req = spec.required
    got = [tm.confidence[c] for c, f in tm.columns.items() if f in req]
    if not req:
        return 0.0
    coverage = sum(got) / len(req)
    optional = sum(1 for f in tm.columns.values() if f not in req)
    # Optional fields break ties between tables with the same required fields (sales vs transactions).
    return round(min(1.0, coverage * (0.85 + 0.05 * min(optional, 3))), 3)


# Fields that mark one table over its look-alikes (transactions vs sales share id/date/quantity).
_MARKERS = {
    "transactions": ("invoice_id", "customer_id"),
    "reviews": ("text",),
    "search_terms": ("query",),
    "inventory": ("on_hand",),
    "sales": ("units", "revenue", "views", "add_to_cart"),
    "products": ("title",),
}
_NOT_PRODUCTS_IF = ("date", "timestamp", "on_hand", "text", "query")


def guess_mapping(columns: list[str], *, file_name: str = "") -> TableMapping:
    """Guess the table and the column mapping of a file from its header (and its name)."""
    stem = normalize_header(Path(file_name).stem) if file_name else ""
    guesses = {name: guess_columns(columns, spec) for name, spec in TABLES.items()}
    per_row_fields = {f for t, g in guesses.items() if t != "products" for f in g.columns.values()}
    best: TableMapping | None = None
    best_score = -1.0
    for name, tm in guesses.items():
        spec = TABLES[name]
        score = tm.table_confidence
        score -= 0.5 * len(tm.missing_required) / max(1, len(spec.required))
        mapped = set(tm.columns.values())
        score += 0.08 * sum(1 for m in _MARKERS.get(name, ()) if m in mapped)
        if name == "products" and per_row_fields & set(_NOT_PRODUCTS_IF):
            score -= 0.3  # a file with dates or stock per row is not a product list
        if stem and any(normalize_header(h) in stem for h in spec.file_hints):
            score += 0.1
        if score > best_score:
            best, best_score = tm, score
    assert best is not None
    return best


def load_mapping_file(path: str | Path) -> dict[str, TableMapping]:
    """Read a user's mapping overrides: ``{"file.csv": {"table": "sales", "columns": {"Qty": "units"}}}``.

    A column mapped to null is ignored. Keys are file names (without folders).
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"mapping file {path}: cannot read JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"mapping file {path}: expected an object keyed by file name, found {type(raw).__name__}")
    out = {}
    for fname, spec in raw.items():
        if not isinstance(spec, dict) or "table" not in spec:
            raise ValueError(f"mapping file {path}: entry {fname!r} needs a 'table' key, found {spec!r}")
        if spec["table"] not in TABLES:
            raise ValueError(
                f"mapping file {path}: entry {fname!r} table {spec['table']!r} is not one of {list(TABLES)}"
            )
        cols = spec.get("columns", {}) or {}
        valid = TABLES[spec["table"]].field_names
        for src, dst in cols.items():
            if dst is not None and dst not in valid:
                raise ValueError(
                    f"mapping file {path}: {fname!r} maps column {src!r} to {dst!r}, "
                    f"which is not a field of {spec['table']}; fields: {list(valid)}"
                )
        out[Path(fname).name] = TableMapping(
            spec["table"], {k: v for k, v in cols.items() if v is not None}, {k: 1.0 for k in cols}, 1.0
        )
    return out


def complete_mapping(override: TableMapping, columns: list[str]) -> TableMapping:
    """Fill the fields an override leaves out with guesses for its table, never reusing a column."""
    guess = guess_columns(columns, TABLES[override.table])
    cols = dict(override.columns)
    conf = {c: 1.0 for c in cols}
    taken_fields = set(cols.values())
    for src, dst in guess.columns.items():
        if src not in cols and dst not in taken_fields and src not in override.confidence:
            cols[src] = dst
            conf[src] = guess.confidence[src]
            taken_fields.add(dst)
    extra = [c for c in columns if c not in cols]
    tm = TableMapping(override.table, cols, conf, 1.0, extra)
    return tm
