"""The one owner of torch's CPU thread count in this process.

torch's intra-op thread count is process-wide state, and in the OpenMP build each OS thread also
keeps its own copy, taken when it first computes. Work that changed it and restored "what was
there before" (the scan, the mel cache) could interleave and leave it wrong (a scan during a
training run left it at 1). Here the count is never saved and restored: it is always computed
from one policy,

    threads = max(1, base - cores reserved by the leases that are open now)

where `base` is the process's compute threads (torch's own default unless `set_base` changed it)
and a lease is taken by work that keeps cores busy outside torch (the scan's decode workers).
`apply()` puts the policy into the calling thread; long-running compute (a training run) calls it
at its start and at every epoch, so it follows leases opened and closed by other threads.
"""

from __future__ import annotations

import itertools
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.RLock()
_base: int | None = None
_leases: dict[int, int] = {}
_ids = itertools.count(1)


def _torch():
    import torch

    return torch


def base() -> int:
    """The process's compute threads when nothing is reserved."""
    global _base
    with _lock:
        if _base is None:
            _base = max(1, _torch().get_num_threads())
        return _base


def set_base(n: int) -> None:
    """Change the process's compute threads (a worker process, a benchmark, a user setting)."""
    global _base
    with _lock:
        _base = max(1, int(n))
        _apply_locked()


def target() -> int:
    """What the policy gives now."""
    with _lock:
        return max(1, base() - sum(_leases.values()))


def _apply_locked() -> int:
    n = max(1, base() - sum(_leases.values()))
    torch = _torch()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def apply() -> int:
    """Set the calling thread's (and the process's) torch threads to the policy; returns the count."""
    with _lock:
        return _apply_locked()


class Lease:
    """Cores reserved for work outside torch until `release()` (idempotent)."""

    def __init__(self, cores: int) -> None:
        self.id = next(_ids)
        with _lock:
            _leases[self.id] = max(0, int(cores))
            _apply_locked()

    def release(self) -> None:
        with _lock:
            if _leases.pop(self.id, None) is not None:
                _apply_locked()


def lease(cores: int) -> Lease:
    """Reserve `cores` (0 reserves nothing but still applies the policy) until the lease is released."""
    return Lease(cores)


@contextmanager
def reserved(cores: int) -> Iterator[int]:
    """`with reserved(n):` the same as a lease released on exit; yields the thread count in force."""
    held = Lease(cores)
    try:
        yield target()
    finally:
        held.release()
