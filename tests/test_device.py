"""Device and precision choice, and the bf16 measurement that keeps `auto` at fp32 on CPU."""

import numpy as np
import pytest
import torch

from model.device import cpu_has_native_bf16, pick_device
from model.inference import BF16_TOLERANCE, Predictor
from model.keras_import import read_keras_bbnn


@pytest.fixture(scope="module")
def fixture_mels(shared_dir):
    return np.load(shared_dir / "bbnn/keras-reference/fixture_mels.npz")["X"]


@pytest.fixture(scope="module")
def fold5(authors_dir):
    return read_keras_bbnn(authors_dir / "gtzan_fold5.hdf5")[0]


def test_pick_device_prefers_an_accelerator_and_can_be_forced():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert pick_device().type == expected
    assert pick_device("cpu").type == "cpu"


def test_cpu_predictor_is_fp32_channels_last_and_exact(fold5, fixture_mels, shared_dir):
    predictor = Predictor(fold5, device="cpu")
    assert predictor.precision == "fp32"
    out = predictor.run_mels(fixture_mels)
    keras = np.load(shared_dir / "bbnn/keras-reference/fixture_keras.npz")
    np.testing.assert_allclose(out.probs, keras["gtzan_fold5_probs"], atol=1e-4)
    np.testing.assert_allclose(out.embedding, keras["gtzan_fold5_penultimate"], atol=1e-4)
    assert out.dense.shape == (2, 416)


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16")
def test_bf16_deviation_on_the_fixture_is_measured(fold5, fixture_mels):
    """bf16 moves the fixture's probabilities by just over the 0.01 bound, so `auto` keeps fp32."""
    predictor = Predictor(fold5, device="cpu", precision="bf16")
    deviation = predictor.bf16_deviation(fixture_mels)
    assert 0 < deviation < 0.05
    auto = Predictor(fold5, device="cpu")
    assert auto.precision == ("bf16" if deviation <= BF16_TOLERANCE else "fp32")
    probs = predictor.run_mels(fixture_mels).probs
    assert probs.argmax(1).tolist() == auto.run_mels(fixture_mels).probs.argmax(1).tolist()
