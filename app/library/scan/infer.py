"""The infer stage: windows from any tracks queue per ear and run in batches; each track's
outputs collect until its last chunk is through, then the track is ready to store."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .ears import Ear


@dataclass
class TrackState:
    """One file between its Meta and its store step."""

    path: str
    track_id: int
    size: int
    mtime: float
    ears: list[str]
    started: float = field(default_factory=time.perf_counter)
    starts: list[float] = field(default_factory=list)
    outputs: dict[str, list[dict]] = field(default_factory=dict)  # ear -> per-chunk outputs
    queued: int = 0  # chunks waiting for inference
    read: bool = False  # Done arrived

    @property
    def complete(self) -> bool:
        return self.read and self.queued == 0

    def windows(self) -> int:
        return len(self.starts)

    def joined(self, ear: str) -> dict[str, np.ndarray]:
        parts = self.outputs.get(ear, [])
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}


class Batcher:
    """Features waiting per ear; `run` infers them in batches of the ear's size."""

    def __init__(self, ears: list[Ear]) -> None:
        self.ears = {ear.name: ear for ear in ears}
        self._queue: dict[str, list[tuple[TrackState, np.ndarray]]] = {name: [] for name in self.ears}
        self.seconds = 0.0

    def add(self, track: TrackState, starts: list[float], features: dict[str, np.ndarray]) -> None:
        track.starts += starts
        for name, x in features.items():
            self._queue[name].append((track, x))
            track.queued += 1

    def waiting(self) -> int:
        return sum(len(x) for q in self._queue.values() for _, x in q)

    def full(self) -> bool:
        return any(sum(len(x) for _, x in q) >= self.ears[name].batch_windows for name, q in self._queue.items() if q)

    def run(self) -> None:
        """Infer everything queued, each ear in one call per batch of its size or more."""
        t0 = time.perf_counter()
        for name, queue in self._queue.items():
            if not queue:
                continue
            outputs = self.ears[name].infer(np.concatenate([x for _, x in queue]))
            offset = 0
            for track, x in queue:
                track.outputs.setdefault(name, []).append({k: v[offset:offset + len(x)] for k, v in outputs.items()})
                offset += len(x)
                track.queued -= 1
            queue.clear()
        self.seconds += time.perf_counter() - t0

    def drop(self, path: str) -> None:
        """Forget a track's queued windows (it failed after some chunks)."""
        for name, queue in self._queue.items():
            queue[:] = [(t, x) for t, x in queue if t.path != path]
