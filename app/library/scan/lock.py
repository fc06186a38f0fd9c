"""One scan at a time per library: an OS file lock beside the database.

The lock is `<library>.scan-lock` held with `filelock` (flock on POSIX, LockFileEx on Windows);
the operating system releases it when the holder exits, however it exits, so a killed scan
never leaves a stale lock behind.
"""

from __future__ import annotations

from pathlib import Path

from ..db import LibraryError


class ScanRunning(LibraryError):
    """Another scan of this library is running; the message is for the user."""


def _lock_path(library_path: Path) -> Path:
    return Path(library_path).with_name(Path(library_path).name + ".scan-lock")


class ScanLock:
    """`with ScanLock(library.path):` raises ScanRunning when another scan holds it."""

    def __init__(self, library_path: Path) -> None:
        from filelock import FileLock

        self._lock = FileLock(str(_lock_path(library_path)), timeout=0, thread_local=False)

    def __enter__(self) -> "ScanLock":
        from filelock import Timeout

        try:
            self._lock.acquire()
        except Timeout:
            raise ScanRunning("a scan of this library is already running (in the app or another "
                              "'cratedigger scan'); wait for it to finish") from None
        except OSError as e:
            raise LibraryError(f"cannot lock the library for scanning: {e.strerror or e}") from None
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()


def scan_running(library_path: Path) -> bool:
    """Is a scan of this library running now (in any process)?"""
    try:
        with ScanLock(library_path):
            return False
    except ScanRunning:
        return True
    except LibraryError:
        return False
