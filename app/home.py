"""The data home: the one folder everything Cratedigger writes lives under.

The platform's user data dir by default (platformdirs), `CRATEDIGGER_HOME` when set.
    library.sqlite   the library database
    models/          the model store (safetensors + manifests)
    runs/            training runs
    cache/           mel caches and other derived data
    logs/            log files
    settings.ini     the app's settings (Qt's INI format; the scan reads [analysis] musicnn too)
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
    d = data_home() / "cache"
    d.mkdir(exist_ok=True)
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
