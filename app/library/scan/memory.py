"""Freed buffers go back to the operating system (Linux, glibc).

The scan moves many buffers of a few megabytes (decoded spans, chunks of mels through a pipe).
glibc's malloc raises its mmap threshold after such frees and then serves them from the heap,
where they stay after they are freed: on a 3-hour file with `--windows all` the scanning
process grew from 535 MB (1 hour) to 840 MB. `trim()` after each batch hands the free heap back
(malloc_trim). A fixed low mmap threshold did the same for memory but halved inference speed
(every large activation mapped afresh), so it is not used. Elsewhere this does nothing.
"""

from __future__ import annotations

import sys

_libc = None


def trim() -> None:
    global _libc
    if not sys.platform.startswith("linux"):
        return
    if _libc is None:
        try:
            import ctypes

            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim  # noqa: B018  (glibc only)
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)
