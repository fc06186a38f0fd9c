"""The Keras 2.0.6 LR schedule and early stopping replay the authors' 20 training logs exactly."""

from __future__ import annotations

import csv

import pytest

from model.train.schedule import KerasSchedule


def _logs(authors_dir):
    logs = sorted(authors_dir.glob("*_log.csv"))
    assert len(logs) == 20
    return logs


def test_replaying_loss_reproduces_lr_and_last_epoch(authors_dir):
    for log in _logs(authors_dir):
        rows = list(csv.DictReader(log.open()))
        sched, lrs = KerasSchedule(lr=0.01), []
        for row in rows:
            lrs.append(sched.lr)
            sched.step(float(row["loss"]))
            if sched.stopped or len(lrs) == 100:
                break
        assert len(lrs) == len(rows), log.name  # stopped exactly at the log's last epoch
        assert int(rows[-1]["epoch"]) == len(lrs) - 1
        assert lrs == pytest.approx([float(r["lr"]) for r in rows], rel=1e-6), log.name
        if len(rows) < 100:
            assert sched.stopped, log.name


def test_schedule_state_round_trips():
    s = KerasSchedule(lr=0.01)
    for loss in [1.0, 0.9, 0.9, 0.9, 0.9, 0.9]:
        s.step(loss)
    t = KerasSchedule.from_state(s.state_dict())
    assert t == s and t.lr == 0.005
