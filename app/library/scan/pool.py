"""Where the read stage runs: worker processes that may die without taking the scan along.

`ReaderPool(n)` keeps n spawned processes, each fed up to `QUEUE_PER_WORKER` jobs through its
own pipe and reading them in order, so the file a worker is on is always known: when a worker
dies (a native crash in FFmpeg, the OOM killer, SIGKILL) the pool reports `Crashed` for that
file, starts a new worker, and hands the jobs queued behind it to the pool again.
`InlineReader` runs the same generator in this process (workers=0: tests, debugging).

Workers never outlive the scan: on Linux each asks the kernel for SIGKILL when the thread that
started it ends (prctl PR_SET_PDEATHSIG); on every platform a watchdog thread waits on the
parent-process sentinel multiprocessing gives a spawned child (a pipe on macOS, a process
handle on Windows) and exits when it fires. macOS and Windows get only the watchdog, which
needs the worker's Python to get the GIL (a worker stuck inside native code holding it exits
when that code returns); a worker is also stopped by EOF on its job pipe.

Jobs and decisions share the pipe, and the scan queues a worker's next job while the current one
may still wait for its `Decision`: the worker's `_Inbox` sets jobs that arrive meanwhile aside,
so a job is never taken for a decision (nor a late decision for a job). An exception that
escapes the read code is sent to the scan as `WorkerError` (its traceback) before the worker
exits, so the crashed file's error and the log say what failed, not just "exit code 1".
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from collections import deque
from dataclasses import dataclass, field

from ..db import LibraryError
from .memory import trim
from .reader import Chunk, Decision, Done, Failed, FrontEnds, Job, Meta, read_track

log = logging.getLogger(__name__)
QUEUE_PER_WORKER = 2  # the file being read and the next one, so a worker never waits for work
START_FAILURES = 3  # workers in a row that die before they are ready: give up
READY = "ready"


class ReaderError(LibraryError):
    """The reading processes cannot start; the message is for the user."""


@dataclass
class Crashed:
    path: str
    detail: str


@dataclass
class WorkerError:
    """A worker's last words: an exception escaped the read code (a bug), its traceback."""
    traceback: str

    def summary(self) -> str:
        return self.traceback.strip().splitlines()[-1][:200] if self.traceback.strip() else "unknown error"


class _ScanGone(Exception):
    """The scan closed this worker's pipe."""


class _Inbox:
    """The worker's end of the pipe: jobs (None: stop) and the decisions the current file waits for."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self._jobs: deque = deque()  # jobs (or the stop) that came while a decision was awaited

    def job(self) -> Job | None:
        """The next job; None on stop or EOF."""
        if self._jobs:
            return self._jobs.popleft()
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            return None
        if message is not None and not isinstance(message, Job):
            raise TypeError(f"a reading process expected a job and got {type(message).__name__}")
        return message

    def decision(self) -> Decision:
        """The decision on the file just sent as `Meta`; raises _ScanGone when the pipe closed."""
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                raise _ScanGone from None
            if isinstance(message, Decision):
                return message
            self._jobs.append(message)


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker exit when the scanning process dies, however it dies."""
    import threading
    from multiprocessing import parent_process
    from multiprocessing.connection import wait

    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the call above
        os._exit(0)
    parent = parent_process()
    if parent is not None and parent.sentinel is not None:
        def watch() -> None:
            wait([parent.sentinel])
            os._exit(0)

        threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def worker_main(conn, parent_pid: int, known_fingerprints: set[str]) -> None:
    """A worker process: read jobs from the pipe until None or EOF, send messages back."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the scan's to handle
    from model import threads

    threads.set_base(1)
    front_ends = FrontEnds()
    inbox = _Inbox(conn)
    conn.send(READY)
    try:
        while (job := inbox.job()) is not None:
            _run(read_track(job, front_ends, known_fingerprints), conn, inbox)
    except (_ScanGone, BrokenPipeError):
        return  # the scan closed the pipe
    except Exception:
        _last_words(conn, traceback.format_exc())


def _last_words(conn, trace: str) -> None:
    """Tell the scan why this worker dies, then die (exit code 1) without a traceback on stderr."""
    try:
        conn.send(WorkerError(trace))
    except OSError:
        pass
    sys.stderr.flush()
    os._exit(1)


def _run(track, conn, inbox: _Inbox) -> None:
    reply = None
    try:
        while True:
            message = track.send(reply)
            conn.send(message)
            if isinstance(message, Chunk):
                trim()
            reply = inbox.decision() if isinstance(message, Meta) and message.awaiting else None
    except StopIteration:
        pass


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


def _describe_death(exitcode: int | None, last_words: WorkerError | None = None) -> str:
    why = f"{_how(exitcode)}: {last_words.summary()}" if last_words else _how(exitcode)
    return f"the reading process died on this file ({why}); it is not read again until it changes"


@dataclass
class _Slot:
    process: object
    conn: object
    jobs: deque = field(default_factory=deque)
    ready: bool = False  # it said so: a death from now on is the current file's
    last_words: WorkerError | None = None


class ReaderPool:
    """n worker processes reading files; poll() returns their messages and Crashed events."""

    def __init__(self, n: int, known_fingerprints: set[str]) -> None:
        from multiprocessing import get_context

        self._ctx = get_context("spawn")
        self._known = known_fingerprints
        self._slots = [self._start() for _ in range(n)]
        self.restarts = 0
        self._failed_starts = 0

    def _start(self) -> _Slot:
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=worker_main, args=(child_end, os.getpid(), self._known),
                                    daemon=True, name="cratedigger-reader")
        process.start()
        child_end.close()
        return _Slot(process, parent_end)

    def pids(self) -> list[int]:
        return [s.process.pid for s in self._slots]

    def has_room(self) -> bool:
        return any(len(s.jobs) < QUEUE_PER_WORKER for s in self._slots)

    def busy(self) -> bool:
        return any(s.jobs for s in self._slots)

    def submit(self, job: Job) -> None:
        slot = min(self._slots, key=lambda s: len(s.jobs))
        slot.jobs.append(job)
        try:
            slot.conn.send(job)
        except OSError:
            pass  # the worker is dead: poll() reports it

    def reply(self, path: str, decision: Decision) -> None:
        for slot in self._slots:
            if slot.jobs and slot.jobs[0].path == path:
                try:
                    slot.conn.send(decision)
                except OSError:
                    pass
                if not decision.ears:
                    slot.jobs.popleft()
                return

    def poll(self, timeout: float | None) -> list:
        """Messages that arrived (waiting up to `timeout` seconds for the first), in order."""
        from multiprocessing.connection import wait

        busy = [s for s in self._slots if s.jobs]
        ready = set(wait([s.conn for s in busy] + [s.process.sentinel for s in busy], timeout)) if busy else set()
        out: list = []
        for i, slot in enumerate(self._slots):
            if slot.conn in ready or slot.process.sentinel in ready:
                out += self._drain(slot)
                if not slot.process.is_alive():
                    out += self._replace(i)
        return out

    def _drain(self, slot: _Slot) -> list:
        out = []
        try:
            while slot.conn.poll():
                message = slot.conn.recv()
                if message == READY:
                    slot.ready, self._failed_starts = True, 0
                    continue
                if isinstance(message, WorkerError):
                    slot.last_words = message
                    continue
                out.append(message)
                finished = isinstance(message, (Done, Failed)) or (
                    isinstance(message, Meta) and (message.error or (not message.awaiting and not slot.jobs[0].ears)))
                if finished and slot.jobs:
                    slot.jobs.popleft()
        except (EOFError, OSError):
            pass  # died mid-message: the sentinel says so
        return out

    def _replace(self, i: int) -> list:
        """A dead worker: its current file crashed; a new worker takes the jobs queued behind it."""
        slot = self._slots[i]
        slot.process.join(1)
        events = []
        if not slot.ready:  # it never started: no file is to blame
            self._failed_starts += 1
            if self._failed_starts >= START_FAILURES:
                raise ReaderError(f"the scan's reading processes cannot start ({_how(slot.process.exitcode)}); "
                                  "see the log, or scan with --workers 0")
        elif slot.jobs:
            events.append(Crashed(slot.jobs.popleft().path, _describe_death(slot.process.exitcode, slot.last_words)))
        if slot.last_words:
            log.error("a reading process failed on %s:\n%s", events[0].path if events else "no file",
                      slot.last_words.traceback.rstrip())
        queued = list(slot.jobs)
        slot.conn.close()
        self._slots[i] = self._start()
        self.restarts += 1
        for job in queued:
            self.submit(job)
        return events

    def close(self, wait: bool = True) -> None:
        """Stop every worker: in order when `wait`, at once otherwise (cancel, errors)."""
        for slot in self._slots:
            try:
                if wait:
                    slot.conn.send(None)
            except OSError:
                pass
        for slot in self._slots:
            if not wait:
                slot.process.terminate()
            slot.process.join(5 if wait else 1)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(1)
            slot.conn.close()


class InlineReader:
    """The read stage in this process (no isolation); same interface as ReaderPool."""

    def __init__(self, known_fingerprints: set[str]) -> None:
        self._known = known_fingerprints
        self._front_ends = FrontEnds()
        self._jobs: deque = deque()
        self._track = None
        self._reply = None
        self.restarts = 0

    def pids(self) -> list[int]:
        return []

    def has_room(self) -> bool:
        return not self._jobs

    def busy(self) -> bool:
        return bool(self._jobs)

    def submit(self, job: Job) -> None:
        self._jobs.append(job)
        self._track = read_track(job, self._front_ends, self._known)

    def reply(self, path: str, decision: Decision) -> None:
        self._reply = decision
        if not decision.ears:
            self._finish()

    def _finish(self) -> None:
        self._jobs.clear()
        self._track = None
        self._reply = None

    def poll(self, timeout: float | None) -> list:
        if self._track is None:
            return []
        try:
            message = self._track.send(self._reply)
        except StopIteration:
            self._finish()
            return []
        self._reply = None
        if isinstance(message, (Done, Failed)) or (isinstance(message, Meta) and (
                message.error or (not message.awaiting and not self._jobs[0].ears))):
            self._finish()
        return [message]

    def close(self, wait: bool = True) -> None:
        self._finish()
