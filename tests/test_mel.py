"""The torch log-mel front end equals librosa's melspectrogram + power_to_db on real audio."""

import numpy as np
import pytest
import torch

from model.audio import decode_span
from model.mel import LogMel, MelSpec, fit_length, power_to_db


@pytest.fixture(scope="module")
def clips(shared_dir):
    ref = shared_dir / "bbnn" / "keras-reference"
    spec = MelSpec()
    waves = [fit_length(decode_span(ref / name, 0.0, spec.clip_seconds), spec.clip_samples)
             for name in ("Example_Rock.mp3", "Example_Electronic.mp3")]
    return np.stack(waves)


@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
def test_matches_librosa_within_005_db(clips, pad_mode):
    import librosa

    spec = MelSpec(pad_mode=pad_mode)
    ours = LogMel(spec)(torch.from_numpy(clips)).numpy()
    assert ours.shape == (2, 647, 128)
    for wave, mel in zip(clips, ours):
        ref = librosa.power_to_db(librosa.feature.melspectrogram(
            y=wave, sr=22050, n_fft=2048, hop_length=1024, pad_mode=pad_mode)).T
        assert np.abs(mel - ref).max() < 0.05


def test_librosa_pipeline_reproduces_the_fixture(shared_dir):
    """The fixture was made with librosa 0.11 defaults (zero padding): our front end agrees."""
    import librosa

    ref = shared_dir / "bbnn" / "keras-reference"
    wave, _ = librosa.load(ref / "Example_Rock.mp3", sr=22050, mono=True)
    wave = fit_length(wave, 661_794)
    ours = LogMel(MelSpec(pad_mode="constant"))(torch.from_numpy(wave)[None])[0].numpy()
    fixture = np.load(ref / "fixture_mels.npz")["X"][0]
    assert np.abs(ours - fixture).max() < 0.05


def test_top_db_floor_is_per_clip():
    power = torch.tensor([[1.0, 1e-12], [1e-3, 1e-12]])
    db = power_to_db(power, amin=1e-10, top_db=80.0)
    assert db[0].tolist() == pytest.approx([0.0, -80.0])
    assert db[1].tolist() == pytest.approx([-30.0, -100.0])


def test_fit_length_pads_and_cuts():
    assert fit_length(np.ones(5), 8).tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert fit_length(np.ones((2, 10)), 4).shape == (2, 4)


def test_spec_frames_and_round_trip():
    spec = MelSpec()
    assert spec.n_frames == 647
    assert MelSpec.from_dict(spec.to_dict() | {"unknown": 1}) == spec
