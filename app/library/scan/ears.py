"""Ears: the models a scan runs over every track, each behind the same small interface.

An ear has a name (its label), a key (the weights' digest: what analyses are stored under), a
front end that worker processes build from plain data (model.frontend), a batch size, an
`infer` step over a batch of windows from any tracks, and a `store` step that writes one
track's windows. The scan decodes each span once, resamples it to each ear's front-end rate,
and feeds every ear; adding a model means adding an Ear here and its front end kind in
model/frontend.py (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np


class Ear(Protocol):
    manifest: object  # what Library.ensure_model records (name, classes, source, weights_sha256)
    name: str  # the model's name in the store (a label)
    key: str  # analyses are stored under this: the weights' sha256
    front_end: tuple[str, dict]  # (kind, spec) for model.frontend.build in the workers
    clip_seconds: float  # the span length it wants (the scan's windows follow the first ear)
    batch_windows: int  # windows per infer() call
    per_window: bool  # a row without every window's embedding (older versions) is heard again

    def infer(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Per-window outputs of a batch: every array has one row per window, float32."""

    def store(self, library, track_id: int, starts: list[float], outputs: dict[str, np.ndarray],
              seconds: float) -> None:
        """Write one track's analysis (outputs concatenated over its windows, all finite)."""


class LoadedEar:
    """What the ears share: the manifest, the weights loaded (and verified) only when the network
    is first needed, and a batch size that follows the device. A subclass says how a loaded model
    becomes its predictor (`_predictor_for`) and how many windows a GPU batch takes."""

    gpu_batch_windows = 64
    # vectors.py fits discriminant axes on every window's vectors: a row stored before they were
    # kept (schema 5) is heard again by its ear on the next scan
    per_window = True

    def __init__(self, manifest, load, device: str | None, precision: str, batch_windows: int | None) -> None:
        self.manifest = manifest
        self.name = manifest.name
        self.key = manifest.key
        self._load, self._device, self._precision = load, device, precision
        self._predictor = None
        self._batch = batch_windows

    def _predictor_for(self, model):
        raise NotImplementedError

    @property
    def predictor(self):
        """The network, loaded (and its weights verified) when first needed."""
        if self._predictor is None:
            model, _ = self._load(self.name)
            self._predictor = self._predictor_for(model)
        return self._predictor

    @property
    def on_cpu(self) -> bool:
        return self.predictor.device.type == "cpu"

    @property
    def batch_windows(self) -> int:
        return self._batch or (1 if self.on_cpu else self.gpu_batch_windows)


class BBNNEar(LoadedEar):
    """The genre network: log-mel front end, BBNN inference, the `analyses` row."""

    def __init__(self, manifest, load, device: str | None = None, precision: str = "auto",
                 batch_windows: int | None = None) -> None:
        super().__init__(manifest, load, device, precision, batch_windows)
        self.front_end = ("bbnn-logmel", manifest.spec.to_dict())
        self.clip_seconds = manifest.spec.clip_seconds

    def _predictor_for(self, model):
        from model.inference import Predictor

        return Predictor(model, self.manifest.spec, device=self._device, precision=self._precision)

    def infer(self, features: np.ndarray) -> dict[str, np.ndarray]:
        out = self.predictor.run_mels(features)
        return {"probs": out.probs, "embedding": out.embedding, "dense": out.dense}

    def store(self, library, track_id: int, starts: list[float], outputs: dict[str, np.ndarray],
              seconds: float) -> None:
        library.save_analysis(track_id, self.key, starts, outputs["probs"], outputs["embedding"],
                              outputs["dense"], seconds, classes=self.manifest.classes, window_dense=True)


def bbnn_ear(store, name: str | None, device: str | None = None, precision: str = "auto",
             batch_windows: int | None = None) -> BBNNEar:
    """The store's model (the active one when name is None) as an ear. A manifest from before
    weight digests is upgraded by loading it once, so its analyses get the right key."""
    from model.store import ModelStoreError

    name = name or store.active_name()
    if not name:
        raise ModelStoreError("no model is active: run 'cratedigger model fetch' or 'cratedigger model import FILE'")
    manifest = store.manifest(name)
    if manifest.weights_sha256 is None:
        manifest = store.load(name)[1]
    return BBNNEar(manifest, store.load, device, precision, batch_windows)


def finite(outputs: dict[str, np.ndarray]) -> bool:
    return all(np.isfinite(a).all() for a in outputs.values())


def default_threads(n_workers: int, passive_omp: bool) -> int:
    """Inference threads on the CPU: every core when OpenMP waits passively (the readers are
    idle most of the time), else the cores the readers leave."""
    cores = os.cpu_count() or 2
    return cores if passive_omp else max(1, cores - n_workers)
