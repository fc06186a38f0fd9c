"""Evaluation: which representation finds same-group neighbours in real music, and cluster quality.

    python bench/similarity_eval.py FOLDER [--home DIR]

FOLDER has one subfolder per group (a style, an album or an artist). The folder is scanned with
the authors' GTZAN fold 5 (into --home, or a fresh data home), then for every representation:
precision@5 and @10 of same-group neighbours (each track as the query in turn), and the adjusted
Rand index of the HDBSCAN clusters and of KMeans (k = number of groups) against the groups.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def precision_at(matrix: np.ndarray, groups: np.ndarray, k: int) -> float:
    sims = matrix @ matrix.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1)[:, :k]
    return float((groups[top] == groups[:, None]).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--home", type=Path, help="data home to use (kept); default a fresh temporary one")
    ap.add_argument("--model-file", type=Path, default=REPO.parent / "shared/bbnn/authors-weights/gtzan_fold5.hdf5")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="cratedigger-eval-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["CRATEDIGGER_HOME"] = str(home)
    from sklearn.metrics import adjusted_rand_score

    from app.home import model_store
    from app.library.db import Library
    from app.library.fspath import from_db
    from app.library.mapping import build_map, map_points
    from app.library.scanner import scan
    from app.library.vectors import KINDS, vector_index

    store = model_store()
    if store.active_name() is None:
        store.import_file(args.model_file)
    lib = Library()
    folder = args.folder.resolve()
    summary = scan(lib, [folder])
    print(f"scanned {summary.discovered} files ({summary.analysed} analysed now, {summary.skipped} before, "
          f"{summary.errors} errors) in {summary.seconds:.0f} s")
    model = store.active_name()

    def group_of(track_id: int) -> str:
        return Path(from_db(lib.track(int(track_id))["path"])).relative_to(folder).parts[0]

    sizes: dict[str, int] = {}
    print(f"\n{'representation':<16} {'dims':>5} {'P@5':>6} {'P@10':>6}")
    for kind in KINDS:
        index = vector_index(lib, model, kind)
        groups = np.array([group_of(i) for i in index.ids])
        for g in groups:
            sizes[g] = sizes.get(g, 0) + 1 if kind == KINDS[0] else sizes.get(g, 0)
        print(f"{kind:<16} {index.matrix.shape[1]:>5} {precision_at(index.matrix, groups, 5):6.3f} "
              f"{precision_at(index.matrix, groups, 10):6.3f}")
    print("groups: " + ", ".join(f"{g} ({n})" for g, n in sorted(sizes.items())))
    for method, k in (("hdbscan", None), ("kmeans", len(sizes))):
        build_map(lib, model, refit=True, method=method, k=k)
        pts = map_points(lib, model)
        truth = [group_of(i) for i in pts["ids"]]
        print(f"clusters {method:<8}: {len(set(pts['cluster'].tolist())):3d} clusters, "
              f"adjusted Rand index vs groups {adjusted_rand_score(truth, pts['cluster']):.3f}")


if __name__ == "__main__":
    main()
