"""File paths in the database: text, reversible even for names that are not valid UTF-8.

On POSIX a file name is bytes; Python decodes undecodable bytes to lone surrogates, which SQLite
cannot store. Such a path is stored as 'b64:' + base64 of its bytes (a real absolute path always
starts with '/' or a drive letter, so the two never collide) and shown with replacement marks.

In JSON output (`json_path`) a path is {"path": text}; a name that is not valid UTF-8 keeps its
readable form (U+FFFD for each undecodable byte) in "path" and adds "path_b64", the base64 of the
exact bytes, which is what a program should open.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

_PREFIX = "b64:"


def to_db(path: str | os.PathLike) -> str:
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _PREFIX + base64.b64encode(os.fsencode(text)).decode("ascii")


def from_db(text: str) -> str:
    """The path as the OS needs it (undecodable bytes as surrogates, like os.listdir gives)."""
    if text.startswith(_PREFIX):
        return os.fsdecode(base64.b64decode(text[len(_PREFIX):]))
    return text


def display_path(text: str) -> str:
    """The path for people: undecodable bytes shown as U+FFFD."""
    return os.fsencode(from_db(text)).decode("utf-8", "replace")


def as_path(text: str) -> Path:
    return Path(from_db(text))


def json_path(text: str | os.PathLike) -> dict[str, str]:
    """{"path": readable text} plus {"path_b64": base64 of the bytes} when the name is not UTF-8."""
    raw = os.fsencode(from_db(os.fspath(text)) if isinstance(text, str) else text)
    try:
        return {"path": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"path": raw.decode("utf-8", "replace"), "path_b64": base64.b64encode(raw).decode("ascii")}
