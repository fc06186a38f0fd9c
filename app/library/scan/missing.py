"""The last stage: tracks under the scanned folders that were not found are marked missing
(after moves had their chance), and folders that could not be read get an error row."""

from __future__ import annotations

import os
import time

from ..db import Library
from .plan import Plan


def mark_unchanged(library: Library, plan: Plan) -> None:
    """Unchanged tracks were seen now (and are not missing any more)."""
    library.mark_seen(plan.unchanged, time.time(), returned=bool(plan.returned))


def record_unreachable(library: Library, plan: Plan) -> None:
    """One error row per folder that could not be read (reason 'unreadable_folder'); rows from
    earlier scans of these roots go, so a folder that is readable again leaves the list."""
    prefixes = tuple(r.rstrip(os.sep) + os.sep for r in plan.roots)
    library.replace_folder_errors(prefixes, [
        (path, f"{why}; its tracks are kept (is the drive connected?)" if why == "folder not found"
         else f"{why}; the tracks in it are kept as they were") for path, why in plan.unreachable])


def mark_missing(library: Library, plan: Plan, moved: int) -> int:
    """Tracks still gone after the scan are missing; their error rows go. Returns how many."""
    ids = [r[1] for r in plan.gone.values()]
    library.mark_missing(ids)
    if moved and not ids:
        library.touch()  # moved tracks change what derived data (the map's labels) shows
    return len(ids)
