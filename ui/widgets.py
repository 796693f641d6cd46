"""Small Streamlit widgets shared by pages."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from lifecycle_core import export
from ui.state import tr

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download_buttons(frame: pd.DataFrame, stem: str, sheet: str, key: str) -> None:
    """CSV and Excel downloads of ``frame`` side by side, safe against formula injection.

    The files are made when a button is clicked (a callable), not on every rerun: an Excel file of
    100,000 rows takes seconds to write."""
    c1, c2 = st.columns(2)
    c1.download_button(
        tr("common.download_csv"),
        partial(export.to_csv_bytes, frame),
        file_name=f"{stem}.csv",
        mime="text/csv",
        key=f"{key}_csv",
    )
    c2.download_button(
        tr("common.download_xlsx"),
        partial(export.to_excel_bytes, frame, sheet),
        file_name=f"{stem}.xlsx",
        mime=XLSX_MIME,
        key=f"{key}_xlsx",
    )


def search_products(frame: pd.DataFrame, query: str) -> pd.DataFrame:
    """Rows whose product id or title contains ``query`` (case-insensitive, plain text); all when empty."""
    q = (query or "").strip().lower()
    if not q:
        return frame
    hay = frame["product_id"].astype(str).str.lower()
    if "title" in frame:
        hay = hay + " " + frame["title"].fillna("").astype(str).str.lower()
    return frame[hay.str.contains(q, regex=False)]


PICKER_LIMIT = 1000  # a drop-down of 100,000 products would send megabytes to the browser on every rerun


def picker_options(frame: pd.DataFrame) -> dict:
    """product id -> title of the first ``PICKER_LIMIT`` rows, for a product drop-down; says (in a
    caption) when the list is cut, so the user narrows it with the search box."""
    head = frame.head(PICKER_LIMIT)
    titles = head["title"].fillna("").astype(str) if "title" in head else head["product_id"].astype(str)
    if len(frame) > PICKER_LIMIT:
        st.caption(tr("common.picker_cut", n=f"{PICKER_LIMIT:,}", total=f"{len(frame):,}"))
    return dict(zip(head["product_id"], titles, strict=True))


def product_picker(frame: pd.DataFrame, key: str, *, search=st, pick=st, on_empty: str, warn: bool = False):
    """A search box and a product drop-down over ``frame`` (product_id, title); returns the chosen id.
    When nothing matches it says ``on_empty`` (a message key) and stops the page."""
    query = search.text_input(tr("predictions.search"), key=f"{key}_search")
    found = search_products(frame, query)
    if found.empty:
        (st.warning if warn else st.info)(tr(on_empty))
        st.stop()
    titles = picker_options(found)
    return pick.selectbox(
        tr("common.product"), list(titles), format_func=lambda p: f"{p} · {titles[p]}", key=f"{key}_product"
    )
