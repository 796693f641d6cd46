"""CSV and Excel exports that are safe to open in a spreadsheet.

    python -c "from lifecycle_core.export import safe_cell; print(safe_cell('=HYPERLINK(\\"x\\")'))"

Text from the data (titles, reviews, reasons) could start with = + - @ and run as a formula when a
merchant opens the file (CSV/formula injection); such cells get a leading apostrophe, and so does every
line inside a cell (after a CR or LF), since some spreadsheets end a row at a bare CR. CSV quotes every
cell holding a CR or LF; the workbook drops the control characters it cannot store. Every download and
every CLI ``--out`` goes through ``write`` / ``to_csv_bytes`` / ``to_excel_bytes``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_LINE_START = re.compile(r"([\r\n]+)(?=[=+\-@\t])")  # a line inside a cell that starts like a formula
# What openpyxl refuses in a cell (XML 1.0 forbids these control characters).
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def safe_cell(value: object) -> object:
    """The value, with a leading ' when it is text a spreadsheet would treat as a formula (the whole
    cell, and each line of it after a CR or LF)."""
    if not isinstance(value, str):
        return value
    if "\r" in value or "\n" in value:
        value = _LINE_START.sub(r"\1'", value)
    if value.startswith(_TRIGGERS):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell made safe; numbers stay numbers."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_object_dtype(out[col]) or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(safe_cell).astype(object)
    out.columns = [safe_cell(str(c)) for c in out.columns]
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 with BOM, so Excel opens Chinese text correctly. Rows end with CRLF, which makes the csv
    writer quote every cell holding a CR or an LF (with LF endings a bare CR went out unquoted)."""
    return safe_frame(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def to_excel_bytes(frame: pd.DataFrame, sheet: str = "data") -> bytes:
    out = safe_frame(frame)
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: _XLSX_ILLEGAL.sub("", v) if isinstance(v, str) else v)
    out.columns = [_XLSX_ILLEGAL.sub("", str(c)) for c in out.columns]
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        out.to_excel(xw, sheet_name=_XLSX_ILLEGAL.sub("", sheet)[:31] or "data", index=False)
    return buf.getvalue()


def write(frame: pd.DataFrame, path: str | Path, sheet: str = "data") -> Path:
    """Write CSV or .xlsx by the file's extension. A folder that does not exist or cannot be written is a
    ValueError that names it (the CLI prints it and exits 2)."""
    p = Path(path)
    if not p.parent.is_dir():
        raise ValueError(f"cannot write {p}: the folder {p.parent} does not exist")
    if p.is_dir():
        raise ValueError(f"cannot write {p}: it is a folder; give a file name ending in .csv or .xlsx")
    data = to_excel_bytes(frame, sheet) if p.suffix.lower() == ".xlsx" else to_csv_bytes(frame)
    try:
        p.write_bytes(data)
    except OSError as exc:
        raise ValueError(f"cannot write {p}: {exc.strerror or exc}") from exc
    return p
