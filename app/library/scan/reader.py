"""The read stage, run in worker processes: tags, probe, fingerprint, then decode + front ends.

`read_track(job, ...)` is a generator that yields the messages a worker sends to the scan, in
order: one `Meta` (tags, container facts, fingerprint, window starts, or the reason the file
cannot be read), then `Chunk`s of features (each span decoded ONCE, resampled to every ear's
rate, through every ear's front end, a few windows at a time), then `Done` or `Failed`. When the
file's fingerprint is one the scan knows (a moved file, a copy), the worker waits after `Meta`
for a `Decision` saying which ears still need the file; otherwise it goes on with the ears the
job names. Everything here is plain data, so it crosses a process pipe as is.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Generator

import numpy as np


@dataclass
class Job:
    path: str
    size: int
    mtime: float
    folder: str
    clip_seconds: float
    policy: str | int
    ears: list[str]  # the ears that need this file, as far as the scan knows before reading it
    front_ends: dict[str, tuple[str, dict]]  # ear name -> (front end kind, spec)


@dataclass
class Meta:
    path: str
    tags: dict
    info: dict  # duration, format, codec, sample_rate, channels
    fingerprint: str | None
    starts: list[float]
    error: tuple[str, str] | None = None  # (reason, detail): nothing more will come
    awaiting: bool = False  # the worker waits for a Decision
    seconds: float = 0.0


@dataclass
class Decision:
    ears: list[str] = field(default_factory=list)  # empty: the file needs no decoding


@dataclass
class Chunk:
    path: str
    starts: list[float]
    features: dict[str, np.ndarray]  # ear name -> (windows, ...) network input
    decode_seconds: float
    feature_seconds: float


@dataclass
class Done:
    path: str


@dataclass
class Failed:
    path: str
    reason: str
    detail: str


class FrontEnds:
    """The front ends a worker has built, by (kind, spec)."""

    def __init__(self) -> None:
        self._built: dict[str, object] = {}

    def get(self, kind: str, spec: dict):
        import json

        from model.frontend import build

        key = kind + json.dumps(spec, sort_keys=True)
        if key not in self._built:
            self._built[key] = build(kind, spec)
        return self._built[key]


def _reason(path: str, reason: str) -> str:
    return "vanished" if not os.path.exists(path) else reason


def read_meta(job: Job, known_fingerprints: set[str]) -> Meta:
    """Tags, container facts, fingerprint and window starts of one file."""
    from model.audio import AudioError, probe, require_duration
    from model.windows import window_starts

    from ..fingerprint import audio_fingerprint
    from ..tags import read_tags

    t0 = time.perf_counter()
    tags = read_tags(job.path)
    try:
        info = probe(job.path)
        require_duration(job.path, info.duration if info.duration > 0 else job.clip_seconds)
    except AudioError as e:
        return Meta(job.path, tags, {}, None, [], (_reason(job.path, e.reason), e.detail), seconds=time.perf_counter() - t0)
    fields = dict(duration=info.duration, format=info.container, codec=info.codec,
                  sample_rate=info.sample_rate, channels=info.channels)
    starts = window_starts(info.duration, job.clip_seconds, job.policy)
    fingerprint = audio_fingerprint(job.path, info.duration)
    return Meta(job.path, tags, fields, fingerprint, starts, awaiting=fingerprint in known_fingerprints,
                seconds=time.perf_counter() - t0)


def read_track(job: Job, front_ends: FrontEnds, known_fingerprints: set[str]) -> Generator:
    """Meta, then Chunks, then Done or Failed (see the module docstring); send() a Decision
    after a Meta that is `awaiting`."""
    from model.audio import AudioError

    meta = read_meta(job, known_fingerprints)
    decision = yield meta
    ears = decision.ears if meta.awaiting and decision is not None else job.ears
    if meta.error or not ears:
        return
    try:
        yield from _features(job, meta.starts, {e: front_ends.get(*job.front_ends[e]) for e in ears})
    except AudioError as e:
        yield Failed(job.path, _reason(job.path, e.reason), e.detail)
        return
    except (OSError, MemoryError, ValueError, RuntimeError) as e:
        yield Failed(job.path, _reason(job.path, "undecodable"), f"decoding failed ({type(e).__name__}: {str(e)[:120]})")
        return
    yield Done(job.path)


def _features(job: Job, starts: list[float], front_ends: dict) -> Generator:
    """Chunks of windows: decoded once, resampled to each front end's rate, through each."""
    from model.audio import stream_spans

    rates = tuple(dict.fromkeys(fe.sample_rate for fe in front_ends.values()))
    spans = stream_spans(job.path, starts, job.clip_seconds, rates)
    while True:
        t0 = time.perf_counter()
        part = next(spans, None)
        t1 = time.perf_counter()
        if part is None:
            return
        features = {name: fe(part.waves[fe.sample_rate]) for name, fe in front_ends.items()}
        yield Chunk(job.path, part.starts, features, t1 - t0, time.perf_counter() - t1)
