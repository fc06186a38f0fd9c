"""Where MusiCNN's weights come from and how they are read: the `musicnn` 0.1.0 wheel on the Python package index.

The wheel (ISC licence) ships the authors' TensorFlow 1 checkpoint of MSD_musicnn as
`musicnn/MSD_musicnn/.index` + `.data-00000-of-00001`. They are read with the pure-Python
TensorBundle reader (no TensorFlow), mapped onto `model.musicnn.MusiCNN` and stored as
safetensors by the model store. Accepted sources: the wheel itself, or a folder it was unpacked
into (the wheel's root, its `musicnn/` package folder, or `MSD_musicnn/` itself).
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from .tf_checkpoint import Checkpoint, CheckpointError

if TYPE_CHECKING:  # torch loads only when a checkpoint is read: the model store's reads stay light
    import torch

NAME = "musicnn-msd"
WHEEL_FILE = "musicnn-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
WHEEL_SIZE = 29_292_476
# The package index's stable address for a file (it redirects to the hashed storage path).
DEFAULT_URL = f"https://files.pythonhosted.org/packages/py3/m/musicnn/{WHEEL_FILE}"
URL_ENV = "CRATEDIGGER_MUSICNN_URL"
_CHECKPOINT_DIR = "musicnn/MSD_musicnn"
_CHECKPOINT_FILES = (".index", ".data-00000-of-00001")
_LICENSE_IN_WHEEL = "musicnn-0.1.0.dist-info/LICENSE.md"
SOURCE = "musicnn 0.1.0 (Pons and Serra, MTG-UPF), MSD_musicnn"
NOTES = ("MusiCNN trained on the Million Song Dataset (50 last.fm tags); TensorFlow checkpoint from the musicnn "
         "0.1.0 wheel converted on this machine. ISC licence, Music Technology Group, Universitat Pompeu Fabra 2019.")


class MusicnnWeightsError(Exception):
    """The source holds no readable MSD_musicnn checkpoint; message is for the user."""


@dataclass
class MusicnnWeights:
    state: dict[str, torch.Tensor]
    labels: list[str]
    license_text: str


def wheel_url(url: str | None = None) -> str:
    """`url` (a full address of the wheel, or a base address the index's path is appended to), else the env, else PyPI."""
    url = url or os.environ.get(URL_ENV) or DEFAULT_URL
    if url.endswith(".whl"):
        return url
    return f"{url.rstrip('/')}/packages/py3/m/musicnn/{WHEEL_FILE}"


def read_source(path: str | os.PathLike) -> MusicnnWeights:
    """Weights from the wheel file or an unpacked folder; checks every tensor and that they fit MusiCNN."""
    path = Path(path)
    if path.is_dir():
        folder = _find_checkpoint(path)
        weights = _read_checkpoint(folder)
        license_file = next((p for p in (path / _LICENSE_IN_WHEEL, folder.parent.parent / _LICENSE_IN_WHEEL)
                             if p.is_file()), None)
        if license_file is not None:
            weights.license_text = license_file.read_text(encoding="utf-8", errors="replace")
        return weights
    if zipfile.is_zipfile(path):
        return _read_wheel(path)
    raise MusicnnWeightsError(f"{path} is neither the musicnn wheel ({WHEEL_FILE}) nor a folder it was unpacked into")


def is_musicnn_source(path: str | os.PathLike) -> bool:
    """Whether `path` looks like the musicnn wheel or an unpacked copy (so `model import` can route it)."""
    path = Path(path)
    if path.is_dir():
        try:
            _find_checkpoint(path)
            return True
        except MusicnnWeightsError:
            return False
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return f"{_CHECKPOINT_DIR}/.index" in zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def _find_checkpoint(folder: Path) -> Path:
    for candidate in (folder / _CHECKPOINT_DIR, folder / "MSD_musicnn", folder):
        if all((candidate / name).is_file() for name in _CHECKPOINT_FILES):
            return candidate
    raise MusicnnWeightsError(f"{folder} holds no MSD_musicnn checkpoint (expected {_CHECKPOINT_DIR}/.index "
                              "and .data-00000-of-00001 from the musicnn wheel)")


def _read_wheel(path: Path) -> MusicnnWeights:
    try:
        with zipfile.ZipFile(path) as zf, tempfile.TemporaryDirectory(prefix="cratedigger-musicnn-") as tmp:
            names = set(zf.namelist())
            missing = [n for n in _CHECKPOINT_FILES if f"{_CHECKPOINT_DIR}/{n}" not in names]
            if missing:
                raise MusicnnWeightsError(f"{path.name} is a zip file without the MSD_musicnn checkpoint "
                                          f"(no {_CHECKPOINT_DIR}/{missing[0]}); is it the musicnn 0.1.0 wheel?")
            for name in _CHECKPOINT_FILES:
                (Path(tmp) / name).write_bytes(zf.read(f"{_CHECKPOINT_DIR}/{name}"))
            weights = _read_checkpoint(Path(tmp))
            if _LICENSE_IN_WHEEL in names:
                weights.license_text = zf.read(_LICENSE_IN_WHEEL).decode("utf-8", errors="replace")
            return weights
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        raise MusicnnWeightsError(f"{path.name} is a damaged zip file ({e})") from None
    except OSError as e:
        raise MusicnnWeightsError(f"cannot read {path}: {e.strerror or e}") from None


def _read_checkpoint(folder: Path) -> MusicnnWeights:
    """The checkpoint's files are named '.index' etc.: its prefix is the folder itself plus a separator."""
    from .musicnn import MSD_LABELS, MUSICNN_LICENSE, musicnn_from_state, state_dict_from_tf, tf_variable_names

    try:
        tensors = Checkpoint(f"{folder}{os.sep}").read_all(tf_variable_names())
    except CheckpointError as e:
        raise MusicnnWeightsError(f"the MusiCNN checkpoint cannot be read: {e}") from None
    try:
        state = state_dict_from_tf(tensors)
        musicnn_from_state(state, len(MSD_LABELS))
    except (KeyError, RuntimeError, ValueError) as e:
        raise MusicnnWeightsError(f"the checkpoint's variables do not fit MSD_musicnn ({str(e)[:200]})") from None
    return MusicnnWeights(state=state, labels=list(MSD_LABELS), license_text=MUSICNN_LICENSE)
