"""Per-track features for bench/similarity_eval.py's list mode, cached in a folder so reruns are quick.

BBNN: the app's analysis of a track (default window policy: 3 windows of 30 s) with its
per-window genre probabilities, 32-d embeddings and 416-d dense blocks. MusiCNN: the per-patch
outputs (taggram, dense, penultimate, max_pool, mean_pool) of every non-overlapping 3-s patch of
the track's first MAX_SECONDS, from one 22,050 Hz decode resampled to 16 kHz, with each patch's
start time, so any patch selection (inside the BBNN windows, a few, the whole track) is a slice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

MAX_SECONDS = 600.0  # MusiCNN "whole track" stops here (a few soundtrack files run 10-28 minutes)
CACHE_VERSION = "1"


def cache_file(cache: Path, model: str, rel: str) -> Path:
    key = hashlib.sha1(f"{CACHE_VERSION}|{model}|{rel}".encode()).hexdigest()[:16]
    return cache / f"{model}-{key}.npz"


def bbnn_features(predictor, path: Path) -> dict[str, np.ndarray]:
    from model.analyze import analyze_file

    a = analyze_file(predictor, path)
    return {"starts": np.asarray(a.starts, np.float32), "probs": a.window_probs.astype(np.float32),
            "embedding": a.embedding.astype(np.float32), "dense": a.dense.astype(np.float32),
            "duration": np.float32(a.duration)}


def musicnn_features(runner, path: Path) -> dict[str, np.ndarray]:
    """`runner(audio16k) -> {output: (P, D)}`; patch p starts at p * hop seconds."""
    import soxr

    from model.audio import decode_span

    audio = decode_span(path, 0.0, MAX_SECONDS)
    audio16k = soxr.resample(audio, 22050, 16000, quality="HQ").astype(np.float32)
    out = runner(audio16k)
    hop = 187 * 256 / 16000
    n = len(next(iter(out.values())))
    return {**{k: v.astype(np.float32) for k, v in out.items()}, "starts": np.arange(n, dtype=np.float32) * hop}


def cached(cache: Path, model: str, rel: str, compute) -> dict[str, np.ndarray]:
    """The cached features of one track for one model, computed (and stored) when missing."""
    f = cache_file(cache, model, rel)
    if f.exists():
        with np.load(f) as z:
            return dict(z)
    feats = compute()
    cache.mkdir(parents=True, exist_ok=True)
    tmp = f.with_suffix(".tmp.npz")
    np.savez(tmp, **feats)
    tmp.replace(f)
    return feats


def patch_selection(mc_starts: np.ndarray, bbnn_starts: np.ndarray, policy: str,
                    clip_seconds: float = 661_794 / 22050, patch_seconds: float = 3.008) -> np.ndarray:
    """Indices of the MusiCNN patches a policy keeps.

    whole: all of them. windows: every patch lying wholly inside one of the BBNN windows (about
    10 per window). Nw (e.g. 3w, 9w): N patches spread evenly over those inside the windows (N / 3
    per window, the middle ones first). centre: the one patch nearest the track's middle.
    """
    if policy == "whole" or not len(mc_starts):
        return np.arange(len(mc_starts))
    per_window = [np.flatnonzero((mc_starts >= s) & (mc_starts + patch_seconds <= s + clip_seconds))
                  for s in bbnn_starts]
    per_window = [w for w in per_window if len(w)] or [np.arange(len(mc_starts))]
    if policy == "windows":
        return np.unique(np.concatenate(per_window))
    if policy == "centre":
        return np.array([len(mc_starts) // 2])
    if policy.endswith("w") and policy[:-1].isdigit():
        n_each = max(1, int(policy[:-1]) // len(per_window))
        picks = []
        for w in per_window:
            k = min(n_each, len(w))
            picks.append(w[np.round((np.arange(k) + 0.5) * len(w) / k - 0.5).astype(int)])
        return np.unique(np.concatenate(picks))
    raise ValueError(f"unknown patch policy {policy!r}")
