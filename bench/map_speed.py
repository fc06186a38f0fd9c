"""Benchmark: map + clusters (UMAP + HDBSCAN) time and peak RSS for a large generated library.

    python bench/map_speed.py [--tracks 20000]

Generated embeddings (50 groups) are written straight into the database; then `build_map`
runs a full fit. numba compiles UMAP on the first use in a process: a warm-up fit on 500
tracks runs first and is reported separately.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=20_000)
    args = ap.parse_args()
    from similarity_speed import build

    from app.library.mapping import build_map, clusters

    t = time.perf_counter()
    build_map(build(500), "bench")
    print(f"warm-up (numba compilation) on 500 tracks: {time.perf_counter() - t:.1f} s")
    lib = build(args.tracks)
    t = time.perf_counter()
    summary = build_map(lib, "bench", refit=True)
    seconds = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"map + clusters for {summary['tracks']} tracks: {seconds:.1f} s, {len(clusters(lib, 'bench'))} clusters, "
          f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
