"""Getting a model in (import a file, download the authors' model or MusiCNN) in a spawned process.

Converting weights imports torch, h5py and safetensors and reads the file: loading torch's
libraries alone holds Python's GIL for hundreds of milliseconds, which froze the app's window
when it ran on a thread of the app's process. In a process of its own it never touches the
app's GIL. Progress and the child's log lines come back over a queue (the log lines go to the
app's log file); cancel is asked for through an event, and a child that does not stop within
`CANCEL_GRACE_SECONDS` is ended.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import time
from multiprocessing import get_context
from typing import Any, Callable

CANCEL_GRACE_SECONDS = 5.0
Report = Callable[[float, float], None]


class _Forward(logging.Handler):
    """In the child: every log record goes to the parent, which logs it as its own."""

    def __init__(self, messages) -> None:
        super().__init__()
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        try:
            record.msg, record.args, record.exc_info, record.exc_text = record.getMessage(), None, None, None
            self.messages.put(("log", record))
        except Exception:  # noqa: BLE001 - a log line must never break the work
            pass


def _child(home: str | None, fn: Callable, args: tuple, messages, stop) -> None:
    """Runs in the spawned process: fn(*args, report, cancelled), its result or error sent back."""
    if home:
        os.environ["CRATEDIGGER_HOME"] = home
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(_Forward(messages))
    report = lambda done, total: messages.put(("progress", (float(done), float(total or 0))))  # noqa: E731
    try:
        messages.put(("result", fn(*args, report, stop.is_set)))
    except Exception as e:  # noqa: BLE001 - goes to the parent, which raises it
        try:
            pickle.dumps(e)
        except Exception:  # noqa: BLE001
            e = RuntimeError(str(e) or type(e).__name__)
        messages.put(("error", e))


def run_in_process(fn: Callable, args: tuple = (), progress: Report | None = None,
                   should_stop: Callable[[], bool] | None = None, poll_seconds: float = 0.05) -> Any:
    """fn(*args, report, cancelled) in a fresh spawned process (fn: a module-level function);
    returns its result or raises its error here."""
    context = get_context("spawn")
    messages, stop = context.Queue(), context.Event()
    process = context.Process(target=_child, args=(os.environ.get("CRATEDIGGER_HOME"), fn, args, messages, stop),
                              daemon=True)
    process.start()
    stop_at = None
    try:
        while True:
            # asked on every pass: a download's progress can arrive faster than the poll
            if stop_at is None and should_stop is not None and should_stop():
                stop.set()
                stop_at = time.monotonic() + CANCEL_GRACE_SECONDS
            if stop_at is not None and time.monotonic() > stop_at:
                raise RuntimeError("cancelled")
            try:
                kind, payload = messages.get(timeout=poll_seconds)
            except queue.Empty:
                if not process.is_alive() and messages.empty():
                    raise RuntimeError(f"the worker process ended unexpectedly (exit code {process.exitcode}); "
                                       "try again") from None
                continue
            if kind == "log":
                logging.getLogger(payload.name).handle(payload)
            elif kind == "progress" and progress is not None:
                progress(*payload)
            elif kind == "result":
                return payload
            elif kind == "error":
                raise payload
    finally:
        process.join(1.0)
        if process.is_alive():
            process.terminate()
            process.join(1.0)


def _import(path: str, report: Report, cancelled: Callable[[], bool]):
    from app.home import model_store

    return model_store().import_file(path)


def _fetch(dataset: str, fold: int, report: Report, cancelled: Callable[[], bool]):
    from app.home import model_store

    return model_store().fetch(dataset, fold, progress=report, cancelled=cancelled)


def _fetch_musicnn(report: Report, cancelled: Callable[[], bool]):
    from app.home import model_store

    return model_store().fetch_musicnn(progress=report, cancelled=cancelled)


def import_model(path: str | os.PathLike, progress: Report | None = None,
                 should_stop: Callable[[], bool] | None = None):
    """ModelStore.import_file(path) (activates a BBNN model) in a spawned process: its Manifest."""
    return run_in_process(_import, (os.fspath(path),), progress, should_stop)


def fetch_model(dataset: str, fold: int, progress: Report | None = None,
                should_stop: Callable[[], bool] | None = None):
    """ModelStore.fetch(dataset, fold) in a spawned process: its Manifest."""
    return run_in_process(_fetch, (dataset, fold), progress, should_stop)


def fetch_musicnn(progress: Report | None = None, should_stop: Callable[[], bool] | None = None):
    """ModelStore.fetch_musicnn() in a spawned process: its Manifest."""
    return run_in_process(_fetch_musicnn, (), progress, should_stop)
