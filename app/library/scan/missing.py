"""The last stage: tracks under the scanned folders that were not found are marked missing
(after moves had their chance), and folders that could not be read get an error row."""

from __future__ import annotations

import os
import time

from ..db import Library
from ..fspath import from_db, to_db
from .plan import Plan


def mark_unchanged(library: Library, plan: Plan) -> None:
    """Unchanged tracks were seen now (and are not missing any more)."""
    now = time.time()
    db = library.db
    with db.conn:
        for i in range(0, len(plan.unchanged), 900):
            chunk = plan.unchanged[i:i + 900]
            db.execute(f"UPDATE tracks SET last_seen = ?, missing = 0 WHERE id IN ({','.join('?' * len(chunk))})",
                       [now, *chunk])
        if plan.returned:
            library._bump()


def record_unreachable(library: Library, plan: Plan) -> None:
    """One error row per folder that could not be read (reason 'unreadable_folder'); rows from
    earlier scans of these roots go, so a folder that is readable again leaves the list."""
    prefixes = tuple(r.rstrip(os.sep) + os.sep for r in plan.roots)
    db = library.db
    with db.conn:
        old = [r[0] for r in db.execute("SELECT path FROM errors WHERE reason = 'unreadable_folder'")
               if (from_db(r[0]) + os.sep).startswith(prefixes)]
        for path in old:
            db.execute("DELETE FROM errors WHERE path = ?", [path])
        for path, why in plan.unreachable:
            detail = (f"{why}; its tracks are kept (is the drive connected?)" if why == "folder not found"
                      else f"{why}; the tracks in it are kept as they were")
            db.execute("INSERT OR REPLACE INTO errors(path, track_id, reason, detail, at) VALUES (?, NULL, ?, ?, ?)",
                       [to_db(path), "unreadable_folder", detail, time.time()])


def mark_missing(library: Library, plan: Plan, moved: int) -> int:
    """Tracks still gone after the scan are missing; their error rows go. Returns how many."""
    ids = [r[1] for r in plan.gone.values()]
    db = library.db
    with db.conn:
        for i in range(0, len(ids), 900):
            chunk = ids[i:i + 900]
            marks = ",".join("?" * len(chunk))
            db.execute(f"UPDATE tracks SET missing = 1 WHERE id IN ({marks})", chunk)
            db.execute(f"DELETE FROM errors WHERE track_id IN ({marks})", chunk)  # about files now gone
        if ids or moved:
            library._bump()
    return len(ids)
