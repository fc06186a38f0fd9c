"""How long a run will take: a timed batch on the chosen device before the start, and a live ETA.

`measure` times real training steps, a precise-BatchNorm pass and inference on random clips of the
run's shape (after one warm-up step); `Timing` turns counts of batches and clips into seconds;
`RunClock` follows a run as it goes, replacing the measured rates with the ones it observes.
`suggest` picks a protocol, split sizes and epochs from the size of a data set.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field


@dataclass
class Timing:
    train_batch: float  # seconds per training step of one batch
    eval_clip: float  # seconds per clip in inference (validation, test)
    bn_clip: float  # seconds per clip in the precise-BatchNorm pass

    def epoch(self, n_train: int, n_valid: int, batch_size: int, precise_bn: bool) -> float:
        return (math.ceil(n_train / batch_size) * self.train_batch + (n_train * self.bn_clip if precise_bn else 0.0)
                + n_valid * self.eval_clip)

    def to_dict(self) -> dict:
        return asdict(self)


def split_sizes(protocol: str, n: int, folds: int, valid_frac: float, test_frac: float) -> list[dict]:
    """Approximate {train, valid, test} sizes of each split a protocol makes of n items."""
    if protocol == "kfold":
        test = n / folds
        valid = (n - test) / (folds - 1) if folds > 1 else 0
        return [{"train": round(n - test - valid), "valid": round(valid), "test": round(test)}] * folds
    if protocol == "paper":
        valid_frac, test_frac = 0.1, 0.1
    else:
        folds = 1
    valid, test = round(n * valid_frac), round(n * test_frac)
    return [{"train": n - valid - test, "valid": valid, "test": test}] * folds


def run_seconds(timing: Timing, splits: list[dict], epochs: int, batch_size: int, precise_bn: bool) -> float:
    """Upper bound: every split trains all epochs (early stopping often ends sooner)."""
    return sum(epochs * timing.epoch(s["train"], s["valid"], batch_size, precise_bn) + s["test"] * timing.eval_clip
               for s in splits)


def measure(n_classes: int, n_frames: int, n_mels: int, batch_size: int, device, precision: str,
            steps: int = 2) -> Timing:
    """Time `steps` training steps (after a warm-up), a precise-BN pass and inference on random clips."""
    import torch
    import torch.nn.functional as F

    from ..bbnn import BBNN
    from ..device import autocast_dtype
    from .precise_bn import recompute_bn_stats

    model = BBNN(n_classes).to(device)
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    model = model.to(memory_format=layout)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    dtype = autocast_dtype(device, precision)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, 1, n_frames, n_mels, generator=gen).mul(15).sub(30).to(device)
    x = x.contiguous(memory_format=layout)
    y = torch.arange(batch_size, device=device) % n_classes

    def autocast():
        return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step():
        model.train()
        with autocast():
            loss = F.cross_entropy(model(x).logits.float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    step()
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    train_batch = (time.perf_counter() - t) / steps
    t = time.perf_counter()
    with autocast():
        recompute_bn_stats(model, [x])
    sync()
    bn_clip = (time.perf_counter() - t) / batch_size
    model.eval()
    t = time.perf_counter()
    with torch.no_grad(), autocast():
        model(x)
    sync()
    eval_clip = (time.perf_counter() - t) / batch_size
    return Timing(train_batch, eval_clip, bn_clip)


@dataclass
class RunClock:
    """Live ETA of a run: what is left, priced at the rates observed so far (measured ones at first)."""

    timing: Timing
    splits: list[dict]  # sizes of the splits still to train, in order (the current one first)
    epochs: int
    batch_size: int
    precise_bn: bool
    observed: dict = field(default_factory=dict)  # kind -> (seconds, count)

    def observe(self, kind: str, seconds: float, count: int) -> None:
        """kind: 'train_batch', 'eval_clip' or 'bn_clip'. The estimate becomes the observed mean."""
        s, n = self.observed.get(kind, (0.0, 0))
        self.observed[kind] = (s + seconds, n + count)
        setattr(self.timing, kind, self.observed[kind][0] / self.observed[kind][1])

    def remaining(self, split_pos: int, epoch: int, steps_done: int, phase: str = "train") -> float:
        """Seconds left when split number `split_pos` of `splits` is in `epoch`: phase 'train' (with
        `steps_done` steps of it done), 'valid', 'done' (the epoch finished) or 'test'."""
        t, cur = self.timing, self.splits[split_pos]
        total = cur["test"] * t.eval_clip
        if phase == "train":
            steps = math.ceil(cur["train"] / self.batch_size)
            total += (steps - steps_done) * t.train_batch + (cur["train"] * t.bn_clip if self.precise_bn else 0.0)
        if phase in ("train", "valid"):
            total += cur["valid"] * t.eval_clip
        if phase != "test":
            per_epoch = t.epoch(cur["train"], cur["valid"], self.batch_size, self.precise_bn)
            total += max(0, self.epochs - epoch - 1) * per_epoch
        return total + run_seconds(t, self.splits[split_pos + 1:], self.epochs, self.batch_size, self.precise_bn)


def format_seconds(seconds: float) -> str:
    """'45 s', '12 min', '3 h 05 min', '2 d 4 h'."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s" if s < 600 else f"{round(s / 60)} min"
    if s < 86400:
        return f"{s // 3600} h {(s % 3600) // 60:02d} min"
    return f"{s // 86400} d {(s % 86400) // 3600} h"


def estimate_text(epoch_seconds: float, total_seconds: float, epochs: int, splits: int, device: str,
                  precision: str) -> str:
    """The sentence shown before a run starts."""
    return (f"about {format_seconds(epoch_seconds)} per epoch on {device} ({precision}); at most "
            f"{format_seconds(total_seconds)} for {epochs} epoch{'s' if epochs != 1 else ''} x {splits} "
            f"split{'s' if splits != 1 else ''} (early stopping often ends sooner)")


def suggest(counts: dict[str, int]) -> dict:
    """Protocol, splits, held-out fractions and epochs for a data set with these files per class,
    and a sentence saying why."""
    n, smallest = sum(counts.values()), min(counts.values(), default=0)
    if n >= 500 and smallest >= 20:
        return {"protocol": "paper", "folds": 10, "valid_frac": 0.1, "test_frac": 0.1, "epochs": 100,
                "why": f"{n} files: the paper's protocol (10 random 80/10/10 splits, up to 100 epochs)"}
    if n >= 150 and smallest >= 10:
        return {"protocol": "kfold", "folds": 5, "valid_frac": 0.1, "test_frac": 0.1, "epochs": 50,
                "why": f"{n} files: 5 disjoint folds test every file once; up to 50 epochs"}
    return {"protocol": "holdout", "folds": 1, "valid_frac": 0.2, "test_frac": 0.2, "epochs": 30,
            "why": f"{n} files (fewest in a class: {smallest}): one split keeping 20 % for validation and "
                   f"20 % for test, so each class has files in both; up to 30 epochs"}
