"""MusiCNN beside BBNN: patches from BBNN's decoded windows, subsets, precision, per-track summary."""

import numpy as np
import pytest
import torch

from model.device import cpu_has_native_bf16
from model.musicnn import MSD_LABELS, MusiCNN, MusicnnFrontEnd, audio_patches, musicnn_from_state, run_patches
from model.musicnn_inference import (MusicnnPredictor, resample, spread, summarise, top_tags, window_patches)

SR = 22050


def test_spread_picks_evenly_and_handles_edges():
    assert spread(30, None).tolist() == list(range(30))
    assert spread(30, 40).tolist() == list(range(30))
    assert spread(30, 3).tolist() == [0, 14, 29]  # linspace(0, 29, 3): 14.5 rounds to even
    assert spread(30, 0).tolist() == []


def test_window_patches_match_the_front_end_on_resampled_audio():
    rng = np.random.default_rng(0)
    waves = (rng.standard_normal((2, 30 * SR)) * 0.1).astype(np.float32)
    front = MusicnnFrontEnd()
    got = window_patches(waves, [10.0, 70.0], duration=200.0, sample_rate=SR, front_end=front)
    assert got.patches.shape == (20, 187, 96)
    np.testing.assert_allclose(got.starts[:2], [10.0, 10.0 + 47872 / 16000])
    assert got.starts[10] == 70.0
    expected = audio_patches(resample(waves[1], SR), front)
    np.testing.assert_allclose(got.patches[10:], expected, atol=1e-5)
    subset = window_patches(waves, [10.0, 70.0], duration=200.0, sample_rate=SR, front_end=front, keep=4)
    assert len(subset.patches) == 4 and subset.starts[0] == 10.0 and subset.starts[-1] == got.starts[-1]


def test_zero_padding_of_a_short_track_is_not_heard():
    waves = np.zeros((1, 30 * SR), np.float32)
    waves[0, : 10 * SR] = np.sin(np.arange(10 * SR) * 0.05) * 0.3  # a 10-s track, padded to 30 s
    got = window_patches(waves, [0.0], duration=10.0, sample_rate=SR, front_end=MusicnnFrontEnd())
    assert len(got.patches) == 3  # 10 s holds three whole 3-s patches
    none = window_patches(waves, [0.0], duration=2.0, sample_rate=SR, front_end=MusicnnFrontEnd())
    assert none.patches.shape == (0, 187, 96)


def test_summarise_and_top_tags():
    torch.manual_seed(0)
    predictor = MusicnnPredictor(MusiCNN(), device="cpu", precision="fp32")
    x = torch.randn(5, 187, 96)
    out = predictor.run(x)
    reference = run_patches(predictor.model, x)
    for key, value in out.items():
        np.testing.assert_allclose(value, reference[key], atol=1e-5)
    track = summarise(out, np.arange(5) * 3.0)
    np.testing.assert_allclose(track.tags, out["taggram"].mean(0), atol=1e-6)
    assert track.penultimate.shape == (200,) and track.patch_tags.shape == (5, 50)
    best = top_tags(track.tags, MSD_LABELS, 3)
    assert len(best) == 3 and best[0][1] >= best[1][1] >= best[2][1]
    assert predictor.run(np.zeros((0, 187, 96), np.float32))["penultimate"].shape == (0, 200)
    with pytest.raises(ValueError):
        summarise(predictor.run(np.zeros((0, 187, 96), np.float32)), np.zeros(0))


def test_auto_precision_and_bf16_stays_within_tolerance(musicnn_wheel, musicnn_reference):
    from model.musicnn_weights import read_source

    predictor = MusicnnPredictor(musicnn_from_state(read_source(musicnn_wheel).state), device="cpu")
    assert predictor.precision == ("bf16" if cpu_has_native_bf16() else "fp32")
    if not cpu_has_native_bf16():
        pytest.skip("this CPU has no native bf16; auto stays fp32")
    patches = np.concatenate([musicnn_reference["Example_Rock_patches"][:3],
                              musicnn_reference["Example_Electronic_patches"][:3]])
    assert predictor.bf16_deviation(patches) < 0.01
