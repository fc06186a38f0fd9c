"""MusiCNN beside BBNN: patches from BBNN's decoded windows, subsets, precision, per-track summary."""

import numpy as np
import pytest
import torch

from model.musicnn import MSD_LABELS, MusiCNN, audio_patches, musicnn_from_state, run_patches
from model.musicnn_inference import MusicnnPredictor, PatchFrontEnd, centres, looped_short_audio, summarise, top_tags


def test_centres_pick_the_middle_of_equal_parts():
    assert centres(30, None).tolist() == list(range(30))
    assert centres(30, 40).tolist() == list(range(30))
    assert centres(30, 3).tolist() == [4, 14, 24]
    assert centres(10, 3).tolist() == [1, 4, 8]  # 4.5 rounds to even
    assert centres(10, 1).tolist() == [4]
    assert centres(30, 0).tolist() == []


def test_patch_front_end_matches_the_reference_patches(musicnn_reference):
    """BBNN's 30.01-s window at 16 kHz holds 10 whole patches; they are the reference's first 10."""
    window = int(round(661_794 / 22050 * 16000))
    audio = np.pad(musicnn_reference["Example_Rock_audio16k"], (0, window))  # the clip is 29.98 s
    waves = np.stack([audio[:window], audio[window // 2: window // 2 + window]])
    front = PatchFrontEnd()
    patches = front(waves)
    assert patches.shape == (2, 10, 187, 96) and patches.dtype == np.float32
    np.testing.assert_allclose(patches[0], musicnn_reference["Example_Rock_patches"], atol=1e-4)
    np.testing.assert_allclose(patches[1], audio_patches(waves[1]), atol=1e-5)
    np.testing.assert_allclose(front.offsets(window)[:2], [0.0, 47872 / 16000])


def test_patch_front_end_keeps_an_even_subset_and_round_trips():
    front = PatchFrontEnd(keep=3)
    assert PatchFrontEnd.from_dict(front.to_dict()).keep == 3
    waves = (np.random.default_rng(0).standard_normal((2, 480_219)) * 0.1).astype(np.float32)
    every = PatchFrontEnd()(waves)
    some = front(waves)
    assert some.shape == (2, 3, 187, 96)
    np.testing.assert_array_equal(some, every[:, [1, 4, 8]])  # the centres of three equal parts
    assert front.offsets(480_219).tolist() == pytest.approx([1 * 2.992, 4 * 2.992, 8 * 2.992])
    assert PatchFrontEnd()(np.zeros((1, 1000), np.float32)).shape == (1, 0, 187, 96)


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
    shaped = predictor.run(x.reshape(1, 5, 187, 96))
    assert shaped["taggram"].shape == (1, 5, 50)
    np.testing.assert_allclose(shaped["max_pool"][0], out["max_pool"], atol=1e-5)
    with pytest.raises(ValueError):
        summarise(predictor.run(np.zeros((0, 187, 96), np.float32)), np.zeros(0))


def test_auto_precision_and_bf16_stays_within_tolerance(musicnn_wheel, musicnn_reference):
    from model.musicnn_weights import read_source

    predictor = MusicnnPredictor(musicnn_from_state(read_source(musicnn_wheel).state), device="cpu")
    assert predictor.precision == "fp32"
    # checked on every CPU: without native bf16 oneDNN emulates it (slower; measured with
    # ONEDNN_MAX_CPU_ISA=AVX2: 0.0036, against 0.0044 natively)
    patches = np.concatenate([musicnn_reference["Example_Rock_patches"][:3],
                              musicnn_reference["Example_Electronic_patches"][:3]])
    assert predictor.bf16_deviation(patches) < 0.01


def test_a_track_shorter_than_its_first_kept_patch_is_heard_looped():
    window = 480_219
    t = np.arange(2 * 16000) / 16000
    short = np.zeros((1, window), np.float32)
    short[0, : len(t)] = 0.3 * np.sin(2 * np.pi * 440 * t)  # 2 s of audio, then the window's zero padding
    first_patch = PatchFrontEnd(keep=3)(short)[0, 0]  # patch 1 (3-6 s): past the audio
    assert first_patch.sum(axis=1).min() > 0.1  # log10(1 + 10000 mel) is 0 for silence: every frame hears the tone
    looped = looped_short_audio(short, 6 * 16000)
    np.testing.assert_array_equal(looped[0, 32000:64000], short[0, :32000])
    full = (np.random.default_rng(1).standard_normal((1, window)) * 0.1).astype(np.float32)
    assert looped_short_audio(full, 6 * 16000) is full  # audio that reaches the patch is left alone
