"""Keeping the library safe: backups after scans, and getting a damaged database back.

Backups are consistent copies made with SQLite's online backup API (a scan may keep writing),
checked with quick_check and kept as `backups/library-YYYYmmdd-HHMMSS-micros.sqlite` beside the library
(in the data home); the newest KEEP stay. A damaged library is repaired by restoring the newest
backup that passes integrity_check or, when there is none (or the user asks), by salvaging every
row SQLite can still read into a new file. Either way the damaged file (with its -wal and -shm)
is moved aside, never deleted.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from .db import MIGRATIONS, SCHEMA_VERSION, Library, LibraryError

KEEP = 3
log = logging.getLogger(__name__)
# tables in an order that satisfies the foreign keys, and the tables whose rows need a track
TABLES = ["folders", "tracks", "models", "analyses", "stale_analyses", "window_vectors", "errors", "map_points",
          "clusters", "map_fits", "meta"]
NEEDS_TRACK = ["analyses", "stale_analyses", "window_vectors", "map_points"]


def backups_dir(library_path: str | Path) -> Path:
    return Path(library_path).parent / "backups"


def list_backups(library_path: str | Path) -> list[Path]:
    """Backups of this library, newest first."""
    folder = backups_dir(library_path)
    return sorted(folder.glob("library-*.sqlite"), reverse=True) if folder.is_dir() else []


def make_backup(library: Library, keep: int = KEEP) -> Path:
    """A checked copy of the library now; older copies beyond `keep` go. OSError / sqlite3.Error
    when it cannot be written (the library itself is untouched)."""
    folder = backups_dir(library.path)
    folder.mkdir(exist_ok=True)
    now = time.time()
    dest = folder / _backup_name(now)
    while dest.exists():  # fixed-width names: sorting them sorts by time
        now += 1e-6
        dest = folder / _backup_name(now)
    library.backup_to(dest)
    if problems(dest, quick=True):
        dest.unlink(missing_ok=True)  # a copy of a damaged library is no backup; keep the good ones
        raise LibraryError(f"the library {library.path} is damaged, so it was not backed up; "
                           "run 'cratedigger repair'")
    for old in list_backups(library.path)[keep:]:
        old.unlink(missing_ok=True)
    return dest


def _backup_name(when: float) -> str:
    return f"library-{time.strftime('%Y%m%d-%H%M%S', time.localtime(when))}-{int(when * 1e6) % 1_000_000:06d}.sqlite"


def backup_after_scan(library: Library) -> Path | None:
    """The hook a scan calls when it changed something: a backup, or a warning in the log."""
    try:
        path = make_backup(library)
    except (OSError, sqlite3.Error, LibraryError) as e:
        log.warning("no backup of the library after this scan: %s", e)
        return None
    log.info("library backed up to %s", path)
    return path


def problems(path: str | Path, quick: bool = False) -> list[str]:
    """What SQLite finds wrong with a database file, in its words; [] when it is sound."""
    path = Path(path)
    if not path.exists():
        return [f"{path} does not exist"]
    try:
        conn = sqlite3.connect(f"file:{path.absolute()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        return [str(e)]
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check" if quick else "PRAGMA integrity_check(20)")]
        return [] if rows == ["ok"] else rows
    except sqlite3.DatabaseError as e:
        return [str(e)]
    finally:
        conn.close()


@dataclass
class Repair:
    how: str  # 'restored' | 'salvaged' | 'nothing to do'
    source: Path | None = None  # the backup restored
    damaged: Path | None = None  # where the damaged file went
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows in the repaired library
    lost: dict[str, int] = field(default_factory=dict)  # salvage: table -> rows that could not be read


def repair(path: str | Path, salvage: bool = False, backup: str | Path | None = None, force: bool = False) -> Repair:
    """Put a sound library at `path`: the newest good backup (or `backup`), else (or with
    `salvage`) what can be read from the damaged file. A sound library is left alone unless
    `force`. Raises LibraryError when nothing can be done."""
    path = Path(path)
    if not force and path.exists() and not problems(path):
        return Repair("nothing to do", rows=_counts(path))
    _ensure_unused(path)
    if not salvage:
        candidates = [Path(backup)] if backup else list_backups(path)
        good = next((b for b in candidates if not problems(b)), None)
        if good is None and backup:
            raise LibraryError(f"the backup {backup} is damaged or missing too")
        if good is not None:
            tmp = path.with_name(f".{path.name}.restore")
            shutil.copyfile(good, tmp)
            damaged = _move_aside(path)
            os.replace(tmp, path)
            return Repair("restored", source=good, damaged=damaged, rows=_counts(path))
    if not path.exists():
        raise LibraryError(f"there is no library at {path} and no backup to restore")
    tmp = path.with_name(f".{path.name}.salvage")
    lost = salvage_into(path, tmp)
    damaged = _move_aside(path)
    os.replace(tmp, path)
    return Repair("salvaged", damaged=damaged, rows=_counts(path), lost=lost)


def salvage_into(damaged: Path, out: Path) -> dict[str, int]:
    """Copy every row SQLite can still read from `damaged` into a new library at `out`; returns
    table -> rows lost (unreadable, or an analysis whose track was lost)."""
    out.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(f"file:{damaged.absolute()}?mode=ro", uri=True)
        src.execute("SELECT name FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as e:
        raise LibraryError(f"nothing can be read from {damaged} ({e}); restore a backup or start a new library "
                           "(move the file away and scan again)") from None
    dst = sqlite3.connect(str(out))
    try:
        dst.executescript(MIGRATIONS[0])
        for v in range(1, SCHEMA_VERSION):
            dst.executescript(MIGRATIONS[v])
        dst.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        lost = {}
        for table in TABLES:
            lost[table] = _copy_table(src, dst, table)
        for table in NEEDS_TRACK:  # rows whose track did not survive point nowhere
            lost[table] += dst.execute(f"DELETE FROM {table} WHERE track_id NOT IN (SELECT id FROM tracks)").rowcount
        dst.execute("INSERT INTO meta(key, value) VALUES ('data_version', '1') ON CONFLICT(key)"
                    " DO UPDATE SET value = CAST(value AS INTEGER) + 1")
        dst.commit()
    finally:
        src.close()
        dst.close()
    return {t: n for t, n in lost.items() if n}


def _copy_table(src: sqlite3.Connection, dst: sqlite3.Connection, table: str) -> int:
    """Rows of one table, walked by rowid so one unreadable page loses only its own rows."""
    try:
        src_cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
    except sqlite3.DatabaseError:
        return 0
    dst_cols = {r[1] for r in dst.execute(f"PRAGMA table_info({table})")}
    cols = [c for c in src_cols if c in dst_cols]
    if not cols:
        return 0
    select = f"SELECT rowid, {', '.join(cols)} FROM {table}"
    insert = f"INSERT OR IGNORE INTO {table}(rowid, {', '.join(cols)}) VALUES ({', '.join('?' * (len(cols) + 1))})"
    top = _max_rowid(src, table)
    last, lost = 0, 0
    blind_bound = 100_000
    while True:
        try:
            rows = src.execute(f"{select} WHERE rowid > ? ORDER BY rowid LIMIT 500", [last]).fetchall()
        except sqlite3.DatabaseError:
            rows = None
        if rows:
            dst.executemany(insert, rows)
            last = rows[-1][0]
            continue
        if top is None:
            top = last + blind_bound
        if rows == [] or last >= top:
            return lost
        # a damaged page: probe the rowids one by one until the table reads again
        last += 1
        try:
            row = src.execute(f"{select} WHERE rowid = ?", [last]).fetchone()
        except sqlite3.DatabaseError:
            lost += 1
            continue
        if row is not None:
            dst.execute(insert, row)


def _max_rowid(src: sqlite3.Connection, table: str) -> int | None:
    """The largest rowid; when the table's last page is unreadable, a bound far enough past the
    rows read so far (probing a missing rowid is one cheap b-tree lookup)."""
    try:
        return src.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError:
        return None


def _counts(path: Path) -> dict[str, int]:
    try:
        conn = sqlite3.connect(f"file:{path.absolute()}?mode=ro", uri=True)
        try:
            return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("tracks", "analyses")}
        finally:
            conn.close()
    except sqlite3.Error:
        return {}


def _ensure_unused(path: Path) -> None:
    """Refuse while another program (the app, a scan) has the library open for writing."""
    if not path.exists():
        return
    try:
        conn = sqlite3.connect(str(path), timeout=0.5)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.rollback()
        finally:
            conn.close()
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise LibraryError(f"{path} is in use (a scan, or the app): close it first, then repair") from None
    except sqlite3.DatabaseError:
        pass  # too damaged to lock: nobody can be using it either


def _move_aside(path: Path) -> Path | None:
    """The damaged file (and its -wal/-shm, which must not meet the new file) beside it, renamed."""
    if not path.exists():
        return None
    aside = path.with_name(f"{path.stem}-damaged-{time.strftime('%Y%m%d-%H%M%S')}{path.suffix}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            os.replace(part, Path(f"{aside}{suffix}"))
    return aside
