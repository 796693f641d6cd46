"""Text vectors a model has already computed, kept next to it, so scoring again encodes only new texts.

    store = EmbeddingStore.for_model(model_folder, int8=False)
    preds = score_dataset(ws, "demo", model, store=store)

The encoder is the costly part of scoring, and most of a catalog's texts do not change between two
scorings: after a new week of data, only the products with new reviews or search terms have new texts
(a product's text at an old period never changes: it holds data up to that period only). The store maps
a 16-byte BLAKE2b digest of each text to its mean-pooled encoder output, for one model's weights:
``WORKSPACE/models/<model>/embeddings/<variant>.npy``, one file (keys and vectors together, replaced
atomically, so a reader sees the old file or the new one, never half of each). A variant names the
weights (a digest of ``model.safetensors`` and ``config.json``) and the precision (fp32, int8), so a
model resumed or retrained in the same folder, or scored with int8, never reads another's vectors.

The store keeps at most ``max_items`` vectors (1.5 KB each for MiniLM; 500,000 is 770 MB), the most
recently added. A file that cannot be read (truncated, another format) is ignored and replaced, and one
that cannot be written (a full disk) is skipped with a warning: the store is a cache, and scoring never
depends on it for correctness.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

MAX_ITEMS = 500_000


def text_keys(texts) -> np.ndarray:
    """(n,) 16-byte digests of the texts (dtype S16)."""
    return np.array([hashlib.blake2b(str(t).encode("utf-8"), digest_size=16).digest() for t in texts], dtype="S16")


def weights_digest(model_folder: str | Path) -> str:
    """A short digest of a saved model's weights and configuration: it changes whenever they do."""
    h = hashlib.blake2b(digest_size=8)
    for name in ("config.json", "model.safetensors"):
        with open(Path(model_folder) / name, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


class EmbeddingStore:
    """Digest -> vector for one model variant, on disk. ``lookup`` then ``add`` the vectors it lacked."""

    def __init__(self, path: str | Path, *, max_items: int = MAX_ITEMS):
        self.path, self.max_items = Path(path), int(max_items)
        self._keys: np.ndarray | None = None
        self._vectors: np.ndarray | None = None
        self._index: dict[bytes, int] | None = None

    @classmethod
    def for_model(cls, model_folder: str | Path, *, int8: bool = False, **kw) -> EmbeddingStore:
        folder = Path(model_folder)
        variant = f"{weights_digest(folder)}-{'int8' if int8 else 'fp32'}"
        return cls(folder.parent / "embeddings" / f"{variant}.npy", **kw)

    def _load(self) -> None:
        if self._index is not None:
            return
        self._keys, self._vectors, self._index = np.zeros(0, "S16"), None, {}
        if not self.path.exists():
            return
        try:
            table = np.load(self.path, mmap_mode="r", allow_pickle=False)
            keys, vectors = table["key"], table["vector"]
            if vectors.ndim != 2:
                raise ValueError("vectors are not a matrix")
        except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError):
            return  # unreadable: treated as empty, replaced by the next add
        self._keys, self._vectors = keys, vectors
        self._index = {k: i for i, k in enumerate(keys.tolist())}

    def __len__(self) -> int:
        self._load()
        return len(self._index)

    def lookup(self, keys: np.ndarray, hidden: int) -> tuple[np.ndarray, np.ndarray]:
        """(found mask (n,), vectors of the found keys (found, hidden) in their order)."""
        self._load()
        rows = np.array([self._index.get(k, -1) for k in keys.tolist()], dtype=np.int64)
        found = rows >= 0
        if not found.any() or self._vectors is None or self._vectors.shape[1] != hidden:
            return np.zeros(len(keys), dtype=bool), np.zeros((0, hidden), dtype=np.float32)
        return found, np.asarray(self._vectors[rows[found]], dtype=np.float32)

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors and write. Keys already stored keep their vector but count as recent again; when
        more than ``max_items`` would be stored, the least recently added go."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(keys) == 0 or self.max_items <= 0:
            return
        self._load()
        keys, first = np.unique(keys, return_index=True)
        vectors = vectors[first].copy()
        hidden = vectors.shape[1]
        old_keys, old_vectors = self._keys, self._vectors
        if old_vectors is None or old_vectors.shape[1] != hidden:
            old_keys, old_vectors = np.zeros(0, "S16"), np.zeros((0, hidden), np.float32)
            rows = np.full(len(keys), -1)
        else:
            rows = np.array([self._index.get(k, -1) for k in keys.tolist()], dtype=np.int64)
        known = rows >= 0
        if known.all():
            return  # nothing new: no rewrite (the order of old entries matters only when the store is full)
        vectors[known] = old_vectors[rows[known]]
        rest = np.ones(len(old_keys), dtype=bool)
        rest[rows[known]] = False
        all_keys = np.concatenate([old_keys[rest], keys])[-self.max_items :]
        all_vectors = np.concatenate([old_vectors[rest], vectors])[-self.max_items :]
        table = np.empty(len(all_keys), dtype=[("key", "S16"), ("vector", "<f4", (hidden,))])
        table["key"], table["vector"] = all_keys, all_vectors
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                np.save(fh, table, allow_pickle=False)
            os.replace(tmp, self.path)
        except OSError as exc:  # a full disk or a read-only workspace costs the next scoring time, not this one
            warnings.warn(f"text vectors not kept in {self.path}: {exc}", stacklevel=2)
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._keys, self._vectors, self._index = None, None, None  # re-read lazily (memory-mapped)
