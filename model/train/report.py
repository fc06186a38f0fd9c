"""Test metrics (accuracy, per-class precision/recall/F1, confusion matrix) and the PNG plots."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np


def classification_metrics(y_true: list[int] | np.ndarray, y_pred: list[int] | np.ndarray, classes: list[str]) -> dict:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(classes)))
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "n": int(len(y_true)),
        "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, c in enumerate(classes)},
        "macro_f1": float(f.mean()) if len(f) else 0.0,
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),  # rows: true, columns: predicted
        "classes": list(classes),
    }


def chance_warning(accuracy: float, confusion: list[list[int]]) -> str | None:
    """A sentence for the user when a test accuracy is not clearly above chance, else None.

    Chance is the better of guessing uniformly and always guessing the test set's largest class;
    "clearly above" means by more than two standard errors of that guess on this many test clips
    (and at least 5 points), so a 4-clip test set cannot vouch for a model."""
    cm = np.asarray(confusion, dtype=float)
    n = int(cm.sum())
    if n == 0 or cm.ndim != 2:
        return "it was tested on no clip at all, so nothing says it works"
    chance = max(1.0 / cm.shape[0], cm.sum(axis=1).max() / n)
    margin = max(0.05, 2 * float(np.sqrt(chance * (1 - chance) / n)))
    if accuracy > chance + margin:
        return None
    return (f"its test accuracy ({accuracy:.0%} on {n} clip{'s' if n != 1 else ''}) is not clearly above chance "
            f"({chance:.0%}); it may classify your music no better than a guess")


def write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def plot_curves(histories: dict[str, list[dict]], path: Path) -> Path:
    """Loss, accuracy and learning rate per epoch; one line per fold (train solid, valid dashed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4), dpi=100)
    axes = fig.subplots(1, 3)
    for name, hist in histories.items():
        ep = [h["epoch"] for h in hist]
        line, = axes[0].plot(ep, [h["loss"] for h in hist], label=f"{name} train")
        axes[0].plot(ep, [h["val_loss"] for h in hist], "--", color=line.get_color(), label=f"{name} valid")
        axes[1].plot(ep, [h["acc"] for h in hist], color=line.get_color())
        axes[1].plot(ep, [h["val_acc"] for h in hist], "--", color=line.get_color())
        axes[2].plot(ep, [h["lr"] for h in hist], color=line.get_color())
    for ax, title in zip(axes, ("loss", "accuracy", "learning rate")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[2].set_yscale("log")
    if len(histories) <= 3:
        axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_confusion(confusion: list[list[int]], classes: list[str], path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    cm = np.asarray(confusion)
    size = 2 + 0.5 * len(classes)
    fig = Figure(figsize=(size + 1, size), dpi=100)
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    peak = cm.max() if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if cm[i, j] > peak / 2 else "black")
    fig.tight_layout()
    fig.savefig(path)
    return path
