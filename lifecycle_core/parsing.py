"""Typed parsing of text columns (dates, numbers, ids) that reports bad cells instead of failing.

    python -c "from lifecycle_core.parsing import parse_dates; import pandas as pd; \
print(parse_dates(pd.Series(['05/03/2024', '31/12/2023'])).values)"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Excel stores dates as days since 1899-12-30 (the Lotus 1-2-3 leap-year bug included).
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
# Serials between these (1954..2119) are taken as Excel dates; other bare numbers are not dates.
EXCEL_SERIAL_RANGE = (20_000, 80_000)

_SLASHED = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})(.*)$")
# "05/03/2024 10:30", and US locale dates with a 12-hour clock ("3/5/24, 9:10 AM", as Magento writes them).
_TIME_FORMATS = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", ", %I:%M %p", ", %I:%M:%S %p", ", %H:%M")


@dataclass(frozen=True)
class ParsedDates:
    values: pd.Series  # datetime64[ns]; NaT where missing or bad
    bad: pd.Series  # bool: a non-empty cell that is not a date
    form: str  # "iso", "day-first", "month-first", "excel-serial", "native" or "mixed"
    ambiguous: bool = False  # day and month could not be told apart (all parts <= 12)


def parse_dates(s: pd.Series, *, date_order: str = "auto") -> ParsedDates:
    """Parse a column of dates in ISO, day-first, month-first or Excel-serial form.

    Each distinct string is parsed once (a million invoice lines share ~50k timestamps).
    ``date_order`` is "auto", "day-first" or "month-first"; "auto" picks day-first when both fit.
    """
    if date_order not in ("auto", "day-first", "month-first"):
        raise ValueError(f"date_order must be 'auto', 'day-first' or 'month-first', got {date_order!r}")
    if pd.api.types.is_datetime64_any_dtype(s):
        v = s.dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
        return ParsedDates(v.astype("datetime64[ns]"), pd.Series(False, index=s.index), "native")
    present = s.notna()
    if pd.api.types.is_numeric_dtype(s):
        return _from_serial(s.astype("float64"), present)
    s = as_category(s)
    codes = s.cat.codes.to_numpy()
    uniq = pd.Series(s.cat.categories, dtype="str")
    parsed, form, ambiguous = _parse_unique(uniq, date_order)
    parsed = np.asarray(parsed, dtype="datetime64[ns]")
    nat = np.datetime64("NaT", "ns")
    values = pd.Series(np.where(codes >= 0, parsed[np.maximum(codes, 0)] if len(parsed) else nat, nat), index=s.index)
    bad = present & values.isna()
    return ParsedDates(values, bad, form, ambiguous)


def _from_serial(num: pd.Series, present: pd.Series) -> ParsedDates:
    whole = num.dropna()
    if len(whole) and (whole == whole.round()).all() and whole.between(190001, 210012).all():
        # 202403: a month written as a number (yyyymm), not an Excel serial.
        s = num.astype("Int64").astype("str").where(present)
        months = _months(s[present])
        values = pd.Series(pd.NaT, index=num.index, dtype="datetime64[ns]")
        values[present] = months
        return ParsedDates(values, present & values.isna(), "iso")
    ok = num.between(*EXCEL_SERIAL_RANGE)
    values = (EXCEL_EPOCH + pd.to_timedelta(num.where(ok), unit="D")).astype("datetime64[ns]")
    return ParsedDates(values, present & ~ok, "excel-serial")


def _parse_unique(u: pd.Series, date_order: str) -> tuple[pd.Series, str, bool]:
    if len(u) == 0:
        return pd.Series([], dtype="datetime64[ns]"), "iso", False
    u = _local_time(u)
    numeric = pd.to_numeric(u, errors="coerce")
    if numeric.notna().mean() > 0.9 and numeric.dropna().between(*EXCEL_SERIAL_RANGE).all():
        return EXCEL_EPOCH + pd.to_timedelta(numeric, unit="D"), "excel-serial", False
    sample = u.iloc[:2000]
    m = sample.str.extract(_SLASHED)
    slashed = m[0].notna()
    ambiguous = False
    if slashed.mean() > 0.5:
        first = pd.to_numeric(m[0], errors="coerce")
        second = pd.to_numeric(m[1], errors="coerce")
        if date_order == "auto":
            if (second > 12).any() and not (first > 12).any():
                date_order = "month-first"
            else:
                ambiguous = not (first > 12).any()
                date_order = "day-first"
        sep = sample[slashed].iloc[0][len(m.loc[slashed, 0].iloc[0])]
        year = "%Y" if m.loc[slashed, 2].str.len().max() == 4 else "%y"
        dm = f"%d{sep}%m{sep}{year}" if date_order == "day-first" else f"%m{sep}%d{sep}{year}"
        got = pd.to_datetime(u, format=dm, errors="coerce")
        for tf in _TIME_FORMATS[1:]:
            # A column may mix "05/03/2024" and "05/03/2024 10:30"; fill from each time form.
            got = got.fillna(pd.to_datetime(u, format=dm + tf, errors="coerce"))
        return got, date_order, ambiguous
    got = pd.to_datetime(u, format="ISO8601", errors="coerce")
    if got.isna().any():
        # Chinese exports write 2024年3月5日; also catch 2024/03/05 and other stragglers.
        rest = u[got.isna()].str.replace(r"(\d+)年(\d+)月(\d+)日?", r"\1-\2-\3", regex=True)
        rest = rest.str.replace("/", "-", regex=False)
        got = got.fillna(pd.to_datetime(rest, format="ISO8601", errors="coerce"))
    if got.dt.tz is not None:
        got = got.dt.tz_convert(None)
    if got.isna().any():
        got = got.fillna(_months(u[got.isna()]))
    return got, "iso", False


# "2024-03-05 14:22:01 +0100", "...T14:22:01Z", "... 14:22:01 UTC", "... PST": shop platforms write the
# offset of the shop's time zone, which changes with daylight saving (one file mixes +0100 and +0200).
# The wall-clock time is what places a sale in its day, so the zone is dropped, never converted.
_ZONE = re.compile(
    r"(\d:\d\d(?:\.\d+)?)(?:\s*(?:[+-]\d{2}:?\d{2}|Z)|\s+(?:UTC|GMT|[A-Z]{2,4}T)(?:[+-]\d{1,2}(?::?\d{2})?)?)\s*$"
)


def _local_time(u: pd.Series) -> pd.Series:
    return u.str.replace(_ZONE, r"\1", regex=True)


# Monthly exports name a month rather than a day: "Jan 2024", "January 2024", "Jan-24", "03/2024",
# "2024M03", "202403", "2024年3月". Each is read as the first day of that month; weekly ones may name an
# ISO week ("2024-W05"), read as its Monday.
# Days with a month name, as spreadsheets and US exports write them: "05-Mar-2024", "Mar 5, 2024".
_NAMED_DAY_FORMATS = (
    "%d-%b-%Y",
    "%d-%b-%y",
    "%b-%d-%y",
    "%b-%d-%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
)
_MONTH_FORMATS = ("%b %Y", "%B %Y", "%b-%y", "%b-%Y", "%B-%Y", "%b %y", "%Y %b", "%Y-%b", "%b. %Y")
_MONTH_PATTERNS = (
    (re.compile(r"^\s*(\d{1,2})[/.\-](\d{4})\s*$"), r"\2-\1-01"),  # 03/2024
    (re.compile(r"^\s*(\d{4})\s*-?\s*[Mm](\d{1,2})\s*$"), r"\1-\2-01"),  # 2024M03
    (re.compile(r"^\s*((?:19|20)\d{2})(0[1-9]|1[0-2])\s*$"), r"\1-\2-01"),  # 202403
    (re.compile(r"^\s*(\d{4})\s*年\s*(\d{1,2})\s*月\s*$"), r"\1-\2-01"),  # 2024年3月
)


_ISO_WEEK = re.compile(r"^\s*(\d{4})-?[Ww](\d{1,2})\s*$")


def _months(u: pd.Series) -> pd.Series:
    """Month names and numbered months as their first day, ISO weeks as their Monday, days written with
    a month name; NaT otherwise."""
    out = pd.Series(pd.NaT, index=u.index, dtype="datetime64[ns]")
    text = u.astype("str").str.strip()
    for pattern, repl in _MONTH_PATTERNS:
        hit = out.isna() & text.str.match(pattern)
        if hit.any():
            out[hit] = pd.to_datetime(
                text[hit].str.replace(pattern, repl, regex=True), format="ISO8601", errors="coerce"
            )
    week = out.isna() & text.str.match(_ISO_WEEK)
    if week.any():
        # 2024-W05: the Monday of ISO week 5.
        parts = text[week].str.extract(_ISO_WEEK)
        iso = parts[0] + "-W" + parts[1].str.zfill(2) + "-1"
        out[week] = pd.to_datetime(iso, format="%G-W%V-%u", errors="coerce")
    for fmt in _NAMED_DAY_FORMATS + _MONTH_FORMATS:
        if not out.isna().any():
            break
        rest = out.isna()
        out[rest] = pd.to_datetime(text[rest].str.title(), format=fmt, errors="coerce")
    return out


_DECIMAL_COMMA = r"[-+]?(?:\d{1,3}(?:\.\d{3})+|\d+),\d{1,2}"


def parse_numbers(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse numbers; returns (float64 values, bad mask). Accepts "1,234.50", "¥12" and "£3.5".

    Thousands separators and currency symbols are removed; anything else non-numeric is bad.
    """
    if pd.api.types.is_bool_dtype(s):
        return s.astype("float64"), pd.Series(False, index=s.index)
    if pd.api.types.is_numeric_dtype(s):
        return s.astype("float64"), pd.Series(False, index=s.index)
    if isinstance(s.dtype, pd.CategoricalDtype):
        # Parse each distinct value once: quantities and prices repeat a lot in invoice lines.
        cats = pd.Series(s.cat.categories, dtype="str")
        v, b = parse_numbers(cats)
        codes = s.cat.codes.to_numpy()
        ok = codes >= 0
        idx = np.where(ok, codes, 0)
        vals = np.where(ok, v.to_numpy()[idx] if len(v) else np.nan, np.nan)
        bad = ok & (b.to_numpy()[idx] if len(b) else False)
        return pd.Series(vals, index=s.index), pd.Series(bad, index=s.index)
    present = s.notna()
    try:
        # Fast path: Arrow's cast parses a million clean numbers in milliseconds.
        arr = pa.array(s, type=pa.string(), from_pandas=True)
        vals = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        return pd.Series(vals, index=s.index), pd.Series(False, index=s.index)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    text = s.astype("str").str.replace(r"[\s¥￥$£€]|EUR|USD|GBP|CNY|RMB|元", "", regex=True)
    # "116,99" and "1.234,50" (German, French, Dutch exports: eBay.de, WooCommerce): a decimal comma,
    # told apart from a thousands comma ("1,234") by the one or two digits after it.
    decimal_comma = text.str.fullmatch(_DECIMAL_COMMA)
    text = text.where(~decimal_comma, text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
    cleaned = text.where(decimal_comma, text.str.replace(",", "", regex=False))
    vals = pd.to_numeric(cleaned, errors="coerce").astype("float64")
    bad = present & vals.isna()
    return vals, bad


def as_category(s: pd.Series) -> pd.Series:
    """A column as a categorical of stripped strings; blanks become missing.

    Invoice exports repeat each id and name thousands of times: cleaning the distinct values and
    keeping integer codes makes every later filter, group-by and duplicate check cheap.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes, uniq = s.cat.codes.to_numpy(), s.cat.categories
        if s.attrs.get("clean"):
            return s
    else:
        if not (pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)):
            s = s.astype("str").where(s.notna(), None)
        codes, uniq = pd.factorize(s)
    cleaned = strip_excel_guard(pd.Series(uniq, dtype="str").str.strip())
    # Database dumps (Magento's sales_order_item through phpMyAdmin or mysql) write a missing value as NULL.
    return _recode(codes, cleaned.where(~cleaned.isin(_MISSING), None), s.index)


_MISSING = ("", "NULL", "\\N")


_GUARD = r'^="(.*)"$'


def strip_excel_guard(s: pd.Series) -> pd.Series:
    """``="0012345"`` -> ``0012345``: Taobao, JD and others write ids as Excel formulas so that
    Excel keeps their leading zeros and digits; the guard is not part of the value."""
    if not s.str.startswith('="').any():
        return s
    return s.str.replace(_GUARD, r"\1", regex=True).str.strip()


def map_categories(s: pd.Series, fn) -> pd.Series:
    """Apply ``fn`` (Series of str -> Series) to the distinct values of a categorical; merges collisions."""
    s = as_category(s)
    new = fn(pd.Series(s.cat.categories, dtype="str"))
    return _recode(s.cat.codes.to_numpy(), pd.Series(new, dtype="str"), s.index)


def _recode(codes: np.ndarray, values: pd.Series, index: pd.Index) -> pd.Series:
    c2, u2 = pd.factorize(values)
    if len(c2):
        final = np.where(codes >= 0, c2[np.where(codes >= 0, codes, 0)], -1)
    else:
        final = np.full(len(codes), -1)
    cat = pd.Categorical.from_codes(final, categories=pd.Index(u2, dtype="str"))
    out = pd.Series(cat, index=index)
    out.attrs["clean"] = True  # already stripped: as_category() can skip it next time
    return out


def normalize_ids(s: pd.Series) -> pd.Series:
    """Ids as clean categorical strings: "13085.0" (a float that went through Excel) becomes "13085"."""
    if pd.api.types.is_float_dtype(s):
        s = s.map(lambda v: None if pd.isna(v) else (str(int(v)) if float(v).is_integer() else str(v)))
    return map_categories(s, lambda u: u.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True))
