"""Run a model over cached mels: class probabilities, loss and accuracy; evaluate a stored model on a data set."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..bbnn import BBNN
from ..device import autocast_dtype
from .datasets import Dataset, DatasetError
from .report import classification_metrics, plot_confusion, write_json


def batch_tensor(mels: list[np.ndarray], device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(np.stack([np.asarray(m, dtype=np.float32) for m in mels])).unsqueeze(1)
    x = x.to(device)
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cpu" else x


@torch.no_grad()
def predict_mels(model: BBNN, mels: list[np.ndarray], device: torch.device, precision: str = "fp32",
                 batch_size: int = 16, should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """(N, classes) float32 probabilities; the model is put in eval mode."""
    model.eval()
    dtype = autocast_dtype(device, precision)
    out = []
    for i in range(0, len(mels), batch_size):
        if should_stop and should_stop():
            raise InterruptedError("stopped")
        x = batch_tensor(mels[i:i + batch_size], device)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(x).logits
        out.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.n_classes), np.float32)


def loss_and_accuracy(probs: np.ndarray, labels: list[int]) -> tuple[float, float]:
    if len(labels) == 0:
        return float("nan"), float("nan")
    y = torch.as_tensor(labels)
    p = torch.from_numpy(probs).clamp_min(1e-12)
    return float(F.nll_loss(p.log(), y)), float((p.argmax(1) == y).float().mean())


def align_classes(dataset: Dataset, model_classes: list[str]) -> tuple[list[int], list[int], list[str]]:
    """Indices of the data set's items whose class the model knows, their labels in the model's
    order, and the data set classes the model does not have."""
    lower = {c.lower(): i for i, c in enumerate(model_classes)}
    unknown = [c for c in dataset.classes if c.lower() not in lower]
    keep, labels = [], []
    for i, it in enumerate(dataset.items):
        j = lower.get(dataset.classes[it.label].lower())
        if j is not None:
            keep.append(i)
            labels.append(j)
    if not keep:
        raise DatasetError(f"none of the data set's classes ({', '.join(dataset.classes)}) is one of the "
                           f"model's ({', '.join(model_classes)})")
    return keep, labels, unknown


def evaluate_on(model: BBNN, classes: list[str], mels: list[np.ndarray], labels: list[int],
                device: torch.device, precision: str = "fp32", should_stop: Callable[[], bool] | None = None) -> dict:
    probs = predict_mels(model, mels, device, precision, should_stop=should_stop)
    loss, _ = loss_and_accuracy(probs, labels)
    metrics = classification_metrics(labels, probs.argmax(1), classes)
    metrics["loss"] = loss
    return metrics


def evaluate_dataset(model: BBNN, manifest, dataset: Dataset, cache_root, out_root, device: torch.device,
                     should_stop: Callable[[], bool] | None = None, progress=None) -> dict:
    """Test a stored model (with its Manifest) on a labelled data set: mels through the cache, the
    classes both know, metrics plus model, dataset, skipped files and unknown classes; writes
    report.json and confusion.png under out_root/<time>-<model>/ (metrics["report"] is the folder).
    Raises DatasetError when no class matches, InterruptedError when stopped."""
    import time
    from pathlib import Path

    from .mel_cache import MelCache

    melset = MelCache(cache_root, manifest.spec).build(dataset, progress, should_stop)
    keep, labels, unknown = align_classes(melset.dataset, manifest.classes)
    metrics = evaluate_on(model.to(device), manifest.classes, [melset.mels[i] for i in keep], labels, device,
                          should_stop=should_stop)
    out = Path(out_root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{manifest.name}"
    n = 1
    while out.exists():
        n += 1
        out = Path(out_root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{manifest.name}-{n}"
    out.mkdir(parents=True)
    metrics.update(model=manifest.name, dataset=dataset.source, skipped=melset.dataset.skipped,
                   unknown_classes=unknown, report=str(out))
    write_json(out / "report.json", metrics)
    plot_confusion(metrics["confusion"], manifest.classes, out / "confusion.png",
                   f"{manifest.name}: {metrics['accuracy']:.1%}")
    return metrics
