"""Libraries with a known structure, written straight into the database (no audio, no network)."""

from __future__ import annotations

import numpy as np

from app.home import open_library
from app.library.db import Library

MODEL_NAME = "test-model"
CLASSES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]


class _Manifest:
    name = MODEL_NAME
    classes = CLASSES
    source = "test"
    source_sha256 = None


def grouped_library(groups: int = 4, per_group: int = 30, seed: int = 0, root: str = "/music",
                    manifest=_Manifest, window_dense: bool = True) -> tuple[Library, dict]:
    """`groups` well-separated groups; group g's tracks are by artists 'G{g}-A{0..2}', genre CLASSES[g]
    (stored under `manifest`'s model: the test model, or e.g. a random BBNN with CLASSES); every
    window's dense vector kept too, as a scan keeps BBNN's (unless `window_dense` is False)."""
    lib = open_library()  # model=None: the store's active model
    key = lib.ensure_model(manifest)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, 32)) * 3
    dense_centres = rng.normal(size=(groups, 416)) * 3
    truth = {}
    for g in range(groups):
        for i in range(per_group):
            tid = lib.upsert_track(f"{root}/group{g}/track{i:03d}.mp3", title=f"Song {g}-{i}", artist=f"G{g}-A{i % 3}",
                                   album=f"Album {g}-{i % 2}", duration=180.0 + i, tag_genre=f"tag{g}")
            n = 3
            emb = np.abs(centres[g] + 0.5 * rng.normal(size=(n, 32)))
            probs = np.full((n, len(CLASSES)), 0.02)
            probs[:, g] = 0.82
            dense = np.abs(dense_centres[g] + rng.normal(size=(n, 416)))
            lib.save_analysis(tid, key, [0.0, 60.0, 120.0], probs, emb, dense, 0.3, window_dense=window_dense)
            truth[tid] = g
    return lib, truth


TAGGER_NAME = "test-tagger"
TAGS = [f"tag{i}" for i in range(50)]


class _TaggerManifest:
    name = TAGGER_NAME
    classes = TAGS
    source = "test"
    source_sha256 = None


def add_tagger(lib: Library, groups: dict[int, int], seed: int = 1, skip: tuple[int, ...] = ()) -> None:
    """A MusiCNN-like tagger analysis per track (200-d embedding and dense layer clustered by
    `groups`: track id -> group), stored under TAGGER_NAME, and the library told that this is its
    installed tagger."""
    lib.ensure_model(_TaggerManifest)
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(groups.values()) + 1, 200)) * 3
    dense_centres = np.random.default_rng(seed + 1000).normal(size=centres.shape) * 3
    for tid, g in groups.items():
        if tid in skip:
            continue
        emb = centres[g] + 0.5 * rng.normal(size=(9, 200))
        tags = np.full((9, len(TAGS)), 0.05)
        tags[:, g] = 0.6
        lib.save_analysis(tid, TAGGER_NAME, np.arange(9) * 3.0, tags, emb,
                          dense_centres[g] + rng.normal(size=(9, 200)), 0.1)
    lib.tagger_key = lambda: TAGGER_NAME  # the model store would name its installed MusiCNN
