"""MusiCNN's weights in the model store: fetch (from a 127.0.0.1 server), import of the wheel or its folder,
kinds kept apart from the genre models, bad sources refused, and no TensorFlow anywhere."""

import http.server
import json
import os
import re
import subprocess
import sys
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest
import torch

from app.cli import main
from app.home import model_store
from model.musicnn_weights import NAME, WHEEL_FILE, WHEEL_SHA256, read_source
from model.store import KIND_MUSICNN, ModelStore, ModelStoreError

REPO = Path(__file__).resolve().parents[1]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def wheel_server(tmp_path, musicnn_wheel):
    """The package index's layout on 127.0.0.1; /bad/ serves a different file under the wheel's name."""
    root = tmp_path / "www"
    good = root / "packages/py3/m/musicnn" / WHEEL_FILE
    good.parent.mkdir(parents=True)
    good.symlink_to(musicnn_wheel)
    bad = root / "bad" / WHEEL_FILE
    bad.parent.mkdir()
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("musicnn/__init__.py", "")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _same_weights(model, state):
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_cli_fetch_musicnn_converts_and_keeps_the_notice(wheel_server, musicnn_wheel, capsys):
    assert main(["model", "fetch", "musicnn", "--url", wheel_server]) == 0
    assert "musicnn-msd: MusiCNN tagger, 50 tags" in capsys.readouterr().out
    store = model_store()
    manifest = store.musicnn()
    assert manifest.name == NAME and manifest.kind == KIND_MUSICNN and manifest.source_sha256 == WHEEL_SHA256
    assert wheel_server in manifest.source and manifest.classes[:3] == ["rock", "pop", "alternative"]
    assert manifest.musicnn_spec.sample_rate == 16000 and manifest.musicnn_spec.patch_frames == 187
    notice = (store.root / f"{NAME}.LICENSE.txt").read_text()
    assert "Universitat Pompeu Fabra 2019" in notice and "Permission to use, copy, modify" in notice
    model, _ = store.load_musicnn()
    assert _same_weights(model, read_source(musicnn_wheel).state)
    assert store.active_name() is None and store.names() == []  # a tagger is not a genre model


def test_fetch_from_env_url_and_wrong_checksum(wheel_server, monkeypatch):
    store = model_store()
    with pytest.raises(ModelStoreError, match="checksum"):
        store.fetch_musicnn(url=f"{wheel_server}/bad/{WHEEL_FILE}")
    assert store.musicnn() is None and not list(store.root.glob("downloads/*.part"))
    monkeypatch.setenv("CRATEDIGGER_MUSICNN_URL", f"{wheel_server}/packages/py3/m/musicnn/{WHEEL_FILE}")
    assert store.fetch_musicnn().name == NAME


def test_fetch_offline_says_so(capsys, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CRATEDIGGER_MUSICNN_URL", f"http://127.0.0.1:{port}")
    assert main(["model", "fetch", "musicnn", "--timeout", "2"]) == 1
    assert "offline" in capsys.readouterr().err and model_store().musicnn() is None


def test_import_unpacked_folder_and_kinds_stay_apart(musicnn_wheel, tmp_path, authors_dir, capsys):
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(musicnn_wheel) as zf:
        zf.extractall(unpacked, [n for n in zf.namelist() if "MSD_musicnn/" in n or n.endswith("LICENSE.md")])
    assert main(["model", "import", str(unpacked / "musicnn" / "MSD_musicnn")]) == 0
    store = model_store()
    assert store.musicnn().source_sha256 is None
    assert "Jordi Pons" in (store.root / f"{NAME}.LICENSE.txt").read_text()
    assert main(["model", "import", str(authors_dir / "gtzan_fold5.hdf5")]) == 0
    assert store.active_name() == "bbnn-gtzan-fold5" and store.names() == ["bbnn-gtzan-fold5"]
    assert store.names(kind=None) == ["bbnn-gtzan-fold5", NAME]
    capsys.readouterr()
    assert main(["model", "use", NAME]) == 1
    assert "not a genre model" in capsys.readouterr().err and store.active_name() == "bbnn-gtzan-fold5"
    with pytest.raises(ModelStoreError, match="not a genre model"):
        store.load(NAME)
    with pytest.raises(ModelStoreError, match="not a MusiCNN"):
        store.load_musicnn("bbnn-gtzan-fold5")
    assert main(["model", "list", "--json"]) == 0
    kinds = {m["name"]: m["kind"] for m in json.loads(capsys.readouterr().out)}
    assert kinds == {"bbnn-gtzan-fold5": "bbnn", NAME: "musicnn"}
    assert main(["model", "remove", NAME]) == 0
    assert store.musicnn() is None and not (store.root / f"{NAME}.LICENSE.txt").exists()


def test_own_safetensors_round_trip_keeps_kind_and_notice(musicnn_wheel, tmp_path):
    store = model_store()
    store.import_file(musicnn_wheel)
    other = ModelStore(tmp_path / "other")
    m = other.import_file(store.root / f"{NAME}.safetensors")
    assert m.kind == KIND_MUSICNN and other.active_name() is None
    assert "ISC" in m.notes and "Pompeu Fabra" in (other.root / f"{NAME}.LICENSE.txt").read_text()
    assert _same_weights(other.load_musicnn()[0], store.load_musicnn()[0].state_dict())


def test_bad_sources_are_refused_and_change_nothing(musicnn_wheel, tmp_path, capsys):
    no_checkpoint = tmp_path / "other.whl"
    with zipfile.ZipFile(no_checkpoint, "w") as zf:
        zf.writestr("musicnn/MSD_musicnn/.index", b"not a table")
    truncated = tmp_path / "truncated"
    (truncated / "MSD_musicnn").mkdir(parents=True)
    with zipfile.ZipFile(musicnn_wheel) as zf:
        (truncated / "MSD_musicnn/.index").write_bytes(zf.read("musicnn/MSD_musicnn/.index"))
        (truncated / "MSD_musicnn/.data-00000-of-00001").write_bytes(
            zf.read("musicnn/MSD_musicnn/.data-00000-of-00001")[:1_000_000])
    for bad, message in ((no_checkpoint, "no musicnn/MSD_musicnn/.data"), (truncated, "truncated or damaged")):
        assert main(["model", "import", str(bad)]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    store = model_store()
    with pytest.raises(ModelStoreError, match="not installed.*model fetch musicnn"):
        store.load_musicnn()
    assert store.names(kind=None) == []


def test_no_tensorflow_is_imported_or_referenced(musicnn_wheel, tmp_path):
    script = (
        "import sys, numpy as np\n"
        "from app.cli import main\n"
        f"assert main(['model', 'import', {str(musicnn_wheel)!r}]) == 0\n"
        "from app.home import model_store\n"
        "from model.musicnn import analyse_audio\n"
        "model, _ = model_store().load_musicnn()\n"
        "out = analyse_audio(model, np.random.default_rng(0).standard_normal(50000).astype(np.float32) * 0.1)\n"
        "assert out['taggram'].shape == (1, 50)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras'))\n"
        "print('TF-MODULES', bad)\n"
    )
    env = dict(os.environ, CRATEDIGGER_HOME=str(tmp_path / "home"))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=REPO,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "TF-MODULES []" in out.stdout
    pattern = re.compile(r"^\s*(import|from)\s+(tensorflow|tf_keras|keras)\b", re.M)
    sources = [p for d in ("app", "model", "bench") for p in (REPO / d).rglob("*.py")]
    assert sources and not [str(p) for p in sources if pattern.search(p.read_text(encoding="utf-8"))]
    deps = (REPO / "pyproject.toml").read_text()
    assert "tensorflow" not in deps.lower()
