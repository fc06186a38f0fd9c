"""Build the map in a separate, long-lived worker process.

UMAP, pynndescent and scikit-learn hold Python's GIL for tens to hundreds of milliseconds at a
time (numba code without `nogil`, LAPACK through f2py), which froze the window when the map was
built on a thread of the app's process. In a process of its own the build never touches the
app's GIL; the worker stays alive between builds so UMAP's compiled code is paid once per
session, and cancelling (or closing the app) simply ends the process. While a scan runs, the
same process places the newly analysed tracks on the existing map (`place_in_worker`).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

from .mapping import MapCancelled

CANCEL_GRACE_SECONDS = 2.0  # a cancelled build stops at its next stage; after this the process is ended
_progress = None  # in the worker: the progress queue and the cancel flag
_cancel = None
_pool: ProcessPoolExecutor | None = None
_queue = None
_flag = None
_builds = 0  # numbers each build, so progress left in the queue by an earlier one is not shown
_lock = threading.Lock()  # the task thread (builds) and a job thread (placements) both reach the worker
_closed = False  # set by shutdown(): the app is closing, so no worker may start any more


def _init(progress_queue, cancel_flag) -> None:
    global _progress, _cancel
    _progress, _cancel = progress_queue, cancel_flag


def _build(home: str | None, library_path: str, refit: bool, options: dict, build: int) -> dict:
    """Runs in the worker process; progress goes out tagged with its build's number."""
    if _cancel.is_set():  # cancelled while the worker was still starting or busy with the call before
        raise MapCancelled()
    if home:
        os.environ["CRATEDIGGER_HOME"] = home
    from app.home import open_library

    from .mapping import build_map

    def report(stage: str, fraction: float) -> None:
        if _progress is not None:
            _progress.put((build, stage, fraction))

    with open_library(path=library_path) as library:  # model=None: the store's active model
        return build_map(library, refit=refit, progress=report, should_stop=_cancel.is_set, **options)


def _place(home: str | None, library_path: str, warm: bool) -> dict:
    """Runs in the worker process."""
    if home:
        os.environ["CRATEDIGGER_HOME"] = home
    from app.home import open_library

    from .mapping import place_new_tracks

    with open_library(path=library_path) as library:
        return place_new_tracks(library, warm=warm)


def _worker() -> tuple[ProcessPoolExecutor, object, object]:
    global _pool, _queue, _flag
    with _lock:
        if _closed:  # a build or placement still queued when the app closed
            raise MapCancelled()
        if _pool is None:
            context = get_context("spawn")
            _queue, _flag = context.Queue(), context.Event()
            _pool = ProcessPoolExecutor(1, mp_context=context, initializer=_init, initargs=(_queue, _flag))
        return _pool, _queue, _flag


def _submit(fn: Callable, *args, new_build: bool = False) -> tuple[Future, ProcessPoolExecutor, object, object]:
    """fn(*args) in the worker. A worker that died while idle (the OOM killer, a crash) left its
    pool broken: a fresh one is started instead of every later build failing."""
    try:
        return _submit_once(fn, args, new_build)
    except BrokenProcessPool:
        stop_worker()
        return _submit_once(fn, args, new_build)


def _submit_once(fn: Callable, args: tuple, new_build: bool) -> tuple[Future, ProcessPoolExecutor, object, object]:
    pool, progress_queue, cancel_flag = _worker()
    if new_build:
        cancel_flag.clear()  # an earlier build that stopped on Cancel left it set
    return pool.submit(fn, *args), pool, progress_queue, cancel_flag


def place_in_worker(library_path: str | Path, warm: bool = False, poll_seconds: float = 0.1) -> dict:
    """mapping.place_new_tracks(library, warm=warm) in the worker process (for the store's active
    model); raises MapCancelled when the worker is stopped meanwhile (a cancelled build, the app closing)."""
    future, pool, _, _ = _submit(_place, os.environ.get("CRATEDIGGER_HOME"), str(library_path), warm)
    while True:
        try:
            return future.result(timeout=poll_seconds)
        except TimeoutError:
            if _pool is not pool:
                future.cancel()
                raise MapCancelled() from None
        except BrokenProcessPool:
            if _pool is not pool:  # stopped on purpose
                raise MapCancelled() from None
            stop_worker()
            raise RuntimeError("the map worker process ended unexpectedly") from None


def stop_worker() -> None:
    """End the worker process now (a cancelled build, or the app closing)."""
    global _pool, _queue
    with _lock:
        pool, _pool, _queue = _pool, None, None
    if pool is None:
        return
    for process in list(getattr(pool, "_processes", {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown() -> None:
    """The app is closing: end the worker, and refuse to start another (MapCancelled) for a build or
    placement still queued, whose fresh process the interpreter's exit would otherwise wait for."""
    global _closed
    with _lock:
        _closed = True
    stop_worker()


def reopen() -> None:
    """Undo shutdown(): workers may start again (a new window in the same process, as in tests)."""
    global _closed
    with _lock:
        _closed = False


def build_map_in_worker(library_path: str | Path, refit: bool = False,
                        progress: Callable[[str, float], None] | None = None,
                        should_stop: Callable[[], bool] | None = None, poll_seconds: float = 0.01,
                        **options) -> dict:
    """mapping.build_map(library, refit=refit, **options) in the worker process; raises
    MapCancelled when should_stop() turns true before the build saved its map.

    should_stop is asked every poll_seconds whatever the progress traffic (progress arriving
    faster than that once kept a Cancel from ever reaching the worker, so a build cancelled at
    once ran to its end); a build that has not stopped CANCEL_GRACE_SECONDS later is ended with
    its process, and the next build starts a fresh one."""
    global _builds
    _builds += 1
    build = _builds
    future, _, progress_queue, cancel_flag = _submit(_build, os.environ.get("CRATEDIGGER_HOME"), str(library_path),
                                                     refit, options, build, new_build=True)
    stop_at = None
    while True:
        if stop_at is None and should_stop and should_stop():
            cancel_flag.set()  # the build stops at its next stage and the warm worker stays
            stop_at = time.monotonic() + CANCEL_GRACE_SECONDS
        wait([future], timeout=poll_seconds)  # returns as soon as the build ends
        _forward_progress(progress_queue, build, progress)
        if future.done():
            return _outcome(future)
        if stop_at is not None and time.monotonic() > stop_at:
            stop_worker()
            raise MapCancelled()


def _forward_progress(progress_queue, build: int, progress: Callable[[str, float], None] | None) -> None:
    """Hands on the progress that arrived; what is left of an earlier build is dropped."""
    while True:
        try:
            sender, stage, fraction = progress_queue.get_nowait()
        except queue.Empty:
            return
        if progress and sender == build:
            progress(stage, fraction)


def _outcome(future: Future) -> dict:
    try:
        return future.result()
    except BrokenProcessPool:
        stop_worker()
        raise RuntimeError("the map worker process ended unexpectedly; try again") from None
