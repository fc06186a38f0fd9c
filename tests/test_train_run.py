"""Training runs end to end on a tiny generated data set of clearly different classes (2 s clips)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from app.cli import main
from audio_factory import make_track
from model.train.datasets import scan_folder
from model.train.loop import Run, Stopped, TrainConfig, create_run, list_runs, train_run

REPO = Path(__file__).resolve().parents[1]
KINDS = ("tones", "noise", "clicks")
TINY = ["--protocol", "holdout", "--valid", "0.25", "--test", "0.25", "--batch-size", "4",
        "--clip-seconds", "2", "--precision", "fp32"]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    """Kaggle GTZAN layout, 3 classes x 12 clips of 2.5 s, and one unreadable file."""
    root = tmp_path_factory.mktemp("ds")
    base = root / "Data" / "genres_original"
    for kind in KINDS:
        (base / kind).mkdir(parents=True)
        for i in range(12):
            make_track(base / kind / f"{kind}.{i:05d}.wav", kind, seconds=2.5, seed=i)
    (base / "tones" / "tones.00054.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEbroken")
    return root


def _tiny_config(**kw) -> TrainConfig:
    return TrainConfig(**{"protocol": "holdout", "valid_frac": 0.25, "test_frac": 0.25, "batch_size": 4,
                          "clip_seconds": 1.5, "epochs": 2, "precision": "fp32", **kw})


def test_cli_train_learns_reports_and_predicts(dataset_dir, home, capsys):
    assert main(["train", str(dataset_dir), *TINY, "--epochs", "6", "--out", "tiny"]) == 0
    out, err = capsys.readouterr()
    assert "skipped 1 unreadable file" in err and "tones.00054.wav" in err
    report_path = Path(out.strip().splitlines()[-1].removeprefix("report: "))
    report = json.loads(report_path.read_text())
    assert report["test_accuracy"] >= 0.75  # chance is 1/3
    assert report["classes"] == sorted(KINDS) and report["model"] == "tiny"
    assert [s["path"].endswith("tones.00054.wav") for s in report["skipped"]] == [True]
    fold = report_path.parent / "fold0"
    result = json.loads((fold / "result.json").read_text())
    assert set(result["test"]["per_class"]["noise"]) == {"precision", "recall", "f1", "support"}
    assert sum(map(sum, result["test"]["confusion"])) == result["sizes"]["test"] == 9
    for png in ("curves.png", "confusion.png"):
        assert (report_path.parent / png).read_bytes()[:4] == b"\x89PNG"
    splits = json.loads((report_path.parent / "splits.json").read_text())
    assert not set(splits[0]["train"]) & set(splits[0]["test"])
    history = json.loads((fold / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(6)) and all(h["lr"] == 0.01 for h in history)

    assert main(["model", "use", "tiny"]) == 0
    clip = dataset_dir / "Data" / "genres_original" / "noise" / "noise.00003.wav"
    capsys.readouterr()
    assert main(["predict", str(clip), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)[0]
    assert set(pred["genres"]) == set(KINDS) and len(pred["windows"]) >= 1

    assert main(["evaluate", "tiny", str(dataset_dir), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["n"] == 36 and ev["accuracy"] >= 0.75 and len(ev["skipped"]) == 1

    assert main(["runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert runs[0]["status"] == "finished" and runs[0]["test_accuracy"] == report["test_accuracy"]
    assert main(["runs", "delete", runs[0]["id"], "nope"]) == 1  # one deleted, one unknown
    out, err = capsys.readouterr()
    assert f"deleted run {runs[0]['id']}" in out and "no run 'nope'" in err
    assert not report_path.parent.exists() and main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["model", "use", "tiny"]) == 0  # the model stays in the store


def test_cli_bad_input_fails_clearly(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing")]) == 1
    assert "is not a folder" in capsys.readouterr().err
    assert main(["train", "--resume", "nope"]) == 1
    assert "no run 'nope'" in capsys.readouterr().err
    assert main(["evaluate", "nope", str(tmp_path)]) == 1


def test_stopped_run_resumes_exactly_like_an_uninterrupted_one(dataset_dir, home):
    ds = scan_folder(dataset_dir)
    runs, models, cache = home / "runs", home / "models", home / "cache"
    whole = create_run(runs, cache, ds, _tiny_config(model_name="whole"))
    train_run(whole, models, cache)

    cut = create_run(runs, cache, ds, _tiny_config(model_name="cut"))
    epochs_seen = []

    def on_event(e):
        if e.kind == "epoch":
            epochs_seen.append(e.epoch)

    with pytest.raises(Stopped):
        train_run(cut, models, cache, on_event, should_stop=lambda: len(epochs_seen) >= 1)
    assert Run(cut.dir).state()["status"] == "stopped" and Run(cut.dir).state()["epoch"] == 0
    train_run(Run(cut.dir), models, cache, on_event)
    assert epochs_seen == [0, 1]
    assert [h["loss"] for h in whole.history(0)] == [h["loss"] for h in cut.history(0)]
    a, b = load_file(str(whole.dir / "fold0/best.safetensors")), load_file(str(cut.dir / "fold0/best.safetensors"))
    assert all((a[k] == b[k]).all() for k in a)
    assert [r.id for r in list_runs(runs)] == sorted([whole.id, cut.id])


def test_killed_cli_run_resumes_from_its_last_epoch(dataset_dir, home, capsys):
    env = {**os.environ, "CRATEDIGGER_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "app", "train", str(dataset_dir), *TINY, "--epochs", "40",
                             "--out", "killed"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300  # slow when the machine is shared
    history = []
    try:
        while time.time() < deadline and len(history) < 1:
            time.sleep(0.2)
            hist_files = list((home / "runs").glob("*/fold0/history.json"))
            history = json.loads(hist_files[0].read_text()) if hist_files else []
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert history, "the run wrote no epoch in time"
    run = Run(hist_files[0].parents[1])
    done_before = json.loads((run.dir / "fold0/history.json").read_text())
    assert run.state()["status"] == "running"  # killed, not stopped
    # shorten the rest of the run: the checkpoint is what matters
    cfg = json.loads((run.dir / "config.json").read_text())
    cfg["train"]["epochs"] = len(done_before) + 1
    (run.dir / "config.json").write_text(json.dumps(cfg))
    assert main(["train", "--resume", run.id]) == 0
    after = run.history(0)
    assert after[: len(done_before)] == done_before  # earlier epochs kept, not redone
    assert [h["epoch"] for h in after] == list(range(len(done_before) + 1))
    assert run.state()["status"] == "finished"


def test_fine_tune_authors_model_with_new_classes(dataset_dir, home, gtzan_model, capsys):
    assert main(["train", str(dataset_dir), *TINY, "--epochs", "1", "--from-model", gtzan_model.name,
                 "--out", "mine", "--activate"]) == 0
    from app.home import model_store

    store = model_store()
    m = store.manifest("mine")
    assert store.active_name() == "mine" and m.classes == sorted(KINDS)
    assert m.source.startswith("trained:") and m.spec.clip_samples == 44100
    model, _ = store.load("mine")
    assert model.classifier.out_features == 3
