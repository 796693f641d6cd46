"""CSV and Excel exports that are safe to open in a spreadsheet.

    python -c "from lifecycle_core.export import safe_cell; print(safe_cell('=HYPERLINK(\\"x\\")'))"

Text from the data (titles, reviews, reasons) could start with = + - @ and run as a formula when a
merchant opens the file (CSV/formula injection); such cells get a leading apostrophe.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """The value, with a leading ' when it is text a spreadsheet would treat as a formula."""
    if isinstance(value, str) and value.startswith(_TRIGGERS):
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
    """UTF-8 with BOM, so Excel opens Chinese text correctly."""
    return safe_frame(frame).to_csv(index=False).encode("utf-8-sig")


def to_excel_bytes(frame: pd.DataFrame, sheet: str = "data") -> bytes:
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        safe_frame(frame).to_excel(xw, sheet_name=sheet[:31], index=False)
    return buf.getvalue()


def write(frame: pd.DataFrame, path: str | Path, sheet: str = "data") -> Path:
    """Write CSV or .xlsx by the file's extension."""
    p = Path(path)
    data = to_excel_bytes(frame, sheet) if p.suffix.lower() == ".xlsx" else to_csv_bytes(frame)
    p.write_bytes(data)
    return p
