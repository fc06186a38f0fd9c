"""List mode of bench/similarity_eval.py: candidate representations on labelled real-music sets."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.eval_features import bbnn_features, cached, musicnn_features, patch_selection
from bench.representations import BBNN_REPS, BLEND_REPS, MC_REPS, rep_matrix
from bench.similarity_eval import precision_at

BBNN_WEIGHTS = Path(__file__).resolve().parents[2] / "shared/bbnn/authors-weights/gtzan_fold5.hdf5"


def read_list(path: Path) -> list[tuple[str, str]]:
    """[(label, relative path)] of a list file; blank lines and # comments skipped."""
    out = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            label, rel = line.split("\t")
            out.append((label, rel))
    return out



def kmeans_ari(matrix: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    k = len(set(labels.tolist()))
    return float(adjusted_rand_score(labels, KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(matrix)))


def bbnn_predictor():
    """The authors' GTZAN fold 5 from a temporary data home's model store, on one CPU thread."""
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("CRATEDIGGER_HOME", tempfile.mkdtemp(prefix="cratedigger-eval-"))
    from app.home import model_store
    from model.inference import Predictor

    store = model_store()
    if store.active_name() is None:
        store.import_file(BBNN_WEIGHTS)
    model, manifest = store.load()
    return Predictor(model, manifest.spec, device="cpu", precision="fp32")


def musicnn_runner(source: Path):
    """audio16k -> per-patch outputs, with the MusiCNN port and the weights read from the wheel."""
    import torch

    torch.set_num_threads(1)
    from model.musicnn import analyse_audio, musicnn_from_state
    from model.musicnn_weights import read_source

    model = musicnn_from_state(read_source(source).state)
    return lambda audio16k: analyse_audio(model, audio16k, batch_size=1)


def load_tracks(args, rels: list[str]) -> dict[str, dict]:
    """{relative path: {"bbnn": ..., "musicnn": ...}} from the cache, computing what is missing."""
    lazy: dict[str, object] = {}

    def once(name, make):
        if name not in lazy:
            lazy[name] = make()
        return lazy[name]

    tracks = {}
    t0 = time.perf_counter()
    for i, rel in enumerate(rels):
        path = args.root / rel
        feats = {"bbnn": cached(args.cache, "bbnn", rel, lambda: bbnn_features(once("bbnn", bbnn_predictor), path))}
        if args.musicnn:
            runner = lambda: once("mc", lambda: musicnn_runner(args.musicnn))  # noqa: E731
            starts = feats["bbnn"]["starts"]
            feats["musicnn"] = cached(args.cache, "musicnn-windows", rel, lambda: musicnn_features(runner(), path, starts))
            if "whole" in args.patches.split(","):
                feats["musicnn-whole"] = cached(args.cache, "musicnn-whole", rel,
                                                lambda: musicnn_features(runner(), path))
        tracks[rel] = feats
        if (i + 1) % 10 == 0:
            print(f"  features {i + 1}/{len(rels)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return tracks


def mc_source(policy: str) -> str:
    return "musicnn-whole" if policy == "whole" else "musicnn"


def candidates(policies: list[str], with_musicnn: bool, only: str | None = None) -> list[tuple[str, str, list]]:
    """(representation name, patch policy, blocks) to evaluate; `only`: a regular expression on the name."""
    out = [(name, "-", blocks) for name, blocks in BBNN_REPS.items()]
    if with_musicnn:
        for policy in policies:
            out += [(name, policy, blocks) for name, blocks in MC_REPS.items()]
            out += [(name, policy, blocks) for name, blocks in BLEND_REPS.items()]
    return [c for c in out if only is None or re.search(only, c[0])]


def evaluate_set(name: str, entries: list[tuple[str, str]], tracks: dict, policies: list[str],
                 with_musicnn: bool, only: str | None = None, rankings: tuple = ("app",)) -> list[dict]:
    labels = np.array([label for label, _ in entries])
    items = []
    for _, rel in entries:
        t = dict(tracks[rel])
        if with_musicnn:
            t["sel"] = {p: patch_selection(t[mc_source(p)]["starts"], t["bbnn"]["starts"], p) for p in policies}
        items.append(t)
    rows = []
    for rep, policy, blocks in candidates(policies, with_musicnn, only):
        m = rep_matrix(blocks, items, policy)
        ari = kmeans_ari(m, labels)
        for ranking in rankings:
            p5 = precision_at(m, labels, 5, ranking)
            rows.append({"set": name, "n": len(labels), "rep": rep, "patches": policy, "dims": m.shape[1],
                         "ranking": ranking, "p5": float(p5.mean()),
                         "p10": float(precision_at(m, labels, 10, ranking).mean()), "ari": ari,
                         "per_label": {g: float(p5[labels == g].mean()) for g in dict.fromkeys(labels.tolist())}})
    return rows


def patch_counts(entries, tracks, policies) -> dict[str, float]:
    counts = {p: [] for p in policies}
    for _, rel in entries:
        t = tracks[rel]
        for p in policies:
            counts[p].append(len(patch_selection(t[mc_source(p)]["starts"], t["bbnn"]["starts"], p)))
    return {p: float(np.mean(c)) for p, c in counts.items()}


def format_rows(rows: list[dict]) -> str:
    lines = [f"| set | n | representation | patches | dims | ranking | P@5 | P@10 | KMeans ARI | P@5 per label |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        per = ", ".join(f"{g} {v:.2f}" for g, v in r["per_label"].items())
        lines.append(f"| {r['set']} | {r['n']} | {r['rep']} | {r['patches']} | {r['dims']} | {r['ranking']} | {r['p5']:.3f} | "
                     f"{r['p10']:.3f} | {r['ari']:.3f} | {per} |")
    return "\n".join(lines)


def run_lists(args) -> None:
    sets = {p.stem: read_list(p) for p in args.list}
    rels = list(dict.fromkeys(rel for entries in sets.values() for _, rel in entries))
    policies = [p for p in args.patches.split(",") if p]
    tracks = load_tracks(args, rels)
    out = []
    for name, entries in sets.items():
        labels = [label for label, _ in entries]
        print(f"\n{name}: {len(entries)} tracks, " + ", ".join(f"{g} ({labels.count(g)})" for g in dict.fromkeys(labels)))
        if args.musicnn:
            print("MusiCNN patches per track (mean): " + ", ".join(
                f"{p} {c:.1f}" for p, c in patch_counts(entries, tracks, policies).items()))
        rows = evaluate_set(name, entries, tracks, policies, bool(args.musicnn), args.only, args.ranking)
        text = format_rows(rows)
        print(text)
        out.append(f"### {name} ({len(entries)} tracks)\n\n{text}\n")
    if args.out:
        args.out.write_text("\n".join(out))
