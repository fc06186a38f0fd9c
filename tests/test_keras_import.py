"""The authors' Keras files import into the PyTorch model and reproduce the Keras outputs."""

import shutil

import numpy as np
import pytest
import torch

from model.keras_import import EXTBALLROOM_CLASSES, GTZAN_CLASSES, KerasImportError, read_keras_bbnn


@pytest.fixture(scope="module")
def fixture(shared_dir):
    ref = shared_dir / "bbnn" / "keras-reference"
    return np.load(ref / "fixture_mels.npz")["X"], np.load(ref / "fixture_keras.npz")


@pytest.mark.parametrize("fold", range(10))
def test_gtzan_fold_matches_keras(authors_dir, fixture, fold):
    mels, keras = fixture
    model, classes = read_keras_bbnn(authors_dir / f"gtzan_fold{fold}.hdf5")
    assert classes == GTZAN_CLASSES
    with torch.no_grad():
        out = model(torch.from_numpy(mels))
    probs = torch.softmax(out.logits, -1).numpy()
    np.testing.assert_allclose(probs, keras[f"gtzan_fold{fold}_probs"], atol=1e-4)
    np.testing.assert_allclose(out.embedding.numpy(), keras[f"gtzan_fold{fold}_penultimate"], atol=1e-4)


def test_extended_ballroom_folds_have_13_classes(authors_dir, fixture):
    mels, _ = fixture
    for fold in range(10):
        model, classes = read_keras_bbnn(authors_dir / f"extballroom_fold{fold}.hdf5")
        assert model.n_classes == 13 and classes == EXTBALLROOM_CLASSES
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(mels)).logits, -1)
    assert torch.allclose(probs.sum(-1), torch.ones(2))


def test_truncated_hdf5_is_a_clear_error(authors_dir, tmp_path):
    data = (authors_dir / "gtzan_fold5.hdf5").read_bytes()
    bad = tmp_path / "truncated.hdf5"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(KerasImportError):
        read_keras_bbnn(bad)


def test_hdf5_without_a_model_is_a_clear_error(tmp_path):
    import h5py

    path = tmp_path / "other.hdf5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(KerasImportError, match="not a saved Keras model"):
        read_keras_bbnn(path)


def test_non_hdf5_file_is_a_clear_error(tmp_path):
    path = tmp_path / "fake.hdf5"
    path.write_bytes(b"this is not hdf5" * 100)
    with pytest.raises(KerasImportError, match="not a readable HDF5"):
        read_keras_bbnn(path)
