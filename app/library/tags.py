"""Tags: title, artist, album, genre, ... and whether there is cover art, via mutagen."""

from __future__ import annotations

import re
from typing import Any

_FIELDS = {
    "title": ("title",),
    "artist": ("artist",),
    "album": ("album",),
    "album_artist": ("albumartist", "album artist", "album_artist"),
    "tag_genre": ("genre",),
    "year": ("date", "year", "originaldate"),
    "track_no": ("tracknumber",),
}


def _first(tags, keys) -> str | None:
    for key in keys:
        try:
            value = tags.get(key)
        except (KeyError, ValueError):
            value = None
        if value:
            text = str(value[0] if isinstance(value, list) else value).strip()
            if text:
                return text
    return None


def _number(text: str | None) -> int | None:
    m = re.match(r"\s*(\d{1,4})", text or "")
    return int(m.group(1)) if m else None


def _has_cover(path: str) -> bool:
    import mutagen

    try:
        f = mutagen.File(path)
    except Exception:
        return False
    if f is None:
        return False
    if getattr(f, "pictures", None):
        return True
    tags = f.tags
    if tags is None:
        return False
    keys = [str(k) for k in getattr(tags, "keys", lambda: [])()]
    return any(k.startswith("APIC") or k in ("covr", "METADATA_BLOCK_PICTURE", "metadata_block_picture", "WM/Picture") for k in keys)


def read_tags(path: str) -> dict[str, Any]:
    """The library's tag fields; missing ones are None. Never raises for a bad file."""
    import mutagen

    out: dict[str, Any] = {k: None for k in _FIELDS}
    out["has_cover"] = 0
    try:
        f = mutagen.File(path, easy=True)
    except Exception:
        return out
    if f is None or f.tags is None:
        return out
    for field, keys in _FIELDS.items():
        out[field] = _first(f.tags, keys)
    out["year"] = _number(out["year"])
    out["track_no"] = _number(out["track_no"])
    out["has_cover"] = int(_has_cover(path))
    return out


def read_cover(path: str) -> bytes | None:
    """The first embedded picture's bytes, if any (for the track panel)."""
    import mutagen

    try:
        f = mutagen.File(path)
    except Exception:
        return None
    if f is None:
        return None
    pictures = getattr(f, "pictures", None)
    if pictures:
        return pictures[0].data
    tags = f.tags
    if tags is None:
        return None
    for key in list(getattr(tags, "keys", lambda: [])()):
        value = tags[key]
        if str(key).startswith("APIC"):
            return value.data
        if key == "covr" and value:
            return bytes(value[0])
        if str(key).lower() == "metadata_block_picture" and value:
            import base64

            from mutagen.flac import Picture

            return Picture(base64.b64decode(value[0])).data
    return None
