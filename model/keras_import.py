"""Read the BBNN authors' Keras 2.0.6 HDF5 models with h5py (no TensorFlow) into `model.bbnn.BBNN`.

The Keras layer names are arbitrary counters (conv2d_121, ...), so the mapping is found by
walking the saved functional graph backwards from the Dense output, branch by branch, exactly
mirroring the PyTorch module tree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .bbnn import BBNN, N_BLOCKS

GTZAN_CLASSES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
EXTBALLROOM_CLASSES = [
    "Chacha", "Foxtrot", "Jive", "Pasodoble", "Quickstep", "Rumba", "Salsa", "Samba",
    "Slowwaltz", "Tango", "Viennesewaltz", "Waltz", "Wcswing",
]
CLASS_SETS = {10: GTZAN_CLASSES, 13: EXTBALLROOM_CLASSES}


class KerasImportError(Exception):
    """The file is not a readable BBNN Keras model."""


@dataclass
class _Layer:
    name: str
    kind: str
    inputs: list[str]


class _Graph:
    def __init__(self, config: dict) -> None:
        self.layers: dict[str, _Layer] = {}
        for layer in config["config"]["layers"]:
            inputs: list[str] = []
            for node in layer.get("inbound_nodes") or []:
                inputs.extend(item[0] for item in node)
            self.layers[layer["name"]] = _Layer(layer["name"], layer["class_name"], inputs)

    def only_input(self, name: str, kind: str | None = None) -> str:
        layer = self.layers[name]
        if len(layer.inputs) != 1:
            raise KerasImportError(f"layer {name} has {len(layer.inputs)} inputs, expected 1")
        src = layer.inputs[0]
        if kind and self.layers[src].kind != kind:
            raise KerasImportError(f"expected {kind} before {name}, found {self.layers[src].kind}")
        return src

    def expect(self, name: str, kind: str) -> str:
        if self.layers[name].kind != kind:
            raise KerasImportError(f"expected {kind} at {name}, found {self.layers[name].kind}")
        return name


def _trace_brc(g: _Graph, conv: str) -> tuple[str, str, str]:
    """conv <- Activation <- BatchNormalization <- source: returns (bn, conv, source)."""
    g.expect(conv, "Conv2D")
    act = g.only_input(conv, "Activation")
    bn = g.only_input(act, "BatchNormalization")
    return bn, conv, g.only_input(bn)


def _map_layers(g: _Graph) -> dict[str, str]:
    """Torch module prefix -> Keras layer name."""
    out = [n for n, layer in g.layers.items() if layer.kind == "Dense"]
    if len(out) != 1:
        raise KerasImportError("expected exactly one Dense layer")
    m: dict[str, str] = {"classifier": out[0]}
    gap = g.only_input(out[0], "GlobalAveragePooling2D")
    act = g.only_input(gap, "Activation")
    m["head_bn"] = g.only_input(act, "BatchNormalization")
    avg = g.only_input(m["head_bn"], "AveragePooling2D")
    m["transition.bn"], m["transition.conv"], x = _trace_brc(g, g.only_input(avg, "Conv2D"))
    for i in reversed(range(N_BLOCKS)):
        dense = g.layers[g.expect(x, "Concatenate")]
        if len(dense.inputs) != 2:
            raise KerasImportError(f"dense connection {x} should join 2 tensors")
        block_in, incept = dense.inputs
        branches = g.layers[g.expect(incept, "Concatenate")].inputs
        if len(branches) != 4:
            raise KerasImportError(f"inception {incept} should join 4 branches")
        p = f"blocks.{i}"
        m[f"{p}.branch1.bn"], m[f"{p}.branch1.conv"], src = _trace_brc(g, branches[0])
        for j, name in ((1, "branch3"), (2, "branch5")):
            m[f"{p}.{name}.1.bn"], m[f"{p}.{name}.1.conv"], mid = _trace_brc(g, branches[j])
            m[f"{p}.{name}.0.bn"], m[f"{p}.{name}.0.conv"], src_j = _trace_brc(g, mid)
            if src_j != block_in:
                raise KerasImportError(f"branch {name} of block {i} does not read the block input")
        m[f"{p}.branch_pool.bn"], m[f"{p}.branch_pool.conv"], pool = _trace_brc(g, branches[3])
        g.expect(pool, "MaxPooling2D")
        if src != block_in or g.only_input(pool) != block_in:
            raise KerasImportError(f"block {i} branches do not share one input")
        x = block_in
    g.expect(x, "MaxPooling2D")
    act = g.only_input(x, "Activation")
    m["stem_bn"] = g.only_input(act, "BatchNormalization")
    m["stem_conv"] = g.only_input(m["stem_bn"], "Conv2D")
    g.only_input(m["stem_conv"], "InputLayer")
    return m


def _weights(group, layer: str) -> dict[str, np.ndarray]:
    if layer not in group:
        raise KerasImportError(f"no weights stored for layer {layer}")
    g = group[layer]
    names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs.get("weight_names", [])]
    return {n.split("/")[-1].split(":")[0]: np.asarray(g[n]) for n in names}


def read_keras_bbnn(path: str | Path) -> tuple[BBNN, list[str]]:
    """Load an authors' HDF5 file into a BBNN (eval mode). Returns (model, class names)."""
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as e:
        raise KerasImportError(f"{path.name} is not a readable HDF5 file ({e})") from None
    try:
        with f:
            if "model_config" not in f.attrs or "model_weights" not in f:
                raise KerasImportError(f"{path.name} is HDF5 but not a saved Keras model")
            config = f.attrs["model_config"]
            config = json.loads(config.decode() if isinstance(config, bytes) else config)
            mapping = _map_layers(_Graph(config))
            weights = f["model_weights"]
            dense = _weights(weights, mapping["classifier"])
            n_classes = dense["kernel"].shape[1]
            model = BBNN(n_classes)
            state: dict[str, torch.Tensor] = {}
            for prefix, layer in mapping.items():
                w = _weights(weights, layer)
                module = model.get_submodule(prefix)
                if isinstance(module, torch.nn.Conv2d):
                    state[f"{prefix}.weight"] = torch.from_numpy(w["kernel"].transpose(3, 2, 0, 1).copy())
                    state[f"{prefix}.bias"] = torch.from_numpy(w["bias"])
                elif isinstance(module, torch.nn.Linear):
                    state[f"{prefix}.weight"] = torch.from_numpy(w["kernel"].T.copy())
                    state[f"{prefix}.bias"] = torch.from_numpy(w["bias"])
                else:
                    state[f"{prefix}.weight"] = torch.from_numpy(w["gamma"])
                    state[f"{prefix}.bias"] = torch.from_numpy(w["beta"])
                    state[f"{prefix}.running_mean"] = torch.from_numpy(w["moving_mean"])
                    state[f"{prefix}.running_var"] = torch.from_numpy(w["moving_variance"])
    except KerasImportError:
        raise
    except (KeyError, ValueError, OSError, json.JSONDecodeError) as e:
        raise KerasImportError(f"{path.name}: damaged Keras model ({e})") from None
    expected = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    if set(state) != expected:
        raise KerasImportError(f"{path.name}: weights do not cover the BBNN layers")
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise KerasImportError(f"{path.name}: weight shapes do not match BBNN ({e})") from None
    model.eval()
    classes = CLASS_SETS.get(n_classes, [f"class_{i}" for i in range(n_classes)])
    return model, list(classes)
