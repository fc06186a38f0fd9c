"""The scan with both ears: one decode feeds BBNN and MusiCNN, MusiCNN joins a library scanned before
(incrementally), it can be switched off, and its absence only costs the tags."""

import json

import numpy as np
import pytest
import torch

from app.cli import main
from app.home import model_store, open_library
from app.library.scanner import scan
from audio_factory import make_track
from model.musicnn import MSD_LABELS, MusiCNN, MusicnnSpec
from model.store import KIND_MUSICNN, Manifest


def install_random_musicnn(seed: int = 0) -> Manifest:
    """A randomly initialised MusiCNN (fixed seed) as the store's tagger: the pipeline, not the weights, is tested."""
    torch.manual_seed(seed)
    return model_store().save(MusiCNN(), Manifest(name="musicnn-msd", kind=KIND_MUSICNN, classes=MSD_LABELS,
                                                  source="random init (tests)", input=MusicnnSpec().to_dict()))


@pytest.fixture
def music(tmp_path):
    root = tmp_path / "music"
    root.mkdir()
    make_track(root / "long.ogg", "chords", 70.0, seed=1, tags={"title": "Long", "artist": "A"})
    make_track(root / "short.mp3", "tones", 10.0, seed=2, tags={"title": "Short", "artist": "B"})
    return root


def _keys(lib):
    bbnn = lib._model(None)
    tagger = lib.tagger_key()
    return bbnn, tagger


def test_both_ears_from_one_scan(random_model, music):
    install_random_musicnn()
    lib = open_library()  # model=None: the store's active model
    summary = scan(lib, [music], workers=0)
    assert (summary.analysed, summary.errors) == (2, 0) and summary.models == ["random-bbnn", "musicnn-msd"]
    bbnn, tagger = _keys(lib)
    long = lib.track_by_path(music / "long.ogg")["id"]
    short = lib.track_by_path(music / "short.mp3")["id"]
    tags = lib.analysis(long, tagger)
    windows = lib.analysis(long, bbnn)["window_starts"]
    assert len(windows) == 2  # 70 s: BBNN's default spreads two 30-s windows
    # three of the ten 3-s patches of each BBNN window: the centres of its thirds
    hop = 47872 / 16000
    np.testing.assert_allclose(tags["window_starts"], [w + k * hop for w in windows for k in (1, 4, 8)], atol=1e-4)
    assert tags["window_probs"].shape == (6, 50) and tags["embedding"].shape == (200,)
    assert tags["dense"].shape == tags["dense_max"].shape == (200,)
    # the 10-s track: only the patch wholly inside its audio (3.0-6.0 s), none in the window's zero padding
    np.testing.assert_allclose(lib.analysis(short, tagger)["window_starts"], [hop], atol=1e-4)
    assert len(lib.top_tags(long)) == 5 and lib.analysis(long, bbnn)["dense_max"].shape == (416,)


def test_musicnn_joins_a_library_scanned_before(random_model, music, capsys):
    assert main(["scan", "--workers", "0", str(music)]) == 0  # MusiCNN not installed: BBNN alone, and a tip
    err = capsys.readouterr().err
    assert "model fetch musicnn" in err
    lib = open_library()  # model=None: the store's active model
    bbnn_rows = {r["track_id"]: r["analysed_at"] for r in lib.db.query("SELECT track_id, analysed_at FROM analyses")}
    assert len(bbnn_rows) == 2
    install_random_musicnn()
    assert main(["rescan", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "2 analysed" in out and "musicnn-msd" in out
    bbnn, tagger = _keys(lib)
    assert {r["track_id"]: r["analysed_at"] for r in lib.db.query(
        "SELECT track_id, analysed_at FROM analyses WHERE model = ?", [bbnn])} == bbnn_rows  # BBNN's stay
    assert len(lib.analysed_ids(tagger)) == 2
    assert main(["rescan", "--workers", "0"]) == 0
    assert "0 analysed, 2 unchanged" in capsys.readouterr().out


def test_musicnn_hears_again_a_track_analysed_before_it_kept_every_patch(random_model, music, capsys):
    install_random_musicnn()
    assert main(["scan", "--workers", "0", str(music)]) == 0
    lib = open_library()
    bbnn, tagger = _keys(lib)
    long = lib.track_by_path(music / "long.ogg")["id"]
    patches = lib.db.execute("SELECT a.n_windows, length(w.embeddings) FROM analyses a JOIN window_vectors w"
                             " ON w.track_id = a.track_id AND w.model = a.model WHERE a.model = ? AND a.track_id = ?",
                             [tagger, long]).fetchone()
    assert patches == (6, 6 * 200 * 2)  # every patch's 200-d embedding, float16
    rows = {r["model"]: r["analysed_at"] for r in lib.db.query("SELECT model, analysed_at FROM analyses WHERE track_id = ?",
                                                                [long])}
    with lib.db.conn:  # as an older version stored it
        lib.db.execute("DELETE FROM window_vectors WHERE model = ? AND track_id = ?", [tagger, long])
    capsys.readouterr()
    assert main(["rescan", "--workers", "0"]) == 0
    assert "1 analysed, 1 unchanged" in capsys.readouterr().out
    again = {r["model"]: r["analysed_at"] for r in lib.db.query("SELECT model, analysed_at FROM analyses WHERE track_id = ?",
                                                                 [long])}
    assert again[bbnn] == rows[bbnn] and again[tagger] > rows[tagger]  # MusiCNN alone heard it again
    assert long in lib.analysed_ids(tagger, per_window=True)
    bbnn_windows = lib.db.execute("SELECT length(embeddings), length(dense) FROM window_vectors"
                                  " WHERE model = ? AND track_id = ?", [bbnn, long]).fetchone()
    assert bbnn_windows == (2 * 32 * 2, 2 * 416 * 2)  # BBNN keeps every window's dense vector too
    with lib.db.conn:
        lib.db.execute("DELETE FROM window_vectors WHERE model = ?", [bbnn])
    assert main(["rescan", "--workers", "0"]) == 0
    assert "2 analysed" in capsys.readouterr().out
    latest = {r["model"]: r["analysed_at"] for r in lib.db.query("SELECT model, analysed_at FROM analyses WHERE track_id = ?",
                                                                  [long])}
    assert latest[tagger] == again[tagger] and latest[bbnn] > again[bbnn]  # BBNN alone this time


def test_musicnn_can_be_switched_off(random_model, music, capsys):
    install_random_musicnn()
    assert main(["scan", "--workers", "0", "--models", "bbnn", str(music)]) == 0
    lib = open_library()  # model=None: the store's active model
    assert lib.tagger_key() and not lib.analysed_ids(lib.tagger_key())
    assert "model fetch musicnn" not in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: the genre model always listens
        main(["scan", "--models", "musicnn", str(music)])
    assert "genre model always listens" in capsys.readouterr().err
    model_store().remove("musicnn-msd")
    assert main(["rescan", "--workers", "0", "--models", "bbnn,musicnn"]) == 1
    err = capsys.readouterr().err
    assert "MusiCNN is not installed" in err and "model fetch musicnn" in err


def test_show_json_of_a_scanned_track_has_tags(random_model, music, capsys):
    install_random_musicnn()
    assert main(["scan", "--workers", "0", str(music)]) == 0
    capsys.readouterr()
    assert main(["show", "--json", str(music / "long.ogg")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["tagger"] == "musicnn-msd" and len(shown["top_tags"]) == 5
    assert all(t["tag"] in MSD_LABELS and 0 <= t["probability"] <= 1 for t in shown["top_tags"])
