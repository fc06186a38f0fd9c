"""Write bench/sets/eight-packages.txt by the rule in bench/sets/README.md (no scores involved).

    python bench/sets/make_eight_packages.py [--root /tmp/music/pkgs] [--out bench/sets/eight-packages.txt]

Every package folder under --root with at least MIN_TRACKS distinct audio files of at least
MIN_SECONDS (FFmpeg's probed duration; copies and links of the same audio counted once, the
first sorted path kept) gives QUOTA of them, spread evenly over the sorted paths; the label is
the package (an unpacked archive folder `nexuiz-x`, `ufoai-x`, `oa-x` stands for its package).
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import av

AUDIO = (".ogg", ".mp3", ".flac", ".wav", ".opus", ".m4a", ".xm", ".mod", ".it", ".s3m")
FORBIDDEN = ("wesnoth", "fretsonfire", "singularity")
MIN_SECONDS, MIN_TRACKS, QUOTA = 45.0, 8, 12
LABELS = {"nexuiz-x": "nexuiz", "ufoai-x": "ufoai", "oa-x": "openarena"}


def duration(path: Path) -> float | None:
    try:
        with av.open(str(path)) as container:
            return container.duration / 1e6 if container.duration else None
    except (av.error.FFmpegError, OSError, ValueError):
        return None


def long_tracks(folder: Path) -> list[str]:
    """Sorted distinct audio files of at least MIN_SECONDS under folder (relative to its parent)."""
    found, seen = [], set()
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO and p.is_file()):
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
        seconds = duration(path)
        if digest in seen or seconds is None or seconds < MIN_SECONDS:
            continue
        seen.add(digest)
        found.append(str(path.relative_to(folder.parent)))
    return found


def spread(items: list[str], quota: int) -> list[str]:
    if len(items) <= quota:
        return items
    return [items[round((i + 0.5) * len(items) / quota - 0.5)] for i in range(quota)]


def label_of(package: str) -> str:
    return LABELS.get(package, package.removesuffix("-data").removesuffix("-music-ogg").removesuffix("-music"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path("/tmp/music/pkgs"))
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("eight-packages.txt"))
    args = ap.parse_args()
    lines = []
    for folder in sorted(p for p in args.root.iterdir() if p.is_dir()):
        if folder.name.startswith(FORBIDDEN):
            continue
        tracks = long_tracks(folder)
        print(f"{folder.name}: {len(tracks)} long tracks")
        if len(tracks) >= MIN_TRACKS:
            lines += [f"{label_of(folder.name)}\t{rel}" for rel in spread(tracks, QUOTA)]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} tracks -> {args.out}")


if __name__ == "__main__":
    main()
