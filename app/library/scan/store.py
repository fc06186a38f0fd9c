"""The store stage: what the scan writes for each file, one transaction per write.

On a file's Meta: its track row (tags, container facts, fingerprint), a move (a new path whose
audio is a vanished track's keeps that track and its analyses), a copy (another track with the
same audio already analysed by an ear gets that analysis copied) and stale analyses (new audio
in the same file) are settled, and the ears that still need the file are decided. A changed file
whose new version fails (a crash, undecodable...) has its older analyses set aside: kept, no
longer served, until it analyses cleanly. When its
windows are through every ear: each ear's outputs are checked (NaN or infinite values are never
stored; the file gets an 'invalid_output' error instead) and stored.
"""

from __future__ import annotations

import logging
import time

from ..db import Library
from ..fspath import display_path, to_db
from .ears import Ear, finite
from .infer import TrackState
from .plan import Plan
from .progress import Reporter, ScanSummary
from .reader import Decision, Job, Meta

log = logging.getLogger(__name__)
INVALID_OUTPUT = "model output was invalid (NaN or infinite values from {}); its weights may be damaged: fetch or import it again"


class TrackWriter:
    def __init__(self, library: Library, plan: Plan, ears: list[Ear], summary: ScanSummary, report: Reporter) -> None:
        self.library, self.plan, self.summary, self.report = library, plan, summary, report
        self.ears = {ear.name: ear for ear in ears}
        self._folders: dict[str, int | None] = {}

    def _folder_id(self, folder: str) -> int | None:
        if folder not in self._folders:
            self._folders[folder] = self.library.folder_id(folder)
        return self._folders[folder]

    def on_meta(self, meta: Meta, job: Job) -> tuple[TrackState | None, Decision]:
        """Write the track row; returns its state (None when nothing is to be read) and the
        ears that need it."""
        t0 = time.perf_counter()
        fields = dict(meta.tags, size=job.size, mtime=job.mtime, fingerprint=meta.fingerprint, last_seen=time.time(),
                      missing=0, folder_id=self._folder_id(job.folder), **meta.info)
        moved_from = self._moved_from(meta.fingerprint, job.path)
        if moved_from:
            track_id = self._move(moved_from, job.path, fields, job.folder)
            needs = [e for e in job.ears
                     if not self.library.has_analysis(track_id, self.ears[e].key, self.ears[e].per_window)]
        else:
            track_id = self._upsert(job.path, meta.fingerprint, fields)
            needs = list(job.ears)
        if meta.error:
            self.fail(job, meta.error[0], meta.error[1], track_id)
            return None, Decision([])
        if meta.awaiting:
            needs = [e for e in needs if not self._copy_twin(meta.fingerprint, track_id, self.ears[e])]
        else:
            needs = list(job.ears)  # the reader went on without asking
        self.summary.stage_seconds["store"] += time.perf_counter() - t0
        if not needs:
            self.summary.analysed += not moved_from
            self.report(job.path)
            return None, Decision([])
        return TrackState(job.path, track_id, job.size, job.mtime, needs), Decision(needs)

    def _moved_from(self, fingerprint: str | None, path: str) -> tuple | None:
        candidates = self.plan.vanished.get(fingerprint) if fingerprint else None
        if not candidates or to_db(path) in self.plan.existing:
            return None
        row = candidates.pop()
        self.plan.gone.pop(row[0], None)
        return row

    def _move(self, row: tuple, path: str, fields: dict, root: str) -> int:
        """The same audio under a new name: keep the track row and its analyses. A track of a
        folder that is no longer on disk counts towards offering to move that folder."""
        lost = self.plan.lost_folder_of(row[0])
        if lost:
            moves = self.summary.folder_moves
            entry = next((m for m in moves if (m["old"], m["new"]) == (lost, root)), None)
            if entry is None:
                moves.append(entry := {"old": lost, "new": root, "tracks": 0})
            entry["tracks"] += 1
        self.library.move_track(row[1], path)
        self.summary.moved += 1
        return self.library.upsert_track(path, **fields)

    def _upsert(self, path: str, fingerprint: str | None, fields: dict) -> int:
        old = self.plan.existing.get(to_db(path))
        if old and old[5] and fingerprint and old[5] != fingerprint:
            self.library.forget_analyses(old[1])  # new audio in the same file: every model's result is stale
        return self.library.upsert_track(path, **fields)

    def _copy_twin(self, fingerprint: str | None, track_id: int, ear: Ear) -> bool:
        """Copy the analysis of another track with the same audio (a copy of the file), if any."""
        key = ear.key
        twin = self.library.analysed_twin(fingerprint, track_id, key, ear.per_window)
        if twin is None:
            return False
        self.library.copy_analysis(twin, track_id, key)
        return True

    def finish(self, state: TrackState) -> None:
        """Every ear's outputs for a track that has been read and inferred: checked, then stored."""
        t0 = time.perf_counter()
        seconds = time.perf_counter() - state.started
        invalid = []
        for name in state.ears:
            outputs = state.joined(name)
            if not outputs or not finite(outputs):
                invalid.append(name)
                continue
            self.ears[name].store(self.library, state.track_id, state.starts, outputs, seconds)
        if invalid:
            self._error(state.path, "invalid_output", INVALID_OUTPUT.format(", ".join(invalid)),
                        state.track_id, state.size, state.mtime)
        else:
            self.summary.analysed += 1
        self.summary.windows += state.windows()
        self.summary.stage_seconds["store"] += time.perf_counter() - t0
        self.report(state.path)

    def fail(self, job: Job, reason: str, detail: str, track_id: int | None = None) -> None:
        self._error(job.path, reason, detail, track_id, job.size, job.mtime)
        old = self.plan.existing.get(to_db(job.path))
        if old and (old[2], old[3]) != (job.size, job.mtime):  # its analyses are of the audio that was there
            self.library.set_aside_analyses(old[1])
        self.report(job.path)

    def crashed(self, job: Job, detail: str) -> None:
        """The reading process died on this file: a track row (if it has none) and the reason."""
        track_id = self.library.upsert_track(job.path, size=job.size, mtime=job.mtime, last_seen=time.time(),
                                             missing=0, folder_id=self._folder_id(job.folder))
        self.summary.crashed += 1
        self.fail(job, "crashed", detail, track_id)

    def _error(self, path: str, reason: str, detail: str, track_id, size, mtime) -> None:
        self.summary.errors += 1
        log.info("scan error: %s: %s (%s)", display_path(to_db(path)), reason, detail)
        self.library.record_error(path, reason, detail, track_id, size, mtime)
