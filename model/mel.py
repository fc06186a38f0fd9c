"""Log-mel front end of SPEC.md in torch, so it runs batched on CPU or CUDA.

`LogMel` turns fixed-length waveforms (N, 661,794) at 22,050 Hz into (N, 647, 128) decibel
spectrograms, time x mel: librosa's `melspectrogram(n_fft=2048, hop_length=1024)` followed by
`power_to_db` (ref 1, amin 1e-10, top_db 80 per clip). The mel filter bank comes from librosa.
"""

from __future__ import annotations

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


class LogMel(nn.Module):
    def __init__(self, spec: MelSpec = MelSpec()) -> None:
        super().__init__()
        import librosa

        self.spec = spec
        fb = librosa.filters.mel(sr=spec.sample_rate, n_fft=spec.n_fft, n_mels=spec.n_mels)
        self.register_buffer("mel_fb", torch.from_numpy(fb.astype(np.float32)), persistent=False)
        self.register_buffer("window", torch.hann_window(spec.n_fft, periodic=True), persistent=False)

    @torch.no_grad()
    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        """(N, samples) float32 -> (N, frames, n_mels) dB."""
        s = self.spec
        pad = s.n_fft // 2
        x = torch.nn.functional.pad(waves.float().unsqueeze(1), (pad, pad), mode=s.pad_mode).squeeze(1)
        stft = torch.stft(x, s.n_fft, s.hop_length, window=self.window, center=False, return_complex=True)
        power = stft.real.square() + stft.imag.square()  # (N, freq, frames)
        mel = torch.matmul(self.mel_fb, power)  # (N, mels, frames)
        return power_to_db(mel, s.amin, s.top_db).transpose(1, 2).contiguous()
