"""The scan pipeline: discover -> tags -> decode + mel -> batched inference -> store.

Like an importer pipeline, each stage is a plain step: discovery walks the folders (main
process); tags, probe and fingerprint are read in the main process (milliseconds per file);
decode + mel run in worker processes; one inference loop in the main process batches windows
across tracks; every track is committed in its own transaction, so a kill loses at most the
tracks in flight. The queue of jobs in flight is bounded, so memory does not grow with the
library.

Incremental: a file with the same size and mtime as last time is skipped (analysed, or failed
for a reason already recorded); a changed file is analysed again; a file that vanished is marked
missing (unless it sat in a folder that could not be read this time, such as a drive not
plugged in: that folder gets an 'unreadable_folder' error row and its tracks stay as they were);
a new path whose audio fingerprint matches a vanished track is that track moved, and keeps its
analysis; a model that has not analysed a track analyses it, and other models'
results stay.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import discover
from .db import Library, LibraryError, explain
from .fingerprint import audio_fingerprint
from .fspath import from_db, to_db
from .tags import read_tags
from .workers import Failed, Job, Prepared, init_worker, prepare

log = logging.getLogger(__name__)

# OpenMP threads that spin while they wait fight the decode workers (and whatever else runs) for
# the cores: with two cores busy elsewhere, 2 spinning inference threads ran at half the speed
# of 1. Waiting passively lets inference use every core at no such cost. libgomp reads this when
# torch loads, so it is set here, before the scan imports torch (a user's own setting wins).
if "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_PASSIVE_OMP = os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
STAGES = ("discover", "tags", "decode", "mel", "inference", "store")
DISCOVER_REPORT_SECONDS = 0.25  # how often discovery reports its count (and checks should_stop)


@dataclass
class ScanProgress:
    stage: str
    done: int
    total: int
    rate: float  # tracks per second
    eta_seconds: float | None
    current: str | None
    errors: int


@dataclass
class ScanSummary:
    discovered: int = 0
    analysed: int = 0
    skipped: int = 0
    errors: int = 0
    missing: int = 0
    moved: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    windows: int = 0
    stage_seconds: dict = field(default_factory=lambda: {s: 0.0 for s in STAGES})
    model: str | None = None
    unreadable_folders: int = 0


@dataclass
class _Pending:
    track_id: int
    path: str
    started: float
    size: int
    mtime: float


def _default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


def scan(library: Library, folders: list[str | Path] | None = None, model_name: str | None = None,
         policy: str | int = "default", progress: Callable[[ScanProgress], None] | None = None,
         should_stop: Callable[[], bool] | None = None, workers: int | None = None,
         device: str | None = None, precision: str = "auto", batch_windows: int | None = None) -> ScanSummary:
    """Scan folders (default: all the library's folders) with a model (default: the active one).

    Raises LibraryError when the database cannot be written (locked, disk full); everything
    committed before stays. Returns a summary; `cancelled` is set when should_stop() said so or
    on Ctrl-C.
    """
    from app.home import model_store
    from model.audio import AudioError, probe, require_duration
    from model.windows import window_starts
    from model import threads
    from model.inference import Predictor

    t_start = time.perf_counter()
    summary = ScanSummary()
    stage = summary.stage_seconds
    from model.store import ModelStoreError

    store = model_store()
    name = model_name or store.active_name()
    if not name:
        raise ModelStoreError("no model is active: run 'cratedigger model fetch' or 'cratedigger model import FILE'")
    manifest = store.manifest(name)  # the weights load only when something needs analysing
    summary.model = manifest.name
    spec = manifest.spec
    try:
        library.ensure_model(manifest)
        if folders:
            for f in folders:
                library.add_folder(f)
        roots = [str(Path(f).expanduser().resolve()) for f in folders] if folders else \
            [from_db(r["path"]) for r in library.folders()]
    except sqlite3.Error as e:
        raise LibraryError(explain(e, library.path)) from None

    # -- discover
    t = time.perf_counter()
    unreachable: list[tuple[str, str]] = []
    found = _discover(roots, progress, should_stop, unreachable)
    stage["discover"] += time.perf_counter() - t
    if found is None:  # stopped while walking: nothing is marked missing or analysed
        summary.cancelled = True
        summary.seconds = time.perf_counter() - t_start
        return summary
    summary.discovered = len(found)
    db = library.db
    existing = {r[0]: r for r in db.execute(
        "SELECT path, id, size, mtime, missing, fingerprint FROM tracks").fetchall()}
    analysed = {r[0] for r in db.execute("SELECT track_id FROM analyses WHERE model = ?", [manifest.name])}
    failed_before = {r[0]: (r[1], r[2]) for r in db.execute("SELECT path, size, mtime FROM errors")}
    found_paths = {to_db(f.path) for f in found}
    now = time.time()
    todo, seen_ids, returned = [], [], 0
    for f in found:
        key = to_db(f.path)
        row = existing.get(key)
        if row and row[2] == f.size and row[3] == f.mtime and (
                row[1] in analysed or failed_before.get(key) == (f.size, f.mtime)):
            seen_ids.append(row[1])
            returned += row[4]  # missing last time, back unchanged (a drive plugged in again)
            continue
        todo.append(f)
    summary.skipped = len(seen_ids)
    try:
        with db.conn:
            for i in range(0, len(seen_ids), 900):
                chunk = seen_ids[i:i + 900]
                db.execute(f"UPDATE tracks SET last_seen = ?, missing = 0 WHERE id IN ({','.join('?' * len(chunk))})",
                           [now, *chunk])
            if returned:
                library._bump()
    except sqlite3.Error as e:
        raise LibraryError(explain(e, library.path)) from None

    # tracks under the scanned roots that are gone: candidates for moves, then missing
    prefixes = tuple(r.rstrip(os.sep) + os.sep for r in roots)
    # (a folder that could not be read, e.g. a drive not plugged in, hides its files: they are not gone)
    blind = tuple(d.rstrip(os.sep) + os.sep for d, _ in unreachable)
    gone = {p: r for p, r in existing.items() if not r[4] and p not in found_paths
            and from_db(p).startswith(prefixes) and not from_db(p).startswith(blind)}
    vanished: dict[str, list] = {}  # fingerprint -> gone tracks with that audio
    for r in gone.values():
        if r[5]:
            vanished.setdefault(r[5], []).append(r)
    try:
        _record_unreachable(library, prefixes, unreachable)
    except sqlite3.Error as e:
        raise LibraryError(explain(e, library.path)) from None
    summary.unreadable_folders = len(unreachable)

    predictor = Predictor(store.load(name)[0], spec, device=device, precision=precision) if todo else None
    on_cpu = predictor is None or predictor.device.type == "cpu"
    n_workers = _default_workers() if workers is None else workers
    # decode workers are idle most of the time, so passive-waiting inference takes every core;
    # spinning threads instead get the cores the workers leave
    thread_lease = threads.lease(n_workers if on_cpu and not _PASSIVE_OMP else 0)
    batch_windows = batch_windows or (1 if on_cpu else 64)
    total = len(todo)
    done = 0

    def report(current: str | None) -> None:
        if progress:
            elapsed = time.perf_counter() - t_start
            rate = done / elapsed if elapsed > 0 else 0.0
            eta = (total - done) / rate if rate > 0 else None
            progress(ScanProgress("analyse", done, total, rate, eta, current, summary.errors))

    def fail(track_id: int | None, path: str, reason: str, detail: str, size=None, mtime=None) -> None:
        summary.errors += 1
        library.record_error(path, reason, detail, track_id, size, mtime)

    pool = None
    if n_workers > 0:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        pool = ProcessPoolExecutor(n_workers, mp_context=get_context("spawn"), initializer=init_worker, initargs=(1,))
    max_inflight = max(2, 2 * n_workers)
    inflight: deque = deque()
    meta: dict[int, _Pending] = {}
    queue = iter(todo)
    report(None)

    def submit_next() -> bool:
        """Tags, probe and fingerprint of the next file; a job for the workers if it needs one."""
        nonlocal done
        f = next(queue, None)
        if f is None:
            return False
        t0 = time.perf_counter()
        tags = read_tags(f.path)
        info_fields = {}
        try:
            info = probe(f.path)
            require_duration(f.path, info.duration if info.duration > 0 else spec.clip_seconds)
            starts = window_starts(info.duration, spec.clip_seconds, policy)
            info_fields = dict(duration=info.duration, format=info.container, codec=info.codec,
                               sample_rate=info.sample_rate, channels=info.channels)
            fingerprint = audio_fingerprint(f.path, info.duration)
            error = None
        except AudioError as e:
            starts, fingerprint, error = [], None, e
        stage["tags"] += time.perf_counter() - t0
        key = to_db(f.path)
        folder_id = library.db.execute("SELECT id FROM folders WHERE path = ?", [to_db(f.folder)]).fetchone()
        fields = dict(tags, size=f.size, mtime=f.mtime, fingerprint=fingerprint, last_seen=time.time(), missing=0,
                      folder_id=folder_id[0] if folder_id else None, **info_fields)
        old = existing.get(key)
        moved_from = vanished[fingerprint].pop() if fingerprint and not old and vanished.get(fingerprint) else None
        if moved_from:
            del gone[moved_from[0]]
            # the same audio under a new name: keep the track row and its analyses
            with library.db.conn:
                library.db.execute("UPDATE tracks SET path = ? WHERE id = ?", [key, moved_from[1]])
                library.db.execute("DELETE FROM errors WHERE path = ?", [key])
            track_id = library.upsert_track(f.path, **fields)
            summary.moved += 1
            if track_id in analysed:
                done += 1
                report(f.path)
                return True
        else:
            if old and old[5] and fingerprint and old[5] != fingerprint:
                with library.db.conn:  # new audio in the same file: every model's result is stale
                    library.db.execute("DELETE FROM analyses WHERE track_id = ?", [old[1]])
            track_id = library.upsert_track(f.path, **fields)
        if error is not None:
            reason = "vanished" if not os.path.exists(f.path) else error.reason
            fail(track_id, f.path, reason, error.detail, f.size, f.mtime)
            done += 1
            report(f.path)
            return True
        twin = _analysed_twin(library, fingerprint, track_id, manifest.name)
        if twin is not None:
            _copy_analysis(library, twin, track_id, manifest.name)
            summary.analysed += 1
            done += 1
            report(f.path)
            return True
        job = Job(track_id, f.path, starts, spec.to_dict())
        meta[track_id] = _Pending(track_id, f.path, time.perf_counter(), f.size, f.mtime)
        inflight.append(pool.submit(prepare, job) if pool else _Done(prepare(job)))
        return True

    try:
        while True:
            if should_stop and should_stop():
                summary.cancelled = True
                break
            while len(inflight) < max_inflight and submit_next():
                pass
            if not inflight:
                break
            ready = [inflight.popleft().result()]
            windows = len(ready[0].mels) if isinstance(ready[0], Prepared) else 0
            while inflight and inflight[0].done() and windows < batch_windows:
                ready.append(inflight.popleft().result())
                windows += len(ready[-1].mels) if isinstance(ready[-1], Prepared) else 0
            good = [r for r in ready if isinstance(r, Prepared)]
            results = None
            if good:
                t0 = time.perf_counter()
                results = predictor.run_mels(np.concatenate([r.mels for r in good]))
                stage["inference"] += time.perf_counter() - t0
            offset = 0
            for r in ready:
                p = meta.pop(r.key)
                if isinstance(r, Failed):
                    fail(p.track_id, p.path, r.reason, r.detail, p.size, p.mtime)
                else:
                    n = len(r.mels)
                    stage["decode"] += r.decode_seconds
                    stage["mel"] += r.mel_seconds
                    t0 = time.perf_counter()
                    sl = slice(offset, offset + n)
                    library.save_analysis(p.track_id, manifest.name, r.starts, results.probs[sl],
                                          results.embedding[sl], results.dense[sl],
                                          time.perf_counter() - p.started, classes=manifest.classes)
                    stage["store"] += time.perf_counter() - t0
                    offset += n
                    summary.windows += n
                    summary.analysed += 1
                done += 1
                report(p.path)
    except KeyboardInterrupt:
        summary.cancelled = True
    except sqlite3.Error as e:
        raise LibraryError(explain(e, library.path)) from None
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)
        thread_lease.release()
    if not summary.cancelled:
        try:
            ids = [r[1] for r in gone.values()]
            with db.conn:
                for i in range(0, len(ids), 900):
                    chunk = ids[i:i + 900]
                    marks = ",".join("?" * len(chunk))
                    db.execute(f"UPDATE tracks SET missing = 1 WHERE id IN ({marks})", chunk)
                    db.execute(f"DELETE FROM errors WHERE track_id IN ({marks})", chunk)  # about files now gone
            summary.missing = len(ids)
            if ids or summary.moved:
                library.touch()
        except sqlite3.Error as e:
            raise LibraryError(explain(e, library.path)) from None
    summary.seconds = time.perf_counter() - t_start
    return summary


def _discover(roots: list[str], progress: Callable[[ScanProgress], None] | None,
              should_stop: Callable[[], bool] | None, unreachable: list[tuple[str, str]]) -> list[discover.Found] | None:
    """Every audio file under the roots, reporting the count as it grows (a big library on a slow
    disk takes a while); None when stopped (should_stop or Ctrl-C) before the walk ended.
    Folders that could not be read are appended to `unreachable` as (path, why)."""
    def unreadable(path: str, why: str) -> None:
        log.warning("%s: %s", path, why)
        unreachable.append((path, why))

    found: list[discover.Found] = []
    t0 = last = time.perf_counter()
    try:
        for f in discover.walk(roots, on_error=unreadable):
            found.append(f)
            now = time.perf_counter()
            if now - last >= DISCOVER_REPORT_SECONDS:
                last = now
                if should_stop and should_stop():
                    return None
                if progress:
                    progress(ScanProgress("discover", len(found), 0, len(found) / (now - t0), None, f.path, 0))
    except KeyboardInterrupt:
        return None
    return found


def _record_unreachable(library: Library, prefixes: tuple[str, ...], unreachable: list[tuple[str, str]]) -> None:
    """One error row per folder that could not be read (reason 'unreadable_folder'); rows from
    earlier scans of these roots go, so a folder that is readable again leaves the list."""
    db = library.db
    with db.conn:
        old = [r[0] for r in db.execute("SELECT path FROM errors WHERE reason = 'unreadable_folder'")
               if (from_db(r[0]) + os.sep).startswith(prefixes)]
        for path in old:
            db.execute("DELETE FROM errors WHERE path = ?", [path])
        for path, why in unreachable:
            detail = (f"{why}; its tracks are kept (is the drive connected?)" if why == "folder not found"
                      else f"{why}; the tracks in it are kept as they were")
            db.execute("INSERT OR REPLACE INTO errors(path, track_id, reason, detail, at) VALUES (?, NULL, ?, ?, ?)",
                       [to_db(path), "unreadable_folder", detail, time.time()])


class _Done:
    """A finished result standing in for a future when scanning without worker processes."""

    def __init__(self, value) -> None:
        self._value = value

    def done(self) -> bool:
        return True

    def result(self):
        return self._value


def _analysed_twin(library: Library, fingerprint: str | None, track_id: int, model: str) -> int | None:
    """Another track with the same audio already analysed by this model (a copy of the file)."""
    if not fingerprint:
        return None
    row = library.db.execute(
        "SELECT t.id FROM tracks t JOIN analyses a ON a.track_id = t.id AND a.model = ?"
        " WHERE t.fingerprint = ? AND t.id != ? LIMIT 1", [model, fingerprint, track_id]).fetchone()
    return row[0] if row else None


def _copy_analysis(library: Library, source: int, target: int, model: str) -> None:
    with library.db.conn:
        library.db.execute(
            "INSERT OR REPLACE INTO analyses(track_id, model, probs, top_genre, top_prob, window_starts, window_probs,"
            " embedding, embedding_std, dense, n_windows, analysed_at, analysis_seconds)"
            " SELECT ?, model, probs, top_genre, top_prob, window_starts, window_probs, embedding, embedding_std,"
            " dense, n_windows, analysed_at, 0 FROM analyses WHERE track_id = ? AND model = ?", [target, source, model])
        library._bump()
