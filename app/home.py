"""The data home: the one folder everything Cratedigger writes lives under.

The platform's user data dir by default (platformdirs), `CRATEDIGGER_HOME` when set.
    library.sqlite   the library database
    models/          the model store (safetensors + manifests)
    runs/            training runs
    cache/           mel caches and other derived data
    logs/            log files
    settings.ini     the app's settings (Qt's INI format; the scan reads [analysis] musicnn too)
    backups/         the last copies of library.sqlite, made after scans that changed something
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "cratedigger"


def data_home() -> Path:
    env = os.environ.get("CRATEDIGGER_HOME")
    if env:
        home = Path(env).expanduser()
    else:
        from platformdirs import user_data_dir

        home = Path(user_data_dir(APP_NAME, appauthor=False))
    home.mkdir(parents=True, exist_ok=True)
    return home


def library_path() -> Path:
    return data_home() / "library.sqlite"


def models_dir() -> Path:
    return data_home() / "models"


def runs_dir() -> Path:
    return data_home() / "runs"


def cache_dir() -> Path:
    """Derived data; on a read-only home the folder may not exist (writers handle OSError)."""
    d = data_home() / "cache"
    try:
        d.mkdir(exist_ok=True)
    except OSError:
        pass
    return d


def logs_dir() -> Path:
    d = data_home() / "logs"
    d.mkdir(exist_ok=True)
    return d


def settings_path() -> Path:
    return data_home() / "settings.ini"


def musicnn_enabled() -> bool:
    """Whether scans also hear tracks with MusiCNN: the Model view's switch ([analysis] musicnn), on by default."""
    import configparser

    parser = configparser.ConfigParser()
    try:
        parser.read(settings_path(), encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return True
    return parser.get("analysis", "musicnn", fallback="true").strip().lower() != "false"


def model_store():
    from model.store import ModelStore

    return ModelStore(models_dir())


def backups_dir() -> Path:
    return data_home() / "backups"


def open_library(read_only: bool = False, path: Path | None = None):
    """The library, with `model=None` meaning the model store's active model.

    `read_only` is for commands that only read: they then work on a read-only data home and
    beside a running scan. A home without a library yet gets an empty one when it can be written."""
    from app.library.db import Library, LibraryError

    path = Path(path) if path is not None else library_path()
    if read_only and not path.exists():
        try:
            Library(path).close()
        except LibraryError:
            pass  # the read-only open below says what is wrong
    return Library(path, read_only=read_only, active_model=active_model_key, tagger=installed_tagger)


def installed_tagger() -> str | None:
    """The installed tagger's (MusiCNN's) name, or None (also when the user switched it off)."""
    if not musicnn_enabled():
        return None
    try:
        manifest = model_store().musicnn()
    except Exception:  # noqa: BLE001 - a damaged manifest: no tags, the rest of the library still works
        return None
    return manifest.name if manifest else None


def active_model_key() -> tuple[str, ...] | None:
    """The active model as the library may know it: (its weights' digest, its name), tried in
    that order (analyses from before digests are under the name)."""
    from model.store import ModelStoreError

    store = model_store()
    name = store.active_name()
    if not name:
        return None
    try:
        return (store.manifest(name).key, name)
    except ModelStoreError:
        return (name,)
