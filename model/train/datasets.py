"""Labelled audio data sets: a folder with one subfolder per class, or (path, class) pairs.

Folder layouts found on their own: the original GTZAN release (`genres/<g>/<g>.000NN.au`), the
Kaggle copy (`Data/genres_original/<g>/<g>.000NN.wav`), Ballroom-style folders and any folder of
class folders. Classes are the sorted folder names, as SPEC.md. Each item has a `key`,
`class/stem`, so lists such as the fault-filtered split match any of these layouts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

AUDIO_SUFFIXES = {".au", ".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".aif", ".aiff",
                  ".wma", ".alac", ".mp4", ".oga", ".webm", ".wv", ".ape", ".mpc"}
# Wrapper folders of well-known archives, tried in this order below the given root.
_WRAPPERS = ("genres", "Data/genres_original", "genres_original", "BallroomData", "data")


class DatasetError(Exception):
    """The data set cannot be used; message is for the user."""


@dataclass(frozen=True)
class Item:
    path: str
    label: int
    key: str  # "class/stem", stable across layouts and suffixes


@dataclass
class Dataset:
    classes: list[str]
    items: list[Item]
    source: str  # folder path or "library"
    skipped: list[dict] = field(default_factory=list)  # {path, reason, detail}: set once mels are built

    @property
    def labels(self) -> list[int]:
        return [it.label for it in self.items]

    def counts(self) -> dict[str, int]:
        out = {c: 0 for c in self.classes}
        for it in self.items:
            out[self.classes[it.label]] += 1
        return out

    def subset(self, keep: list[int]) -> "Dataset":
        return Dataset(self.classes, [self.items[i] for i in keep], self.source, list(self.skipped))


def _class_root(root: Path) -> Path:
    for wrapper in _WRAPPERS:
        candidate = root / wrapper
        if candidate.is_dir() and _class_dirs(candidate):
            return candidate
    return root


def _class_dirs(root: Path) -> list[Path]:
    return sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)


def _audio_files(folder: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / f for f in sorted(filenames)
                  if not f.startswith(".") and Path(f).suffix.lower() in AUDIO_SUFFIXES]
    return files


def scan_folder(root: str | os.PathLike) -> Dataset:
    """One class per subfolder (audio anywhere below it); folders without audio are ignored."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    base = _class_root(root)
    per_class = [(d.name, _audio_files(d)) for d in _class_dirs(base)]
    per_class = [(name, files) for name, files in per_class if files]
    if len(per_class) < 2:
        raise DatasetError(f"{base} needs at least two class folders with audio files inside "
                           f"(found {len(per_class)})")
    classes = [name for name, _ in per_class]
    items = [Item(str(f), label, f"{name}/{f.stem}") for label, (name, files) in enumerate(per_class) for f in files]
    return Dataset(classes, items, str(root.resolve()))


def from_pairs(pairs: list[tuple[str, str]], source: str = "library", classes: list[str] | None = None) -> Dataset:
    """(path, class name) pairs, e.g. tracks labelled from their tag genres."""
    names = classes or sorted({c for _, c in pairs})
    index = {c: i for i, c in enumerate(names)}
    items = [Item(str(p), index[c], f"{c}/{Path(p).stem}") for p, c in pairs if c in index]
    present = {it.label for it in items}
    if len(present) < 2:
        raise DatasetError("training needs tracks of at least two classes")
    return Dataset(list(names), items, source)
