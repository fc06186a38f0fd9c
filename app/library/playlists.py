"""M3U8 playlists: UTF-8, #EXTINF with duration and "artist - title", absolute or relative paths.

A file name that is not valid UTF-8 is written as the bytes the file system uses for it (what a
player must open), not a readable stand-in that points nowhere; every other line is UTF-8.
"""

from __future__ import annotations

import os
from pathlib import Path

from .fspath import display_path, from_db


def m3u8_bytes(tracks: list[dict], base: Path | None = None) -> bytes:
    """The playlist; paths relative to `base` when given (and on the same drive)."""
    lines = [b"#EXTM3U"]
    for t in tracks:
        path = from_db(t["path"])
        seconds = int(round(t.get("duration") or -1))
        artist, title = t.get("artist"), t.get("title")
        label = f"{artist} - {title}" if artist and title else (title or Path(display_path(t["path"])).stem)
        label = " ".join(label.split())  # a tag's line breaks would end the entry
        lines.append(f"#EXTINF:{seconds},{label}".encode("utf-8", "replace"))
        if base is not None:
            try:
                path = os.path.relpath(path, base)
            except ValueError:
                pass
        lines.append(os.fsencode(path))
    return b"\n".join(lines) + b"\n"


def write_m3u8(tracks: list[dict], out_path: str | Path, relative: bool = False) -> Path:
    """Write the playlist atomically; OSError when the place cannot be written."""
    out = Path(out_path)
    data = m3u8_bytes(tracks, out.resolve().parent if relative else None)
    tmp = out.with_name(f".{out.name}.tmp")
    try:  # written beside the target and renamed, so a failed write never leaves half a playlist
        tmp.write_bytes(data)
        os.replace(tmp, out)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return out


def read_m3u8(path: str | Path) -> list[tuple[str, int, str]]:
    """(path, seconds, label) per entry; relative paths resolved against the playlist's folder."""
    entries, info = [], (-1, "")
    base = Path(path).resolve().parent
    for raw in Path(path).read_bytes().splitlines():
        line = os.fsdecode(raw.strip())  # file names as the file system has them
        if line.startswith("#EXTINF:"):
            secs, _, label = line[8:].partition(",")
            info = (int(secs), label)
        elif line and not line.startswith("#"):
            p = Path(line)
            entries.append((str(p if p.is_absolute() else (base / p).resolve()), *info))
            info = (-1, "")
    return entries
