"""Candidate track representations for bench/similarity_eval.py's list mode, from cached features.

A representation is a list of blocks; a block pools one per-window (BBNN) or per-patch (MusiCNN)
output over a track (mean, max, or [mean, max]), is standardised over the evaluated tracks (or
left raw), optionally projected on its principal components, L2-normalised and weighted; the
blocks are concatenated and every row scaled to unit length, as app/library/vectors.py does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BlockSpec:
    model: str  # "bbnn" or "musicnn"
    output: str  # bbnn: embedding, dense, probs; musicnn: penultimate, dense, taggram, max_pool, mean_pool
    pool: str = "mean"  # mean, max, meanmax
    weight: float = 1.0
    pca: int | None = None
    standardise: bool = True
    lda: int | None = None  # discriminant axes kept (tracks as classes, fitted on the per-patch outputs)


def B(model: str, output: str, pool: str = "mean", weight: float = 1.0, pca: int | None = None,
      standardise: bool = True, lda: int | None = None) -> BlockSpec:
    return BlockSpec(model, output, pool, weight, pca, standardise, lda)


BBNN_REPS: dict[str, list[BlockSpec]] = {
    "bb-embedding": [B("bbnn", "embedding")],
    "bb-dense-mean": [B("bbnn", "dense")],
    "bb-dense-max": [B("bbnn", "dense", "max")],
    "bb-blend (today)": [B("bbnn", "embedding"), B("bbnn", "dense", pca=16)],
    "bb-blend-max": [B("bbnn", "embedding"), B("bbnn", "dense", "max", pca=16)],
}
MC_BLOCKS = {
    "mc-penult": B("musicnn", "penultimate"),
    "mc-penult-raw": B("musicnn", "penultimate", standardise=False),
    "mc-penult-max": B("musicnn", "penultimate", "max"),
    "mc-dense": B("musicnn", "dense"),
    "mc-dense-raw": B("musicnn", "dense", standardise=False),
    "mc-taggram": B("musicnn", "taggram"),
    "mc-maxpool": B("musicnn", "max_pool"),
    "mc-meanpool": B("musicnn", "mean_pool"),
}
MC_REPS: dict[str, list[BlockSpec]] = {name: [b] for name, b in MC_BLOCKS.items()}
BLEND_REPS: dict[str, list[BlockSpec]] = {
    **{f"mc-penult + bb-blend x{w:g}": [B("musicnn", "penultimate"), B("bbnn", "embedding", weight=w / 2 ** 0.5),
                                        B("bbnn", "dense", pca=16, weight=w / 2 ** 0.5)] for w in (0.25, 0.5, 0.75, 1.0)},
    **{f"mc-penult + bb-dense-max x{w:g}": [B("musicnn", "penultimate"), B("bbnn", "dense", "max", weight=w)]
       for w in (0.25, 0.5, 1.0)},
    **{f"mc-penult + bb-embedding x{w:g}": [B("musicnn", "penultimate"), B("bbnn", "embedding", weight=w)]
       for w in (0.25, 0.5, 1.0)},
    "mc-penult + mc-taggram x0.5": [B("musicnn", "penultimate"), B("musicnn", "taggram", weight=0.5)],
    "mc-meanpool pca64": [B("musicnn", "mean_pool", pca=64)],
    "mc-meanpool pca32": [B("musicnn", "mean_pool", pca=32)],
    "mc-meanpool + mc-penult": [B("musicnn", "mean_pool"), B("musicnn", "penultimate")],
    "mc-meanpool pca32 + mc-penult": [B("musicnn", "mean_pool", pca=32), B("musicnn", "penultimate")],
    **{f"mc-meanpool + bb-blend x{w:g}": [B("musicnn", "mean_pool"), B("bbnn", "embedding", weight=w / 2 ** 0.5),
                                          B("bbnn", "dense", pca=16, weight=w / 2 ** 0.5)] for w in (0.5, 0.75, 1.0)},
    **{f"mc-meanpool pca32 + mc-penult + bb-blend x{w:g}": [
        B("musicnn", "mean_pool", pca=32, weight=2 ** -0.5), B("musicnn", "penultimate", weight=2 ** -0.5),
        B("bbnn", "embedding", weight=w / 2 ** 0.5), B("bbnn", "dense", pca=16, weight=w / 2 ** 0.5)]
       for w in (0.5, 0.75, 1.0)},
    "mc-penult + mc-dense": [B("musicnn", "penultimate"), B("musicnn", "dense")],
    **{f"mc-penult + mc-dense-max + bb-blend x{w:g}": [
        B("musicnn", "penultimate", weight=2 ** -0.5), B("musicnn", "dense", "max", weight=2 ** -0.5),
        B("bbnn", "embedding", weight=w / 2 ** 0.5), B("bbnn", "dense", pca=16, weight=w / 2 ** 0.5)]
       for w in (0.5, 0.75, 1.0)},
    **{f"mc-penult lda{k} + bb-blend x0.75": [
        B("musicnn", "penultimate", lda=k), B("bbnn", "embedding", weight=0.75 / 2 ** 0.5),
        B("bbnn", "dense", pca=16, weight=0.75 / 2 ** 0.5)] for k in (16, 32, 64)},
    **{f"mc-penult lda{k}": [B("musicnn", "penultimate", lda=k)] for k in (32,)},
    "mc-penult lda32 + bb-embedding lda16 + bb-dense pca16 x0.75": [
        B("musicnn", "penultimate", lda=32), B("bbnn", "embedding", lda=16, weight=0.75 / 2 ** 0.5),
        B("bbnn", "dense", pca=16, weight=0.75 / 2 ** 0.5)],
    "mc-penult lda32 + bb-embedding + bb-dense lda16 x0.75": [
        B("musicnn", "penultimate", lda=32), B("bbnn", "embedding", weight=0.75 / 2 ** 0.5),
        B("bbnn", "dense", lda=16, weight=0.75 / 2 ** 0.5)],
    "bb-embedding + bb-dense lda16": [B("bbnn", "embedding", weight=2 ** -0.5), B("bbnn", "dense", lda=16, weight=2 ** -0.5)],
    "mc-penult lda32 + mc-dense-max pca32 x0.5 + bb-blend x0.75": [
        B("musicnn", "penultimate", lda=32), B("musicnn", "dense", "max", pca=32, weight=0.5),
        B("bbnn", "embedding", weight=0.75 / 2 ** 0.5), B("bbnn", "dense", pca=16, weight=0.75 / 2 ** 0.5)],
    "mc-penult pca64 + mc-dense-max pca64 + bb-blend x0.75": [
        B("musicnn", "penultimate", weight=2 ** -0.5, pca=64), B("musicnn", "dense", "max", weight=2 ** -0.5, pca=64),
        B("bbnn", "embedding", weight=0.75 / 2 ** 0.5), B("bbnn", "dense", pca=16, weight=0.75 / 2 ** 0.5)],
}


def pool(per_item: np.ndarray, how: str) -> np.ndarray:
    if how == "mean":
        return per_item.mean(axis=0)
    if how == "max":
        return per_item.max(axis=0)
    if how == "meanmax":
        return np.concatenate([per_item.mean(axis=0), per_item.max(axis=0)])
    raise ValueError(how)


def unit_rows(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def block_matrix(raw: np.ndarray, spec: BlockSpec, windows: list[np.ndarray] | None = None) -> np.ndarray:
    x = np.asarray(raw, np.float64)
    if spec.lda:  # as the app fits a discriminant block (app.library.vectors)
        from app.library.vectors import discriminant_axes

        mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
        x = (x - mean) / std
        within = [(w - mean) / std for w in windows if len(w) >= 2]
        return unit_rows(x @ discriminant_axes(within, x, min(spec.lda, len(x) - 1))) * spec.weight
    if spec.standardise:
        x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
    if spec.pca:
        from sklearn.decomposition import PCA

        x = PCA(n_components=min(spec.pca, len(x) - 1, x.shape[1]), random_state=0).fit_transform(x)
    return unit_rows(x) * spec.weight


def rep_matrix(blocks: list[BlockSpec], tracks: list[dict], patches: str) -> np.ndarray:
    """Unit rows (tracks x dims). Each track dict: {"bbnn": features, "musicnn": features, "sel": {policy: idx}}."""
    mats = []
    for spec in blocks:
        rows, windows = [], []
        for t in tracks:
            if spec.model == "bbnn":
                per_item = t["bbnn"][spec.output]
            else:
                source = "musicnn-whole" if patches == "whole" else "musicnn"
                per_item = t[source][spec.output][t["sel"][patches]]
            rows.append(pool(per_item, spec.pool))
            windows.append(np.asarray(per_item, np.float64))
        mats.append(block_matrix(np.stack(rows), spec, windows))
    return unit_rows(np.hstack(mats)).astype(np.float32)
