"""MusiCNN beside BBNN: the same decoded windows resampled to 16 kHz -> patches -> batched MusiCNN -> per-track summary.

The scan decodes each span once and resamples it to every model's rate; `PatchFrontEnd` turns
BBNN's 30-s windows at 16 kHz into MusiCNN's 3-s patches (float32 log-mel), all of them or a
subset at the centres of equal parts of the window. `MusicnnPredictor` runs patches in
micro-batches on the chosen device (any leading shape: (P, 187, 96) or (windows, k, 187, 96));
`summarise` pools a track's patches into what the library stores.

Precision ('auto'): fp16 autocast on CUDA, fp32 on the CPU. bf16 (opt-in) stays within 0.0045
of fp32 in every tag probability (penultimate cosine >= 0.9998) on the reference clips, but on
this project's AVX512-BF16 CPU it cost more CPU time per patch than fp32 (0.029 vs 0.024 CPU-s,
one thread), so it is not the default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .device import autocast_dtype, pick_device
from .musicnn import OUTPUT_KEYS, MusiCNN, MusicnnFrontEnd, MusicnnSpec

BF16_TOLERANCE = 0.01


def centres(n_available: int, keep: int | None) -> np.ndarray:
    """Indices of `keep` of `n_available` items, the one at the centre of each of `keep` equal parts
    (all when keep is None or larger): 3 of 10 are 1, 4 and 8, away from both ends."""
    if keep is None or keep >= n_available:
        return np.arange(n_available)
    if keep <= 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.round((np.arange(keep) + 0.5) * n_available / keep - 0.5).astype(int))


class PatchFrontEnd:
    """MusiCNN's front end as the scan's workers run it: BBNN's windows at 16 kHz, (N, samples)
    -> (N, k, 187, 96) float32 patches, k of each window's non-overlapping patches, one at the
    centre of each of k equal parts of it (`keep`; None: all of them). Same shape for every
    window of one length, so windows from many tracks batch together."""

    kind = "musicnn-patches"

    def __init__(self, spec: MusicnnSpec = MusicnnSpec(), keep: int | None = None) -> None:
        self.spec, self.keep = spec, keep
        self.sample_rate = spec.sample_rate
        self._module: MusicnnFrontEnd | None = None

    def to_dict(self) -> dict:
        return {"spec": self.spec.to_dict(), "keep": self.keep}

    @classmethod
    def from_dict(cls, d: dict) -> "PatchFrontEnd":
        return cls(MusicnnSpec.from_dict(d.get("spec", {})), d.get("keep"))

    def chosen(self, window_samples: int) -> np.ndarray:
        """Which of a window's patches are kept (indices)."""
        return centres(self.spec.n_patches(window_samples), self.keep)

    def offsets(self, window_samples: int) -> np.ndarray:
        """Start of each kept patch, seconds from the start of its window."""
        return self.chosen(window_samples) * (self.spec.patch_hop_samples / self.spec.sample_rate)

    @torch.inference_mode()
    def __call__(self, waves: np.ndarray) -> np.ndarray:
        if self._module is None:
            self._module = MusicnnFrontEnd(self.spec)
        s = self.spec
        n = s.n_patches(waves.shape[1])
        if n == 0:
            return np.zeros((len(waves), 0, s.patch_frames, s.n_mels), np.float32)
        first = int(self.chosen(waves.shape[1])[0])
        waves = looped_short_audio(waves, first * s.patch_hop_samples + s.patch_samples)
        used = s.n_fft + (n * s.patch_frames - 1) * s.hop_length  # samples under the whole patches
        logmel = self._module(torch.from_numpy(np.ascontiguousarray(waves[:, :used], dtype=np.float32)))
        patches = logmel[:, : n * s.patch_frames].reshape(len(waves), n, s.patch_frames, s.n_mels)
        return patches[:, self.chosen(waves.shape[1])].contiguous().numpy()


def looped_short_audio(waves: np.ndarray, needed: int) -> np.ndarray:
    """Windows (n, samples) whose audio (up to its last non-zero sample; the rest is the window's
    zero padding) ends before `needed` samples get it repeated to the window's length, so the
    first kept patch of a very short track hears the track, not the padding."""
    out = None
    for i, wave in enumerate(waves):
        if wave[needed - 1:].any():
            continue
        sounding = np.flatnonzero(wave)
        end = int(sounding[-1]) + 1 if len(sounding) else 0
        if 0 < end < needed:
            out = np.array(waves, copy=True) if out is None else out
            out[i] = np.resize(wave[:end], len(wave))
    return waves if out is None else out


@dataclass
class MusicnnTrack:
    """A track as MusiCNN hears it: means over its patches, plus the per-patch tags."""

    tags: np.ndarray  # (50,) mean tag probability
    penultimate: np.ndarray  # (200,) mean
    dense: np.ndarray  # (200,) mean (what AudioMuse-AI stores)
    max_pool: np.ndarray  # (753,) mean over patches of each patch's temporal max
    patch_starts: np.ndarray  # (P,) seconds
    patch_tags: np.ndarray  # (P, 50)


def summarise(outputs: dict[str, np.ndarray], patch_starts: np.ndarray) -> MusicnnTrack:
    """Pool per-patch outputs (P, width) over a track's patches."""
    if len(patch_starts) == 0:
        raise ValueError("a track without MusiCNN patches cannot be summarised")
    mean = {k: outputs[k].astype(np.float32).mean(axis=0) for k in OUTPUT_KEYS}
    return MusicnnTrack(tags=mean["taggram"], penultimate=mean["penultimate"], dense=mean["dense"],
                        max_pool=mean["max_pool"], patch_starts=np.asarray(patch_starts, np.float32),
                        patch_tags=outputs["taggram"].astype(np.float32))


def top_tags(tags: np.ndarray, labels: list[str], n: int = 5) -> list[tuple[str, float]]:
    """The `n` most probable tags, most probable first."""
    order = np.argsort(-np.asarray(tags))[:n]
    return [(labels[i], float(tags[i])) for i in order]


class MusicnnPredictor:
    """Holds MusiCNN on a device. precision: 'auto' (see the module docstring), 'fp32', 'bf16' or 'fp16'."""

    def __init__(self, model: MusiCNN, device: str | torch.device | None = None, precision: str = "auto",
                 micro_batch: int | None = None) -> None:
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.model = model.eval().to(self.device)
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        self.precision = precision
        # On the CPU, small batches measured fastest per patch (4: 0.15 s vs 0.33 s at 1 and 0.21 s at 10, 2 cores).
        self.micro_batch = micro_batch or (4 if self.device.type == "cpu" else 64)

    def _forward(self, patches: torch.Tensor, precision: str) -> dict[str, torch.Tensor]:
        dtype = autocast_dtype(self.device, precision)
        with torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = self.model(patches)
        return {"taggram": out.taggram.float(), **{k: getattr(out, k).float() for k in OUTPUT_KEYS[1:]}}

    @torch.inference_mode()
    def run(self, patches: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        """Per-patch outputs {taggram, dense, penultimate, max_pool, mean_pool} as float32 arrays.

        patches (..., 187, 96): the outputs keep the leading shape, e.g. (windows, k, 50)."""
        x = torch.as_tensor(patches, dtype=torch.float32)
        lead = x.shape[:-2]
        x = x.reshape(-1, *x.shape[-2:])
        parts = [self._forward(x[i:i + self.micro_batch].to(self.device), self.precision)
                 for i in range(0, len(x), self.micro_batch)]
        widths = {"taggram": self.model.classifier.out_features, "dense": 200, "penultimate": 200,
                  "max_pool": MusiCNN.MID_FEATURES, "mean_pool": MusiCNN.MID_FEATURES}
        if not parts:
            return {k: np.zeros((*lead, widths[k]), np.float32) for k in OUTPUT_KEYS}
        return {k: torch.cat([p[k] for p in parts]).cpu().numpy().reshape(*lead, widths[k]) for k in OUTPUT_KEYS}

    @torch.inference_mode()
    def bf16_deviation(self, patches: np.ndarray | torch.Tensor) -> float:
        """Largest change of any tag probability when these patches run in bf16 instead of fp32."""
        x = torch.as_tensor(patches, dtype=torch.float32).to(self.device)
        return float((self._forward(x, "fp32")["taggram"] - self._forward(x, "bf16")["taggram"]).abs().max())
