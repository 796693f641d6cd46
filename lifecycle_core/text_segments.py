"""Segment-wise reading of a product-period's text: the catalog part, each review and the search terms
are encoded on their own and pooled together.

A product-period's text (features.model_texts) is

    "<title>. Category: <c>. <description>. Reviews: <r1> / <r2> / <r3>. Searches: <a>, <b>."

Encoded as one sequence, every product-period re-reads the whole catalog text and each review up to
``k_reviews`` times (the demo catalog: 6,267 distinct texts, 480,000 tokens). Split at the review and
search markers, the same texts are 1,226 distinct segments and 24,000 tokens: each product's catalog
text is encoded once, each review once. The text vector is the mean of every segment's token vectors
(each segment's mean weighted by its token count), so it is the joint model's mean pooling without
attention across segments.

The split is a pure function of the string, so masked or edited texts (explanations, what-if) are read
the same way: a masked marker simply joins its neighbours into one segment.
"""

from __future__ import annotations

import re

import numpy as np
import torch

# Before "Reviews: " / "Searches: " and at " / ", after whitespace or after a mask token ("[MASK]",
# "<mask>"): SHAP's Text masker drops the whitespace a masked token carried ("[MASK]Reviews: ...").
SPLIT = re.compile(r"(?:\s+|(?<=[\]>]))(?=(?:Reviews|Searches): )|(?:\s+|(?<=[\]>]))/\s+")


def split(text: str) -> list[str]:
    """The segments of one text, in order (at least one: an empty text is one empty segment)."""
    parts = [p for p in SPLIT.split(text) if p.strip()]
    return parts or [text]


def plan(texts: list[str]) -> tuple[list[str], list[np.ndarray]]:
    """(distinct segments of all ``texts``, per text the indices of its segments among them)."""
    index: dict[str, int] = {}
    members = [np.array([index.setdefault(s, len(index)) for s in split(t)], dtype=np.int64) for t in texts]
    return list(index), members


def weights(members: list[np.ndarray], lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(text, segment, weight) triples: segment s of text i weighs lengths[s] / (tokens of text i), so a
    text's vector is the mean over all its segments' tokens. A segment repeated in one text counts each
    time it appears."""
    text_of = np.repeat(np.arange(len(members)), [len(m) for m in members])
    seg = np.concatenate(members) if members else np.zeros(0, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.float64)
    totals = np.bincount(text_of, weights=lengths[seg], minlength=len(members))
    return text_of, seg, (lengths[seg] / np.maximum(totals[text_of], 1.0)).astype(np.float32)


def combine_matrix(members: list[np.ndarray], lengths: np.ndarray) -> torch.Tensor:
    """(k, S) weights that turn S segment means into k text means (training: a matrix product keeps the
    gradient path simple)."""
    text_of, seg, w = weights(members, lengths)
    out = np.zeros((len(members), len(lengths)), dtype=np.float32)
    np.add.at(out, (text_of, seg), w)
    return torch.from_numpy(out)


def pool(vectors: torch.Tensor, lengths: np.ndarray, members: list[np.ndarray]) -> torch.Tensor:
    """(k, hidden) text vectors from (S, hidden) segment means; memory O(segments per text), not k x S,
    so it scales to chunks of 20,000 texts (scoring)."""
    text_of, seg, w = weights(members, lengths)
    out = torch.zeros((len(members), vectors.shape[1]), dtype=vectors.dtype)
    scaled = vectors[torch.from_numpy(seg)] * torch.from_numpy(w)[:, None].to(vectors.dtype)
    out.index_add_(0, torch.from_numpy(text_of), scaled)
    return out
