"""Personal data protection: keyed pseudonyms for customer ids, masking of emails and phones in text.

    python -c "from lifecycle_core.privacy import mask_pii; print(mask_pii('call 13812345678 or a@b.com'))"

Customer ids are replaced by HMAC-SHA256 pseudonyms under a key that lives only in the workspace,
so the same customer links across uploads but the raw id is never stored and cannot be brute-forced
from the pseudonym without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import numpy as np
import pandas as pd

from .parsing import map_categories

PSEUDONYM_CHARS = 16

_EMAIL = re.compile(r"[\w.+-]+[@＠][\w-]+(?:[.．][\w-]+)+")  # full-width ＠ and ． too (\w, \d are Unicode)
# Chinese mobile numbers (1[3-9]x, 11 digits, optional +86), then generic international/landline forms.
_CN_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)")
_PHONE = re.compile(r"(?<![\w])\+?\d[\d\s().-]{7,}\d(?!\w)")
# Long digit runs (ID cards, order and card numbers).
_LONG_ID = re.compile(r"(?<!\d)\d{15,19}[\dXx]?(?!\d)")


def pseudonymize(values: pd.Series, key: bytes) -> pd.Series:
    """Keyed pseudonyms for ids; missing stays missing. Each distinct id is hashed once."""
    if len(key) < 16:
        raise ValueError(f"pseudonymisation key must be at least 16 bytes, got {len(key)}")
    return map_categories(
        values,
        lambda u: pd.Series(
            [hmac.new(key, x.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_CHARS] for x in u], dtype="str"
        ),
    )


def mask_pii(text: str | None) -> str | None:
    """Replace emails, phone numbers and long id numbers in free text with placeholders."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return text
    text = _EMAIL.sub("[email]", text)
    text = _LONG_ID.sub("[id]", text)
    text = _CN_MOBILE.sub("[phone]", text)
    return _PHONE.sub(_phone_or_keep, text)


def _phone_or_keep(m: re.Match) -> str:
    # Keep dates and plain quantities ("2024-03-05", "1,000,000"): a phone has 8+ digits and no comma grouping.
    s = m.group(0)
    digits = sum(c.isdigit() for c in s)
    if digits < 8 or re.fullmatch(r"\d{4}-\d{2}-\d{2}", s) or re.fullmatch(r"\d{1,3}(,\d{3})+", s):
        return s
    return "[phone]"


def mask_series(s: pd.Series) -> pd.Series:
    """mask_pii over a column, computing each distinct text once."""
    return map_categories(s, lambda u: pd.Series([mask_pii(x) for x in u], dtype="str"))
