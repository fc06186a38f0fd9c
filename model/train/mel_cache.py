"""The mel cache: each file's log-mel clip computed once, stored compactly, memory-mapped on use.

One float16 `.npy` (frames x mels) per file under `<cache>/<spec hash>/`, named by a hash of the
file's absolute path, size and mtime, so an edited file is recomputed and a changed front end
(clip length, FFT...) gets its own folder. Files are decoded in parallel threads (PyAV and soxr
release the GIL) and their mels computed in the calling thread; entries appear by atomic rename,
so a killed build keeps what it made.
Unreadable files are reported and left out, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..audio import AudioError, probe, stream_spans
from ..mel import LogMelFrontEnd, MelSpec
from .datasets import Dataset

# bump when the way a clip is taken from a file changes
CLIP_RULE = "start-or-centre/1"


def spec_key(spec: MelSpec) -> str:
    text = json.dumps({"spec": spec.to_dict(), "rule": CLIP_RULE}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def clip_start(duration: float, clip_seconds: float) -> float:
    """Where the clip starts: the file's start (SPEC.md) unless the file is much longer than a clip
    (a full song), then its centre, past intros."""
    if duration > 2 * clip_seconds:
        return max(0.0, duration / 2 - clip_seconds / 2)
    return 0.0


@dataclass
class MelSet:
    dataset: Dataset  # the items whose mels exist, with dataset.skipped listing the rest
    mels: list[np.ndarray]  # memory-mapped float16 (frames, mels), aligned with dataset.items


class MelCache:
    def __init__(self, root: str | os.PathLike, spec: MelSpec) -> None:
        self.spec = spec
        self.dir = Path(root) / spec_key(spec)
        self._frontend = LogMelFrontEnd(spec)

    def entry(self, path: str) -> Path:
        st = os.stat(path)
        ident = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
        return self.dir / f"{hashlib.sha1(ident.encode()).hexdigest()}.npy"

    def _decode(self, path: str) -> np.ndarray:
        info = probe(path)
        start = clip_start(info.duration, self.spec.clip_seconds)
        rate = self.spec.sample_rate
        (part,) = stream_spans(path, [start], self.spec.clip_samples / rate, (rate,))
        return part.waves[rate]

    def _mel(self, waves: np.ndarray) -> np.ndarray:
        return self._frontend(waves)[0].astype(np.float16)

    def compute(self, path: str) -> np.ndarray:
        return self._mel(self._decode(path))

    def _store(self, path: str, mel: np.ndarray) -> np.ndarray:
        entry = self.entry(path)
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f".{entry.name}.{os.getpid()}.{id(mel)}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, mel)
        os.replace(tmp, entry)
        return np.load(entry, mmap_mode="r")

    def get(self, path: str) -> np.ndarray:
        """The cached mel of one file (memory-mapped), computing and storing it if needed."""
        entry = self.entry(path)
        if entry.exists():
            return np.load(entry, mmap_mode="r")
        return self._store(path, self.compute(path))

    def build(self, dataset: Dataset, progress: Callable[[int, int], None] | None = None,
              should_stop: Callable[[], bool] | None = None, workers: int | None = None) -> MelSet:
        """Mels of every item; unreadable files are skipped and listed in the result's dataset.

        Threads decode (PyAV and soxr release the GIL); the mels are computed here, in the calling
        thread with torch's threads as model.threads sets them, so no thread count is touched."""
        n = len(dataset.items)
        mels: list[np.ndarray | None] = [None] * n
        skipped: list[dict] = []
        done = 0
        workers = workers or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(workers) as pool:
            futures = {pool.submit(self._cached_or_decoded, it.path): i for i, it in enumerate(dataset.items)}
            try:
                for fut in as_completed(futures):
                    i = futures[fut]
                    mels[i], error = self._finish(dataset.items[i].path, *fut.result())
                    if error:
                        skipped.append({"path": dataset.items[i].path, **error})
                    done += 1
                    if progress:
                        progress(done, n)
                    if should_stop and should_stop():
                        raise InterruptedError("stopped while building the mel cache")
            finally:
                for f in futures:
                    f.cancel()
        keep = [i for i, m in enumerate(mels) if m is not None]
        subset = dataset.subset(keep)
        subset.skipped = sorted(skipped, key=lambda s: s["path"])
        return MelSet(subset, [mels[i] for i in keep])

    def _cached_or_decoded(self, path: str) -> tuple[np.ndarray | None, np.ndarray | None, dict | None]:
        """(cached mel, None, None), (None, waves to turn into a mel, None) or (None, None, error)."""
        try:
            entry = self.entry(path)
            if entry.exists():
                try:
                    return np.load(entry, mmap_mode="r"), None, None
                except (OSError, ValueError):  # a damaged entry is made again
                    pass
            return None, self._decode(path), None
        except AudioError as e:
            return None, None, {"reason": e.reason, "detail": e.detail}
        except OSError as e:
            return None, None, {"reason": "unreadable", "detail": str(e.strerror or e)}

    def _finish(self, path: str, mel, waves, error) -> tuple[np.ndarray | None, dict | None]:
        if mel is not None or error is not None:
            return mel, error
        try:
            return self._store(path, self._mel(waves)), None
        except OSError as e:
            return None, {"reason": "unreadable", "detail": str(e.strerror or e)}

