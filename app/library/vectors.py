"""Track representations for similarity and the map, and a cache of their normalised matrices.

Representations (all per track, from the stored analysis):
    embedding  the 32-d penultimate layer, mean over windows
    stats      [mean, std] over windows of the penultimate layer (64-d)
    dense      the 416-d pooled last dense block, mean over windows
    probs      the genre probabilities
    combined   embedding, dense and probs, each standardised and L2-normalised, concatenated
Each matrix is standardised over the library (feature mean 0, unit variance: the ReLU features
are all positive, so raw cosines are all close to 1) and L2-normalised per track, so a dot
product is a cosine similarity. The cache is keyed by the database's data_version, so it
follows every change of the analyses.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

KINDS = ("embedding", "stats", "dense", "probs", "combined")
# Chosen by bench/similarity_eval.py on 105 real tracks from 5 Debian game-music packages:
# P@5 / P@10 embedding 0.714 / 0.636, dense 0.720 / 0.623, combined 0.714 / 0.621,
# stats 0.623 / 0.555, probs 0.499 / 0.469. The 32-d embedding is as good as the 416-d dense
# features at a thirteenth of the size (and query time).
DEFAULT_KIND = "embedding"


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Standardise columns over the rows, then scale every row to unit length."""
    m = np.asarray(matrix, dtype=np.float32)
    if len(m) == 0:
        return m
    if len(m) > 1:
        m = (m - m.mean(axis=0)) / (m.std(axis=0) + 1e-6)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.maximum(norms, 1e-12)


@dataclass
class VectorIndex:
    ids: np.ndarray  # (N,) track ids, ascending
    matrix: np.ndarray  # (N, D) unit rows
    version: int

    def rows(self, track_ids) -> np.ndarray:
        pos = np.searchsorted(self.ids, track_ids)
        pos = np.clip(pos, 0, len(self.ids) - 1)
        found = self.ids[pos] == np.asarray(track_ids)
        if not found.all():
            missing = np.asarray(track_ids)[~found].tolist()
            raise KeyError(f"tracks not analysed by this model: {missing}")
        return pos


def raw_matrix(library, model: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind not in KINDS:
        raise ValueError(f"unknown representation {kind!r}; one of {', '.join(KINDS)}")
    if kind in ("embedding", "dense", "probs"):
        return library.embeddings(model, kind)
    if kind == "stats":
        ids, mean = library.embeddings(model, "embedding")
        _, std = library.embeddings(model, "embedding_std")
        return ids, np.hstack([mean, std]) if len(ids) else mean
    ids, emb = library.embeddings(model, "embedding")
    _, dense = library.embeddings(model, "dense")
    _, probs = library.embeddings(model, "probs")
    if not len(ids):
        return ids, emb
    parts = [normalise(p) for p in (emb, dense, probs)]
    return ids, np.hstack(parts) / np.sqrt(len(parts))


_cache: dict[tuple, VectorIndex] = {}
_lock = threading.Lock()


def vector_index(library, model: str, kind: str = DEFAULT_KIND) -> VectorIndex:
    """The normalised matrix of a representation, rebuilt only when the analyses changed."""
    version = library.data_version()
    key = (str(library.path), model, kind)
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached.version == version:
            return cached
    ids, raw = raw_matrix(library, model, kind)
    index = VectorIndex(ids, normalise(raw), version)
    with _lock:
        _cache[key] = index
    return index
