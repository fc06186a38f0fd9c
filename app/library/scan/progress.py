"""What a scan tells its caller: progress while it runs, a summary at the end."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

STAGES = ("discover", "read", "decode", "mel", "inference", "store")


@dataclass
class ScanProgress:
    stage: str  # 'discover' (total unknown) or 'analyse'
    done: int
    total: int
    rate: float  # tracks per second
    eta_seconds: float | None
    current: str | None
    errors: int


@dataclass
class ScanSummary:
    discovered: int = 0
    analysed: int = 0
    skipped: int = 0
    errors: int = 0
    missing: int = 0
    moved: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    windows: int = 0
    stage_seconds: dict = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    model: str | None = None
    unreadable_folders: int = 0
    crashed: int = 0  # files a reading process died on
    restarts: int = 0  # reading processes started again after one died
    backup: str | None = None  # the copy of the library made after this scan (None: nothing changed)
    # library folders not on disk whose tracks turned up under a scanned folder: offer
    # 'folders move' (each {"old", "new", "tracks"})
    folder_moves: list = field(default_factory=list)
    models: list = field(default_factory=list)  # the ears' names, genre model first
    musicnn_missing: bool = False  # MusiCNN was wanted (by default) but is not installed


class Reporter:
    """Counts files done and calls progress(ScanProgress) with rate and ETA."""

    def __init__(self, summary: ScanSummary, total: int, progress: Callable[[ScanProgress], None] | None) -> None:
        self.summary, self.total, self.progress = summary, total, progress
        self.done = 0
        self.t0 = time.perf_counter()

    def __call__(self, current: str | None, finished: bool = True) -> None:
        self.done += finished
        if self.progress:
            elapsed = time.perf_counter() - self.t0
            rate = self.done / elapsed if elapsed > 0 else 0.0
            eta = (self.total - self.done) / rate if rate > 0 else None
            self.progress(ScanProgress("analyse", self.done, self.total, rate, eta, current, self.summary.errors))
