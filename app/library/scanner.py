"""The scan: a pipeline of small stages (app/library/scan/), put together here.

    discover -> classify -> read (worker processes) -> infer (batched, every ear) -> store -> mark missing

discover walks the folders; classify sorts what it found against the library (unchanged files
are skipped: analysed by every ear, or failed for a reason already recorded, at the same size
and mtime); read runs in worker processes (tags, probe, fingerprint, then each span decoded once
and put through every ear's front end, a chunk of windows at a time, so memory does not grow
with track length); infer batches windows across tracks per ear in this process; store writes
each track in its own transaction (a kill loses at most the tracks in flight) and never stores
NaN or infinite outputs; last, tracks under the scanned folders that were not found and did not
turn up elsewhere (a move, found by fingerprint) are marked missing. A reading process that dies
marks its file `crashed` and is replaced; the scan goes on. A scan that changed tracks, analyses
or errors ends with a backup of the library (safety.py).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from .db import Library, LibraryError, explain
from .fspath import display_path, from_db, to_db
from .safety import backup_after_scan
from .scan import missing, plan as planning
from .scan.ears import Ear, bbnn_ear, default_threads
from .scan.musicnn_ear import musicnn_ear
from .scan.infer import Batcher, TrackState
from .scan.lock import ScanLock, ScanRunning, scan_running
from .scan.memory import trim
from .scan.plan import Plan
from .scan.pool import Crashed, InlineReader, ReaderPool
from .scan.progress import STAGES, Reporter, ScanProgress, ScanSummary
from .scan.reader import Chunk, Done, Failed, Job, Meta
from .scan.store import TrackWriter

__all__ = ["scan", "scan_running", "ScanProgress", "ScanRunning", "ScanSummary", "STAGES"]
log = logging.getLogger(__name__)

# OpenMP threads that spin while they wait fight the decode workers (and whatever else runs) for
# the cores: with two cores busy elsewhere, 2 spinning inference threads ran at half the speed
# of 1. Waiting passively lets inference use every core at no such cost. libgomp reads this when
# torch loads, so it is set here, before the scan imports torch (a user's own setting wins).
if "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_PASSIVE_OMP = os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
POLL_SECONDS = 0.25  # how long the scan waits for a reader before checking should_stop again


def _default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


@contextmanager
def _db_errors(library: Library):
    """sqlite errors become one LibraryError line for the user (locked, disk full, damaged)."""
    try:
        yield
    except sqlite3.Error as e:
        raise LibraryError(explain(e, library.path)) from None


def scan(library: Library, folders: list[str | Path] | None = None, model_name: str | None = None,
         policy: str | int = "default", progress: Callable[[ScanProgress], None] | None = None,
         should_stop: Callable[[], bool] | None = None, workers: int | None = None,
         device: str | None = None, precision: str = "auto", batch_windows: int | None = None,
         models: list[str] | None = None, retry_failed: bool = False) -> ScanSummary:
    """Scan folders (default: all the library's folders) with a model (default: the active one).

    `models`: which networks listen, "bbnn" and optionally "musicnn" (default: MusiCNN too when
    it is installed and switched on, see app.home.musicnn_enabled); a library scanned before gets
    the missing ear's analyses on the next scan, the other's stay. Files that failed before are
    skipped until they change, unless `retry_failed`.

    Raises LibraryError when the database cannot be written (locked, disk full), ScanRunning (a
    LibraryError) when another scan of this library is running, ModelStoreError when the model
    is missing or its weights are damaged; everything committed before stays. Returns a summary;
    `cancelled` is set when should_stop() said so or on Ctrl-C.
    """
    from app.home import model_store

    summary = ScanSummary()
    try:
        ears = _ears(model_store(), model_name, models, summary, device, precision, batch_windows)
        with ScanLock(library.path):
            log.info("scan started: %s with %s (windows %s, %s reading processes)",
                     ", ".join(display_path(to_db(f)) for f in folders) if folders else "every library folder",
                     summary.model, policy, _default_workers() if workers is None else workers)
            _scan(library, folders, ears, summary, policy, progress, should_stop, workers, retry_failed)
    except Exception as e:
        log.warning("scan failed: %s", str(e).splitlines()[0] if str(e) else type(e).__name__)
        raise
    log.info("scan %s after %.1f s: %d analysed, %d unchanged, %d errors (%d crashed), %d missing, %d moved, "
             "%d unreadable folders", "cancelled" if summary.cancelled else "finished", summary.seconds,
             summary.analysed, summary.skipped, summary.errors, summary.crashed, summary.missing, summary.moved,
             summary.unreadable_folders)
    return summary


def _scan(library: Library, folders: list[str | Path] | None, ears: list[Ear], summary: ScanSummary,
          policy: str | int, progress: Callable[[ScanProgress], None] | None,
          should_stop: Callable[[], bool] | None, workers: int | None, retry_failed: bool = False) -> ScanSummary:
    t_start = time.perf_counter()
    with _db_errors(library):
        before = library.change_marker()
        roots = _roots(library, folders, ears)
    t = time.perf_counter()
    walked = planning.walk(roots, progress, should_stop)
    summary.stage_seconds["discover"] += time.perf_counter() - t
    if walked is None:  # stopped while walking: nothing is marked missing or analysed
        summary.cancelled = True
        summary.seconds = time.perf_counter() - t_start
        return summary
    with _db_errors(library):
        plan = planning.classify(library, roots, *walked, {ear.name: ear.key for ear in ears}, retry_failed,
                                 per_window={ear.name for ear in ears if ear.per_window})
        missing.mark_unchanged(library, plan)
        missing.record_unreachable(library, plan)
        summary.discovered, summary.skipped = len(plan.found), len(plan.unchanged)
        summary.unreadable_folders = len(plan.unreachable)
        log.info("scan plan: %d audio files found, %d to read, %d unchanged, %d gone, %d unreadable folders",
                 len(plan.found), len(plan.todo), len(plan.unchanged), len(plan.gone), len(plan.unreachable))
        if plan.todo:
            _analyse(library, plan, ears, summary, progress, should_stop,
                     _default_workers() if workers is None else workers, policy)
        else:
            Reporter(summary, 0, progress)(None, finished=False)
        if not summary.cancelled:
            summary.missing = missing.mark_missing(library, plan, summary.moved)
        changed = library.change_marker() != before
    if changed:  # a checked copy in backups/ (a failure to write one is logged, not fatal)
        backup = backup_after_scan(library)
        summary.backup = str(backup) if backup else None
    summary.seconds = time.perf_counter() - t_start
    return summary


def _ears(store, model_name: str | None, models: list[str] | None, summary: ScanSummary, device: str | None,
          precision: str, batch_windows: int | None) -> list[Ear]:
    """BBNN first (its windows are the spans every ear hears), then MusiCNN when asked for or by default."""
    from app.home import musicnn_enabled
    from model.store import ModelStoreError

    ears: list[Ear] = [bbnn_ear(store, model_name, device, precision, batch_windows)]
    want_musicnn = "musicnn" in models if models is not None else musicnn_enabled()
    if want_musicnn:
        tagger = musicnn_ear(store, ears[0].clip_seconds, device, precision)
        if tagger is not None:
            ears.append(tagger)
        elif models is not None:
            raise ModelStoreError("MusiCNN is not installed: run 'cratedigger model fetch musicnn' "
                                  "(or scan with --models bbnn)")
        else:
            summary.musicnn_missing = True
    summary.models = [ear.name for ear in ears]
    summary.model = " + ".join(summary.models)
    return ears


def _roots(library: Library, folders: list[str | Path] | None, ears: list[Ear]) -> list[str]:
    for ear in ears:
        library.ensure_model(ear.manifest)
    if folders:
        for f in folders:
            library.add_folder(f)
        return [str(Path(f).expanduser().resolve()) for f in folders]
    return [from_db(r["path"]) for r in library.folders()]


def _analyse(library: Library, plan: Plan, ears: list[Ear], summary: ScanSummary,
             progress: Callable[[ScanProgress], None] | None, should_stop: Callable[[], bool] | None,
             n_workers: int, policy: str | int) -> None:
    """The read -> infer -> store stages over every file the plan says to read."""
    from model import threads

    # inference threads as default_threads says, leased from model.threads (never saved and restored)
    on_cpu = all(ear.on_cpu for ear in ears)  # loads (and verifies) the weights before any worker starts
    thread_lease = threads.lease(max(0, threads.base() - default_threads(n_workers, _PASSIVE_OMP)) if on_cpu else 0)
    reader = ReaderPool(n_workers, plan.known_fingerprints) if n_workers > 0 else InlineReader(plan.known_fingerprints)
    report = Reporter(summary, len(plan.todo), progress)
    pipeline = _Pipeline(plan, reader, TrackWriter(library, plan, ears, summary, report), Batcher(ears), ears,
                         summary, report, policy)
    clean = False
    try:
        report(None, finished=False)
        pipeline.run(should_stop)
        clean = not summary.cancelled
    except KeyboardInterrupt:
        summary.cancelled = True
    finally:
        reader.close(wait=clean)
        summary.restarts = reader.restarts
        summary.stage_seconds["inference"] += pipeline.batcher.seconds
        thread_lease.release()


class _Pipeline:
    """Feeds the readers, routes their messages to the infer and store stages."""

    def __init__(self, plan: Plan, reader, writer: TrackWriter, batcher: Batcher, ears: list[Ear],
                 summary: ScanSummary, report: Reporter, policy: str | int) -> None:
        self.plan, self.reader, self.writer, self.batcher = plan, reader, writer, batcher
        self.summary, self.report = summary, report
        self.front_ends = {ear.name: ear.front_end for ear in ears}
        self.clip_seconds = ears[0].clip_seconds
        self.queue = iter(plan.todo)
        self.jobs: dict[str, Job] = {}
        self.tracks: dict[str, TrackState] = {}
        self.policy = policy

    def run(self, should_stop: Callable[[], bool] | None) -> None:
        while True:
            if should_stop and should_stop():
                self.summary.cancelled = True
                return
            self._fill()
            if not self.jobs and not self.batcher.waiting():
                return
            messages = self.reader.poll(0 if self.batcher.waiting() else POLL_SECONDS)
            for message in messages:
                self._handle(message)
            if self.batcher.waiting() and (not messages or self.batcher.full()):
                self.batcher.run()
                trim()
                for state in [s for s in self.tracks.values() if s.complete]:
                    self._store(state)

    def _fill(self) -> None:
        while self.reader.has_room():
            item = next(self.queue, None)
            if item is None:
                return
            f, needs = item
            job = Job(f.path, f.size, f.mtime, f.folder, self.clip_seconds, self.policy, needs,
                      {name: self.front_ends[name] for name in needs})
            self.jobs[f.path] = job
            self.reader.submit(job)

    def _handle(self, message) -> None:
        job = self.jobs.get(message.path)
        if job is None:
            return
        if isinstance(message, Meta):
            self.summary.stage_seconds["read"] += message.seconds
            state, decision = self.writer.on_meta(message, job)
            if message.awaiting:
                self.reader.reply(job.path, decision)
            if state is None:
                self.jobs.pop(job.path)
            else:
                self.tracks[job.path] = state
                self.report(job.path, finished=False)
        elif isinstance(message, Chunk):
            self.summary.stage_seconds["decode"] += message.decode_seconds
            self.summary.stage_seconds["mel"] += message.feature_seconds
            self.batcher.add(self.tracks[job.path], message.starts, message.features)
        elif isinstance(message, Done):
            state = self.tracks[job.path]
            state.read = True
            if state.complete:
                self._store(state)
        else:
            self._failed(job, message)

    def _failed(self, job: Job, message: Failed | Crashed) -> None:
        self.batcher.drop(job.path)
        state = self.tracks.pop(job.path, None)
        self.jobs.pop(job.path, None)
        if isinstance(message, Crashed):
            self.writer.crashed(job, message.detail)
        else:
            self.writer.fail(job, message.reason, message.detail, state.track_id if state else None)

    def _store(self, state: TrackState) -> None:
        self.tracks.pop(state.path, None)
        self.jobs.pop(state.path, None)
        self.writer.finish(state)
