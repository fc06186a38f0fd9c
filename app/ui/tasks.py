"""Long work off the GUI thread: a QThread per task, progress and results as signals, cancel.

A task is a plain function `fn(report, cancelled) -> result`; `report(done, total, message)`
may be called from the worker thread; `cancelled()` says whether the user pressed Cancel.
The runner computes the rate and ETA and runs one task at a time.
"""

from __future__ import annotations

import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

TaskFn = Callable[[Callable[[float, float, str], None], Callable[[], bool]], Any]


class _Worker(QObject):
    progress = Signal(float, float, str)
    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: TaskFn) -> None:
        super().__init__()
        self.fn = fn
        self.cancel_requested = False

    def run(self) -> None:
        try:
            result = self.fn(lambda d, t, m="": self.progress.emit(float(d), float(t), m), lambda: self.cancel_requested)
        except Exception as e:  # shown to the user; the traceback goes to the log file, not the terminal
            import logging

            log = logging.getLogger(__name__)
            log.warning("task failed: %s", str(e).splitlines()[0] if str(e) else type(e).__name__)
            log.info("task failed: %s", traceback.format_exc())
            self.failed.emit(str(e) or type(e).__name__)
            return
        self.finished.emit(result)


class TaskRunner(QObject):
    """started(name); progress(done, total, message, eta_seconds or -1); done(name, result); failed(name, message)."""

    started = Signal(str)
    progress = Signal(float, float, str, float)
    done = Signal(str, object)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._name = ""
        self._t0 = 0.0
        self._callbacks: dict[str, Callable[[Any], None]] = {}

    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def name(self) -> str:
        return self._name

    def run(self, name: str, fn: TaskFn, on_done: Callable[[Any], None] | None = None) -> bool:
        if self.busy:
            return False
        self._name, self._t0 = name, time.monotonic()
        self._thread = QThread()
        self._worker = _Worker(fn)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        # bound methods of this (GUI-thread) object: Qt queues the calls to the GUI thread
        self._worker.progress.connect(self._on_progress)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        if on_done:
            self._callbacks[name] = on_done
        self._thread.start()
        self.started.emit(name)
        return True

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel_requested = True

    def wait(self, ms: int = 30000) -> bool:
        """Block until the task ends (used when the window closes)."""
        if self._thread is None:
            return True
        return self._thread.wait(ms)

    @Slot(float, float, str)
    def _on_progress(self, done: float, total: float, message: str) -> None:
        elapsed = time.monotonic() - self._t0
        eta = (total - done) * elapsed / done if done > 0 and total > done else -1.0
        self.progress.emit(done, total, message, eta)

    @Slot(object)
    def _on_finished(self, result: Any) -> None:
        self._finish(result, None)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._finish(None, message)

    def _finish(self, result: Any, error: str | None) -> None:
        name = self._name
        thread, self._thread, self._worker = self._thread, None, None
        if thread is not None:
            thread.quit()
            thread.wait()
        callback = self._callbacks.pop(name, None)
        if error is not None:
            self.failed.emit(name, error)
            return
        if callback:
            callback(result)
        self.done.emit(name, result)


def format_eta(seconds: float) -> str:
    if seconds < 0:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s left"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s left"
    return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min left"
