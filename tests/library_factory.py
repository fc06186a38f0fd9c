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


def grouped_library(groups: int = 4, per_group: int = 30, seed: int = 0, root: str = "/music") -> tuple[Library, dict]:
    """`groups` well-separated groups; group g's tracks are by artists 'G{g}-A{0..2}', genre CLASSES[g]."""
    lib = open_library()  # model=None: the store's active model
    lib.ensure_model(_Manifest)
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
            lib.save_analysis(tid, _Manifest.name, [0.0, 60.0, 120.0], probs, emb, dense, 0.3)
            truth[tid] = g
    return lib, truth
