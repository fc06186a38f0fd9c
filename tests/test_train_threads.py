"""torch's thread count has one owner (model.threads): no leak after a scan and a training run in
one process, whatever order work starts and ends in."""

from __future__ import annotations

import threading

import pytest
import torch

from audio_factory import make_track
from model import threads


@pytest.fixture
def four_threads():
    before = threads.base()
    threads.set_base(4)
    yield 4
    threads.set_base(before)


def test_leases_released_in_any_order_leave_the_base(four_threads):
    a = threads.lease(2)
    assert torch.get_num_threads() == 2
    b = threads.lease(1)
    assert torch.get_num_threads() == 1
    a.release()  # the first taker ends first: save-and-restore would now put back 4 while b runs
    assert torch.get_num_threads() == 3
    b.release()
    b.release()
    assert torch.get_num_threads() == threads.target() == 4
    with threads.reserved(10) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == 4


def test_another_threads_lease_reaches_a_worker_that_applies(four_threads):
    seen = []
    held = threading.Event()
    done = threading.Event()

    def scan_like():
        with threads.reserved(3):
            held.set()
            done.wait(10)

    other = threading.Thread(target=scan_like)
    other.start()
    held.wait(10)
    seen.append(threads.apply())
    done.set()
    other.join()
    seen.append(threads.apply())
    assert seen == [1, 4]


def test_no_leak_after_a_scan_and_a_training_run(tmp_path, home, random_model):
    from app.library.db import Library
    from app.library.scanner import scan
    from model.train.datasets import scan_folder
    from model.train.loop import TrainConfig, create_run, train_run

    base = threads.base()
    music = tmp_path / "music"
    music.mkdir()
    make_track(music / "a.wav", "tones", 3.0)
    with Library() as lib:
        scan(lib, [music], workers=0)
    assert torch.get_num_threads() == base

    ds_root = tmp_path / "ds"
    for kind in ("tones", "noise"):
        (ds_root / kind).mkdir(parents=True)
        for i in range(4):
            make_track(ds_root / kind / f"{i}.wav", kind, seconds=1.2, seed=i)
    during = []
    cfg = TrainConfig(protocol="holdout", valid_frac=0.25, test_frac=0.25, batch_size=4, clip_seconds=1.0,
                      epochs=1, precision="fp32")
    run = create_run(home / "runs", home / "cache", scan_folder(ds_root), cfg)
    train_run(run, home / "models", home / "cache",
              lambda e: during.append(torch.get_num_threads()) if e.kind == "batch" else None)
    assert during == [base] and torch.get_num_threads() == base
