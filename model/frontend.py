"""Front ends by kind: how a scan worker process rebuilds an ear's front end from plain data.

An ear (a model the scan runs) names its front end as (kind, spec dict); the worker looks the
kind up here, builds it once and calls it on every chunk of windows. A front end takes the
windows resampled to its `sample_rate`, shape (windows, samples), and returns the features its
network eats, one row per window. Registered here (not at run time) because workers are fresh
processes that import only this module.
"""

from __future__ import annotations

import importlib
from typing import Protocol

import numpy as np

# kind -> "module:factory"; the factory takes the spec dict
KINDS = {
    "bbnn-logmel": "model.frontend:_bbnn_logmel",
    "musicnn-patches": "model.frontend:_musicnn_patches",
}


class FrontEnd(Protocol):
    sample_rate: int

    def __call__(self, waves: np.ndarray) -> np.ndarray: ...


def build(kind: str, spec: dict) -> FrontEnd:
    if kind not in KINDS:
        raise ValueError(f"unknown front end {kind!r}")
    module, factory = KINDS[kind].split(":")
    return getattr(importlib.import_module(module), factory)(spec)


def _musicnn_patches(spec: dict) -> FrontEnd:
    from .musicnn_inference import PatchFrontEnd

    return PatchFrontEnd.from_dict(spec)


def _bbnn_logmel(spec: dict) -> FrontEnd:
    from .mel import LogMelFrontEnd, MelSpec

    return LogMelFrontEnd(MelSpec.from_dict(spec))
