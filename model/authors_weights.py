"""Catalogue of the BBNN authors' released Keras models: where each lives, its sha256, what it knows.

The files are downloaded on the user's request from the authors' public repository; they are
never shipped with Cratedigger (the repository carries no licence).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BASE_URL = "https://github.com/CaifengLiu/music-genre-classification/raw/master"
DEFAULT_DATASET = "gtzan"
# Fold 5 scored highest (96 %) in the authors' own test log; all folds are the same network.
DEFAULT_FOLD = 5

_PATHS = {
    "gtzan": "GTZAN_2048_1/model/{k}_fold_GTZAN_model.hdf5",
    "extballroom": "ExtendeBallroom_2048_1/ExtendeBallroom2048/{k}_fold_ExtendeBallroom_model.hdf5",
}
_SHA256 = {
    "extballroom": [
        "1ff7425d977d4bda4310c84c65a9821d1d6d1e127146435139b4510f61adff5a",
        "d8a134453fdd5d481567ed9831aab8d1e55b89e6086ce4f7aee97e0846c63776",
        "a85c0faa571037699271336c2e7eebdc908377375d9c4090a924429476da4bb9",
        "a0ff0186529ac4332dcd75d53cba489920a3f8532287e39cbf6e20c1e2c79ed7",
        "93da2acca1e5d7437113512b19e6cdebed1e753de3681f62708447ff1d1bcd28",
        "57e92304dd0f5145ba52abc6f29927e282a47a3168c212e9fa1731c15d69dd63",
        "fb70fcc33ad5886e18e6f480eb75ec58f53ac2043a0eff23c6e2669bf70c9a7a",
        "47965fe6fbd5570f397a14d1db7804f6bb6dfb69e746e41d513357ad46761a24",
        "6e07bc5f91f6dab1425b1fd4313b522ca3a1bd069f68ca707b39d53c043b84e0",
        "fca1b8113e2b1f6c6d4520d44fc1427382d544cc5d503220ccdd5e037252aaff",
    ],
    "gtzan": [
        "d937044d60d8cc0eaabbedaa13e0f87fa1d85677e09c2ce5328e30c895a04642",
        "a7a72c49d8fd31a1b0015a45e8bbdabbc84b317983bfc69c4e6ca6bf072dd43f",
        "0da912cfaf43ef81197e44cb4e80edfe5261befcd567d3a20f873905c258ca9d",
        "810bfd9d5d6970b372aeda867b161c54e13f65ab87fd59a791d3c21a6f64e177",
        "7c5657bb20c787cab37a8afed45fe9f450b57ee710e861b9d5ff7e3d68333f72",
        "94b3ca9bdc649c0acf3ba7c8cfa552f5aaed01f2643ce33c4c8bcb39cacfb2a9",
        "153769bae09181d0a321f057dd2b75c3a5b9548b7403778c09e6ae5a2f5047f9",
        "64603d4fe51ac4190c6892fd116ae82604f6f7344d5f0c7ecaeea83813f8c7c7",
        "ad2e9a24310cce4ea5ef16d8bd8d092650ad34830abbd69ff5b951437699c88b",
        "51ae0bf2d3ce36a49bd5b76c75e2aed5fa6e0b720d8a9fd686409a064eb34432",
    ],
}
# Test accuracy of each GTZAN fold as logged in the authors' notebook (random 80/10/10 splits).
_GTZAN_TEST_ACC = [0.80, 0.95, 0.93, 0.93, 0.93, 0.96, 0.87, 0.93, 0.92, 0.91]
_EXTBALLROOM_MEAN_TEST_ACC = 0.974


@dataclass(frozen=True)
class AuthorsModel:
    dataset: str
    fold: int

    @property
    def name(self) -> str:
        return f"bbnn-{self.dataset}-fold{self.fold}"

    @property
    def repo_path(self) -> str:
        return _PATHS[self.dataset].format(k=self.fold)

    @property
    def sha256(self) -> str:
        return _SHA256[self.dataset][self.fold]

    def url(self, base: str = DEFAULT_BASE_URL) -> str:
        return f"{base.rstrip('/')}/{self.repo_path}"

    @property
    def known_metrics(self) -> dict:
        if self.dataset == "gtzan":
            return {"test_accuracy": _GTZAN_TEST_ACC[self.fold],
                    "evaluated_on": "GTZAN random stratified 80/10/10 split (authors' notebook)"}
        return {"mean_test_accuracy_over_folds": _EXTBALLROOM_MEAN_TEST_ACC,
                "evaluated_on": "Extended Ballroom, authors' training log"}


def authors_model(dataset: str = DEFAULT_DATASET, fold: int = DEFAULT_FOLD) -> AuthorsModel:
    if dataset not in _PATHS:
        raise ValueError(f"unknown data set {dataset!r}: use gtzan or extballroom")
    if not 0 <= fold <= 9:
        raise ValueError("fold must be 0..9")
    return AuthorsModel(dataset, fold)


def identify(sha256: str) -> AuthorsModel | None:
    """The authors' model a file is, by its sha256."""
    for dataset, sums in _SHA256.items():
        if sha256 in sums:
            return AuthorsModel(dataset, sums.index(sha256))
    return None
