"""BBNN on ONNX Runtime's CPU engine: the same network and weights, exported to ONNX in memory.

On the reference CPU it ran 1.7x the windows/s of torch fp32 (channels_last) with identical
genres, neighbours and probabilities (bench/infer.py), so the CPU's 'auto' precision uses it
whenever onnxruntime is installed (`pip install cratedigger[onnx]`). The export takes a second or
two the first time a network is used in a process; nothing is written to disk.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import warnings

import numpy as np
import torch

from .bbnn import BBNN

INPUT = "mels"


def available() -> bool:
    """Both halves are needed: torch's exporter writes the graph with `onnx`, onnxruntime runs it."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))


class _Outputs(torch.nn.Module):
    """BBNN with plain tensor outputs (probabilities, embedding, dense), as the export needs."""

    def __init__(self, model: BBNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.model(x, return_dense=True)
        return torch.softmax(out.logits, dim=-1), out.embedding, out.dense


_exported: dict[tuple, bytes] = {}  # one export per network and input size in a process


def export(model: BBNN, frames: int, mels: int) -> bytes:
    """The model as an ONNX graph taking (N, 1, frames, mels) float32."""
    digest = hashlib.sha1()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    key = (digest.hexdigest(), frames, mels)
    if key not in _exported:
        _exported.clear()
        _exported[key] = _export(model, frames, mels)
    return _exported[key]


def _export(model: BBNN, frames: int, mels: int) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter announces its own deprecation
        # the wrapper itself in eval mode: the exporter puts the module's mode back as it found it
        # when done, and a fresh wrapper (training) would leave the caller's model training
        torch.onnx.export(_Outputs(model.float()).eval(), (torch.zeros(1, 1, frames, mels),), buffer, dynamo=False,
                          input_names=[INPUT], output_names=["probs", "embedding", "dense"],
                          dynamic_axes={INPUT: {0: "n"}}, opset_version=17)
    return buffer.getvalue()


class OnnxBBNN:
    """Runs (N, frames, mels) log-mels through ONNX Runtime: (probs, embedding, dense) float32."""

    def __init__(self, model: BBNN, frames: int, mels: int, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(export(model, frames, mels), options, providers=["CPUExecutionProvider"])

    def __call__(self, mels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(mels, dtype=np.float32)[:, None]
        probs, embedding, dense = self.session.run(None, {INPUT: x})
        return probs, embedding, dense
