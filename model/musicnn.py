"""MusiCNN (MSD_musicnn of the `musicnn` 0.1.0 package) in PyTorch, with its log-mel front end.

Pons and Serra, "musicnn: pre-trained convolutional neural networks for music audio tagging"
(ISMIR 2019 LBD): a musically motivated CNN trained on the Million Song Dataset's 50 most common
last.fm tags. This is a port of `musicnn/models.py` (`build_musicnn(num_filt_midend=64,
num_units_backend=200)`) in inference mode; the weights come from the authors' TensorFlow
checkpoint (see `musicnn_weights.py`).
    Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019. Code developed by Jordi
    Pons. ISC licence: permission to use, copy, modify, and/or distribute this software for any
    purpose with or without fee is hereby granted, provided that the above copyright notice and
    this permission notice appear in all copies (full text: MUSICNN_LICENSE below).

Input protocol: 16 kHz mono -> power mel spectrogram (n_fft 512, hop 256, 96 mels, Slaney mel
filters, no centring) -> log10(1 + 10000 * mel) in float32 -> non-overlapping patches of 187
frames (3 s). Two defects of the stock `musicnn.extractor` are deliberately not copied: it casts
the mel to float16 before the log (loud audio overflows to inf and the outputs to NaN), and its
`penultimate` feature repeats the first patch for every patch.

Layout: TensorFlow's NHWC tensors (batch, time, mel, channel) become NCHW (batch, channel,
time, mel); where TF convolves a (time, features) map with a kernel as wide as the features, a
Conv1d over time with the features as channels does the same. Batch norms use TF's epsilon 1e-3.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .mel import PowerMel

BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default

MSD_LABELS = [
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient",
    "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening",
    "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad",
    "House", "happy",
]

MUSICNN_LICENSE = """\
Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019. Code developed by Jordi Pons (www.jordipons.me).

Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee is hereby \
granted, provided that the above copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS SOFTWARE INCLUDING ALL \
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT, \
INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN \
AN ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR \
PERFORMANCE OF THIS SOFTWARE.
"""

OUTPUT_KEYS = ("taggram", "dense", "penultimate", "max_pool", "mean_pool")


@dataclass(frozen=True)
class MusicnnSpec:
    """The input protocol; stored in the MusiCNN manifest."""

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    patch_frames: int = 187
    log_scale: float = 10000.0

    @property
    def patch_samples(self) -> int:
        """Samples under one patch (3.008 s)."""
        return self.n_fft + (self.patch_frames - 1) * self.hop_length

    @property
    def patch_hop_samples(self) -> int:
        """Distance between the starts of consecutive non-overlapping patches (2.992 s)."""
        return self.patch_frames * self.hop_length

    def n_patches(self, n_samples: int) -> int:
        """Whole non-overlapping patches in `n_samples` of audio."""
        n_frames = 1 + (n_samples - self.n_fft) // self.hop_length if n_samples >= self.n_fft else 0
        return n_frames // self.patch_frames

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "MusicnnSpec":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class MusicnnFrontEnd(PowerMel):
    """Waves (N, samples) at 16 kHz -> log-compressed mel (N, frames, 96), float32, as librosa computes it."""

    def __init__(self, spec: MusicnnSpec = MusicnnSpec()) -> None:
        super().__init__(spec.sample_rate, spec.n_fft, spec.hop_length, spec.n_mels)
        self.spec = spec

    @torch.no_grad()
    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        mel = self.power_mel(waves.float())  # float32 throughout: no overflow
        return torch.log10(1.0 + self.spec.log_scale * mel).transpose(1, 2).contiguous()


def to_patches(logmel: torch.Tensor, patch_frames: int = 187) -> torch.Tensor:
    """(frames, mels) -> (P, patch_frames, mels): the non-overlapping patches from the first frame; the rest is dropped."""
    n = logmel.shape[0] // patch_frames
    return logmel[: n * patch_frames].reshape(n, patch_frames, logmel.shape[1])


def _bn(n: int) -> nn.Module:
    return nn.BatchNorm2d(n, eps=BN_EPS)


def _bn1(n: int) -> nn.Module:
    return nn.BatchNorm1d(n, eps=BN_EPS)


class _Timbral(nn.Module):
    """Conv over (7 frames x a band of mels), relu, batch norm, max over the remaining mel axis."""

    def __init__(self, n_mels_kernel: int, filters: int = 204) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, filters, (7, n_mels_kernel))
        self.bn = _bn(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, 1, T + 6, mels), time already padded 3+3
        return self.bn(F.relu(self.conv(x))).amax(dim=3)  # (N, filters, T)


class _Temporal(nn.Module):
    """Conv over (k frames x 1 mel) with TF 'same' padding, relu, batch norm, max over mels."""

    def __init__(self, frames: int, filters: int = 51) -> None:
        super().__init__()
        self.frames = frames
        self.conv = nn.Conv2d(1, filters, (frames, 1))
        self.bn = _bn(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, 1, T, mels)
        before = (self.frames - 1) // 2  # TF 'same': the odd extra row of padding goes after
        x = F.pad(x, (0, 0, before, self.frames - 1 - before))
        return self.bn(F.relu(self.conv(x))).amax(dim=3)  # (N, filters, T)


class _MidConv(nn.Module):
    """Conv over 7 frames spanning all features (TF: kernel [7, width], 'valid', time padded 3+3), relu, batch norm."""

    def __init__(self, in_features: int, filters: int = 64) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_features, filters, 7, padding=3)
        self.bn = _bn1(filters)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, features, T) -> (N, filters, T)
        return self.bn(F.relu(self.conv(x)))


@dataclass
class MusicnnOutput:
    """Per patch: logits (N, 50), dense (N, 200, before its relu), penultimate (N, 200), max_pool/mean_pool (N, 753)."""

    logits: torch.Tensor
    dense: torch.Tensor
    penultimate: torch.Tensor
    max_pool: torch.Tensor
    mean_pool: torch.Tensor

    @property
    def taggram(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    def to_numpy(self) -> dict[str, np.ndarray]:
        """The five outputs of OUTPUT_KEYS as float32 arrays."""
        return {k: getattr(self, k).detach().float().cpu().numpy() for k in OUTPUT_KEYS}


class MusiCNN(nn.Module):
    """MSD_musicnn: patches (N, 187, 96) of log-mel -> MusicnnOutput. Evaluation mode only (dropout is identity)."""

    FRONT_FEATURES = 204 + 204 + 3 * 51  # 561
    MID_FEATURES = FRONT_FEATURES + 3 * 64  # 753

    def __init__(self, n_classes: int = 50, n_mels: int = 96) -> None:
        super().__init__()
        self.bn_input = _bn(1)
        self.timbral = nn.ModuleList([_Timbral(int(0.4 * n_mels)), _Timbral(int(0.7 * n_mels))])
        self.temporal = nn.ModuleList([_Temporal(128), _Temporal(64), _Temporal(32)])
        self.mid = nn.ModuleList([_MidConv(self.FRONT_FEATURES), _MidConv(64), _MidConv(64)])
        self.bn_pool = _bn1(2 * self.MID_FEATURES)
        self.dense = nn.Linear(2 * self.MID_FEATURES, 200)
        self.bn_dense = _bn1(200)
        self.classifier = nn.Linear(200, n_classes)

    def front(self, patches: torch.Tensor) -> torch.Tensor:
        x = self.bn_input(patches.unsqueeze(1))  # (N, 1, T, mels)
        padded = F.pad(x, (0, 0, 3, 3))
        maps = [block(padded) for block in self.timbral] + [block(x) for block in self.temporal]
        return torch.cat(maps, dim=1)  # (N, 561, T)

    def forward(self, patches: torch.Tensor) -> MusicnnOutput:
        front = self.front(patches)
        c1 = self.mid[0](front)
        c2 = self.mid[1](c1) + c1
        c3 = self.mid[2](c2) + c2
        features = torch.cat([front, c1, c2, c3], dim=1)  # (N, 753, T)
        max_pool, mean_pool = features.amax(dim=2), features.mean(dim=2)
        # TF concatenates (N, 753, 1) maps on the last axis and flattens: max and mean interleave per feature.
        pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)
        dense = self.dense(self.bn_pool(pooled))
        penultimate = self.bn_dense(F.relu(dense))
        return MusicnnOutput(self.classifier(penultimate), dense, penultimate, max_pool, mean_pool)


# -- weights from the authors' TensorFlow checkpoint

# TF variable scope (creation order in models.py) -> our module path
_BN_NAMES = {
    "batch_normalization": "bn_input",
    "batch_normalization_1": "timbral.0.bn", "batch_normalization_2": "timbral.1.bn",
    "batch_normalization_3": "temporal.0.bn", "batch_normalization_4": "temporal.1.bn",
    "batch_normalization_5": "temporal.2.bn",
    "batch_normalization_6": "mid.0.bn", "batch_normalization_7": "mid.1.bn", "batch_normalization_8": "mid.2.bn",
    "batch_normalization_9": "bn_pool", "batch_normalization_10": "bn_dense",
}
_CONV2D_NAMES = {"conv2d": "timbral.0.conv", "conv2d_1": "timbral.1.conv", "conv2d_2": "temporal.0.conv",
                 "conv2d_3": "temporal.1.conv", "conv2d_4": "temporal.2.conv"}
_CONV1D_NAMES = {"conv2d_5": "mid.0.conv", "conv2d_6": "mid.1.conv", "conv2d_7": "mid.2.conv"}
_DENSE_NAMES = {"dense": "dense", "dense_1": "classifier"}
_BN_PARTS = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def tf_variable_names() -> list[str]:
    """The checkpoint variables MusiCNN needs (optimizer slots like .../Adam are not)."""
    names = [f"{scope}/{part}" for scope in _BN_NAMES for part in _BN_PARTS]
    for table in (_CONV2D_NAMES, _CONV1D_NAMES, _DENSE_NAMES):
        names += [f"{scope}/{part}" for scope in table for part in ("kernel", "bias")]
    return names


def state_dict_from_tf(tensors: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Map the checkpoint's variables onto MusiCNN's state dict (kernels transposed to torch's layout)."""
    state: dict[str, torch.Tensor] = {}
    for scope, ours in _BN_NAMES.items():
        for part, torch_part in _BN_PARTS.items():
            state[f"{ours}.{torch_part}"] = torch.from_numpy(np.asarray(tensors[f"{scope}/{part}"], np.float32))
        state[f"{ours}.num_batches_tracked"] = torch.tensor(0)
    for scope, ours in _CONV2D_NAMES.items():  # TF (kh, kw, in, out) -> torch (out, in, kh, kw)
        state[f"{ours}.weight"] = torch.from_numpy(np.ascontiguousarray(tensors[f"{scope}/kernel"].transpose(3, 2, 0, 1)))
        state[f"{ours}.bias"] = torch.from_numpy(tensors[f"{scope}/bias"].copy())
    for scope, ours in _CONV1D_NAMES.items():  # TF (7, features, 1, out) -> torch Conv1d (out, features, 7)
        state[f"{ours}.weight"] = torch.from_numpy(np.ascontiguousarray(tensors[f"{scope}/kernel"][:, :, 0, :].transpose(2, 1, 0)))
        state[f"{ours}.bias"] = torch.from_numpy(tensors[f"{scope}/bias"].copy())
    for scope, ours in _DENSE_NAMES.items():  # TF (in, out) -> torch (out, in)
        state[f"{ours}.weight"] = torch.from_numpy(np.ascontiguousarray(tensors[f"{scope}/kernel"].T))
        state[f"{ours}.bias"] = torch.from_numpy(tensors[f"{scope}/bias"].copy())
    return state


def musicnn_from_state(state: dict[str, torch.Tensor], n_classes: int = 50) -> MusiCNN:
    """A MusiCNN in eval mode with these weights; raises RuntimeError/KeyError when they do not fit."""
    model = MusiCNN(n_classes)
    model.load_state_dict(state, strict=True)
    return model.eval()


# -- running it


@torch.no_grad()
def run_patches(model: MusiCNN, patches: np.ndarray | torch.Tensor, batch_size: int = 32,
                device: torch.device | str | None = None) -> dict[str, np.ndarray]:
    """Per-patch outputs {taggram, dense, penultimate, max_pool, mean_pool} for (P, 187, 96) patches."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    x = torch.as_tensor(patches, dtype=torch.float32)
    parts = [model(x[i:i + batch_size].to(device)).to_numpy() for i in range(0, len(x), batch_size)]
    if not parts:
        return {k: np.zeros((0, _width(model, k)), np.float32) for k in OUTPUT_KEYS}
    return {k: np.concatenate([p[k] for p in parts]) for k in OUTPUT_KEYS}


def _width(model: MusiCNN, key: str) -> int:
    return {"taggram": model.classifier.out_features, "dense": 200, "penultimate": 200,
            "max_pool": MusiCNN.MID_FEATURES, "mean_pool": MusiCNN.MID_FEATURES}[key]


@torch.no_grad()
def audio_patches(audio16k: np.ndarray, front_end: MusicnnFrontEnd | None = None) -> np.ndarray:
    """Mono 16 kHz audio -> its non-overlapping (P, 187, 96) log-mel patches (P = 0 under 3 s)."""
    front_end = front_end or MusicnnFrontEnd()
    spec = front_end.spec
    if len(audio16k) < spec.patch_samples:
        return np.zeros((0, spec.patch_frames, spec.n_mels), np.float32)
    logmel = front_end(torch.as_tensor(np.ascontiguousarray(audio16k, np.float32))[None])[0]
    return to_patches(logmel, spec.patch_frames).numpy()


def analyse_audio(model: MusiCNN, audio16k: np.ndarray, front_end: MusicnnFrontEnd | None = None,
                  batch_size: int = 32) -> dict[str, np.ndarray]:
    """Per-patch outputs for mono 16 kHz audio (all of its whole non-overlapping patches)."""
    return run_patches(model, audio_patches(audio16k, front_end), batch_size=batch_size)
