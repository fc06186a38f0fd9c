"""One file through the whole front end and the network: decode windows -> log-mel -> BBNN,
a chunk of windows at a time (memory does not grow with the number of windows)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .audio import probe, require_duration
from .inference import Predictor, track_probs
from .mel import LogMelFrontEnd, log_mels
from .windows import window_starts


@dataclass
class TrackAnalysis:
    starts: list[float]  # window start times, seconds
    window_probs: np.ndarray  # (windows, classes)
    probs: np.ndarray  # (classes,) mean over windows
    embedding: np.ndarray  # (windows, 32)
    dense: np.ndarray  # (windows, 416)
    duration: float


def plan_windows(path: str | os.PathLike, clip_seconds: float, policy: str | int = "default",
                 offset: float | None = None) -> tuple[list[float], float]:
    """Probe the file and choose its window starts. Returns (starts, duration)."""
    info = probe(path)
    require_duration(path, info.duration if info.duration > 0 else clip_seconds)
    return window_starts(info.duration, clip_seconds, policy, offset), info.duration


def analyze_file(predictor: Predictor, path: str | os.PathLike, policy: str | int = "default",
                 offset: float | None = None) -> TrackAnalysis:
    spec = predictor.spec
    starts, duration = plan_windows(path, spec.clip_seconds, policy, offset)
    kept, parts = [], []
    front_end = LogMelFrontEnd(spec)
    for chunk_starts, mels in log_mels(path, starts, spec, front_end):
        kept += chunk_starts
        parts.append(predictor.run_mels(mels))
    probs = np.concatenate([p.probs for p in parts])
    embedding = np.concatenate([p.embedding for p in parts])
    dense = np.concatenate([p.dense for p in parts])
    return TrackAnalysis(kept, probs, track_probs(probs), embedding, dense, duration)
