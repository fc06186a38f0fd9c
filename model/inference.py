"""Batched BBNN inference over waveforms or log-mels, on the chosen device and precision."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from .bbnn import BBNN, BBNNOutput
from .device import autocast_dtype, cpu_has_native_bf16, pick_device
from .mel import LogMel, MelSpec

log = logging.getLogger(__name__)
# The fixture bound bf16 was first judged by; it moves the authors' fold 5 by 0.0118 on the
# reference clips, so the choice below rests on what a user sees instead (bench/infer.py).
BF16_TOLERANCE = 0.01
# 'auto' on a CPU with native bf16 (AMX / AVX512-BF16) when onnxruntime is not installed.
# Measured with bench/infer.py on real music (32-64 game-music tracks, 3 windows each, the
# authors' GTZAN fold 5): bf16 and bf16-mixed keep the top-1 genre of every window and track and
# 99.4 % of fp32's "more like this" neighbours; bf16-mixed (stem and head in fp32) moves a
# probability by at most 0.020 against bf16's 0.045, at the same speed.
CPU_BF16_AUTO = "bf16-mixed"


@dataclass
class WindowResults:
    probs: np.ndarray  # (N, classes) float32
    embedding: np.ndarray  # (N, 32) penultimate
    dense: np.ndarray  # (N, 416) pooled last dense block


def track_probs(window_probs: np.ndarray) -> np.ndarray:
    """A track's genre probabilities: the mean of its windows'."""
    return np.asarray(window_probs, dtype=np.float32).mean(axis=0)


def _onnx_session(model: BBNN, spec: MelSpec, fallback: bool):
    """BBNN on ONNX Runtime; when 'auto' chose it and the export or the session fails (a partial
    install, an exporter change), None: the caller runs torch instead and says so in the log."""
    from .onnx_runtime import OnnxBBNN

    try:
        return OnnxBBNN(model, spec.n_frames, spec.n_mels)
    except Exception as e:  # noqa: BLE001 - any exporter/runtime failure means "use torch"
        if not fallback:
            raise
        log.warning("ONNX Runtime unavailable (%s: %s); running the model in torch", type(e).__name__, e)
        return None


def auto_precision(device: torch.device) -> str:
    if device.type == "cuda":
        return "fp16"
    if device.type != "cpu":
        return "fp32"
    from . import onnx_runtime

    if onnx_runtime.available():
        return ONNX
    return CPU_BF16_AUTO if cpu_has_native_bf16() else "fp32"


MIXED = "bf16-mixed"
ONNX = "onnx"  # fp32 on ONNX Runtime (model/onnx_runtime.py)
# Which parts of BBNN run in fp32 under MIXED (the rest in bf16); chosen with bench/infer.py.
FP32_PARTS = frozenset({"stem", "head"})


def mixed_forward(model: BBNN, x: torch.Tensor, device_type: str, dtype: torch.dtype,
                  fp32_parts: frozenset[str] = FP32_PARTS) -> BBNNOutput:
    """BBNN.forward with the parts named in fp32_parts ('stem', 'block0'..'block2', 'transition',
    'head') in fp32 and the others under autocast to dtype."""
    def part(name: str):
        return torch.autocast(device_type, dtype=dtype, enabled=name not in fp32_parts)

    with part("stem"):
        x = model.stem_pool(torch.relu(model.stem_bn(model.stem_conv(x))))
    for i, block in enumerate(model.blocks):
        with part(f"block{i}"):
            x = torch.cat([x, block(x).to(x.dtype)], dim=1)
    dense = x.float().mean(dim=(2, 3))
    with part("transition"):
        x = model.transition_pool(model.transition(x))
    with part("head"):
        embedding = torch.relu(model.head_bn(x.float() if "head" in fp32_parts else x)).mean(dim=(2, 3))
        logits = model.classifier(embedding)
    return BBNNOutput(logits, embedding, dense)


class Predictor:
    """Holds a model on a device. precision: 'auto', 'fp32', 'bf16', 'bf16-mixed', 'onnx' or 'fp16'.

    'auto' is fp16 on CUDA; on the CPU, 'onnx' (fp32 on ONNX Runtime, the fastest with outputs
    identical to torch's) when onnxruntime is installed, else CPU_BF16_AUTO on a CPU with native
    bf16 (faster, and it keeps the genres and neighbours a user sees) and fp32 elsewhere (emulated
    bf16 is slower). 'bf16-mixed' keeps the stem and head in fp32; `bf16_deviation` measures bf16's
    largest probability change for any model and input.
    """

    def __init__(self, model: BBNN, spec: MelSpec = MelSpec(), device: str | torch.device | None = None,
                 precision: str = "auto", micro_batch: int | None = None) -> None:
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.spec = spec
        self.model = model.eval().to(self.device)
        self._frontend: LogMel | None = None  # built when mels() is first used (it imports librosa)
        chosen_by_auto = precision == "auto"
        if chosen_by_auto:
            precision = auto_precision(self.device)
        self.precision = precision
        self._onnx = None
        if precision == ONNX:
            if self.device.type != "cpu":
                raise ValueError("precision 'onnx' runs on the CPU only")
            self._onnx = _onnx_session(self.model, spec, fallback=chosen_by_auto)
            if self._onnx is None:
                self.precision = precision = CPU_BF16_AUTO if cpu_has_native_bf16() else "fp32"
        self.channels_last = self.device.type == "cpu"
        if self.channels_last:
            # channels_last is 2.5x faster on x86 CPUs (oneDNN); small batches keep caches warm
            self.model = self.model.to(memory_format=torch.channels_last)
        self.micro_batch = micro_batch or (1 if self.device.type == "cpu" else 64)

    @property
    def frontend(self) -> LogMel:
        if self._frontend is None:
            self._frontend = LogMel(self.spec).to(self.device)
        return self._frontend

    def mels(self, waves: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(waves, dtype=torch.float32).to(self.device)
        return self.frontend(x)

    def _forward(self, mels: torch.Tensor, precision: str) -> tuple[torch.Tensor, ...]:
        if precision == ONNX:
            return tuple(torch.from_numpy(a) for a in self._onnx(mels.numpy()))
        x = mels.unsqueeze(1)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if precision == MIXED:
            out = mixed_forward(self.model, x, self.device.type, torch.bfloat16)
        else:
            dtype = autocast_dtype(self.device, precision)
            with torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                out = self.model(x, return_dense=True)
        return torch.softmax(out.logits.float(), dim=-1), out.embedding.float(), out.dense.float()

    @torch.inference_mode()
    def run_mels(self, mels: np.ndarray | torch.Tensor) -> WindowResults:
        mels = torch.as_tensor(mels, dtype=torch.float32).to(self.device)
        parts = [self._forward(mels[i:i + self.micro_batch], self.precision)
                 for i in range(0, len(mels), self.micro_batch)]
        probs, emb, dense = (torch.cat(p).cpu().numpy() for p in zip(*parts)) if parts else (
            np.zeros((0, self.model.n_classes), np.float32), np.zeros((0, 32), np.float32),
            np.zeros((0, self.model.dense_channels), np.float32))
        return WindowResults(probs, emb, dense)

    @torch.inference_mode()
    def bf16_deviation(self, mels: np.ndarray | torch.Tensor) -> float:
        """Largest change of any probability when these mels run in bf16 instead of fp32."""
        mels = torch.as_tensor(mels, dtype=torch.float32).to(self.device)
        return float((self._forward(mels, "fp32")[0] - self._forward(mels, "bf16")[0]).abs().max())

    def run_waves(self, waves: np.ndarray) -> WindowResults:
        return self.run_mels(self.mels(waves))
