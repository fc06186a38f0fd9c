"""Benchmark: "more like this" query time on a large generated library.

    python bench/similarity_speed.py [--tracks 100000] [--queries 200] [--musicnn]

Builds a library of N tracks with generated embeddings and dense features (50 groups) straight
in the database, then times `similar` with the default representation (exact numpy search over
the cached normalised matrix, with metadata) after warm-up, the ranking step alone with k-reciprocal\nre-ranking against the expanded query (a ratio, same run), and `sonic_path`. --musicnn also
stores MusiCNN's analysis per track (every patch's 200-d penultimate vector, their mean, a dense max), so the
default is MusiCNN's discriminant axes beside BBNN's blend. Every track keeps its per-window vectors,
as a scan stores them, so the first query fits the discriminant axes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build(n: int, musicnn: bool = False) -> tuple:
    os.environ["CRATEDIGGER_HOME"] = tempfile.mkdtemp(prefix="cratedigger-simbench-")
    from app.library.db import Library, blob, half_blob

    lib = Library()

    class M:
        name, classes, source, source_sha256 = "bench", [f"g{i}" for i in range(10)], "bench", None

    lib.ensure_model(M)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 32)) * 2
    dense_centres = rng.normal(size=(50, 416))
    now = time.time()
    with lib.db.conn:
        for start in range(0, n, 10_000):
            rows, analyses, windowed = [], [], []
            for i in range(start, min(n, start + 10_000)):
                c = i % 50
                emb = np.abs(centres[c] + rng.normal(size=32)).astype(np.float32)
                probs = np.full(10, 0.05, np.float32)
                probs[c % 10] = 0.55
                rows.append((i + 1, f"/music/{c}/{i}.mp3", f"Artist {i % 997}", f"Album {i % 4999}", f"Track {i}", 200.0, now))
                windows = dense_centres[c] + rng.normal(size=(3, 416))  # every window's vectors, as a scan keeps them
                analyses.append((i + 1, "bench", blob(probs), f"g{c % 10}", 0.55, blob(emb), blob(np.abs(rng.normal(size=32)) * 0.1),
                                 blob(windows.mean(axis=0)), 3))
                windowed.append((i + 1, "bench", half_blob(emb + 0.1 * rng.normal(size=(3, 32))), half_blob(windows)))
            lib.db.conn.executemany("INSERT INTO tracks(id, path, artist, album, title, duration, first_seen) VALUES (?,?,?,?,?,?,?)", rows)
            lib.db.conn.executemany("INSERT INTO analyses(track_id, model, probs, top_genre, top_prob, embedding, embedding_std,"
                                    " dense, n_windows) VALUES (?,?,?,?,?,?,?,?,?)", analyses)
            if musicnn:  # the tagger's 200-d penultimate (every patch's, and their mean) and dense max beside BBNN's
                patches = rng.normal(size=(len(analyses), 9, 200))
                lib.db.conn.executemany("INSERT INTO analyses(track_id, model, embedding, dense_max, n_windows)"
                                        " VALUES (?,?,?,?,?)", [(a[0], "bench-tagger", blob(p.mean(axis=0)),
                                                                 blob(rng.normal(size=200)), 9) for a, p in zip(analyses, patches)])
                windowed += [(a[0], "bench-tagger", half_blob(p), None) for a, p in zip(analyses, patches)]
            lib.db.conn.executemany("INSERT INTO window_vectors(track_id, model, embeddings, dense) VALUES (?,?,?,?)", windowed)
        lib._bump()
    if musicnn:
        lib.tagger_key = lambda: "bench-tagger"  # the model store would name its installed MusiCNN
    return lib


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--musicnn", action="store_true", help="add MusiCNN analyses (the 448-d default)")
    args = ap.parse_args()
    t = time.perf_counter()
    lib = build(args.tracks, args.musicnn)
    print(f"built a {args.tracks}-track library in {time.perf_counter() - t:.1f} s")
    from app.library.similarity import similar

    t = time.perf_counter()
    similar(lib, [1], n=20, model="bench")
    from app.library.vectors import default_kind

    print(f"first query (loads and normalises the {default_kind(lib, 'bench')!r} matrix): {1000 * (time.perf_counter() - t):.0f} ms")
    rng = np.random.default_rng(1)
    for label, kwargs in [("plain", {}), ("exclude artist+album", {"exclude_artist": True, "exclude_album": True}),
                          ("diversity 0.3", {"diversity": 0.3})]:
        times = []
        for _ in range(args.queries):
            seed = int(rng.integers(1, args.tracks + 1))
            t = time.perf_counter()
            similar(lib, [seed], n=20, model="bench", **kwargs)
            times.append(time.perf_counter() - t)
        times = np.array(times) * 1000
        print(f"{label:<22} median {np.median(times):6.2f} ms   p95 {np.percentile(times, 95):6.2f} ms")
    rank_ratio(lib, args.tracks, args.queries, rng)
    from app.library.paths import sonic_path

    times = []
    for _ in range(max(args.queries // 10, 5)):
        a, b = (int(x) for x in rng.choice(np.arange(1, args.tracks + 1), 2, replace=False))
        t = time.perf_counter()
        sonic_path(lib, a, b, steps=10, model="bench")
        times.append(time.perf_counter() - t)
    print(f"{'sonic path, 10 steps':<22} median {1000 * np.median(times):6.2f} ms")


def rank_ratio(lib, tracks: int, queries: int, rng) -> None:
    """The ranking step alone on the cached matrix: k-reciprocal re-ranking (the app's) against the
    expanded query it replaced, same seeds, same run."""
    from app.library.similarity import rank
    from app.library.vectors import vector_index

    matrix = vector_index(lib, "bench").matrix
    medians = {}
    for reciprocal in (False, True):
        times = []
        for seed in rng.integers(0, tracks, size=queries):
            t = time.perf_counter()
            rank(matrix, np.array([seed]), 30, reciprocal=reciprocal)
            times.append(time.perf_counter() - t)
        medians[reciprocal] = 1000 * float(np.median(times))
    print(f"{'rank, expanded query':<22} median {medians[False]:6.2f} ms")
    print(f"{'rank, k-reciprocal':<22} median {medians[True]:6.2f} ms   ({medians[True] / medians[False]:.2f}x)")


if __name__ == "__main__":
    main()
