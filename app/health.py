"""`cratedigger doctor`: what is wrong with this installation, in words.

Each check returns Findings: the library file (SQLite's integrity_check, schema, backups), the
model store (manifests readable, weights present and matching the sha256 recorded when they were
saved), the data home (writable, free space) and the system libraries the window and the audio
preview need. Nothing here changes anything.
"""

from __future__ import annotations

import json
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
    from model.download import sha256_of

    if not root.is_dir() or not any(root.glob("*.json")):
        return [Finding("models", "warning", "no model yet: run 'cratedigger model fetch' or 'cratedigger model import FILE'")]
    out = []
    for manifest_path in sorted(root.glob("*.json")):
        name = manifest_path.stem
        weights = root / f"{name}.safetensors"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            if not isinstance(manifest, dict) or not manifest.get("classes"):
                raise ValueError("no classes")
        except (OSError, ValueError) as e:
            out.append(Finding("models", "problem", f"{name}: the manifest is damaged ({e}); import or fetch it "
                                                    f"again, or 'cratedigger model remove {name}'"))
            continue
        if not weights.exists():
            out.append(Finding("models", "problem", f"{name}: the weights file is missing; import or fetch it again"))
            continue
        expected = manifest.get("weights_sha256")
        if expected and sha256_of(weights) != expected:
            out.append(Finding("models", "problem", f"{name}: the weights file changed since it was saved (sha256 "
                                                    "differs); import or fetch it again"))
        elif expected:
            out.append(Finding("models", "ok", f"{name}: weights match their recorded sha256"))
        elif _readable_safetensors(weights):
            out.append(Finding("models", "ok", f"{name}: weights readable (saved before hashes were recorded)"))
        else:
            out.append(Finding("models", "problem", f"{name}: the weights file is damaged; import or fetch it again"))
    active = (root / "active")
    if not active.exists():
        out.append(Finding("models", "warning", "no model is active: 'cratedigger model use NAME'"))
    return out


def _readable_safetensors(path: Path) -> bool:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            return bool(list(f.keys()))
    except Exception:  # noqa: BLE001 - any failure to parse means damaged
        return False


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
