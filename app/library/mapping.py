"""The map and the clusters: UMAP 2-D coordinates and HDBSCAN (or KMeans) clusters, per model.

A fit brings the chosen representation (the library's default, see vectors.py) to unit rows
with a basis fitted on the library (standardisation, principal components; kept with the fit so
later tracks land in the same space), reduces it with UMAP to 2-D for the map and to 10-D for
clustering (exact neighbours below 4,096 tracks, one shared approximate nearest-neighbour graph
above; UMAP's compiled code is cached on disk, see compiled.py), and clusters the 10-D points
with scikit-learn's HDBSCAN (noise points join their nearest cluster) or KMeans with a chosen k.
Every cluster is named from its dominant predicted genres, its most common artist and its most
common tag genre. Results go to the map_points, clusters and map_fits tables. Seeded: the same
library gives the same map.

Tracks analysed after a fit are placed with the fitted reducers' `transform` and the nearest
cluster centre, without refitting, as long as they are fewer than a fifth of the fitted ones;
`refit=True` (or more new tracks) fits everything again. The fitted reducers are derived,
locally produced objects kept with joblib under the data home's cache/ (never model weights); the
file's sha256 is kept in the fit's map_fits row and checked before the file is unpickled, so only
the file this library wrote is ever loaded (anything else costs a refit, never runs code).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from .vectors import DEFAULT_KIND, fit_basis, stored_parts

SEED = 42
CLUSTER_DIMS = 10
REFIT_FRACTION = 0.2
# Below this many tracks UMAP computes exact neighbours from all distances (its own threshold),
# which compiles nothing per fit; above it, pynndescent's approximate graph, whose numba code
# cannot be cached on disk, is built once and shared by both fits.
EXACT_NEIGHBOURS = 4096
Progress = Callable[[str, float], None]
log = logging.getLogger(__name__)


class MapCancelled(Exception):
    pass


def reduce(x: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(2-D map coordinates, 10-D clustering space, fitted reducers)."""
    import warnings

    from numba.core.errors import NumbaWarning

    from .compiled import load_umap

    n = len(x)
    if n < 6:  # too few for UMAP: a line is an honest map of a handful of tracks
        coords = np.stack([np.arange(n, dtype=np.float32), np.zeros(n, np.float32)], axis=1)
        return coords, x, (None, None)
    umap = load_umap()
    k = min(15, n - 1)
    common = dict(n_neighbors=k, metric="cosine", random_state=seed, n_jobs=1, low_memory=True)
    epochs = 200 if n <= 10_000 else 120
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaWarning)  # "cannot cache": those functions compile every time
        if n >= EXACT_NEIGHBOURS:  # one approximate nearest-neighbour graph shared by both fits
            from umap.umap_ import nearest_neighbors

            common["precomputed_knn"] = nearest_neighbors(x, k, "cosine", {}, False, np.random.RandomState(seed))
        layout = umap.UMAP(n_components=2, min_dist=0.1, n_epochs=epochs, **common)
        coords = layout.fit_transform(x)
        dims = min(CLUSTER_DIMS, n - 2)
        space_model = umap.UMAP(n_components=dims, min_dist=0.0, n_epochs=epochs // 2, **common)
        space = space_model.fit_transform(x)
    return coords.astype(np.float32), space.astype(np.float32), (layout, space_model)


def cluster(space: np.ndarray, method: str = "hdbscan", k: int | None = None, seed: int = SEED) -> np.ndarray:
    """Cluster labels 0..m-1 for every point (HDBSCAN noise joins its nearest cluster)."""
    n = len(space)
    if n == 0:
        return np.zeros(0, int)
    if method == "kmeans":
        from sklearn.cluster import KMeans

        k = max(1, min(k or 8, n))
        return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(space)
    if method != "hdbscan":
        raise ValueError(f"unknown clustering method {method!r}: hdbscan or kmeans")
    from sklearn.cluster import HDBSCAN

    if n < 5:
        return np.zeros(n, int)
    labels = HDBSCAN(min_cluster_size=max(5, min(60, n // 40)), min_samples=5, copy=True).fit_predict(space)
    if (labels < 0).all():
        return np.zeros(n, int)
    centres = centroids(space, labels)
    noise = labels < 0
    if noise.any():
        labels[noise] = nearest_centre(space[noise], centres)
    return labels


def centroids(space: np.ndarray, labels: np.ndarray) -> np.ndarray:
    m = int(labels.max()) + 1
    return np.stack([space[labels == c].mean(axis=0) if (labels == c).any() else np.full(space.shape[1], np.inf)
                     for c in range(m)])


def nearest_centre(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    return d.argmin(axis=1)


def name_clusters(labels: np.ndarray, probs: np.ndarray, classes: list[str], artists: list, tag_genres: list) -> dict[int, dict]:
    """Per cluster: name, size, top genres (mean probability), top artists and tag genres."""
    out = {}
    for c in sorted(set(int(x) for x in labels)):
        members = np.flatnonzero(labels == c)
        mean = probs[members].mean(axis=0)
        order = np.argsort(-mean)
        top_genres = [(classes[i], round(float(mean[i]), 3)) for i in order[:3]]
        arts = Counter(a for a in (artists[i] for i in members) if a).most_common(3)
        tags = Counter(t.lower() for t in (tag_genres[i] for i in members) if t).most_common(3)
        name = top_genres[0][0] if top_genres[1][1] < 0.5 * top_genres[0][1] else f"{top_genres[0][0]} / {top_genres[1][0]}"
        if arts and arts[0][1] >= max(2, 0.5 * len(members)):
            name += f" · {arts[0][0]}"
        elif tags and tags[0][1] >= max(2, 0.3 * len(members)):
            name += f" · {tags[0][0]}"
        out[c] = {"name": name, "size": len(members), "top_genres": top_genres,
                  "top_artists": [list(a) for a in arts], "top_tag_genres": [list(t) for t in tags]}
    return out


def _fit_file(model: str) -> Path:
    from app.home import cache_dir

    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model)
    return cache_dir() / f"map-{safe}.joblib"


def _load_fit(path: Path, expected_sha256: str | None) -> dict | None:
    """The saved reducers, only when the file is the one this library's map_fits row names.

    joblib files are pickles, which can run code: a file whose sha256 differs from the one kept
    with the fit (replaced, damaged, from another library) is never unpickled."""
    if not expected_sha256 or not path.exists():
        return None
    from model.download import sha256_of

    try:
        if sha256_of(path) != expected_sha256:
            log.warning("%s does not match its map fit; refitting instead of loading it", path)
            return None
        import joblib

        return joblib.load(path)
    except Exception:  # an unreadable cache only costs a refit
        return None


def _save_fit(path: Path, fit: dict) -> str | None:
    """Write the reducers; their sha256 (kept in map_fits), or None when they could not be saved."""
    import joblib

    from model.download import sha256_of

    try:
        joblib.dump(fit, path)
        return sha256_of(path)
    except Exception:
        path.unlink(missing_ok=True)  # the map is saved; only incremental placement is lost
        return None


def fitted_setup(library, model: str) -> tuple[str, int | None] | None:
    """(method, k) of the model's current map fit, None before the first."""
    fit = library.map_fit(model)
    return None if fit is None else (fit["method"], fit["params"].get("k"))


def _resolve_setup(current, method: str | None, k: int | None) -> tuple[str, int | None]:
    if method is None:
        method, k = current if current else ("hdbscan", None)
    if method not in ("hdbscan", "kmeans"):
        raise ValueError(f"unknown clustering method {method!r}: hdbscan or kmeans")
    if method == "hdbscan":
        return method, None
    if k is None:
        k = current[1] if current and current[0] == "kmeans" and current[1] else 8
    return method, k


def build_map(library, model: str | None = None, refit: bool = False, method: str | None = None,
              k: int | None = None, progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
              kind: str = DEFAULT_KIND) -> dict:
    """Fit (or extend) the map and clusters of a model; returns a summary.

    `method` None keeps the clustering of the current fit (HDBSCAN before the first), so cluster
    numbers a user has seen keep meaning the same clusters; "kmeans" with no k reuses the fit's k
    (8 when there is none). A k larger than the number of analysed tracks is refused (ValueError)
    and the saved map stays.
    """
    model = library.model_key(model)
    if not model:
        raise ValueError("no active model")
    asked_k = k
    method, k = _resolve_setup(fitted_setup(library, model), method, k)
    t0 = time.perf_counter()
    step = progress or (lambda stage, fraction: None)

    def check() -> None:
        if should_stop and should_stop():
            raise MapCancelled()

    ids, parts = stored_parts(library, model, kind)
    if asked_k is not None and asked_k > len(ids):
        raise ValueError(f"cannot make {k} clusters of {len(ids)} analysed tracks; choose --k of at most {len(ids)}")
    if not len(ids):
        return {"model": model, "tracks": 0, "clusters": 0, "placed": 0, "refit": False, "seconds": 0.0}
    saved = library.map_fit(model)
    mapped = set(library.map_labels(model))
    gone = mapped - set(ids.tolist())
    if gone:  # tracks removed from the library leave the map without a refit
        library.remove_map_points(model, gone)
        mapped -= gone
    new = np.array([i not in mapped for i in ids])
    summary = {"model": model, "tracks": len(ids), "refit": False}
    fitted_as = (saved["params"].get("kind"), saved["method"], saved["params"].get("k")) if saved else None
    if not refit and not new.any() and mapped and fitted_as == (kind, method, k):
        # an unchanged map is answered from the database: the fitted reducers (and UMAP with
        # them) are loaded only to place new tracks
        if gone:
            _relabel(library, model, ids)
        return dict(summary, clusters=len(library.clusters(model)), placed=0, seconds=time.perf_counter() - t0)
    fit_path = _fit_file(model)
    fit = None if refit or saved is None or not new.any() else _load_fit(fit_path, saved["params"].get("cache_sha256"))
    same_setup = fit is not None and "basis" in fit and fit.get("kind") == kind and fit.get("method") == method and fit.get("k") == k
    if same_setup and fit["layout"] is not None and 0 < new.sum() <= REFIT_FRACTION * len(mapped) and mapped:
        step("placing new tracks", 0.2)
        _place(library, model, fit, ids, parts, new, check)
        step("done", 1.0)
        return dict(summary, clusters=len(fit["centres"]), placed=int(new.sum()), seconds=time.perf_counter() - t0)
    n_clusters = _refit(library, model, kind, method, k, ids, parts, fit_path, step, check)
    step("done", 1.0)
    return dict(summary, clusters=n_clusters, placed=len(ids), refit=True, seconds=time.perf_counter() - t0)


def _relabel(library, model: str, ids: np.ndarray) -> None:
    """Name the clusters again from the labels on the map (after tracks left it)."""
    labels_now = library.map_labels(model)
    _store_clusters(library, model, np.array([labels_now[int(i)] for i in ids]), ids)


def _place(library, model: str, fit: dict, ids: np.ndarray, parts: list, new: np.ndarray, check) -> None:
    """New tracks onto the fitted map: the reducers' transform and the nearest cluster centre."""
    x = fit["basis"].apply([p[new] for p in parts])
    coords = fit["layout"].transform(x).astype(np.float32)
    space = fit["space_model"].transform(x).astype(np.float32)
    labels = nearest_centre(space, fit["centres"])
    check()
    library.add_map_points(model, [(int(i), float(c[0]), float(c[1]), int(label))
                                   for i, c, label in zip(ids[new], coords, labels)])
    all_labels = library.map_labels(model)
    _store_clusters(library, model, np.array([all_labels.get(int(i), -1) for i in ids]), ids)


def _refit(library, model: str, kind: str, method: str, k: int | None, ids: np.ndarray, parts: list,
           fit_path: Path, step: Progress, check) -> int:
    """Fit the map from scratch; returns the number of clusters."""
    step("reducing", 0.05)
    basis = fit_basis(kind, parts)
    x = basis.apply(parts)
    check()
    coords, space, (layout, space_model) = reduce(x)
    check()
    step("clustering", 0.8)
    labels = cluster(space, method, k)
    centres = centroids(space, labels)
    check()
    step("saving", 0.9)
    digest = _save_fit(fit_path, {"kind": kind, "method": method, "k": k, "basis": basis, "layout": layout,
                                  "space_model": space_model, "centres": centres})
    library.replace_map(model, [(int(i), float(c[0]), float(c[1]), int(lab)) for i, c, lab in zip(ids, coords, labels)],
                        method, {"k": k, "kind": kind, "seed": SEED, "cache_sha256": digest})
    _store_clusters(library, model, labels, ids)
    return int(labels.max()) + 1


def _store_clusters(library, model, labels, ids) -> None:
    probs_ids, probs = library.embeddings(model, "probs")
    meta = library.artists_and_tag_genres()
    pos = {int(i): n for n, i in enumerate(probs_ids)}
    keep = labels >= 0
    p = probs[[pos[int(i)] for i in ids[keep]]]
    artists = [meta.get(int(i), (None, None))[0] for i in ids[keep]]
    tags = [meta.get(int(i), (None, None))[1] for i in ids[keep]]
    library.replace_clusters(model, name_clusters(labels[keep], p, library.classes(model), artists, tags))


def map_points(library, model: str | None = None) -> dict:
    """ids, x, y, cluster (numpy arrays) and top_genre, artist, title (lists) of every mapped track."""
    rows = library.map_rows(library.model_key(model))
    return {"ids": np.array([r[0] for r in rows], dtype=np.int64), "x": np.array([r[1] for r in rows], np.float32),
            "y": np.array([r[2] for r in rows], np.float32), "cluster": np.array([r[3] for r in rows], np.int64),
            "top_genre": [r[4] for r in rows], "artist": [r[5] for r in rows], "title": [r[6] for r in rows]}


def clusters(library, model: str | None = None) -> list[dict]:
    return library.clusters(library.model_key(model))


def cluster_tracks(library, cluster_id: int, model: str | None = None) -> list[dict]:
    return library.cluster_tracks(library.model_key(model), cluster_id)
