"""Keras 2.0.6 ReduceLROnPlateau and EarlyStopping, both watching the epoch-mean training loss.

The counter semantics follow SPEC.md exactly (PyTorch's ReduceLROnPlateau differs); replaying the
authors' `*_log.csv` loss column reproduces their lr column and their last epoch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class KerasSchedule:
    lr: float = 0.01
    factor: float = 0.5
    lr_patience: int = 3
    lr_min_delta: float = 1e-4
    stop_patience: int = 10
    stop_min_delta: float = 0.01
    best_lr: float = math.inf
    wait_lr: int = 0
    best_es: float = math.inf
    wait_es: int = 0
    stopped: bool = False

    def step(self, loss: float) -> float:
        """Feed one epoch's training loss; returns the learning rate for the next epoch."""
        if loss < self.best_lr - self.lr_min_delta:
            self.best_lr, self.wait_lr = loss, 0
        else:
            if self.wait_lr >= self.lr_patience:
                self.lr *= self.factor
                self.wait_lr = 0
            self.wait_lr += 1
        if loss < self.best_es - self.stop_min_delta:
            self.best_es, self.wait_es = loss, 0
        else:
            if self.wait_es >= self.stop_patience:
                self.stopped = True
            self.wait_es += 1
        return self.lr

    def state_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict) -> "KerasSchedule":
        return cls(**{k: state[k] for k in cls.__dataclass_fields__ if k in state})
