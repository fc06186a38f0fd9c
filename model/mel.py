"""Log-mel front end of SPEC.md in torch, so it runs batched on CPU or CUDA.

`LogMel` turns fixed-length waveforms (N, 661,794) at 22,050 Hz into (N, 647, 128) decibel
spectrograms, time x mel: librosa's `melspectrogram(n_fft=2048, hop_length=1024)` followed by
`power_to_db` (ref 1, amin 1e-10, top_db 80 per clip). The mel filter bank comes from librosa.

`log_mels(path, starts, spec)` is THE decode -> log-mel path: the scan's workers, the training
mel cache and `predict` all take their network input from it, a chunk of windows at a time.
"""

from __future__ import annotations

import os
from typing import Iterator

import numpy as np
import torch
from torch import nn

from .melspec import MelSpec


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad at the end or cut to exactly `length` samples (last axis)."""
    n = samples.shape[-1]
    if n >= length:
        return samples[..., :length]
    pad = [(0, 0)] * (samples.ndim - 1) + [(0, length - n)]
    return np.pad(samples, pad)


def power_to_db(power: torch.Tensor, amin: float, top_db: float | None) -> torch.Tensor:
    """librosa.power_to_db with ref=1, floored per clip (all dims but the first) at max - top_db."""
    db = 10.0 * torch.log10(torch.clamp(power, min=amin))
    if top_db is not None:
        peak = db.flatten(1).amax(dim=1).view(-1, *([1] * (db.dim() - 1)))
        db = torch.maximum(db, peak - top_db)
    return db


class PowerMel(nn.Module):
    """Power mel spectrogram, as librosa computes it: a periodic-Hann STFT without centring (a
    front end pads first if it wants to), |.|^2, Slaney mel filters from librosa. BBNN's and
    MusiCNN's front ends differ only in their parameters, padding and log."""

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int) -> None:
        super().__init__()
        import librosa

        self.n_fft, self.hop_length = n_fft, hop_length
        fb = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)
        self.register_buffer("mel_fb", torch.from_numpy(fb.astype(np.float32)), persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    def power_mel(self, waves: torch.Tensor) -> torch.Tensor:
        """(N, samples) float32 -> (N, mels, frames), float32 throughout."""
        stft = torch.stft(waves, self.n_fft, self.hop_length, window=self.window, center=False, return_complex=True)
        power = stft.real.square() + stft.imag.square()  # (N, freq, frames)
        return torch.matmul(self.mel_fb, power)


class LogMel(PowerMel):
    def __init__(self, spec: MelSpec = MelSpec()) -> None:
        super().__init__(spec.sample_rate, spec.n_fft, spec.hop_length, spec.n_mels)
        self.spec = spec

    @torch.no_grad()
    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        """(N, samples) float32 -> (N, frames, n_mels) dB."""
        s = self.spec
        pad = s.n_fft // 2
        x = torch.nn.functional.pad(waves.float().unsqueeze(1), (pad, pad), mode=s.pad_mode).squeeze(1)
        return power_to_db(self.power_mel(x), s.amin, s.top_db).transpose(1, 2).contiguous()


class LogMelFrontEnd:
    """BBNN's front end as the scan's workers run it: waves (N, clip_samples) at the spec's rate
    -> float32 log-mels (N, frames, mels), on the CPU, one thread."""

    kind = "bbnn-logmel"

    def __init__(self, spec: MelSpec) -> None:
        self.spec = spec
        self.sample_rate = spec.sample_rate
        self._module: LogMel | None = None

    def __call__(self, waves: np.ndarray) -> np.ndarray:
        if self._module is None:
            self._module = LogMel(self.spec)
        with torch.inference_mode():
            return self._module(torch.from_numpy(np.ascontiguousarray(waves, dtype=np.float32))).numpy()


def log_mels(path: str | os.PathLike, starts: list[float], spec: MelSpec = MelSpec(),
             front_end: LogMelFrontEnd | None = None, chunk: int | None = None) -> Iterator[tuple[list[float], np.ndarray]]:
    """Decode the windows at `starts` and turn them into log-mels, a chunk of windows at a time:
    yields (starts kept, mels (n, frames, mels)). Raises model.audio.AudioError as stream_spans
    does (checks that need the whole file come after the last chunk)."""
    from .audio import CHUNK_WINDOWS, stream_spans

    front_end = front_end or LogMelFrontEnd(spec)
    rate = spec.sample_rate
    for part in stream_spans(path, starts, spec.clip_samples / rate, (rate,), chunk or CHUNK_WINDOWS):
        yield part.starts, front_end(part.waves[rate])
