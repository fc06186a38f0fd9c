"""Split protocols. Every split is a dict of index lists {"train", "valid", "test"} into a data set.

paper     SPEC.md: `n` random stratified 80/10/10 splits (train 80 %, the rest halved), seeded here
          so they can be saved and replayed (the authors' were unseeded; their test sets overlap).
kfold     true k-fold: disjoint stratified test folds; validation is a stratified slice of the rest.
holdout   one stratified split with the given validation and test fractions.
filtered  the fault-filtered GTZAN partition of Kereliuk, Sturm and Larsen (2015), by item key.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

PROTOCOLS = ("paper", "filtered", "kfold", "holdout")
FILTERED_DIR: Traversable = files("model.train") / "gtzan"  # package data: travels in the wheel and the bundle

Split = dict[str, list[int]]


class SplitError(Exception):
    """A protocol cannot split this data set; message is for the user."""


def _stratified(idx: np.ndarray, labels: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        a, b = train_test_split(idx, test_size=test_size, stratify=labels[idx], random_state=seed)
    except ValueError as e:
        raise SplitError(f"too few files per class for a stratified split ({e})") from None
    return np.sort(a), np.sort(b)


def holdout_split(labels: list[int], valid: float = 0.1, test: float = 0.1, seed: int = 0) -> Split:
    y = np.asarray(labels)
    idx = np.arange(len(y))
    train, rest = _stratified(idx, y, valid + test, seed)
    if valid <= 0:
        return {"train": train.tolist(), "valid": [], "test": rest.tolist()}
    val, tst = _stratified(rest, y, test / (valid + test), seed)
    return {"train": train.tolist(), "valid": val.tolist(), "test": tst.tolist()}


def paper_splits(labels: list[int], n: int = 10, seed: int = 0) -> list[Split]:
    return [holdout_split(labels, 0.1, 0.1, seed * 1000 + k) for k in range(n)]


def kfold_splits(labels: list[int], k: int = 10, seed: int = 0) -> list[Split]:
    y = np.asarray(labels)
    try:
        folds = StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
        out = []
        for fold, (rest, test) in enumerate(folds):
            train, val = _stratified(rest, y, 1.0 / (k - 1), seed * 1000 + fold)
            out.append({"train": train.tolist(), "valid": val.tolist(), "test": np.sort(test).tolist()})
    except ValueError as e:
        raise SplitError(f"cannot make {k} stratified folds: {e}") from None
    return out


def read_list(path: Path | Traversable) -> list[str]:
    """Keys ("class/stem") of a filtered list; lines are written `genre/genre.000NN.wav`."""
    keys = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            p = Path(line)
            keys.append(f"{p.parent.name}/{p.stem}")
    return keys


def filtered_split(keys: list[str], lists_dir: Path | Traversable = FILTERED_DIR) -> Split:
    """The fault-filtered partition; clips missing from the data set (e.g. unreadable) are left out."""
    where = {k: i for i, k in enumerate(keys)}
    split: Split = {}
    for part, name in (("train", "train_filtered.txt"), ("valid", "valid_filtered.txt"), ("test", "test_filtered.txt")):
        split[part] = sorted(where[k] for k in read_list(lists_dir / name) if k in where)
    if not split["train"] or not split["test"]:
        raise SplitError("the 'filtered' protocol is for GTZAN: no file of this data set is in its lists "
                         "(files must be named like blues/blues.00029.wav or .au)")
    return split


def make_splits(protocol: str, labels: list[int], keys: list[str], seed: int = 0, folds: int = 10,
                valid: float = 0.1, test: float = 0.1) -> list[Split]:
    if protocol == "paper":
        return paper_splits(labels, folds, seed)
    if protocol == "kfold":
        return kfold_splits(labels, folds, seed)
    if protocol == "holdout":
        return [holdout_split(labels, valid, test, seed)]
    if protocol == "filtered":
        return [filtered_split(keys)]
    raise SplitError(f"unknown protocol {protocol!r} (choose from {', '.join(PROTOCOLS)})")
