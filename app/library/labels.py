"""Training labels from the library: tracks whose tag genre the user maps to their own classes.

A mapping is {class: [tag genres]}, matched case-insensitively against each part of a track's tag
genre ("Rock; Indie" has two parts). Tracks matching no class, or more than one, are left out.
Without a mapping every tag genre with enough tracks becomes a class of its own.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

_SPLIT = re.compile(r"\s*[;/|\x00]\s*")


class LabelError(Exception):
    """The mapping cannot be used; message is for the user."""


def genre_parts(tag_genre: str | None) -> list[str]:
    return [p.strip().lower() for p in _SPLIT.split(tag_genre or "") if p.strip()]


def _tagged_tracks(library) -> list[tuple[str, str]]:
    return library.tagged_tracks()


def tag_genre_counts(library) -> dict[str, int]:
    """Tracks per (lower-cased) tag genre part, most common first."""
    counts = Counter(part for _, genre in _tagged_tracks(library) for part in set(genre_parts(genre)))
    return dict(counts.most_common())


def parse_mapping(text: str) -> dict[str, list[str]]:
    """Lines `class: tag genre, tag genre`; a JSON object is accepted too."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise LabelError(f"the mapping is not valid JSON ({e})") from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise LabelError('the mapping must look like {"class": ["tag genre", ...]}')
        return {str(k).strip(): [str(g) for g in v] for k, v in data.items()}
    mapping: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if ":" not in line:
            raise LabelError(f"mapping line {n} needs 'class: tag genre, tag genre'")
        name, genres = line.split(":", 1)
        mapping[name.strip()] = [g.strip() for g in genres.split(",") if g.strip()]
    return mapping


def load_mapping(path: str | Path) -> dict[str, list[str]]:
    try:
        return parse_mapping(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise LabelError(f"cannot read the mapping {path}: {e.strerror or e}") from None


def library_pairs(library, mapping: dict[str, list[str]] | None = None, min_tracks: int = 10) -> list[tuple[str, str]]:
    """(path, class) for every present track with exactly one class."""
    tracks = _tagged_tracks(library)
    if not mapping:
        counts = Counter(part for _, g in tracks for part in set(genre_parts(g)))
        mapping = {g: [g] for g, n in counts.items() if n >= min_tracks}
    lookup: dict[str, set[str]] = {}
    for cls, genres in mapping.items():
        if not cls:
            raise LabelError("a class in the mapping has no name")
        for g in genres:
            lookup.setdefault(g.strip().lower(), set()).add(cls)
    pairs = []
    for path, genre in tracks:
        hits = set().union(*(lookup.get(p, set()) for p in genre_parts(genre)))
        if len(hits) == 1:
            pairs.append((path, hits.pop()))
    if len({c for _, c in pairs}) < 2:
        raise LabelError("fewer than two classes have tracks in the library "
                         "(check the mapping against 'cratedigger genres' or the tag genres)")
    return pairs
