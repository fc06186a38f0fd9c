"""Benchmark: map + clusters (UMAP + HDBSCAN) time and peak RSS for a large generated library.

    python bench/map_speed.py [--tracks 20000] [--runs 2]

Generated embeddings (50 groups) are written straight into a temporary data home's database;
then `build_map(refit=True)` runs in a fresh process, as `cratedigger clusters --refit` does:
the first run with an empty numba cache (the first map on a machine: UMAP's code is compiled
and cached), the later ones with that cache (every later map). `cratedigger --help` is timed in
the same run as the baseline the figures are divided by.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

# One map in a fresh process; prints its seconds, clusters and peak RSS as JSON.
ONE_MAP = """
import json, resource, time, warnings
warnings.simplefilter("ignore")
from app.library.db import Library
t = time.perf_counter()
from app.library.mapping import build_map
summary = build_map(Library(), "bench", refit=True)
print(json.dumps({"seconds": time.perf_counter() - t, "tracks": summary["tracks"], "clusters": summary["clusters"],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def help_seconds(env: dict) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "app", "--help"], env=env, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tracks", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=2, help="maps in fresh processes: the first with an empty numba cache")
    args = ap.parse_args()
    from similarity_speed import build

    build(args.tracks)  # sets CRATEDIGGER_HOME to a fresh data home holding the library
    env = dict(os.environ, PYTHONPATH=str(REPO), NUMBA_CACHE_DIR=tempfile.mkdtemp(prefix="cratedigger-numba-"))
    baseline = min(help_seconds(env) for _ in range(3))
    print(f"`cratedigger --help`: {baseline:.2f} s (baseline, best of 3)")
    for run in range(args.runs):
        done = subprocess.run([sys.executable, "-c", ONE_MAP], env=env, cwd=REPO, check=True, capture_output=True, text=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        label = "first map, empty numba cache" if run == 0 else "later map, numba cache kept"
        print(f"{label}: map + clusters for {result['tracks']} tracks {result['seconds']:.1f} s "
              f"({result['seconds'] / baseline:.0f}x --help), {result['clusters']} clusters, peak RSS {result['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
