"""The discover and classify stages: walk the folders, then sort every file into unchanged
(skipped), to read (new, changed, or lacking some ear's analysis) and gone (candidates for a
move, else missing), before any file is opened."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Callable

from .. import discover
from ..db import Library
from ..fspath import from_db, to_db
from .progress import ScanProgress

log = logging.getLogger(__name__)
DISCOVER_REPORT_SECONDS = 0.25  # how often discovery reports its count (and checks should_stop)
# reasons that say nothing about the file itself: tried again by every scan
RETRIED_REASONS = ("invalid_output", "unreadable_folder")


@dataclass
class Plan:
    roots: list[str]
    found: list[discover.Found]
    unreachable: list[tuple[str, str]]
    todo: list[tuple[discover.Found, list[str]]] = field(default_factory=list)  # (file, ears it needs)
    unchanged: list[int] = field(default_factory=list)  # track ids
    returned: int = 0  # unchanged tracks that were missing last time
    existing: dict[str, tuple] = field(default_factory=dict)  # db path -> (path, id, size, mtime, missing, fingerprint)
    gone: dict[str, tuple] = field(default_factory=dict)  # db path -> row, under the roots and not found
    vanished: dict[str, list[tuple]] = field(default_factory=dict)  # fingerprint -> gone rows
    known_fingerprints: set[str] = field(default_factory=set)  # a reader waits for a decision on these
    lost_folders: list[str] = field(default_factory=list)  # library folders not on disk (renamed? unplugged?)

    def lost_folder_of(self, db_path: str) -> str | None:
        path = from_db(db_path)
        return next((f for f in self.lost_folders if path.startswith(f.rstrip(os.sep) + os.sep)), None)


def walk(roots: list[str], progress: Callable[[ScanProgress], None] | None,
         should_stop: Callable[[], bool] | None) -> tuple[list[discover.Found], list[tuple[str, str]]] | None:
    """Every audio file under the roots and the folders that could not be read; None when
    stopped (should_stop or Ctrl-C) before the walk ended."""
    unreachable: list[tuple[str, str]] = []

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
    return found, unreachable


def classify(library: Library, roots: list[str], found: list[discover.Found], unreachable: list[tuple[str, str]],
             ear_keys: dict[str, str], retry_failed: bool = False, per_window: set[str] = frozenset()) -> Plan:
    """Sort the files found against the library (ear_keys: ear name -> analyses key). A file that
    failed before is tried again only when it changed, or when `retry_failed` asks for it. The
    ears named in `per_window` hear again a file whose row lacks every window's embedding."""
    plan = Plan(roots, found, unreachable)
    plan.existing = library.scan_tracks()
    analysed = {name: library.analysed_ids(key, name in per_window) for name, key in ear_keys.items()}
    failed = library.failed_files(tuple(RETRIED_REASONS))
    for f in found:
        key = to_db(f.path)
        row = plan.existing.get(key)
        same = row is not None and (row[2], row[3]) == (f.size, f.mtime)
        needs = [name for name in ear_keys if not (same and row[1] in analysed[name])]
        if retry_failed and key in failed:
            plan.todo.append((f, needs or list(ear_keys)))
        elif same and (not needs or failed.get(key) == (f.size, f.mtime)):
            plan.unchanged.append(row[1])
            plan.returned += row[4]  # missing last time, back unchanged (a drive plugged in again)
        else:
            plan.todo.append((f, needs))
    _find_gone(plan)
    _find_lost(library, plan)
    analysed_ids = set().union(*analysed.values()) if analysed else set()
    plan.known_fingerprints = set(plan.vanished) | {
        r[5] for r in plan.existing.values() if r[5] and r[1] in analysed_ids}
    return plan


def _find_gone(plan: Plan) -> None:
    """Tracks under the scanned roots that were not found (a folder that could not be read,
    such as a drive not plugged in, hides its files: they are not gone)."""
    found_paths = {to_db(f.path) for f in plan.found}
    prefixes = tuple(r.rstrip(os.sep) + os.sep for r in plan.roots)
    blind = tuple(d.rstrip(os.sep) + os.sep for d, _ in plan.unreachable)
    plan.gone = {p: r for p, r in plan.existing.items() if not r[4] and p not in found_paths
                 and from_db(p).startswith(prefixes) and not from_db(p).startswith(blind)}
    for r in plan.gone.values():
        if r[5]:
            plan.vanished.setdefault(r[5], []).append(r)


def _find_lost(library: Library, plan: Plan) -> None:
    """Tracks of library folders that are not on disk (renamed, moved, or a drive not plugged
    in) are move candidates: a file found elsewhere with the same audio takes over its track
    (no duplicate), and the scan offers to move the folder. They are not marked missing."""
    plan.lost_folders = [p for p in (from_db(r["path"]) for r in library.folders()) if not os.path.isdir(p)]
    if not plan.lost_folders:
        return
    for path, row in plan.existing.items():
        if not row[4] and row[5] and path not in plan.gone and plan.lost_folder_of(path):
            plan.vanished.setdefault(row[5], []).append(row)
