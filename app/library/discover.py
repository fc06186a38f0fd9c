"""Discovery: walk music folders and yield audio files, by extension and by content.

Symlinked folders are followed once (a loop is recognised by device and inode); a folder that
cannot be read is reported through `on_error` and skipped. A file counts as audio when its
extension is an audio one, or when its first bytes look like an audio container whatever its
name says.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

AUDIO_EXTENSIONS = {
    ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".m4b", ".mp4", ".aac", ".alac", ".wav", ".wave",
    ".aif", ".aiff", ".aifc", ".wma", ".asf", ".ape", ".wv", ".mpc", ".au", ".snd", ".mka", ".webm", ".caf",
}
# Files that are certainly not audio: never opened to sniff.
SKIP_EXTENSIONS = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".txt", ".nfo", ".log", ".cue", ".m3u",
                   ".m3u8", ".pls", ".pdf", ".db", ".ini", ".json", ".xml", ".html", ".md", ".sfv", ".accurip"}


@dataclass(frozen=True)
class Found:
    path: str
    size: int
    mtime: float
    folder: str


def sniff_audio(head: bytes) -> bool:
    """Does this file start like an audio container?"""
    if len(head) < 12:
        return False
    return (
        head.startswith((b"ID3", b"fLaC", b"OggS", b"MAC ", b"wvpk", b"MPCK", b".snd", b"caff"))
        or (head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"RMP3"))
        or (head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"))
        or head[4:8] == b"ftyp"
        or head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")  # ASF (wma)
        or head.startswith(b"\x1a\x45\xdf\xa3")  # Matroska / WebM
        or (head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0)  # MPEG audio / ADTS frame
    )


def is_audio(path: str, name: str) -> bool:
    ext = os.path.splitext(name)[1].lower()
    if ext in AUDIO_EXTENSIONS:
        return True
    if ext in SKIP_EXTENSIONS or name.startswith("."):
        return False
    try:
        with open(path, "rb") as f:
            return sniff_audio(f.read(12))
    except OSError:
        return False


def walk(folders: list[str | Path], on_error: Callable[[str, str], None] | None = None) -> Iterator[Found]:
    """Every audio file under the folders, each once, in a stable (sorted) order."""
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[str] = set()
    for folder in folders:
        root = os.fspath(Path(folder).expanduser())
        stack = [root]
        while stack:
            d = stack.pop()
            try:
                st = os.stat(d)
                key = (st.st_dev, st.st_ino)
                if key in seen_dirs:
                    continue  # a symlink loop or a folder reached twice
                seen_dirs.add(key)
                with os.scandir(d) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except FileNotFoundError:
                if on_error and d == root:
                    on_error(d, "folder not found")
                continue
            except OSError as e:
                if on_error:
                    on_error(d, f"cannot read folder: {e.strerror or e}")
                continue
            subdirs = []
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=True):
                        subdirs.append(entry.path)
                        continue
                    if not entry.is_file(follow_symlinks=True) or not is_audio(entry.path, entry.name):
                        continue
                    st = entry.stat(follow_symlinks=True)
                except OSError:
                    continue  # vanished or a dangling link
                real = os.path.realpath(entry.path)
                if real in seen_files:
                    continue
                seen_files.add(real)
                yield Found(os.path.abspath(entry.path), st.st_size, st.st_mtime, root)
            stack.extend(reversed(subdirs))
