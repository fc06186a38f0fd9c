"""On-the-fly spectrogram augmentation for training batches only (applied after the split).

SpecAugment-style: time masks, frequency masks, time warping and random dropout of cells, on a
batch of log-mel clips (N, T, F) in dB. Masked cells take each clip's own minimum (its silence
floor), not zero, since the input is absolute dB. All randomness comes from the generator passed
in, so a seeded run is repeatable and resumable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    time_masks: int = 2
    time_mask_frac: float = 0.1  # widest time mask, as a fraction of the frames
    freq_masks: int = 2
    freq_mask_bins: int = 16
    warp_frac: float = 0.1  # largest shift of the warp point, as a fraction of the frames
    cell_dropout: float = 0.01

    def to_dict(self) -> dict:
        return asdict(self)


def _masks(x: torch.Tensor, n: int, width: int, dim: int, floor: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    size = x.shape[dim]
    if width < 1 or n < 1:
        return x
    pos = torch.arange(size).view(*([1] * dim), size, *([1] * (x.dim() - dim - 1)))
    for _ in range(n):
        w = torch.randint(0, width + 1, (x.shape[0],), generator=g)
        start = (torch.rand(x.shape[0], generator=g) * (size - w + 1).clamp(min=1)).long()
        shape = (-1,) + (1,) * (x.dim() - 1)
        hit = (pos >= start.view(shape)) & (pos < (start + w).view(shape))
        x = torch.where(hit, floor, x)
    return x


def warp_draw(t: int, max_shift: int, g: torch.Generator) -> tuple[int, int]:
    """(centre, point) of one clip's warp: the frame at `centre` moves to `point`. Both lie in
    [1, t - 1] whatever the draw, so each side of the warp keeps at least one frame."""
    centre = int(torch.randint(max_shift, t - max_shift, (1,), generator=g))
    shift = int(torch.randint(-max_shift, max_shift + 1, (1,), generator=g))
    centre = min(max(centre, 1), t - 1)
    return centre, min(max(centre + shift, 1), t - 1)


def warp_clip(clip: torch.Tensor, centre: int, point: int) -> torch.Tensor:
    """(T, F) -> (T, F): frames [0, centre) resampled onto [0, point), the rest onto [point, T)."""
    t = clip.shape[0]
    if not (1 <= centre < t and 1 <= point < t):
        raise ValueError(f"warp centre {centre} and point {point} must lie in [1, {t - 1}]")
    left = F.interpolate(clip[:centre].T[None], size=point, mode="linear", align_corners=False)[0].T
    right = F.interpolate(clip[centre:].T[None], size=t - point, mode="linear", align_corners=False)[0].T
    return torch.cat([left, right])


def time_warp(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """Stretch the clip on one side of a random point and squeeze it on the other (per clip)."""
    n, t, f = x.shape
    if max_shift < 1 or t < 4 * max_shift:
        return x
    out = torch.empty_like(x)
    for i in range(n):
        out[i] = warp_clip(x[i], *warp_draw(t, max_shift, g))
    return out


def augment(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """x: (N, T, F) float on CPU. Returns a new tensor."""
    n, t, f = x.shape
    floor = x.flatten(1).amin(dim=1).view(n, 1, 1)
    x = time_warp(x, int(cfg.warp_frac * t), g)
    x = _masks(x, cfg.time_masks, int(cfg.time_mask_frac * t), 1, floor, g)
    x = _masks(x, cfg.freq_masks, cfg.freq_mask_bins, 2, floor, g)
    if cfg.cell_dropout > 0:
        drop = torch.rand(x.shape, generator=g) < cfg.cell_dropout
        x = torch.where(drop, floor, x)
    return x
