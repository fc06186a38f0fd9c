"""Per-track features for bench/similarity_eval.py's list mode, cached in a folder so reruns are quick.

BBNN: the app's analysis of a track (default window policy: 3 windows of 30 s) with its
per-window genre probabilities, 32-d embeddings and 416-d dense blocks. MusiCNN: the per-patch
outputs (taggram, dense, penultimate, max_pool, mean_pool) of the non-overlapping 3-s patches of
the BBNN windows (10 per window; the same decoded spans resampled to 16 kHz) and, separately, of
the track's first MAX_SECONDS, with each patch's start time, so any patch selection (all in the
windows, a few of them, the whole track) is a slice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from model.musicnn import MusicnnSpec

MAX_SECONDS = 600.0  # MusiCNN "whole track" stops here (a few soundtrack files run 10-28 minutes)
CACHE_VERSION = "2"


def cache_file(cache: Path, model: str, rel: str) -> Path:
    key = hashlib.sha1(f"{CACHE_VERSION}|{model}|{rel}".encode()).hexdigest()[:16]
    return cache / f"{model}-{key}.npz"


def bbnn_features(predictor, path: Path) -> dict[str, np.ndarray]:
    from model.analyze import analyze_file

    a = analyze_file(predictor, path)
    return {"starts": np.asarray(a.starts, np.float32), "probs": a.window_probs.astype(np.float32),
            "embedding": a.embedding.astype(np.float32), "dense": a.dense.astype(np.float32),
            "duration": np.float32(a.duration)}


def musicnn_features(runner, path: Path, bbnn_starts: np.ndarray | None = None,
                     clip_seconds: float = 661_794 / 22050) -> dict[str, np.ndarray]:
    """`runner(audio16k) -> {output: (P, D)}` over the BBNN windows (or the whole track when
    bbnn_starts is None), each decoded at 22,050 Hz as the scan does and resampled to 16 kHz;
    patches start at each window's start, every 2.992 s."""
    import soxr

    from model.audio import decode_span

    spans = [(0.0, MAX_SECONDS)] if bbnn_starts is None else [(float(s), clip_seconds) for s in bbnn_starts]
    hop = 187 * 256 / 16000
    parts, starts = [], []
    for start, seconds in spans:
        audio16k = soxr.resample(decode_span(path, start, seconds), 22050, 16000, quality="HQ").astype(np.float32)
        out = runner(audio16k)
        n = len(next(iter(out.values())))
        parts.append(out)
        starts.append(start + np.arange(n, dtype=np.float32) * hop)
    feats = {k: np.concatenate([p[k] for p in parts]).astype(np.float32) for k in parts[0]}
    return {**feats, "starts": np.concatenate(starts).astype(np.float32)}


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

    whole, windows: all of them (the whole track's or the windows' features). Nw (e.g. 3w, 9w):
    N patches spread evenly over the windows' (N / number of windows per window, the middle of that
    many equal parts); Ns: N / 3 patches in each window, chosen as the scan chooses them
    (`centres`; a track with fewer than 3 windows gets fewer patches, as in the scan); Ne: the
    same with the scan's earlier choice (first and last patch of each window kept, `edges`).
    centre: the middle patch.
    """
    if policy in ("whole", "windows") or not len(mc_starts):
        return np.arange(len(mc_starts))
    per_window = [np.flatnonzero((mc_starts >= s) & (mc_starts + patch_seconds <= s + clip_seconds))
                  for s in bbnn_starts]
    per_window = [w for w in per_window if len(w)] or [np.arange(len(mc_starts))]
    if policy == "centre":
        return np.array([len(mc_starts) // 2])
    from model.musicnn_inference import centres

    if policy[-1:] in ("s", "e") and policy[:-1].isdigit():
        choose = centres if policy.endswith("s") else edges
        chosen = choose(int(clip_seconds // _HOP), max(1, int(policy[:-1]) // 3))
        return _as_the_scan_picks(mc_starts, bbnn_starts, chosen)
    if policy.endswith("w") and policy[:-1].isdigit():
        n_each = max(1, int(policy[:-1]) // len(per_window))
        picks = []
        for w in per_window:
            picks.append(w[centres(len(w), n_each)])
        return np.unique(np.concatenate(picks))
    raise ValueError(f"unknown patch policy {policy!r}")


_HOP = MusicnnSpec().patch_hop_samples / MusicnnSpec().sample_rate  # seconds from one MusiCNN patch to the next


def edges(n_available: int, keep: int) -> np.ndarray:
    """The scan's choice before `centres`: `keep` indices from linspace(0, n - 1), both ends kept."""
    return np.unique(np.round(np.linspace(0, n_available - 1, min(keep, n_available))).astype(int))


def _as_the_scan_picks(mc_starts: np.ndarray, bbnn_starts: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The patches the scan keeps (scan/musicnn_ear.py): `chosen` of a whole window's patches (the
    last window padded to full length), then only those wholly inside the audio; the cache holds
    exactly those, at the window's start plus a multiple of the patch hop."""
    picks = [np.flatnonzero(np.abs(mc_starts - (s + i * _HOP)) < 0.01) for s in bbnn_starts for i in chosen]
    found = np.unique(np.concatenate(picks)) if picks else np.zeros(0, int)
    return found if len(found) else np.arange(min(1, len(mc_starts)))
