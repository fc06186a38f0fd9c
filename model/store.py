"""The model store: models as safetensors files with a JSON manifest; one active BBNN genre model.

Two kinds of model live here (`Manifest.kind`): BBNN genre models ("bbnn"), one of which is
active, and the MusiCNN tagger ("musicnn", name `musicnn-msd`), which is used beside the active
BBNN when installed.
Layout under the store's folder (the data home's `models/`):
    <name>.safetensors   weights; the manifest is repeated in the file's metadata, so a file
                         copied elsewhere can be imported back on its own
    <name>.json          the manifest (name, kind, classes, source, source sha256, input spec, metrics,
                         weights_sha256)
    <name>.LICENSE.txt   the weights' licence notice, where they carry one (MusiCNN: ISC)
    active               the active BBNN model's name
Weights are never read with pickle. Every write goes to a temporary file renamed into place, so
a failed import leaves the store, and the active model, as they were. Reading manifests and the
active name needs no torch (read-only commands stay fast): torch, safetensors' torch half and the
networks are imported by the functions that move weights.

Identity: `weights_sha256` is the sha256 of the tensors alone (their safetensors serialisation
without metadata), so the same network imported twice has the same digest while any damaged
byte changes it. Loading verifies it and refuses a file that does not match. The library keys
analyses by this digest (`Manifest.key`), the name is only the label; importing a different
network under a name already taken is refused when the name was asked for, and gets a free
name ('-2', '-3'...) when it was derived. Names are checked everywhere (no path separators), so
no command can reach files outside the store.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from typing import TYPE_CHECKING

from . import authors_weights, musicnn_weights
from .download import DownloadError, ProgressFn, download, sha256_of
from .melspec import MelSpec

if TYPE_CHECKING:  # torch and the networks load only where weights move (see the module's note)
    import torch

    from .bbnn import BBNN
    from .musicnn import MusiCNN, MusicnnSpec

log = logging.getLogger(__name__)
FORMAT = "cratedigger-bbnn/1"
MUSICNN_FORMAT = "cratedigger-musicnn/1"
KIND_BBNN, KIND_MUSICNN = "bbnn", "musicnn"  # Manifest.kind
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
    kind: str = KIND_BBNN
    weights_sha256: str | None = None  # of the tensors (see weights_digest); set by ModelStore.save

    @property
    def key(self) -> str:
        """What the library keys this network's analyses by: its weights' digest (the name before
        a digest was known)."""
        return self.weights_sha256 or self.name

    @property
    def spec(self) -> MelSpec:
        if self.kind != KIND_BBNN:
            raise ModelStoreError(f"{self.name} is a {self.kind} model; its input is `musicnn_spec`")
        return MelSpec.from_dict(self.input)

    @property
    def musicnn_spec(self) -> MusicnnSpec:
        from .musicnn import MusicnnSpec

        return MusicnnSpec.from_dict(self.input)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    from safetensors.torch import save

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
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _cannot_write(what: str, e: BaseException) -> "ModelStoreError":
    """A write into the store failed: say why in words (full disk, read-only home)."""
    import errno

    code = getattr(e, "errno", None)
    text = str(e)
    if code == errno.ENOSPC or "No space" in text:
        why = "the disk is full; free some space and try again"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS) or "ermission" in text or "Read-only" in text:
        why = "the data home is read-only (set CRATEDIGGER_HOME to a folder you can write)"
    else:
        why = getattr(e, "strerror", None) or text
    return ModelStoreError(f"could not {what}: {why}; the store is as it was")


class ModelStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    # -- reading
    def names(self, kind: str | None = KIND_BBNN) -> list[str]:
        """Models of one kind (default: BBNN genre models); kind=None: all."""
        if not self.root.is_dir():
            return []
        found = sorted(p.stem for p in self.root.glob("*.json") if (self.root / f"{p.stem}.safetensors").exists())
        return found if kind is None else [n for n in found if self._kind_of(n) == kind]

    def _kind_of(self, name: str) -> str | None:
        try:
            return self.manifest(name).kind
        except ModelStoreError:
            return None

    def list(self, kind: str | None = KIND_BBNN) -> list[Manifest]:
        return [self.manifest(n) for n in self.names(kind)]

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
        manifest = self._manifest_of_kind(name, KIND_BBNN)
        return _model_from_state(self._state(name, manifest), len(manifest.classes), name), manifest

    def musicnn(self) -> Manifest | None:
        """The installed MusiCNN's manifest, or None (then: 'cratedigger model fetch musicnn')."""
        names = self.names(KIND_MUSICNN)
        return self.manifest(names[0]) if names else None

    def load_musicnn(self, name: str | None = None) -> tuple[MusiCNN, Manifest]:
        installed = self.musicnn()
        name = name or (installed.name if installed else None)
        if not name:
            raise ModelStoreError("MusiCNN is not installed: run 'cratedigger model fetch musicnn'")
        manifest = self._manifest_of_kind(name, KIND_MUSICNN)
        return _musicnn_from_state(self._state(name, manifest), len(manifest.classes), name), manifest

    def _manifest_of_kind(self, name: str, kind: str) -> Manifest:
        manifest = self.manifest(name)
        if manifest.kind == kind:
            return manifest
        if manifest.kind == KIND_MUSICNN:
            raise ModelStoreError(f"{name} is a MusiCNN tagger, not a genre model; "
                                  "it runs beside the active genre model by itself")
        raise ModelStoreError(f"{name} is a {manifest.kind} model, not a MusiCNN tagger")

    def _state(self, name: str, manifest: Manifest) -> dict[str, torch.Tensor]:
        """The weights, verified against the manifest's weights_sha256 (recorded once for a
        manifest from before digests)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(self.root / f"{name}.safetensors"))
        except (SafetensorError, OSError, ValueError) as e:
            raise ModelStoreError(f"the weights of model {name!r} are missing or damaged ({e}); "
                                  "import or fetch it again") from None
        digest = weights_digest(state)
        if manifest.weights_sha256 is None:
            manifest.weights_sha256 = digest
            try:
                _atomic_write_text(self.root / f"{name}.json", manifest.to_json())
            except OSError:  # a read-only home: the digest is recorded another time
                pass
        elif digest != manifest.weights_sha256:
            raise ModelStoreError(f"the weights file of model {name!r} is damaged (its sha256 does not match "
                                  "the manifest); fetch or import the model again")
        return state

    # -- writing
    def save(self, model: BBNN | MusiCNN, manifest: Manifest, activate: bool = False,
             license_text: str | None = None, replace: bool = True) -> Manifest:
        """Write weights and manifest. A name already holding a different network is refused
        unless `replace` (training's own runs overwrite their checkpoints)."""
        check_name(manifest.name)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _cannot_write(f"save model {manifest.name!r}", e) from None
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        manifest.weights_sha256 = weights_digest(state)
        if not replace and self._holds_other(manifest.name, manifest.weights_sha256):
            raise ModelStoreError(f"a different model is already called {manifest.name!r}; "
                                  "choose another name (--name) or remove that one first")
        weights = self.root / f"{manifest.name}.safetensors"
        tmp = weights.with_name(f".{weights.name}.tmp")
        metadata = {"cratedigger_manifest": manifest.to_json()}
        if license_text:
            metadata["license"] = license_text
        from safetensors import SafetensorError
        from safetensors.torch import save_file

        try:
            save_file(state, str(tmp), metadata=metadata)
            os.replace(tmp, weights)
            if license_text:
                _atomic_write_text(self.root / f"{manifest.name}.LICENSE.txt", license_text)
            _atomic_write_text(self.root / f"{manifest.name}.json", manifest.to_json())
        except (OSError, SafetensorError) as e:  # SafetensorError: its writer failed (full disk...)
            tmp.unlink(missing_ok=True)
            raise _cannot_write(f"save model {manifest.name!r}", e) from None
        log.info("model %s saved (%s, weights %s, from %s)", manifest.name, manifest.kind,
                 manifest.weights_sha256[:12], manifest.source or "unknown source")
        if activate:
            self.use(manifest.name)
        return manifest

    def _holds_other(self, name: str, digest: str) -> bool:
        if name not in self.names(kind=None):
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
        manifest = self._manifest_of_kind(name, KIND_BBNN)
        if not (self.root / f"{name}.safetensors").exists():
            raise ModelStoreError(f"model {name!r} has no weights file")
        before = self.active_name()
        try:
            _atomic_write_text(self.root / "active", name + "\n")
        except OSError as e:
            raise _cannot_write(f"make {name!r} the active model", e) from None
        metrics = manifest.metrics if isinstance(manifest.metrics, dict) else {}
        accuracy = metrics.get("test_accuracy", metrics.get("mean_test_accuracy_over_folds"))
        log.info("active model switched: %s -> %s (%d classes%s)", before or "none", name, len(manifest.classes),
                 f", accuracy {accuracy:.1%}" if isinstance(accuracy, (int, float)) else "")
        return manifest

    def remove(self, name: str) -> None:
        """Delete a model (also one whose manifest is damaged)."""
        check_name(name)
        if not (self.root / f"{name}.json").exists() and not (self.root / f"{name}.safetensors").exists():
            raise ModelStoreError(f"no model named {name!r} (see 'cratedigger model list')")
        try:
            for suffix in (".safetensors", ".json", ".LICENSE.txt"):
                (self.root / f"{name}{suffix}").unlink(missing_ok=True)
            if self.active_name() is None:
                (self.root / "active").unlink(missing_ok=True)
        except OSError as e:
            raise _cannot_write(f"remove {name!r}", e) from None
        log.info("model %s removed%s", name, "" if self.active_name() else "; no model is active now")

    # -- getting models in
    def import_file(self, path: str | os.PathLike, name: str | None = None, activate: bool = True) -> Manifest:
        """An authors' Keras HDF5 file, one of our own .safetensors checkpoints, or the musicnn wheel / its folder."""
        path = Path(path)
        if musicnn_weights.is_musicnn_source(path):
            return self.import_musicnn(path)
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
                name=known.name if known else _name_from(path),
                classes=classes,
                source=(f"authors:{known.dataset}:fold{known.fold} {known.url()}" if known else f"keras file {path.resolve()}"),
                source_sha256=digest,
                metrics=known.known_metrics if known else {},
                notes="BBNN authors' Keras 2.0.6 model (Liu et al. 2021), converted on this machine",
            )
        else:
            model, manifest, license_text = _read_checkpoint(path)
            manifest.name = manifest.name if manifest.name and _NAME_OK.match(manifest.name) else _name_from(path)
            manifest.source_sha256 = manifest.source_sha256 or digest
            return self._save_named(model, manifest, name, activate and manifest.kind == KIND_BBNN, license_text)
        return self._save_named(model, manifest, name, activate)

    def _save_named(self, model, manifest: Manifest, name: str | None, activate: bool,
                    license_text: str | None = None) -> Manifest:
        """Save under the name asked for (refused if a different network has it) or under the
        derived one (a free variant of it if a different network has it)."""
        if name is not None:
            manifest.name = check_name(name)
            return self.save(model, manifest, activate=activate, license_text=license_text, replace=False)
        manifest.name = self.free_name(manifest.name, weights_digest(model.state_dict()))
        return self.save(model, manifest, activate=activate, license_text=license_text)

    def import_musicnn(self, path: str | os.PathLike, source: str | None = None) -> Manifest:
        """The musicnn wheel or a folder it was unpacked into: checkpoint -> safetensors, with its ISC notice."""
        path = Path(path)
        try:
            weights = musicnn_weights.read_source(path)
            digest = sha256_of(path) if path.is_file() else None
        except musicnn_weights.MusicnnWeightsError as e:
            raise ModelStoreError(str(e)) from None
        except OSError as e:
            raise ModelStoreError(f"cannot read {path}: {e.strerror or e}") from None
        from .musicnn import MusicnnSpec

        pinned = digest == musicnn_weights.WHEEL_SHA256
        manifest = Manifest(
            name=musicnn_weights.NAME, kind=KIND_MUSICNN, classes=weights.labels, format=MUSICNN_FORMAT,
            source=source or f"{musicnn_weights.SOURCE} from {path.resolve()}"
                             + ("" if pinned or digest is None else " (not the pinned 0.1.0 wheel)"),
            source_sha256=digest, input=MusicnnSpec().to_dict(), notes=musicnn_weights.NOTES)
        model = _musicnn_from_state(weights.state, len(weights.labels), manifest.name)
        return self.save(model, manifest, license_text=weights.license_text)

    def fetch_musicnn(self, url: str | None = None, progress: ProgressFn | None = None, timeout: float = 30.0,
                      cancelled: Callable[[], bool] | None = None) -> Manifest:
        """Download the musicnn 0.1.0 wheel (pinned sha256), read its checkpoint and store MusiCNN."""
        address = musicnn_weights.wheel_url(url)
        cache = self.root / "downloads" / musicnn_weights.WHEEL_FILE
        if not (cache.exists() and sha256_of(cache) == musicnn_weights.WHEEL_SHA256):
            try:
                download(address, cache, musicnn_weights.WHEEL_SHA256, timeout=timeout, progress=progress,
                         cancelled=cancelled)
            except DownloadError as e:
                raise ModelStoreError(str(e)) from None
        return self.import_musicnn(cache, source=f"{musicnn_weights.SOURCE} {address}")

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
        try:
            _atomic_write_text(self.root / f"{entry.name}.json", manifest.to_json())
        except OSError as e:
            raise _cannot_write(f"save model {entry.name!r}", e) from None
        return manifest


def _name_from(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.") or "model"
    return stem[:64]


def _model_from_state(state: dict[str, torch.Tensor], n_classes: int, label: str) -> BBNN:
    from .bbnn import BBNN

    model = BBNN(n_classes)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelStoreError(f"{label}: weights do not fit a BBNN with {n_classes} classes ({str(e)[:200]})") from None
    return model.eval()


def _musicnn_from_state(state: dict[str, torch.Tensor], n_classes: int, label: str) -> MusiCNN:
    from .musicnn import musicnn_from_state

    try:
        return musicnn_from_state(state, n_classes)
    except (RuntimeError, KeyError) as e:
        raise ModelStoreError(f"{label}: weights do not fit MusiCNN ({str(e)[:200]})") from None


def _read_checkpoint(path: Path) -> tuple[BBNN | MusiCNN, Manifest, str | None]:
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
    if manifest.kind == KIND_MUSICNN:
        return _musicnn_from_state(state, len(manifest.classes), path.name), manifest, meta.get("license")
    return _model_from_state(state, len(manifest.classes), path.name), manifest, None
