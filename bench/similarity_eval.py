"""Evaluation: which representation finds same-group neighbours in real music, and cluster quality.

    python bench/similarity_eval.py FOLDER [--home DIR] [--windows default|all|N] [--subset NAME=G1,G2,...]
    python bench/similarity_eval.py --list bench/sets/mixed.txt --list bench/sets/three-styles.txt \
        --root /tmp/music/pkgs [--musicnn WHEEL_OR_FOLDER] [--patches windows,3w,9w,whole] [--cache DIR]

Folder mode: FOLDER has one subfolder per group (a style, an album or an artist). The folder is
scanned with the authors' GTZAN fold 5 (into --home, or a fresh data home; a kept home is not
scanned twice), then for every representation the app knows: precision@5 and @10 of same-group
neighbours (each track as the query in turn, the cosine over the same normalised matrices
`similar` uses), per-group P@5 of the default representation, and the adjusted Rand index
against the groups of the HDBSCAN clusters and of KMeans (k = number of groups) from `build_map`.
Each --subset repeats the precision and clustering figures on only those groups.

List mode (the study that chose the representation): each list file holds `label<TAB>path` lines
(paths relative to --root; bench/sets/ has the real-music sets and how they were labelled).
Per-track BBNN windows and MusiCNN patches are computed once and cached (bench/eval_features.py);
then every candidate representation of bench/representations.py (BBNN, MusiCNN, blends) and
every MusiCNN patch policy gets same-label precision@5 / @10 (leave the seed out, basis fitted on
the set; ranked as `similar` ranks, and by each other --ranking) and the adjusted Rand index of KMeans
(k = number of labels) on the representation.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def precision_at(matrix: np.ndarray, groups: np.ndarray, k: int, ranking: str | int = "app") -> np.ndarray:
    """Per query: the fraction of the k others `similar` ranks first (app.library.similarity.rank) in
    its own group. ranking: "app" as the app ranks (k-reciprocal re-ranking in a library of enough
    tracks), or a number N: by cosine to the query expanded with its N nearest (0: plain cosine)."""
    from app.library.similarity import EXPANSION, rank

    reciprocal = ranking == "app"
    expansion = EXPANSION if reciprocal else int(ranking)
    top = np.array([[r for r, _ in rank(matrix, np.array([i]), k, expansion=expansion, reciprocal=reciprocal)]
                    for i in range(len(matrix))])
    return (groups[top] == groups[:, None]).mean(axis=1)


def parse_subset(text: str) -> tuple[str, list[str]]:
    name, _, groups = text.partition("=")
    if not groups:
        raise argparse.ArgumentTypeError("a subset is NAME=GROUP1,GROUP2,...")
    return name, [g for g in groups.split(",") if g]


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path, nargs="?")
    ap.add_argument("--list", type=Path, action="append", default=[], help="list mode: a label<TAB>path file")
    ap.add_argument("--root", type=Path, default=Path("/tmp/music/pkgs"), help="list mode: where the paths start")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "cratedigger-eval-cache")
    ap.add_argument("--musicnn", type=Path, help="the musicnn wheel (or unpacked folder): add MusiCNN")
    ap.add_argument("--patches", default="windows,9w,3w,centre", help="list mode: MusiCNN patch policies")
    ap.add_argument("--only", help="list mode: evaluate only representations whose name matches this regex")
    ap.add_argument("--out", type=Path, help="list mode: also write the table here (markdown)")
    ap.add_argument("--ranking", type=lambda t: tuple(x if x == "app" else int(x) for x in t.split(",")),
                    default=("app", 3, 0), help="list mode: rankings to compare: app (k-reciprocal re-ranking, "
                    "as the app ranks), or N (cosine to the query expanded with its N nearest; 0 plain)")
    ap.add_argument("--home", type=Path, help="data home to use (kept); default a fresh temporary one")
    ap.add_argument("--model-file", type=Path, default=REPO.parent / "shared/bbnn/authors-weights/gtzan_fold5.hdf5")
    ap.add_argument("--windows", default="default", help="scan window policy: default, all or a number")
    ap.add_argument("--subset", type=parse_subset, action="append", default=[], metavar="NAME=G1,G2,...")
    return ap


def main() -> None:
    ap = parser()
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    if args.list:
        from bench.list_eval import run_lists

        return run_lists(args)
    if args.folder is None:
        ap.error("give a FOLDER, or --list files")
    run_folder(args)


def run_folder(args) -> None:
    """Scan FOLDER into a data home, then the precision and clustering report of every representation."""
    home = args.home or Path(tempfile.mkdtemp(prefix="cratedigger-eval-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["CRATEDIGGER_HOME"] = str(home)
    from app.home import model_store, open_library
    from app.library.fspath import from_db
    from app.library.scanner import scan
    from app.library.vectors import KINDS, default_kind, vector_index
    from model.windows import parse_policy

    store = model_store()
    if store.active_name() is None:
        store.import_file(args.model_file)
    if args.musicnn and store.musicnn() is None:
        store.import_musicnn(args.musicnn)
    lib = open_library()  # as the app opens it: with the installed MusiCNN as its tagger
    folder = args.folder.resolve()
    summary = scan(lib, [folder], policy=parse_policy(args.windows))
    print(f"scanned {summary.discovered} files ({summary.analysed} analysed now, {summary.skipped} before, "
          f"{summary.errors} errors) in {summary.seconds:.0f} s, window policy {args.windows}")
    model = store.active_name()
    paths = {int(t["id"]): from_db(t["path"]) for t in lib.db.query("SELECT id, path FROM tracks")}

    def group_of(track_id: int) -> str:
        return Path(paths[int(track_id)]).relative_to(folder).parts[0]

    default = default_kind(lib, model)
    indexes = {kind: vector_index(lib, model, kind) for kind in KINDS}
    # representations that read an analysis some tracks lack (MusiCNN without its weights) sit out
    indexes = {kind: index for kind, index in indexes.items() if np.array_equal(index.ids, indexes[default].ids)}
    groups = np.array([group_of(i) for i in indexes[default].ids])
    print(f"default representation: {default}")
    names, counts = np.unique(groups, return_counts=True)
    print(f"{len(groups)} tracks in {len(names)} groups: " + ", ".join(f"{g} ({n})" for g, n in zip(names, counts)))
    _report_subsets(lib, model, indexes, default, groups, [("all groups", list(names))] + args.subset)
    _report_maps(lib, model, len(names), group_of)


def _report_subsets(lib, model: str, indexes: dict, default: str, groups: np.ndarray, subsets: list) -> None:
    from sklearn.metrics import adjusted_rand_score

    from app.library.mapping import cluster, reduce

    names = set(groups.tolist())
    for label, wanted in subsets:
        unknown = set(wanted) - set(names)
        if unknown:
            sys.exit(f"subset {label}: no such group {sorted(unknown)}")
        keep = np.isin(groups, wanted)
        print(f"\n{label} ({keep.sum()} tracks: {', '.join(wanted)})")
        print(f"{'representation':<12} {'dims':>5} {'P@5':>6} {'P@10':>6}")
        for kind, index in indexes.items():
            # re-normalised over the subset, as a library of only these tracks would be
            m = index.matrix[keep] if label == "all groups" else _renormalise(lib, model, kind, index, keep)
            print(f"{kind:<12} {m.shape[1]:>5} {precision_at(m, groups[keep], 5).mean():6.3f} "
                  f"{precision_at(m, groups[keep], 10).mean():6.3f}")
        m = _renormalise(lib, model, default, indexes[default], keep)
        p5 = precision_at(m, groups[keep], 5)
        print(f"P@5 per group ({default}): " + ", ".join(
            f"{g} {p5[groups[keep] == g].mean():.2f}" for g in wanted))
        if label != "all groups":
            _, space, _ = reduce(m)
            for method, k in (("hdbscan", None), ("kmeans", len(wanted))):
                found = cluster(space, method, k)
                print(f"clusters {method:<8}: {len(set(found.tolist())):3d} clusters, adjusted Rand index "
                      f"{adjusted_rand_score(groups[keep], found):.3f}")


def _report_maps(lib, model: str, n_groups: int, group_of) -> None:
    from sklearn.metrics import adjusted_rand_score

    from app.library.mapping import build_map, map_points

    print()
    for method, k in (("hdbscan", None), ("kmeans", n_groups)):
        build_map(lib, model, refit=True, method=method, k=k)
        pts = map_points(lib, model)
        truth = [group_of(i) for i in pts["ids"]]
        print(f"all groups, build_map {method:<8}: {len(set(pts['cluster'].tolist())):3d} clusters, "
              f"adjusted Rand index vs groups {adjusted_rand_score(truth, pts['cluster']):.3f}")


def _renormalise(lib, model: str, kind: str, index, keep: np.ndarray) -> np.ndarray:
    """The representation's unit rows with its basis fitted on the kept tracks only."""
    from app.library.vectors import fit_basis, stored_parts, stored_windows

    ids, parts = stored_parts(lib, model, kind)
    assert np.array_equal(ids, index.ids)
    kept = [p[keep] for p in parts]
    return fit_basis(kind, kept, stored_windows(lib, model, kind, ids[keep])).apply(kept)


if __name__ == "__main__":
    main()
