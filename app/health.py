"""`cratedigger doctor`: what is wrong with this installation, in words.

Each check returns Findings: the library file (SQLite's integrity_check, schema, backups), the
model store (manifests readable, weights present and matching the sha256 recorded when they were
saved), the data home (writable, free space) and the system libraries the window and the audio
preview need. Nothing here changes anything (but the store records the digest of a model saved
before digests were, the first time it is loaded).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

LOW_SPACE = 1_000_000_000  # bytes: a scan of a big library, a training run's mel cache
VERY_LOW_SPACE = 200_000_000


@dataclass
class Finding:
    area: str  # library | backups | models | disk | window | audio
    level: str  # ok | warning | problem
    text: str


def check_library(path: Path) -> list[Finding]:
    from app.library.db import SCHEMA_VERSION
    from app.library.safety import problems

    if not path.exists():
        return [Finding("library", "ok", f"no library yet at {path} (the first scan makes one)")]
    found = problems(path)
    if found:
        return [Finding("library", "problem", f"{path} is damaged ({found[0]}"
                        + (f", and {len(found) - 1} more" if len(found) > 1 else "")
                        + "); run 'cratedigger repair' to restore the last backup or save what can be read")]
    conn = sqlite3.connect(f"file:{path.absolute()}?mode=ro", uri=True)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tracks = conn.execute("SELECT COUNT(*) FROM tracks").fetchone()[0] if version else 0
        analysed = conn.execute("SELECT COUNT(DISTINCT track_id) FROM analyses").fetchone()[0] if version else 0
    finally:
        conn.close()
    if version > SCHEMA_VERSION:
        return [Finding("library", "problem", f"{path} was written by a newer Cratedigger (schema {version}); upgrade")]
    return [Finding("library", "ok", f"{path} is sound: {tracks} tracks, {analysed} analysed")]


def check_backups(path: Path) -> list[Finding]:
    from app.library.safety import list_backups

    backups = list_backups(path)
    if not backups:
        level = "warning" if path.exists() else "ok"
        return [Finding("backups", level, "no backup yet (one is made after every scan that changes something)")]
    newest = time.strftime("%Y-%m-%d %H:%M", time.localtime(backups[0].stat().st_mtime))
    return [Finding("backups", "ok", f"{len(backups)} backup(s) in {backups[0].parent}, the newest from {newest}")]


def check_models(root: Path) -> list[Finding]:
    """Every model in the store: manifest readable, weights present and matching the digest
    recorded in the manifest (the store's own verified load)."""
    from model.store import KIND_BBNN, ModelStore, ModelStoreError

    store = ModelStore(root)
    names = store.names(kind=None)
    if not names:
        return [Finding("models", "warning", "no model yet: run 'cratedigger model fetch' or 'cratedigger model import FILE'")]
    out = []
    for name in names:
        try:
            manifest = store.manifest(name)
            if manifest.kind == KIND_BBNN:
                store.load(name)
            else:
                store.load_musicnn(name)
        except ModelStoreError as e:
            out.append(Finding("models", "problem", f"{name}: {e}"))
            continue
        out.append(Finding("models", "ok", f"{name}: weights match their recorded sha256 ({manifest.kind})"))
    if store.active_name() is None:
        out.append(Finding("models", "warning", "no genre model is active: 'cratedigger model use NAME'"))
    return out


def check_disk(home: Path) -> list[Finding]:
    out = []
    if not os.access(home, os.W_OK):
        out.append(Finding("disk", "warning", f"the data home {home} is read-only: status, similar and the other "
                                              "read-only commands work; scans, imports and training need a folder "
                                              "you can write (CRATEDIGGER_HOME)"))
    free = shutil.disk_usage(home).free
    level = "problem" if free < VERY_LOW_SPACE else "warning" if free < LOW_SPACE else "ok"
    out.append(Finding("disk", level, f"{free / 1e9:.1f} GB free where the data home is"
                       + ("" if level == "ok" else "; scans and training may stop with 'disk full'")))
    return out


def check_system() -> list[Finding]:
    from app.system import audio_libraries_missing, install_hint, window_libraries_missing

    out = []
    window = window_libraries_missing()
    out.append(Finding("window", "problem", f"the app's window needs {', '.join(window)}: {install_hint(window)}")
               if window else Finding("window", "ok", "the libraries the app's window needs are there"))
    audio = audio_libraries_missing()
    out.append(Finding("audio", "warning", f"audio preview in the app needs {', '.join(audio)}: "
                                           f"{install_hint(audio)} (until then the system's player is used)")
               if audio else Finding("audio", "ok", "the libraries audio preview needs are there"))
    return out


def run_checks() -> list[Finding]:
    from app.home import data_home, library_path, models_dir

    home = data_home()
    return (check_library(library_path()) + check_backups(library_path()) + check_models(models_dir())
            + check_disk(home) + check_system())
