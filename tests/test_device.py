"""Device and precision choice: fp32 is exact, bf16 (auto on CPUs with native bf16) keeps the genres."""

import numpy as np
import pytest
import torch

from model import inference
from model.bbnn import BBNN
from model.device import cpu_has_native_bf16, pick_device
from model.inference import Predictor, auto_precision, mixed_forward
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


def test_cpu_predictor_in_fp32_is_channels_last_and_exact(fold5, fixture_mels, shared_dir):
    predictor = Predictor(fold5, device="cpu", precision="fp32")
    assert predictor.channels_last
    out = predictor.run_mels(fixture_mels)
    keras = np.load(shared_dir / "bbnn/keras-reference/fixture_keras.npz")
    np.testing.assert_allclose(out.probs, keras["gtzan_fold5_probs"], atol=1e-4)
    np.testing.assert_allclose(out.embedding, keras["gtzan_fold5_penultimate"], atol=1e-4)
    assert out.dense.shape == (2, 416)


def test_bf16_modes_keep_the_fixture_genres(fold5, fixture_mels):
    """bf16 moves probabilities by about 0.01 but not the genre (bench/infer.py checks real music)."""
    fp32 = Predictor(fold5, device="cpu", precision="fp32").run_mels(fixture_mels)
    for precision in ("bf16", "bf16-mixed"):
        predictor = Predictor(fold5, device="cpu", precision=precision)
        out = predictor.run_mels(fixture_mels)
        assert 0 < np.abs(out.probs - fp32.probs).max() < 0.05
        assert out.probs.argmax(1).tolist() == fp32.probs.argmax(1).tolist()
        assert np.abs(out.embedding - fp32.embedding).max() < 0.05 * np.abs(fp32.embedding).max()
    assert 0 < Predictor(fold5, device="cpu", precision="bf16").bf16_deviation(fixture_mels) < 0.05


def test_auto_precision_follows_the_device(monkeypatch):
    assert auto_precision(torch.device("cuda")) == "fp16"
    from model import onnx_runtime

    assert auto_precision(torch.device("cpu")) == ("onnx" if onnx_runtime.available() else auto_precision_without_onnx())
    monkeypatch.setattr(onnx_runtime, "available", lambda: False)
    monkeypatch.setattr(inference, "cpu_has_native_bf16", lambda: True)
    assert auto_precision(torch.device("cpu")) == inference.CPU_BF16_AUTO
    monkeypatch.setattr(inference, "cpu_has_native_bf16", lambda: False)
    assert auto_precision(torch.device("cpu")) == "fp32"
    assert auto_precision(torch.device("mps")) == "fp32"


def auto_precision_without_onnx() -> str:
    return inference.CPU_BF16_AUTO if cpu_has_native_bf16() else "fp32"


def test_mixed_forward_is_the_network_when_every_part_stays_fp32():
    torch.manual_seed(0)
    model = BBNN(10).eval()
    x = torch.randn(2, 1, 647, 128) * 20 - 40
    parts = frozenset({"stem", "block0", "block1", "block2", "transition", "head"})
    with torch.inference_mode():
        plain = model(x, return_dense=True)
        mixed = mixed_forward(model, x, "cpu", torch.bfloat16, parts)
        low = mixed_forward(model, x, "cpu", torch.bfloat16, frozenset())
    for a, b in zip(plain, mixed):
        torch.testing.assert_close(a, b)
    assert not torch.equal(low.embedding.float(), plain.embedding)  # bf16 really ran


def test_onnx_runtime_gives_torch_fp32_results():
    torch.manual_seed(1)
    model = BBNN(10).eval()
    mels = np.random.default_rng(0).normal(-30, 15, size=(3, 647, 128)).astype(np.float32)
    fp32 = Predictor(model, device="cpu", precision="fp32").run_mels(mels)
    onnx = Predictor(model, device="cpu", precision="onnx")
    out = onnx.run_mels(mels)
    np.testing.assert_allclose(out.probs, fp32.probs, atol=1e-5)
    np.testing.assert_allclose(out.embedding, fp32.embedding, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.dense, fp32.dense, rtol=1e-4, atol=1e-5)
    assert Predictor(model, device="cpu").precision == "onnx"  # installed with the test extra: the CPU's auto


def test_onnx_export_leaves_the_model_in_eval_mode():
    """A torch path on the same model after the export (the 'auto' fallback, a bench) must not
    run BatchNorm on batch statistics."""
    torch.manual_seed(7)  # weights no other test exports (one export per network in a process)
    model = BBNN(10).eval()
    mels = np.random.default_rng(2).normal(-30, 15, size=(2, 647, 128)).astype(np.float32)
    before = Predictor(model, device="cpu", precision="fp32").run_mels(mels)
    Predictor(model, device="cpu", precision="onnx")
    assert not model.training and not any(m.training for m in model.modules())
    after = Predictor(model, device="cpu", precision="fp32", micro_batch=1).run_mels(mels)
    np.testing.assert_allclose(after.probs, before.probs, atol=1e-6)
