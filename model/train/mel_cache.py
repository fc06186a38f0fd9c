"""The mel cache: each file's log-mel clip computed once, stored compactly, memory-mapped on use.

One float16 `.npy` (frames x mels) per file under `<cache>/<spec hash>/`, named by a hash of the
file's absolute path, size and mtime, so an edited file is recomputed and a changed front end
(clip length, FFT...) gets its own folder. Files are decoded in parallel threads (PyAV, soxr and
torch release the GIL); entries appear by atomic rename, so a killed build keeps what it made.
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
import torch

from ..audio import AudioError, probe
from ..mel import LogMelFrontEnd, MelSpec, log_mels
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

    def compute(self, path: str) -> np.ndarray:
        info = probe(path)
        start = clip_start(info.duration, self.spec.clip_seconds)
        (_, mels), = log_mels(path, [start], self.spec, self._frontend)
        return mels[0].astype(np.float16)

    def get(self, path: str) -> np.ndarray:
        """The cached mel of one file (memory-mapped), computing and storing it if needed."""
        entry = self.entry(path)
        if not entry.exists():
            mel = self.compute(path)
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = entry.with_name(f".{entry.name}.{os.getpid()}.{id(mel)}.tmp")
            with open(tmp, "wb") as f:
                np.save(f, mel)
            os.replace(tmp, entry)
        return np.load(entry, mmap_mode="r")

    def build(self, dataset: Dataset, progress: Callable[[int, int], None] | None = None,
              should_stop: Callable[[], bool] | None = None, workers: int | None = None) -> MelSet:
        """Mels of every item; unreadable files are skipped and listed in the result's dataset."""
        n = len(dataset.items)
        mels: list[np.ndarray | None] = [None] * n
        skipped: list[dict] = []
        done = 0
        workers = workers or min(8, os.cpu_count() or 1)
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one thread per file beats threads fighting inside each STFT
        try:
            with ThreadPoolExecutor(workers) as pool:
                futures = {pool.submit(self._get_safe, it.path): i for i, it in enumerate(dataset.items)}
                for fut in as_completed(futures):
                    i = futures[fut]
                    mel, error = fut.result()
                    if error:
                        skipped.append({"path": dataset.items[i].path, **error})
                    mels[i] = mel
                    done += 1
                    if progress:
                        progress(done, n)
                    if should_stop and should_stop():
                        for f in futures:
                            f.cancel()
                        raise InterruptedError("stopped while building the mel cache")
        finally:
            torch.set_num_threads(torch_threads)
        keep = [i for i, m in enumerate(mels) if m is not None]
        subset = dataset.subset(keep)
        subset.skipped = sorted(skipped, key=lambda s: s["path"])
        return MelSet(subset, [mels[i] for i in keep])

    def _get_safe(self, path: str) -> tuple[np.ndarray | None, dict | None]:
        try:
            return self.get(path), None
        except AudioError as e:
            return None, {"reason": e.reason, "detail": e.detail}
        except OSError as e:
            return None, {"reason": "unreadable", "detail": str(e.strerror or e)}
