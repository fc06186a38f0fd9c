"""The app's log file (logs/cratedigger.log in the data home) tells what scans, model switches and
training runs did: start, counts, errors, epochs, end, cancel, stop."""

from __future__ import annotations

import logging

import pytest

from app.cli import main
from app.home import logs_dir, model_store, open_library
from audio_factory import make_track
from conftest import save_random_model


@pytest.fixture
def log_file(home):
    """The log file as the app sets it up (any command does: here `status`); handlers stay after."""
    assert main(["status"]) == 0
    path = logs_dir() / "cratedigger.log"
    yield path
    for handler in logging.getLogger().handlers:
        handler.flush()


def _new_lines(path, start: int) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text(encoding="utf-8")[start:]


def test_scans_and_model_switches_are_in_the_log(random_model, log_file, tmp_path, home):
    from app.library.scanner import scan

    folder = tmp_path / "music"
    folder.mkdir()
    for i, kind in enumerate(("tones", "noise")):
        make_track(folder / f"{kind}.wav", kind, seconds=4.0, seed=i)
    (folder / "broken.mp3").write_bytes(b"\x00" * 2000)
    start = log_file.stat().st_size
    assert main(["scan", str(folder), "--workers", "0"]) == 0
    text = _new_lines(log_file, start)
    assert f"scan started: {folder} with random-bbnn" in text
    assert "scan plan: 3 audio files found, 3 to read, 0 unchanged, 0 gone" in text
    assert f"scan error: {folder / 'broken.mp3'}: undecodable" in text
    assert "scan finished after" in text and "2 analysed, 0 unchanged, 1 errors" in text

    make_track(folder / "clicks.wav", "clicks", seconds=4.0, seed=3)
    start = log_file.stat().st_size
    with open_library() as library:
        summary = scan(library, [folder], should_stop=lambda: True, workers=0)
    assert summary.cancelled
    assert "scan cancelled after" in _new_lines(log_file, start)

    save_random_model(home, name="other-bbnn", seed=1, activate=False)
    start = log_file.stat().st_size
    assert main(["model", "use", "other-bbnn"]) == 0
    assert "active model switched: random-bbnn -> other-bbnn (10 classes)" in _new_lines(log_file, start)
    start = log_file.stat().st_size
    model_store().remove("other-bbnn")
    assert "model other-bbnn removed; no model is active now" in _new_lines(log_file, start)


def test_training_start_epochs_stop_and_end_are_in_the_log(log_file, tmp_path, home):
    from model.train.datasets import scan_folder
    from model.train.loop import Run, Stopped, TrainConfig, create_run, train_run

    for kind in ("tones", "noise"):
        (tmp_path / kind).mkdir()
        for i in range(4):
            make_track(tmp_path / kind / f"{i}.wav", kind, seconds=1.2, seed=i)
    config = TrainConfig(protocol="holdout", valid_frac=0.25, test_frac=0.25, batch_size=4, clip_seconds=1.0,
                         epochs=2, precision="fp32")
    run = create_run(home / "runs", home / "cache", scan_folder(tmp_path), config)
    start = log_file.stat().st_size
    events = []
    with pytest.raises(Stopped):  # stopped in the second epoch, once the first is through
        train_run(Run(run.dir), home / "models", home / "cache", events.append,
                  should_stop=lambda: any(e.kind == "epoch" for e in events))
    train_run(Run(run.dir), home / "models", home / "cache")  # resumed to the end
    text = _new_lines(log_file, start)
    assert f"training {run.id} started: 8 files, 2 classes, folds [0] (1 to train), 2 epochs, fp32 on cpu" in text
    assert f"training {run.id} fold 0 epoch 1/2: loss " in text and "validation loss" in text
    assert f"training {run.id} stopped (stopped in fold 0, epoch 2)" in text
    assert f"training {run.id} fold 0 epoch 2/2" in text and f"training {run.id} fold 0 tested: test_accuracy" in text
    assert f"training {run.id} finished: test_accuracy" in text
    assert f"training {run.id} resumed: 8 files" in text
    assert text.index("stopped (") < text.index("resumed: ") < text.index("epoch 2/2") < text.index("finished: ")
