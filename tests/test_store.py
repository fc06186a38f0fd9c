"""The model store: import, fetch over HTTP (from a local server), activation, and failure safety."""

import http.server
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from app.home import model_store
from model.authors_weights import authors_model
from model.store import Manifest, ModelStore, ModelStoreError


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def weights_server(tmp_path, authors_dir):
    """Serves a copy of the authors' files laid out as in their repository, on 127.0.0.1."""
    root = tmp_path / "www"
    for dataset, fold in (("gtzan", 5), ("gtzan", 3)):
        entry = authors_model(dataset, fold)
        dest = root / entry.repo_path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes((authors_dir / f"{dataset}_fold{fold}.hdf5").read_bytes())
    # fold 7 served with the wrong content: a checksum mismatch
    bad = root / authors_model("gtzan", 7).repo_path
    bad.write_bytes((authors_dir / "gtzan_fold6.hdf5").read_bytes())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_import_authors_file_activates_and_loads(authors_dir, shared_dir):
    store = model_store()
    m = store.import_file(authors_dir / "gtzan_fold5.hdf5")
    assert m.name == "bbnn-gtzan-fold5" and store.active_name() == m.name
    assert m.source.startswith("authors:gtzan:fold5")
    assert m.metrics["test_accuracy"] == 0.96
    assert (store.root / f"{m.name}.safetensors").exists()
    model, manifest = store.load()
    mels = np.load(shared_dir / "bbnn/keras-reference/fixture_mels.npz")["X"]
    keras = np.load(shared_dir / "bbnn/keras-reference/fixture_keras.npz")["gtzan_fold5_probs"]
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(mels)).logits, -1).numpy()
    np.testing.assert_allclose(probs, keras, atol=1e-4)


def test_own_checkpoint_round_trips(authors_dir, tmp_path):
    store = model_store()
    m = store.import_file(authors_dir / "gtzan_fold2.hdf5")
    copy = tmp_path / "mine.safetensors"
    copy.write_bytes((store.root / f"{m.name}.safetensors").read_bytes())
    other = ModelStore(tmp_path / "other-store")
    imported = other.import_file(copy, name="mine")
    assert imported.classes == m.classes and imported.source == m.source
    a, _ = store.load(m.name)
    b, _ = other.load("mine")
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])


@pytest.mark.parametrize("make_bad", [
    lambda src, p: p.write_bytes(src.read_bytes()[:100_000]),  # truncated HDF5
    lambda src, p: p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 5000),  # corrupt HDF5
    lambda src, p: p.write_bytes(b"GIF89a not a model at all" * 40),  # not HDF5
])
def test_bad_files_leave_the_active_model_alone(authors_dir, tmp_path, make_bad):
    store = model_store()
    store.import_file(authors_dir / "gtzan_fold5.hdf5")
    bad = tmp_path / "bad.hdf5"
    make_bad(authors_dir / "gtzan_fold1.hdf5", bad)
    with pytest.raises(ModelStoreError):
        store.import_file(bad)
    assert store.active_name() == "bbnn-gtzan-fold5"
    assert store.names() == ["bbnn-gtzan-fold5"]


def test_fetch_verifies_converts_and_activates(weights_server):
    store = model_store()
    seen = []
    m = store.fetch("gtzan", 5, base_url=weights_server, progress=lambda done, total: seen.append((done, total)))
    assert m.name == "bbnn-gtzan-fold5" and store.active_name() == m.name
    assert weights_server in m.source
    assert seen and seen[-1][0] == seen[-1][1] > 2_000_000
    store.fetch("gtzan", 3, base_url=weights_server, activate=False)
    assert store.active_name() == "bbnn-gtzan-fold5"
    assert store.use("bbnn-gtzan-fold3").name == "bbnn-gtzan-fold3"


def test_fetch_with_wrong_checksum_changes_nothing(weights_server):
    store = model_store()
    store.fetch("gtzan", 5, base_url=weights_server)
    with pytest.raises(ModelStoreError, match="checksum"):
        store.fetch("gtzan", 7, base_url=weights_server)
    assert store.active_name() == "bbnn-gtzan-fold5"
    assert not list(store.root.glob("downloads/*.part"))


def test_fetch_offline_says_so(monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CRATEDIGGER_WEIGHTS_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(ModelStoreError, match="offline"):
        model_store().fetch("gtzan", 5, timeout=2)
    assert model_store().active_name() is None


def test_missing_model_and_damaged_weights_are_clear(authors_dir):
    store = model_store()
    with pytest.raises(ModelStoreError, match="no model is active"):
        store.load()
    with pytest.raises(ModelStoreError, match="no model named"):
        store.use("nope")
    m = store.import_file(authors_dir / "gtzan_fold5.hdf5")
    (store.root / f"{m.name}.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelStoreError, match="damaged"):
        store.load()


def test_bad_names_are_refused():
    from model.bbnn import BBNN

    with pytest.raises(ModelStoreError, match="bad model name"):
        model_store().save(BBNN(3), Manifest(name="../escape", classes=["a", "b", "c"], source="test"))
