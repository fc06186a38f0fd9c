"""Stopping a run at any moment (BatchNorm statistics, validation, test) ends 'stopped', and the
run resumes to the end; the live ETA comes with every batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio_factory import make_track
from model.train.datasets import scan_folder
from model.train.loop import Run, Stopped, TrainConfig, create_run, train_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stopset")
    for kind in ("tones", "noise"):
        (root / kind).mkdir()
        for i in range(4):
            make_track(root / kind / f"{i}.wav", kind, seconds=1.2, seed=i)
    return root


def _config() -> TrainConfig:
    return TrainConfig(protocol="holdout", valid_frac=0.25, test_frac=0.25, batch_size=4, clip_seconds=1.0,
                       epochs=1, precision="fp32")


def test_stop_in_every_phase_is_resumable(tiny, home):
    """One run stopped while recomputing BatchNorm statistics, then while validating, then while
    testing; each time it ends 'stopped' and the next call goes on; the last one finishes."""
    runs, models, cache = home / "runs", home / "models", home / "cache"
    run = create_run(runs, cache, scan_folder(tiny), _config())
    for phase in ("recomputing BatchNorm statistics", "validating", "testing"):
        events = []
        with pytest.raises(Stopped, match=phase.split()[0]):
            train_run(Run(run.dir), models, cache, events.append,
                      should_stop=lambda: any(e.message == phase for e in events))
        assert Run(run.dir).state()["status"] == "stopped"
        [estimate] = [e for e in events if e.kind == "estimate"]
        assert estimate.metrics["total_seconds"] > 0 and estimate.metrics["epoch_seconds"] > 0
        batches = [e for e in events if e.kind == "batch"]
        assert all(e.eta_seconds is not None and e.eta_seconds >= 0 for e in batches)
    assert Run(run.dir).history(0)  # the last stop came after the epoch was saved

    report = train_run(Run(run.dir), models, cache)
    assert Run(run.dir).state()["status"] == "finished" and report["folds"] == [0]
    assert [h["epoch"] for h in Run(run.dir).history(0)] == [0]
