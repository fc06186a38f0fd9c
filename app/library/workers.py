"""Scan workers: decode + mel for one track, run in worker processes (or inline).

A job carries only a path, window starts and the front-end spec; the result carries the
float32 log-mels (windows x 647 x 128) and the time each stage took, or the reason it failed.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

import numpy as np

_frontends: dict = {}


@dataclass
class Job:
    key: int
    path: str
    starts: list[float]
    spec: dict


@dataclass
class Prepared:
    key: int
    mels: np.ndarray
    starts: list[float]
    decode_seconds: float
    mel_seconds: float


@dataclass
class Failed:
    key: int
    reason: str
    detail: str


def init_worker(threads: int = 1) -> None:
    """Workers leave Ctrl-C to the main process, which stops them in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from model import threads as thread_policy

    thread_policy.set_base(threads)


def _frontend(spec_dict: dict):
    from model.mel import LogMel, MelSpec

    spec = MelSpec.from_dict(spec_dict)
    if spec not in _frontends:
        _frontends[spec] = LogMel(spec)
    return _frontends[spec], spec


def prepare(job: Job) -> Prepared | Failed:
    import torch

    from model.audio import AudioError, decode_windows

    frontend, spec = _frontend(job.spec)
    t0 = time.perf_counter()
    try:
        waves, starts = decode_windows(job.path, job.starts, spec.clip_samples)
    except AudioError as e:
        reason = "vanished" if not os.path.exists(job.path) else e.reason
        return Failed(job.key, reason, e.detail)
    except (OSError, MemoryError, ValueError, RuntimeError) as e:
        reason = "vanished" if not os.path.exists(job.path) else "undecodable"
        return Failed(job.key, reason, f"decoding failed ({type(e).__name__}: {str(e)[:120]})")
    t1 = time.perf_counter()
    mels = frontend(torch.from_numpy(waves)).numpy()
    return Prepared(job.key, mels, starts, t1 - t0, time.perf_counter() - t1)
