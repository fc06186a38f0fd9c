"""Run a model over cached mels: class probabilities, loss and accuracy; evaluate a stored model on a data set."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..bbnn import BBNN
from ..device import autocast_dtype
from .datasets import Dataset, DatasetError
from .report import classification_metrics


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
