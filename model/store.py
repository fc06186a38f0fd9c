"""The model store: BBNN models as safetensors files with a JSON manifest, one active at a time.

Layout under the store's folder (the data home's `models/`):
    <name>.safetensors   weights; the manifest is repeated in the file's metadata, so a file
                         copied elsewhere can be imported back on its own
    <name>.json          the manifest (name, classes, source, source sha256, input spec, metrics,
                         weights_sha256)
    active               the active model's name
Weights are never read with pickle. Every write goes to a temporary file renamed into place, so
a failed import leaves the store, and the active model, as they were.

Identity: `weights_sha256` is the sha256 of the tensors alone (their safetensors serialisation
without metadata), so the same network imported twice has the same digest while any damaged
byte changes it. `load` verifies it and refuses a file that does not match. The library keys
analyses by this digest (`Manifest.key`), the name is only the label; importing a different
network under a name already taken is refused when the name was asked for, and gets a free
name ('-2', '-3'...) when it was derived. Names are checked everywhere (no path separators), so
no command can reach files outside the store.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save, save_file

from . import authors_weights
from .bbnn import BBNN
from .download import DownloadError, ProgressFn, download, sha256_of
from .keras_import import KerasImportError, read_keras_bbnn
from .mel import MelSpec

FORMAT = "cratedigger-bbnn/1"
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ModelStoreError(Exception):
    """A model cannot be imported, found or loaded; message is for the user."""


@dataclass
class Manifest:
    name: str
    classes: list[str]
    source: str  # where it came from: 'authors:gtzan:fold5 <url>', a file path, 'trained:<run>'
    source_sha256: str | None = None
    input: dict = field(default_factory=lambda: MelSpec().to_dict())
    metrics: dict = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    format: str = FORMAT
    notes: str = ""
    weights_sha256: str | None = None  # of the tensors (see weights_digest); set by ModelStore.save

    @property
    def spec(self) -> MelSpec:
        return MelSpec.from_dict(self.input)

    @property
    def key(self) -> str:
        """What the library keys this network's analyses by: its weights' digest (the name before
        a digest was known)."""
        return self.weights_sha256 or self.name

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 of the tensors alone: the safetensors serialisation without metadata."""
    import hashlib

    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    return hashlib.sha256(save(tensors)).hexdigest()


def check_name(name: str) -> str:
    """A model name that is safe as a file name in the store (no separators, no '..')."""
    if not isinstance(name, str) or not _NAME_OK.match(name) or ".." in name:
        raise ModelStoreError(f"bad model name {name!r}: up to 64 letters, digits, '.', '_' and '-', "
                              "starting with a letter or digit")
    return name


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class ModelStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    # -- reading
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.json") if (self.root / f"{p.stem}.safetensors").exists())

    def list(self) -> list[Manifest]:
        return [self.manifest(n) for n in self.names()]

    def manifest(self, name: str) -> Manifest:
        path = self.root / f"{check_name(name)}.json"
        try:
            return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ModelStoreError(f"no model named {name!r} (see 'cratedigger model list')") from None
        except (json.JSONDecodeError, TypeError) as e:
            raise ModelStoreError(f"the manifest of model {name!r} is damaged ({e})") from None

    def active_name(self) -> str | None:
        try:
            name = (self.root / "active").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return name if _NAME_OK.match(name) and name in self.names() else None

    def active(self) -> Manifest | None:
        name = self.active_name()
        return self.manifest(name) if name else None

    def load(self, name: str | None = None) -> tuple[BBNN, Manifest]:
        name = name or self.active_name()
        if not name:
            raise ModelStoreError("no model is active: run 'cratedigger model fetch' or 'cratedigger model import FILE'")
        manifest = self.manifest(name)
        try:
            state = load_file(str(self.root / f"{name}.safetensors"))
        except (SafetensorError, OSError, ValueError) as e:
            raise ModelStoreError(f"the weights of model {name!r} are missing or damaged ({e}); "
                                  "import or fetch it again") from None
        digest = weights_digest(state)
        if manifest.weights_sha256 is None:  # a store from before digests: record it once
            manifest.weights_sha256 = digest
            _atomic_write_text(self.root / f"{name}.json", manifest.to_json())
        elif digest != manifest.weights_sha256:
            raise ModelStoreError(f"the weights file of model {name!r} is damaged (its sha256 does not match "
                                  "the manifest); fetch or import the model again")
        return _model_from_state(state, len(manifest.classes), name), manifest

    # -- writing
    def save(self, model: BBNN, manifest: Manifest, activate: bool = False, replace: bool = True) -> Manifest:
        """Write weights and manifest. A name already holding a different network is refused
        unless `replace` (training's own runs overwrite their checkpoints)."""
        check_name(manifest.name)
        self.root.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        manifest.weights_sha256 = weights_digest(state)
        if not replace and self._holds_other(manifest.name, manifest.weights_sha256):
            raise ModelStoreError(f"a different model is already called {manifest.name!r}; "
                                  "choose another name (--name) or remove that one first")
        weights = self.root / f"{manifest.name}.safetensors"
        tmp = weights.with_name(f".{weights.name}.tmp")
        try:
            save_file(state, str(tmp), metadata={"cratedigger_manifest": manifest.to_json()})
            os.replace(tmp, weights)
            _atomic_write_text(self.root / f"{manifest.name}.json", manifest.to_json())
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise ModelStoreError(f"could not save model {manifest.name!r}: {e.strerror or e}") from None
        if activate:
            self.use(manifest.name)
        return manifest

    def _holds_other(self, name: str, digest: str) -> bool:
        if name not in self.names():
            return False
        try:
            return self.manifest(name).weights_sha256 not in (None, digest)
        except ModelStoreError:
            return False  # a damaged manifest may be replaced

    def free_name(self, name: str, digest: str) -> str:
        """`name`, or `name-2`, `name-3`... : the first that is free or holds these very weights."""
        candidate, n = name, 1
        while self._holds_other(candidate, digest):
            n += 1
            candidate = f"{name[:60]}-{n}"
        return candidate

    def use(self, name: str) -> Manifest:
        manifest = self.manifest(name)
        if not (self.root / f"{name}.safetensors").exists():
            raise ModelStoreError(f"model {name!r} has no weights file")
        _atomic_write_text(self.root / "active", name + "\n")
        return manifest

    def remove(self, name: str) -> None:
        self.manifest(check_name(name))
        for suffix in (".safetensors", ".json"):
            (self.root / f"{name}{suffix}").unlink(missing_ok=True)
        if self.active_name() is None:
            (self.root / "active").unlink(missing_ok=True)

    # -- getting models in
    def import_file(self, path: str | os.PathLike, name: str | None = None, activate: bool = True) -> Manifest:
        """An authors' Keras HDF5 file or one of our own .safetensors checkpoints."""
        path = Path(path)
        if not path.is_file():
            raise ModelStoreError(f"{path} is not a file")
        try:
            digest = sha256_of(path)
        except OSError as e:
            raise ModelStoreError(f"cannot read {path}: {e.strerror or e}") from None
        with open(path, "rb") as f:
            magic = f.read(8)
        if magic == b"\x89HDF\r\n\x1a\n":
            try:
                model, classes = read_keras_bbnn(path)
            except KerasImportError as e:
                raise ModelStoreError(str(e)) from None
            known = authors_weights.identify(digest)
            manifest = Manifest(
                name=known.name if known else _name_from(path),
                classes=classes,
                source=(f"authors:{known.dataset}:fold{known.fold} {known.url()}" if known else f"keras file {path.resolve()}"),
                source_sha256=digest,
                metrics=known.known_metrics if known else {},
                notes="BBNN authors' Keras 2.0.6 model (Liu et al. 2021), converted on this machine",
            )
        else:
            model, manifest = _read_checkpoint(path)
            manifest.name = manifest.name if manifest.name and _NAME_OK.match(manifest.name) else _name_from(path)
            manifest.source_sha256 = manifest.source_sha256 or digest
        if name is not None:
            manifest.name = check_name(name)
            return self.save(model, manifest, activate=activate, replace=False)
        manifest.name = self.free_name(manifest.name, weights_digest(model.state_dict()))
        return self.save(model, manifest, activate=activate)

    def fetch(self, dataset: str = authors_weights.DEFAULT_DATASET, fold: int = authors_weights.DEFAULT_FOLD,
              base_url: str | None = None, progress: ProgressFn | None = None, timeout: float = 30.0,
              activate: bool = True, cancelled: Callable[[], bool] | None = None) -> Manifest:
        """Download an authors' model, verify its sha256, convert it and (by default) activate it."""
        entry = authors_weights.authors_model(dataset, fold)
        base = base_url or os.environ.get("CRATEDIGGER_WEIGHTS_URL") or authors_weights.DEFAULT_BASE_URL
        cache = self.root / "downloads" / f"{entry.name}.hdf5"
        if not (cache.exists() and sha256_of(cache) == entry.sha256):
            try:
                download(entry.url(base), cache, entry.sha256, timeout=timeout, progress=progress, cancelled=cancelled)
            except DownloadError as e:
                raise ModelStoreError(str(e)) from None
        manifest = self.import_file(cache, name=entry.name, activate=activate)
        manifest.source = f"authors:{entry.dataset}:fold{entry.fold} {entry.url(base)}"
        _atomic_write_text(self.root / f"{entry.name}.json", manifest.to_json())
        return manifest


def _name_from(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.") or "model"
    return stem[:64]


def _model_from_state(state: dict[str, torch.Tensor], n_classes: int, label: str) -> BBNN:
    model = BBNN(n_classes)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelStoreError(f"{label}: weights do not fit a BBNN with {n_classes} classes ({str(e)[:200]})") from None
    return model.eval()


def _read_checkpoint(path: Path) -> tuple[BBNN, Manifest]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelStoreError(f"{path.name} is neither a Keras HDF5 model nor a Cratedigger checkpoint ({e})") from None
    if "cratedigger_manifest" not in meta:
        raise ModelStoreError(f"{path.name} is a safetensors file without a Cratedigger manifest")
    try:
        manifest = Manifest.from_dict(json.loads(meta["cratedigger_manifest"]))
    except (json.JSONDecodeError, TypeError) as e:
        raise ModelStoreError(f"{path.name}: damaged manifest ({e})") from None
    return _model_from_state(state, len(manifest.classes), path.name), manifest
