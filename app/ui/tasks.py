"""Work off the GUI thread.

`TaskRunner` runs long tasks (scan, map, download, import) one at a time, each in its own
QThread: a task is a plain function `fn(report, cancelled) -> result`; `report(done, total,
message)` may be called from the worker thread; `cancelled()` says whether the user pressed
Cancel. A request made while another task runs waits in a queue (one per name: a newer request
replaces the waiting one) instead of being dropped. A task that raises after Cancel ends as
cancelled, not failed. `shutdown` cancels everything and waits a bounded time; a task still
running then is kept alive (never destroyed while running) and `lingering()` tells the caller
to leave the process without waiting on it.

`QuickJobs` runs short reads (similar, path, map data, one track's details) on a thread pool so
the event loop never waits on SQLite or numpy; the newest request of a kind wins.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

TaskFn = Callable[[Callable[[float, float, str], None], Callable[[], bool]], Any]
_lingering: list[QThread] = []  # threads that outlived shutdown(): referenced so they are never destroyed running


def lingering() -> bool:
    """Whether a task thread is still running after its window closed."""
    _lingering[:] = [t for t in _lingering if t.isRunning()]
    return bool(_lingering)


class _TaskThread(QThread):
    progress = Signal(float, float, str)
    ended = Signal(object, str, bool)  # result, error message ('' if none), cancelled

    def __init__(self, fn: TaskFn) -> None:
        super().__init__()
        self.fn = fn
        self.cancel_requested = False

    def run(self) -> None:
        report = lambda d, t, m="": self.progress.emit(float(d), float(t), m)  # noqa: E731
        try:
            result = self.fn(report, lambda: self.cancel_requested)
        except Exception as e:  # shown to the user in one line; the traceback goes to the log
            if self.cancel_requested:
                self.ended.emit(None, "", True)
                return
            log.warning("task failed: %s", str(e).splitlines()[0] if str(e) else type(e).__name__)
            log.info("task failed", exc_info=True)  # the traceback to the log file, not the terminal
            self.ended.emit(None, str(e) or type(e).__name__, False)
            return
        self.ended.emit(result, "", self.cancel_requested)


class TaskRunner(QObject):
    """Signals: started(name), queued(name), progress(done, total, message, eta or -1),
    done(name, result), cancelled(name), failed(name, message)."""

    started = Signal(str)
    queued = Signal(str)
    progress = Signal(float, float, str, float)
    done = Signal(str, object)
    cancelled = Signal(str)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: _TaskThread | None = None
        self._name = ""
        self._t0 = 0.0
        self._callback: Callable[[Any], None] | None = None
        self._waiting: list[tuple[str, TaskFn, Callable[[Any], None] | None]] = []
        self._closed = False

    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def name(self) -> str:
        return self._name

    @property
    def waiting(self) -> list[str]:
        return [name for name, _, _ in self._waiting]

    def run(self, name: str, fn: TaskFn, on_done: Callable[[Any], None] | None = None) -> bool:
        """Start the task now, or queue it behind the running one. False only after shutdown."""
        if self._closed:
            return False
        if self.busy:
            self._waiting = [w for w in self._waiting if w[0] != name] + [(name, fn, on_done)]
            self.queued.emit(name)
            return True
        self._start(name, fn, on_done)
        return True

    def _start(self, name: str, fn: TaskFn, on_done: Callable[[Any], None] | None) -> None:
        self._name, self._t0, self._callback = name, time.monotonic(), on_done
        thread = _TaskThread(fn)
        thread.progress.connect(self._on_progress)
        thread.ended.connect(self._on_ended)
        self._thread = thread
        log.info("task %s started", name)
        thread.start()
        self.started.emit(name)

    def cancel(self) -> None:
        """Ask the running task to stop (waiting ones stay queued)."""
        if self._thread is not None:
            self._thread.cancel_requested = True

    def cancel_waiting(self, name: str) -> None:
        self._waiting = [w for w in self._waiting if w[0] != name]

    def shutdown(self, timeout_ms: int = 4000) -> bool:
        """Drop the queue, cancel the running task and wait for it at most timeout_ms.

        True when nothing runs any more; False when the task is still running (it is kept alive
        and `lingering()` says so)."""
        self._closed = True
        self._waiting.clear()
        thread = self._thread
        if thread is None:
            return True
        thread.cancel_requested = True
        if thread.wait(timeout_ms):
            return True
        log.warning("task %s still running %d ms after cancel; leaving it", self._name, timeout_ms)
        thread.progress.disconnect()
        thread.ended.disconnect()
        _lingering.append(thread)
        self._thread = None
        return False

    @Slot(float, float, str)
    def _on_progress(self, done: float, total: float, message: str) -> None:
        elapsed = time.monotonic() - self._t0
        eta = (total - done) * elapsed / done if done > 0 and total > done else -1.0
        self.progress.emit(done, total, message, eta)

    @Slot(object, str, bool)
    def _on_ended(self, result: Any, error: str, was_cancelled: bool) -> None:
        name, callback, thread = self._name, self._callback, self._thread
        self._thread, self._callback = None, None
        if thread is not None:
            thread.wait()  # run() has returned: this is immediate
            thread.deleteLater()
        outcome = "failed" if error else "cancelled" if was_cancelled and result is None else "done"
        log.info("task %s %s after %.1f s%s", name, outcome, time.monotonic() - self._t0,
                 " (Cancel came after it had finished its work)" if was_cancelled and outcome == "done" else "")
        if error:
            self.failed.emit(name, error)
        elif was_cancelled and result is None:
            self.cancelled.emit(name)
        else:
            if callback:
                callback(result)
            self.done.emit(name, result)
        if self._waiting and not self._closed:
            self._start(*self._waiting.pop(0))


class _JobSignals(QObject):
    ready = Signal(str, int, object, str)  # kind, ticket, result, error


class _Job(QRunnable):
    def __init__(self, signals: _JobSignals, kind: str, ticket: int, fn: Callable, library_path: Path | None) -> None:
        super().__init__()
        self.signals, self.kind, self.ticket, self.fn, self.library_path = signals, kind, ticket, fn, library_path

    def run(self) -> None:
        from app.home import open_library

        try:
            if self.library_path is None:
                result = self.fn()
            else:
                with open_library(path=self.library_path) as library:  # one connection per job: SQLite stays per thread
                    result = self.fn(library)
        except Exception as e:
            log.warning("background job %s failed: %s", self.kind, str(e).splitlines()[0] if str(e) else type(e).__name__)
            log.info("background job %s failed", self.kind, exc_info=True)
            self.signals.ready.emit(self.kind, self.ticket, None, str(e) or type(e).__name__)
            return
        self.signals.ready.emit(self.kind, self.ticket, result, "")


class QuickJobs(QObject):
    """Short background reads; only the newest request of each kind delivers its result."""

    def __init__(self, library_path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library_path = library_path
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self._signals = _JobSignals()
        self._signals.ready.connect(self._ready)
        self._tickets: dict[str, int] = {}
        self._handlers: dict[tuple[str, int], tuple[Callable, Callable | None]] = {}

    def submit(self, kind: str, fn: Callable, on_result: Callable[[Any], None],
               on_error: Callable[[str], None] | None = None, with_library: bool = True) -> None:
        """Run fn(library) (or fn() with with_library=False) on the pool; on_result(result) on the GUI thread."""
        ticket = self._tickets.get(kind, 0) + 1
        self._tickets[kind] = ticket
        self._handlers[(kind, ticket)] = (on_result, on_error)
        self.pool.start(_Job(self._signals, kind, ticket, fn, self.library_path if with_library else None))

    def pending(self) -> bool:
        return bool(self._handlers)

    @Slot(str, int, object, str)
    def _ready(self, kind: str, ticket: int, result: Any, error: str) -> None:
        on_result, on_error = self._handlers.pop((kind, ticket), (None, None))
        if ticket != self._tickets.get(kind) or on_result is None:
            return  # a newer request of this kind superseded this one
        if error:
            if on_error:
                on_error(error)
            return
        on_result(result)

    def shutdown(self, timeout_ms: int = 1000) -> None:
        self._handlers.clear()
        self.pool.clear()
        self.pool.waitForDone(timeout_ms)


def format_eta(seconds: float) -> str:
    if seconds < 0:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s left"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s left"
    return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min left"
