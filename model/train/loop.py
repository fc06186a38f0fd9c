"""Training runs: SPEC.md's protocol (Adam 0.01, batch 8, Keras LR schedule and early stopping on
the training loss, best-validation checkpoint, test of that checkpoint), one run per folder. After
each epoch's optimisation, BatchNorm's running statistics are recomputed over the training windows
(precise BN, `TrainConfig.precise_bn`, see precise_bn.py) before validation and before any save.

A run folder holds everything: config.json, dataset.json (the files used and the ones skipped),
splits.json (the indices), state.json, fold<k>/{checkpoint.pt, history.json, best.safetensors,
result.json}, and at the end report.json, curves.png, confusion.png. A checkpoint is written after
every epoch (tensors, dicts, lists and numbers only: torch.load(weights_only=True) reads it), so a
killed or stopped run resumes at its last finished epoch. Every random draw after initialisation
comes from a generator seeded by (seed, fold, epoch), so a resumed run trains exactly like an
uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from .. import threads
from ..bbnn import BBNN
from ..device import autocast_dtype, cpu_has_native_bf16, pick_device
from ..mel import MelSpec
from ..store import Manifest, ModelStore
from .augment import AugmentConfig, augment
from .datasets import Dataset, Item
from .estimate import RunClock, Timing, measure
from .evaluate import batch_tensor, evaluate_on, loss_and_accuracy, predict_mels
from .mel_cache import MelCache, MelSet
from .precise_bn import recompute_bn_stats
from .report import plot_confusion, plot_curves, write_json
from .schedule import KerasSchedule
from .splits import make_splits

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    protocol: str = "paper"
    folds: int = 10  # splits for 'paper' and 'kfold'
    only_folds: list[int] | None = None  # train just these of them
    epochs: int = 100
    batch_size: int = 8
    lr: float = 0.01
    seed: int = 0
    valid_frac: float = 0.1  # 'holdout'
    test_frac: float = 0.1
    clip_seconds: float | None = None  # None: SPEC.md's 661,794 samples (or the base model's clip)
    augment: bool = False
    augment_params: dict = field(default_factory=lambda: AugmentConfig().to_dict())
    from_model: str | None = None
    model_name: str | None = None
    device: str | None = None
    bn_momentum: float = 0.01  # Keras 2.0.6's, used while optimising
    precise_bn: bool = True  # running statistics recomputed over the training windows after each epoch
    precision: str = "auto"  # auto: fp16 (bf16 where supported) on CUDA, bf16 on CPUs with AMX/AVX512-BF16

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class TrainEvent:
    kind: str  # 'cache', 'estimate', 'batch', 'phase', 'epoch', 'fold', 'done'
    fold: int = 0
    n_folds: int = 1
    epoch: int = 0
    epochs: int = 0
    done: int = 0
    total: int = 0
    metrics: dict = field(default_factory=dict)
    message: str = ""
    eta_seconds: float | None = None  # what is left of the run, at the rates seen so far


EventFn = Callable[[TrainEvent], None]


class Stopped(Exception):
    """The user asked the run to stop; it can be resumed."""


class TrainError(Exception):
    """A run cannot go on; message is for the user."""


def _name_ok(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:40] or "run"


class Run:
    """One run folder."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.dir = Path(path)
        if not (self.dir / "config.json").exists():
            raise TrainError(f"{self.dir} is not a training run")

    @property
    def id(self) -> str:
        return self.dir.name

    def _read(self, name: str, default=None):
        try:
            return json.loads((self.dir / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return default

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self._read("config.json")["train"])

    @property
    def spec(self) -> MelSpec:
        return MelSpec.from_dict(self._read("config.json")["spec"])

    @property
    def dataset(self) -> Dataset:
        d = self._read("dataset.json")
        return Dataset(d["classes"], [Item(**it) for it in d["items"]], d["source"], d.get("skipped", []))

    @property
    def splits(self) -> list[dict]:
        return self._read("splits.json")

    def state(self) -> dict:
        return self._read("state.json", {"status": "new"})

    def set_state(self, **fields) -> None:
        write_json(self.dir / "state.json", {**self.state(), **fields, "updated": time.time()})

    def report(self) -> dict | None:
        return self._read("report.json")

    def history(self, fold: int) -> list[dict]:
        return self._read(f"fold{fold}/history.json", [])

    def folds_to_train(self) -> list[int]:
        only = self.config.only_folds
        return [k for k in range(len(self.splits)) if only is None or k in only]

    def summary(self) -> dict:
        """What a run list shows."""
        cfg, state, report = self._read("config.json"), self.state(), self.report() or {}
        return {"id": self.id, "status": state.get("status"), "protocol": cfg["train"]["protocol"],
                "source": cfg.get("source"), "classes": cfg.get("classes"), "created": cfg.get("created"),
                "fold": state.get("fold"), "epoch": state.get("epoch"),
                "test_accuracy": report.get("test_accuracy"), "model": report.get("model")}


def list_runs(runs_root: str | os.PathLike) -> list[Run]:
    root = Path(runs_root)
    if not root.is_dir():
        return []
    return [Run(d) for d in sorted(root.iterdir()) if (d / "config.json").exists()]


def delete_run(runs_root: str | os.PathLike, run_id: str, force: bool = False) -> None:
    """Remove a run folder (its model stays in the store). A run marked running is kept unless forced:
    it may be training in another process (or it was killed)."""
    path = Path(runs_root) / run_id
    if not run_id or Path(run_id).name != run_id or run_id in (".", "..") or not (path / "config.json").exists():
        raise TrainError(f"no run {run_id!r} (see 'cratedigger runs')")
    if Run(path).state().get("status") == "running" and not force:
        raise TrainError(f"run {run_id} is marked running (training now, or killed); --force deletes it anyway")
    shutil.rmtree(path)


def run_spec(config: TrainConfig, base: MelSpec | None = None) -> MelSpec:
    spec = base or MelSpec()
    if config.clip_seconds is not None:
        spec = MelSpec.from_dict({**spec.to_dict(), "clip_samples": int(round(config.clip_seconds * spec.sample_rate))})
    if spec.n_frames < 8:
        raise TrainError(f"clips of {spec.clip_seconds:.2f} s are too short for the network (need >= 8 frames)")
    return spec


def create_run(runs_root: str | os.PathLike, cache_root: str | os.PathLike, dataset: Dataset, config: TrainConfig,
               base_spec: MelSpec | None = None, on_event: EventFn | None = None,
               should_stop: Callable[[], bool] | None = None) -> Run:
    """Build the mel cache, drop unreadable files (listed in dataset.json), split, and write the run folder."""
    spec = run_spec(config, base_spec)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    config.model_name = config.model_name or _name_ok(f"{Path(dataset.source).name}-{config.protocol}-{stamp}")
    melset = _build_mels(cache_root, spec, dataset, on_event, should_stop)
    usable = melset.dataset
    counts = usable.counts()
    if sum(1 for n in counts.values() if n > 0) < 2:
        raise TrainError("fewer than two classes have readable files")
    splits = make_splits(config.protocol, usable.labels, [it.key for it in usable.items], config.seed,
                         config.folds, config.valid_frac, config.test_frac)
    root = Path(runs_root)
    root.mkdir(parents=True, exist_ok=True)
    run_dir = root / f"{stamp}-{_name_ok(config.model_name)}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = root / f"{stamp}-{_name_ok(config.model_name)}-{n}"
    run_dir.mkdir()
    write_json(run_dir / "dataset.json", {"source": usable.source, "classes": usable.classes,
                                          "items": [asdict(it) for it in usable.items], "skipped": usable.skipped})
    write_json(run_dir / "splits.json", splits)
    write_json(run_dir / "config.json", {"train": asdict(config), "spec": spec.to_dict(), "source": usable.source,
                                         "classes": usable.classes, "counts": counts, "created": time.time(),
                                         "skipped": len(usable.skipped)})
    run = Run(run_dir)
    run.set_state(status="ready", fold=None, epoch=None)
    return run


def _build_mels(cache_root, spec, dataset, on_event, should_stop) -> MelSet:
    def progress(done: int, total: int) -> None:
        if on_event:
            on_event(TrainEvent("cache", done=done, total=total, message="computing mel spectrograms"))

    try:
        return MelCache(cache_root, spec).build(dataset, progress, should_stop)
    except InterruptedError:
        raise Stopped("stopped while building the mel cache") from None


def _resolve_precision(precision: str, device: torch.device) -> str:
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _save_weights(model: BBNN, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, path)


def _init_model(n_classes: int, base: BBNN | None, base_classes: list[str] | None, classes: list[str],
                bn_momentum: float) -> BBNN:
    if base is None:
        model = BBNN(n_classes)
    else:
        model = BBNN(base.n_classes)
        model.load_state_dict(base.state_dict())
        if base_classes != classes:
            model.replace_classifier(n_classes)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = bn_momentum
    return model


@dataclass
class _Job:
    """What every split of a run shares while it trains."""

    run: Run
    cfg: TrainConfig
    mels: list[np.ndarray]
    labels: list[int]
    classes: list[str]
    device: torch.device
    precision: str
    base: tuple[BBNN, list[str]] | None
    emit: EventFn
    stop: Callable[[], bool]
    clock: RunClock
    n_folds: int

    @property
    def dtype(self) -> torch.dtype | None:
        return autocast_dtype(self.device, self.precision)

    def autocast(self):
        dtype = self.dtype
        return torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None)

    def event(self, kind: str, k: int, pos: int, epoch: int, phase: str, done: int = 0, total: int = 0,
              metrics: dict | None = None, message: str = "") -> None:
        eta = self.clock.remaining(pos, epoch, done, phase)
        self.emit(TrainEvent(kind, fold=k, n_folds=self.n_folds, epoch=epoch, epochs=self.cfg.epochs, done=done,
                             total=total, metrics=metrics or {}, message=message, eta_seconds=eta))


@dataclass
class _Fold:
    """One split's training state, as checkpointed after every epoch."""

    k: int
    pos: int  # position among the splits this call trains
    split: dict
    dir: Path
    model: BBNN
    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    sched: KerasSchedule
    history: list[dict]
    best_val: float
    start: int


def train_run(run: Run, models_root: str | os.PathLike, cache_root: str | os.PathLike,
              on_event: EventFn | None = None, should_stop: Callable[[], bool] | None = None,
              base: tuple[BBNN, list[str]] | None = None) -> dict:
    """Train (or resume) every fold of the run, then write the report and save the model to the store.

    `base` is (model, classes) to fine-tune from. Raises Stopped when stopped (resumable), whether
    during a batch, BatchNorm statistics, validation or test."""
    cfg, spec, dataset, splits = run.config, run.spec, run.dataset, run.splits
    emit = on_event or (lambda e: None)
    stop = should_stop or (lambda: False)
    melset = _build_mels(cache_root, spec, dataset, on_event, should_stop)
    if len(melset.dataset.items) != len(dataset.items):
        gone = ", ".join(s["path"] for s in melset.dataset.skipped[:3])
        raise TrainError(f"files of this run can no longer be read ({gone}); start a new run")
    device = pick_device(cfg.device)
    precision = _resolve_precision(cfg.precision, device)
    folds = run.folds_to_train()
    pending = [k for k in folds if run._read(f"fold{k}/result.json") is None]
    results = {}
    run.set_state(status="running", precision=precision, device=str(device), error=None)
    log.info("training %s %s: %d files, %d classes, folds %s (%d to train), %d epochs, %s on %s", run.id,
             "resumed" if any(run.history(k) for k in folds) else "started", len(dataset.items), len(dataset.classes), folds, len(pending), cfg.epochs, precision, device)
    try:
        threads.apply()
        job = _Job(run, cfg, melset.mels, dataset.labels, dataset.classes, device, precision, base, emit, stop,
                   _clock(cfg, spec, dataset, splits, pending, device, precision), len(folds))
        emit(_estimate_event(job, pending))
        for k in folds:
            result = run._read(f"fold{k}/result.json")
            if result is None:
                result = _train_fold(job, k, pending.index(k), splits[k])
            results[k] = result
            emit(TrainEvent("fold", fold=k, n_folds=len(folds), metrics=result))
    except Stopped as e:
        run.set_state(status="stopped")
        log.info("training %s stopped (%s); it resumes from its last finished epoch", run.id, e)
        raise
    except BaseException as e:
        run.set_state(status="failed", error=str(e)[:300])
        log.warning("training %s failed: %s", run.id, str(e).splitlines()[0] if str(e) else type(e).__name__)
        raise
    report = _finish(run, results, dataset.classes, spec, cfg, models_root)
    run.set_state(status="finished")
    log.info("training %s finished: %s", run.id, _report_line(report))
    emit(TrainEvent("done", n_folds=len(folds), metrics=report))
    return report


def _clock(cfg: TrainConfig, spec: MelSpec, dataset: Dataset, splits: list[dict], pending: list[int],
           device: torch.device, precision: str) -> RunClock:
    if not pending:
        return RunClock(Timing(0.0, 0.0, 0.0), [], cfg.epochs, cfg.batch_size, cfg.precise_bn)
    timing = measure(len(dataset.classes), spec.n_frames, spec.n_mels, cfg.batch_size, device, precision, steps=1)
    sizes = [{part: len(splits[k][part]) for part in ("train", "valid", "test")} for k in pending]
    return RunClock(timing, sizes, cfg.epochs, cfg.batch_size, cfg.precise_bn)


def _estimate_event(job: _Job, pending: list[int]) -> TrainEvent:
    clock = job.clock
    first = clock.splits[0] if clock.splits else {"train": 0, "valid": 0}
    per_epoch = clock.timing.epoch(first["train"], first["valid"], job.cfg.batch_size, job.cfg.precise_bn)
    total = clock.remaining(0, 0, 0) if pending else 0.0
    return TrainEvent("estimate", n_folds=job.n_folds, epochs=job.cfg.epochs, eta_seconds=total,
                      metrics={"epoch_seconds": per_epoch, "total_seconds": total, "splits_left": len(pending),
                               "device": str(job.device), "precision": job.precision,
                               "timing": clock.timing.to_dict()})


def _stoppable(what: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except InterruptedError:
        raise Stopped(f"stopped while {what}") from None


def _open_fold(job: _Job, k: int, pos: int, split: dict) -> _Fold:
    """A fresh model for split k (seeded), or the state of its last checkpoint."""
    cfg, device = job.cfg, job.device
    fold_dir = job.run.dir / f"fold{k}"
    fold_dir.mkdir(exist_ok=True)
    torch.manual_seed(_seed(cfg.seed, k, 0xB))
    base = job.base
    model = _init_model(len(job.classes), base[0] if base else None, base[1] if base else None, job.classes,
                        cfg.bn_momentum).to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8)
    scaler = torch.amp.GradScaler(device.type, enabled=job.dtype == torch.float16)
    fold = _Fold(k, pos, split, fold_dir, model, opt, scaler, KerasSchedule(lr=cfg.lr), [], -1.0, 0)
    ckpt_path = fold_dir / "checkpoint.pt"
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        fold.sched = KerasSchedule.from_state(ckpt["schedule"])
        fold.history, fold.best_val, fold.start = ckpt["history"], ckpt["best_val"], ckpt["epoch"] + 1
    return fold


def _train_fold(job: _Job, k: int, pos: int, split: dict) -> dict:
    cfg = job.cfg
    fold = _open_fold(job, k, pos, split)
    valid = split["valid"]
    for epoch in range(fold.start, cfg.epochs):
        if fold.sched.stopped:
            break
        threads.apply()  # follows leases taken meanwhile (a scan) in this thread too
        t0 = time.perf_counter()
        loss, acc = _train_epoch(job, fold, epoch)
        if cfg.precise_bn:
            _precise_bn(job, fold, epoch)
        job.event("phase", k, pos, epoch, "valid", message="validating")
        val_loss, val_acc = _evaluate_split(job, fold.model, valid, "validating") if valid else (math.nan, math.nan)
        row = {"epoch": epoch, "loss": loss, "acc": acc, "lr": fold.sched.lr, "val_loss": val_loss,
               "val_acc": val_acc, "seconds": time.perf_counter() - t0}
        fold.history.append(row)
        if not valid or val_acc > fold.best_val:
            fold.best_val = val_acc if valid else fold.best_val
            _save_weights(fold.model, fold.dir / "best.safetensors")
            row["best"] = True
        fold.sched.step(loss)
        _atomic_save({"model": fold.model.state_dict(), "optimizer": fold.opt.state_dict(),
                      "scaler": fold.scaler.state_dict(), "schedule": fold.sched.state_dict(),
                      "history": fold.history, "best_val": fold.best_val, "epoch": epoch}, fold.dir / "checkpoint.pt")
        write_json(fold.dir / "history.json", fold.history)
        job.run.set_state(fold=k, epoch=epoch)
        log.info("training %s fold %d epoch %d/%d: loss %.4f, accuracy %.3f, validation loss %.4f, accuracy %.3f, "
                 "lr %.2g, %.1f s%s", job.run.id, k, epoch + 1, cfg.epochs, loss, acc, val_loss, val_acc, row["lr"],
                 row["seconds"], " (best so far)" if row.get("best") else "")
        job.event("epoch", k, pos, epoch, "done", metrics=row)
    result = _test_fold(job, fold)
    log.info("training %s fold %d tested: %s", job.run.id, k,
             ", ".join(f"{name} {value:.3f}" for name, value in result.items() if isinstance(value, float)) or "done")
    return result


def _report_line(report: dict) -> str:
    """The run's headline numbers, for the log."""
    numbers = [f"{name} {value:.3f}" for name, value in report.items() if isinstance(value, float)]
    return ", ".join(numbers[:6]) or "no test metrics"


def _train_epoch(job: _Job, fold: _Fold, epoch: int) -> tuple[float, float]:
    """One pass of optimisation over the split's training windows; (mean loss, accuracy)."""
    cfg, device, model = job.cfg, job.device, fold.model
    train = fold.split["train"]
    for group in fold.opt.param_groups:
        group["lr"] = fold.sched.lr
    g = torch.Generator().manual_seed(_seed(cfg.seed, fold.k, epoch))
    order = [train[i] for i in torch.randperm(len(train), generator=g).tolist()]
    aug = AugmentConfig(**cfg.augment_params) if cfg.augment else None
    steps = math.ceil(len(train) / cfg.batch_size)
    model.train()
    loss_sum, correct = 0.0, 0
    for step in range(steps):
        if job.stop():
            raise Stopped(f"stopped in fold {fold.k}, epoch {epoch + 1}")
        t0 = time.perf_counter()
        idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        x = torch.from_numpy(np.stack([np.asarray(job.mels[i], dtype=np.float32) for i in idx]))
        if aug is not None:
            x = augment(x, aug, g)
        x = x.unsqueeze(1).to(device)
        if device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.as_tensor([job.labels[i] for i in idx], device=device)
        with job.autocast():
            logits = model(x).logits
        loss = F.cross_entropy(logits.float(), y)
        fold.opt.zero_grad(set_to_none=True)
        fold.scaler.scale(loss).backward()
        fold.scaler.step(fold.opt)
        fold.scaler.update()
        loss_sum += float(loss.detach()) * len(idx)
        correct += int((logits.argmax(1) == y).sum())
        job.clock.observe("train_batch", time.perf_counter() - t0, 1)
        job.event("batch", fold.k, fold.pos, epoch, "train", done=step + 1, total=steps)
    return loss_sum / len(train), correct / len(train)


def precise_bn_batch(batch_size: int) -> int:
    """Windows per forward pass when BatchNorm statistics are recomputed: larger than the training
    batch (closer to the population, nothing to back-propagate), capped for memory."""
    return max(batch_size, 16)


def _precise_bn(job: _Job, fold: _Fold, epoch: int) -> None:
    job.event("phase", fold.k, fold.pos, epoch, "train", done=math.ceil(len(fold.split["train"]) / job.cfg.batch_size),
              message="recomputing BatchNorm statistics")
    train, size = sorted(fold.split["train"]), precise_bn_batch(job.cfg.batch_size)
    batches = (batch_tensor([job.mels[i] for i in train[i:i + size]], job.device) for i in range(0, len(train), size))
    t0 = time.perf_counter()
    with job.autocast():
        _stoppable("recomputing BatchNorm statistics", recompute_bn_stats, fold.model, batches, job.stop)
    job.clock.observe("bn_clip", time.perf_counter() - t0, len(train))


def _evaluate_split(job: _Job, model: BBNN, idx: list[int], what: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    probs = _stoppable(what, predict_mels, model, [job.mels[i] for i in idx], job.device, job.precision,
                       should_stop=job.stop)
    job.clock.observe("eval_clip", time.perf_counter() - t0, len(idx))
    return loss_and_accuracy(probs, [job.labels[i] for i in idx])


def _test_fold(job: _Job, fold: _Fold) -> dict:
    """Test the split's best checkpoint and write its result.json."""
    test = fold.split["test"]
    last = fold.history[-1]["epoch"] if fold.history else 0
    job.event("phase", fold.k, fold.pos, last, "test", message="testing")
    fold.model.load_state_dict(load_file(str(fold.dir / "best.safetensors")))
    metrics = _stoppable("testing", evaluate_on, fold.model, job.classes, [job.mels[i] for i in test],
                         [job.labels[i] for i in test], job.device, job.precision, should_stop=job.stop)
    best = max((h for h in fold.history if h.get("best")), key=lambda h: h["epoch"])
    result = {"fold": fold.k, "test_accuracy": metrics["accuracy"], "test": metrics, "best_epoch": best["epoch"],
              "val_accuracy": best["val_acc"], "epochs_run": len(fold.history), "early_stopped": fold.sched.stopped,
              "sizes": {part: len(fold.split[part]) for part in ("train", "valid", "test")}}
    write_json(fold.dir / "result.json", result)
    return result


def _finish(run: Run, results: dict[int, dict], classes: list[str], spec: MelSpec, cfg: TrainConfig,
            models_root: str | os.PathLike) -> dict:
    accs = [r["test_accuracy"] for r in results.values()]
    chosen = max(results, key=lambda k: (results[k]["val_accuracy"] if not math.isnan(results[k]["val_accuracy"])
                                         else results[k]["test_accuracy"], -k))
    confusion = np.sum([r["test"]["confusion"] for r in results.values()], axis=0).tolist()
    model = BBNN(len(classes))
    model.load_state_dict(load_file(str(run.dir / f"fold{chosen}" / "best.safetensors")))
    summary = {
        "run": run.id, "protocol": cfg.protocol, "classes": classes, "folds": sorted(results),
        "test_accuracy": float(np.mean(accs)), "test_accuracy_std": float(np.std(accs)),
        "per_fold": {str(k): {"test_accuracy": r["test_accuracy"], "val_accuracy": r["val_accuracy"],
                              "best_epoch": r["best_epoch"], "epochs_run": r["epochs_run"]} for k, r in results.items()},
        "confusion": confusion, "chosen_fold": chosen, "chosen_fold_test": results[chosen]["test"],
        "model": cfg.model_name, "skipped": run.dataset.skipped, "spec": spec.to_dict(),
    }
    plot_curves({f"fold {k}": run.history(k) for k in results}, run.dir / "curves.png")
    plot_confusion(confusion, classes, run.dir / "confusion.png",
                   f"test, {len(results)} fold(s): {summary['test_accuracy']:.1%}")
    summary["plots"] = ["curves.png", "confusion.png"]
    manifest = Manifest(name=cfg.model_name, classes=list(classes), source=f"trained:{run.id}", input=spec.to_dict(),
                        metrics={"test_accuracy": results[chosen]["test_accuracy"],
                                 "mean_test_accuracy": summary["test_accuracy"], "protocol": cfg.protocol,
                                 "fold": chosen, "run": run.id},
                        notes=f"trained by Cratedigger on {run.dataset.source}")
    ModelStore(models_root).save(model, manifest, activate=False)
    write_json(run.dir / "report.json", summary)
    return summary
