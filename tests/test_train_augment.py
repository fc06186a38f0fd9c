"""Augmentation cannot fail on any draw: the warp point is clamped, every edge draw is tried."""

from __future__ import annotations

import pytest
import torch

from model.train.augment import AugmentConfig, augment, time_warp, warp_clip, warp_draw


def _clip(t: int, f: int = 3) -> torch.Tensor:
    return torch.arange(t * f, dtype=torch.float32).view(t, f)


@pytest.mark.parametrize("t", [2, 3, 4, 5, 8, 17, 64])
def test_every_centre_and_point_in_range_warps(t):
    clip = _clip(t)
    for centre in range(1, t):
        for point in range(1, t):
            out = warp_clip(clip, centre, point)
            assert out.shape == clip.shape and torch.isfinite(out).all()
            assert clip.min() - 1e-3 <= out.min() and out.max() <= clip.max() + 1e-3  # interpolation only


def test_out_of_range_warp_is_refused_not_crashing_inside_torch():
    with pytest.raises(ValueError):
        warp_clip(_clip(8), 3, 0)


def test_draws_stay_inside_for_every_size_and_shift(monkeypatch):
    """The draw that used to crash: centre at its lowest and shift at its most negative gives
    point 0 (and at the other end, t). Force the extreme draws of torch.randint."""
    import model.train.augment as aug

    for pick in ("low", "high"):
        def extreme(low, high, size, generator=None):
            return torch.tensor([low if pick == "low" else high - 1])

        monkeypatch.setattr(aug.torch, "randint", extreme)
        for t in range(4, 80):
            for max_shift in range(1, t // 4 + 1):
                centre, point = warp_draw(t, max_shift, torch.Generator())
                assert 1 <= centre <= t - 1 and 1 <= point <= t - 1
                assert warp_clip(_clip(t, 2), centre, point).shape == (t, 2)
                assert time_warp(_clip(t, 2)[None], max_shift, torch.Generator()).shape == (1, t, 2)
    monkeypatch.undo()


@pytest.mark.parametrize("t,f", [(1, 1), (2, 5), (4, 4), (7, 128), (40, 16), (647, 128)])
def test_augment_survives_many_seeds_and_tiny_clips(t, f):
    cfg = AugmentConfig(warp_frac=0.25, time_mask_frac=0.5, freq_mask_bins=64, cell_dropout=0.1)
    x = torch.randn(3, t, f) * 10 - 40
    seeds = range(200) if t * f < 5000 else range(5)
    for seed in seeds:
        out = augment(x, cfg, torch.Generator().manual_seed(seed))
        assert out.shape == x.shape and torch.isfinite(out).all()
        assert out.min() >= x.amin(dim=(1, 2)).min() - 1e-4  # masks use each clip's floor, warps interpolate


def test_time_warp_is_repeatable_from_its_generator():
    x = torch.randn(4, 100, 8)
    a = time_warp(x, 10, torch.Generator().manual_seed(5))
    b = time_warp(x, 10, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, x)
