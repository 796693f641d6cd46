"""Escaping of data-derived text before Streamlit renders it as markdown.

    python -c "from ui.escape import md; print(md('![p](http://host/b.png)'))"

Streamlit's markdown (st.markdown, st.caption, st.info / warning / error / success, labels) renders
links, images, emphasis, LaTeX between dollar signs and colour directives (``:red[...]``). A product id,
title, invoice number or an error message that quotes a cell could carry any of them: an image fetched
from anywhere, a phishing link. Every such string goes through ``md`` first; HTML is never enabled.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character markdown, LaTeX or a Streamlit directive gives a meaning to. A
# backslash before ASCII punctuation is always a literal in CommonMark, so escaping too much is harmless.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:=&])")


def md(text: object) -> str:
    """``text`` as literal characters inside markdown (newlines become spaces: no new blocks)."""
    s = str(text).replace("\r", " ").replace("\n", " ")
    return _SPECIAL.sub(r"\\\1", s)


def plot_text(text: object) -> str:
    """``text`` for a Plotly label or hover text: Plotly renders a subset of HTML there (``<a href>``,
    ``<span style>``), and shows HTML entities as the characters they stand for."""
    import html

    return html.escape(str(text), quote=True)
