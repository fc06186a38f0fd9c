"""`cratedigger model ...` and `cratedigger predict` as a user runs them."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from app.cli import main
from audio_factory import synth, write_audio


def test_acceptance_import_then_predict_matches_keras(home, authors_dir, shared_dir):
    """The issue's acceptance command, run as separate processes."""
    env = dict(os.environ, CRATEDIGGER_HOME=str(home))
    cli = [sys.executable, "-m", "app"]
    subprocess.run(cli + ["model", "import", str(authors_dir / "gtzan_fold5.hdf5")], env=env, check=True,
                   capture_output=True)
    mp3 = shared_dir / "bbnn/keras-reference/Example_Rock.mp3"
    out = subprocess.run(cli + ["predict", "--json", "--offset", "0", str(mp3)], env=env, check=True,
                         capture_output=True, text=True)
    result = json.loads(out.stdout)
    keras = np.load(shared_dir / "bbnn/keras-reference/fixture_keras.npz")["gtzan_fold5_probs"][0]
    assert result[0]["model"] == "bbnn-gtzan-fold5"
    assert [w["start"] for w in result[0]["windows"]] == [0.0]
    probs = np.array(list(result[0]["genres"].values()))
    assert np.abs(probs - keras).max() < 0.02


def test_predict_reports_bad_files_and_goes_on(gtzan_model, shared_dir, tmp_path, capsys):
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(os.urandom(4000))
    good = shared_dir / "bbnn/keras-reference/Example_Electronic.mp3"
    assert main(["predict", "--json", str(fake), str(good)]) == 1
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 1
    assert err.strip().splitlines() == [f"{fake}: undecodable: " + err.split("undecodable: ", 1)[1].strip()]


def test_predict_all_windows_of_a_longer_track(random_model, tmp_path, capsys):
    path = write_audio(tmp_path / "long.ogg", synth("clicks", 70.0))
    assert main(["predict", "--json", "--windows", "all", str(path)]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    starts = [w["start"] for w in result["windows"]]
    assert starts == [0.0, pytest.approx(661_794 / 22050)]  # 70 s: two full windows, a 10 s tail dropped
    assert sum(result["genres"].values()) == pytest.approx(1.0, abs=1e-4)


def test_predict_without_a_model_says_what_to_do(tmp_path, capsys):
    path = write_audio(tmp_path / "a.wav", synth("tones", 3.0))
    assert main(["predict", str(path)]) == 1
    assert "cratedigger model fetch" in capsys.readouterr().err


def test_model_list_use_and_import_errors(authors_dir, tmp_path, capsys):
    assert main(["model", "import", str(authors_dir / "gtzan_fold5.hdf5")]) == 0
    assert main(["model", "import", str(authors_dir / "extballroom_fold0.hdf5"), "--no-activate"]) == 0
    bad = tmp_path / "broken.hdf5"
    bad.write_bytes(b"nope")
    assert main(["model", "import", str(bad)]) == 1
    capsys.readouterr()
    assert main(["model", "list", "--json"]) == 0
    listing = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert listing["bbnn-gtzan-fold5"]["active"] and len(listing["bbnn-extballroom-fold0"]["classes"]) == 13
    assert main(["model", "use", "bbnn-extballroom-fold0"]) == 0
    assert main(["model", "use", "missing"]) == 1
    assert "no model named" in capsys.readouterr().err
