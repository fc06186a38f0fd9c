"""The model store: BBNN models as safetensors files with a JSON manifest, one active at a time.

Layout under the store's folder (the data home's `models/`):
    <name>.safetensors   weights; the manifest is repeated in the file's metadata, so a file
                         copied elsewhere can be imported back on its own
    <name>.json          the manifest (name, classes, source, source sha256, input spec, metrics)
    active               the active model's name
Weights are never read with pickle. Every write goes to a temporary file renamed into place, so
a failed import leaves the store, and the active model, as they were.
Reading manifests and the active name needs no torch (read-only commands stay fast); torch is
imported by the methods that move weights.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from typing import TYPE_CHECKING

from . import authors_weights
from .download import DownloadError, ProgressFn, download, sha256_of
from .melspec import MelSpec

if TYPE_CHECKING:  # torch, safetensors' torch half and the Keras reader load only to move weights
    import torch

    from .bbnn import BBNN

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

    @property
    def spec(self) -> MelSpec:
        return MelSpec.from_dict(self.input)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


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
        path = self.root / f"{name}.json"
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
        return name if name in self.names() else None

    def active(self) -> Manifest | None:
        name = self.active_name()
        return self.manifest(name) if name else None

    def load(self, name: str | None = None) -> tuple[BBNN, Manifest]:
        name = name or self.active_name()
        if not name:
            raise ModelStoreError("no model is active: run 'cratedigger model fetch' or 'cratedigger model import FILE'")
        manifest = self.manifest(name)
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(self.root / f"{name}.safetensors"))
        except (SafetensorError, OSError, ValueError) as e:
            raise ModelStoreError(f"the weights of model {name!r} are missing or damaged ({e}); "
                                  "import or fetch it again") from None
        return _model_from_state(state, len(manifest.classes), name), manifest

    # -- writing
    def save(self, model: BBNN, manifest: Manifest, activate: bool = False) -> Manifest:
        if not _NAME_OK.match(manifest.name):
            raise ModelStoreError(f"bad model name {manifest.name!r}: letters, digits, '.', '_' and '-' only")
        from safetensors.torch import save_file

        self.root.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
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

    def use(self, name: str) -> Manifest:
        manifest = self.manifest(name)
        if not (self.root / f"{name}.safetensors").exists():
            raise ModelStoreError(f"model {name!r} has no weights file")
        _atomic_write_text(self.root / "active", name + "\n")
        return manifest

    def remove(self, name: str) -> None:
        self.manifest(name)
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
            from .keras_import import KerasImportError, read_keras_bbnn

            try:
                model, classes = read_keras_bbnn(path)
            except KerasImportError as e:
                raise ModelStoreError(str(e)) from None
            known = authors_weights.identify(digest)
            manifest = Manifest(
                name=name or (known.name if known else _name_from(path)),
                classes=classes,
                source=(f"authors:{known.dataset}:fold{known.fold} {known.url()}" if known else f"keras file {path.resolve()}"),
                source_sha256=digest,
                metrics=known.known_metrics if known else {},
                notes="BBNN authors' Keras 2.0.6 model (Liu et al. 2021), converted on this machine",
            )
        else:
            model, manifest = _read_checkpoint(path)
            manifest.name = name or manifest.name or _name_from(path)
            manifest.source_sha256 = manifest.source_sha256 or digest
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


def _model_from_state(state: dict[str, "torch.Tensor"], n_classes: int, label: str) -> BBNN:
    from .bbnn import BBNN

    model = BBNN(n_classes)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelStoreError(f"{label}: weights do not fit a BBNN with {n_classes} classes ({str(e)[:200]})") from None
    return model.eval()


def _read_checkpoint(path: Path) -> tuple[BBNN, Manifest]:
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

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
