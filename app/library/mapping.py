"""The map and the clusters: UMAP 2-D coordinates and HDBSCAN (or KMeans) clusters, per model.

A fit brings the chosen representation (the library's default, see vectors.py) to unit rows
with a basis fitted on the library (standardisation, principal components; kept with the fit so
later tracks land in the same space), reduces it with UMAP to 2-D for the map and to 10-D for
clustering (both fits share one nearest-neighbour graph: exact, from scikit-learn's brute-force
search, up to 50,000 tracks, pynndescent's approximate one above; new tracks always find their
neighbours exactly; UMAP's compiled code is cached on disk, see compiled.py), and clusters the 10-D points
with scikit-learn's HDBSCAN (noise points join their nearest cluster) or KMeans with a chosen k.
Every cluster is named from its dominant predicted genres, its most common artist and its most
common tag genre. Results go to the map_points, clusters and map_fits tables. Seeded: the same
library gives the same map.

Tracks analysed after a fit are placed with the fitted reducers' `transform` and the nearest
cluster centre, without refitting: `place_new_tracks` places any number (the app calls it while
a scan runs, so the map grows as tracks are analysed); `build_map` places them as long as all the
tracks placed since the fit stay within a fifth of the fitted ones, and fits everything again
otherwise (or with `refit=True`). The fitted reducers are derived,
locally produced objects kept with joblib under the data home's cache/ (never model weights); the
file's sha256 is kept in the fit's map_fits params and checked before the file is unpickled, so
only the file this library wrote is ever loaded (anything else costs a refit, never runs code).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from .vectors import default_kind, discriminant_ready, fit_basis, stored_parts, stored_windows

SEED = 42
CLUSTER_DIMS = 10
REFIT_FRACTION = 0.2
# Up to this many tracks the neighbour graph is exact (a brute-force search: 2 s for 20,000 tracks
# on 2 cores, growing with the square); above it, pynndescent's approximate graph, whose numba
# code cannot be cached on disk (10-20 s of compilation in every process).
EXACT_NEIGHBOURS = 50_000
Progress = Callable[[str, float], None]


class MapCancelled(Exception):
    pass


def nearest_neighbours(queries: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, cosine distances) of each query's k nearest rows, nearest first; exact.

    scikit-learn's brute-force search with the Euclidean metric (one matrix product per chunk):
    on unit rows |a - b|^2 / 2 is the cosine distance, and this is several times faster than its
    cosine metric. Compiles nothing, so a map pays no numba compilation for its neighbours."""
    from sklearn.neighbors import NearestNeighbors

    from .vectors import unit_rows

    search = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean")
    distances, indices = search.fit(unit_rows(rows)).kneighbors(unit_rows(queries))
    cosine = np.clip(distances ** 2 / 2, 0.0, 2.0).astype(np.float32)
    # rounding leaves about 1e-16 where a row meets itself (or a duplicate); UMAP takes a track's
    # first non-zero distance as its local scale, so those must be exactly 0
    cosine[cosine < 1e-6] = 0.0
    return indices.astype(np.int32), cosine


class ExactIndex:
    """The fitted tracks' rows, searched exactly: the search index UMAP's `transform` asks for the
    neighbours of new tracks (the `query` and `_angular_trees` of a pynndescent index)."""

    _angular_trees = True  # read by umap to pick an approximation tolerance; an exact search has none

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows

    def query(self, queries: np.ndarray, k: int = 10, epsilon: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        return nearest_neighbours(queries, self.rows, min(k, len(self.rows)))


def neighbour_graph(x: np.ndarray, k: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray, ExactIndex]:
    """The k-nearest-neighbour graph both UMAP fits share (umap's `precomputed_knn`): exact up to
    EXACT_NEIGHBOURS tracks, pynndescent's approximate graph above; new tracks are always placed
    with an exact search (ExactIndex)."""
    if len(x) <= EXACT_NEIGHBOURS:
        indices, distances = nearest_neighbours(x, x, k)
    else:
        from umap.umap_ import nearest_neighbors

        indices, distances, _ = nearest_neighbors(x, k, "cosine", {}, False, np.random.RandomState(seed))
    return indices, distances, ExactIndex(x)


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
    x = np.ascontiguousarray(x, dtype=np.float32)
    k = min(15, n - 1)
    epochs = 200 if n <= 10_000 else 120
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaWarning)  # "cannot cache": those functions compile every time
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")  # ExactIndex is not pynndescent's
        common = dict(n_neighbors=k, metric="cosine", random_state=seed, n_jobs=1, low_memory=True,
                      precomputed_knn=neighbour_graph(x, k, seed))
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


def distinctive_tags(member_tags: np.ndarray, all_tags: np.ndarray, names: list[str], n: int = 2,
                     floor: float = 0.1) -> list[tuple[str, float]]:
    """The tagger tags that set a group apart: probable in it (mean >= floor) and most above the library's mean."""
    rows = member_tags[np.isfinite(member_tags).all(axis=1)] if member_tags.size else member_tags
    if not len(rows) or not names:
        return []
    mean = rows.mean(axis=0)
    lift = mean - np.nanmean(all_tags, axis=0)
    order = [i for i in np.argsort(-lift) if mean[i] >= floor and lift[i] > 0][:n]
    return [(names[i], round(float(mean[i]), 3)) for i in order]


def name_clusters(labels: np.ndarray, probs: np.ndarray, classes: list[str], artists: list, tag_genres: list,
                  tag_probs: np.ndarray | None = None, tag_names: list[str] | None = None) -> dict[int, dict]:
    """Per cluster: name (genres, then its distinctive tagger tags, or else a dominant artist or tag
    genre), size, top genres (mean probability), top tagger tags, top artists and tag genres.
    `tag_probs` rows follow `labels` (NaN where a track has no tags)."""
    out = {}
    for c in sorted(set(int(x) for x in labels)):
        members = np.flatnonzero(labels == c)
        mean = probs[members].mean(axis=0)
        order = np.argsort(-mean)
        top_genres = [(classes[i], round(float(mean[i]), 3)) for i in order[:3]]
        arts = Counter(a for a in (artists[i] for i in members) if a).most_common(3)
        tags = Counter(t.lower() for t in (tag_genres[i] for i in members) if t).most_common(3)
        heard = distinctive_tags(tag_probs[members], tag_probs, tag_names or []) if tag_probs is not None else []
        name = top_genres[0][0] if top_genres[1][1] < 0.5 * top_genres[0][1] else f"{top_genres[0][0]} / {top_genres[1][0]}"
        if heard:
            name += " · " + ", ".join(t for t, _ in heard)
        elif arts and arts[0][1] >= max(2, 0.5 * len(members)):
            name += f" · {arts[0][0]}"
        elif tags and tags[0][1] >= max(2, 0.3 * len(members)):
            name += f" · {tags[0][0]}"
        out[c] = {"name": name, "size": len(members), "top_genres": top_genres, "top_tags": heard,
                  "top_artists": [list(a) for a in arts], "top_tag_genres": [list(t) for t in tags]}
    return out


def match_labels(previous: dict[int, int], ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Renumber new cluster labels so each keeps the number of the old cluster it overlaps most
    (an optimal one-to-one matching on shared tracks); unmatched clusters get unused numbers."""
    labels = np.asarray(labels)
    new_ids = sorted(int(c) for c in set(labels.tolist()) if c >= 0)
    old_ids = sorted(set(previous.values()))
    if not new_ids or not old_ids:
        return labels.copy()
    from scipy.optimize import linear_sum_assignment

    overlap = np.zeros((len(new_ids), len(old_ids)), np.int64)
    new_pos = {c: n for n, c in enumerate(new_ids)}
    old_pos = {c: n for n, c in enumerate(old_ids)}
    for track, label in zip(ids.tolist(), labels.tolist()):
        old = previous.get(int(track))
        if label >= 0 and old is not None:
            overlap[new_pos[label], old_pos[old]] += 1
    rows, cols = linear_sum_assignment(-overlap)
    mapping = {new_ids[r]: old_ids[c] for r, c in zip(rows, cols) if overlap[r, c] > 0}
    used = set(mapping.values())
    spare = (n for n in range(len(new_ids) + len(old_ids)) if n not in used)
    for c in new_ids:
        if c not in mapping:
            mapping[c] = next(spare)
    return np.array([mapping.get(int(c), int(c)) for c in labels.tolist()], dtype=labels.dtype)


def _fit_file(library, model: str) -> Path:
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


def _fitted_as(library, model: str) -> tuple[str, str, int | None] | None:
    """(representation, method, k) of the model's current map fit, None before the first."""
    fit = library.map_fit(model)
    return None if fit is None else (fit["params"].get("kind"), fit["method"], fit["params"].get("k"))


def _windows_arrived(library, model: str, kind: str) -> bool:
    """The map was fitted with principal axes where the representation wants discriminant ones
    (too few per-window vectors then, e.g. a library rescanned since), and there are enough now."""
    fit = library.map_fit(model)
    return bool(fit and fit["params"].get("short_of_windows")) and discriminant_ready(library, model, kind)


def build_map(library, model: str | None = None, refit: bool = False, method: str | None = None,
              k: int | None = None, progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
              kind: str | None = None) -> dict:
    """Fit (or extend) the map and clusters of a model; returns a summary.

    `method` None keeps the clustering of the current fit (HDBSCAN before the first), so cluster
    numbers a user has seen keep meaning the same clusters; "kmeans" with no k reuses the fit's k
    (8 when there is none).
    """
    model = library.model_key(model)
    if not model:
        raise ValueError("no active model")
    t0 = time.perf_counter()
    kind = kind or default_kind(library, model)
    asked_k = k
    method, k = _clustering(library, model, method, k)
    step = progress or (lambda stage, fraction: None)
    check = _stopper(should_stop)
    ids, parts = stored_parts(library, model, kind)
    if asked_k is not None and asked_k > len(ids):  # the saved map stays as it is
        raise ValueError(f"cannot make {asked_k} clusters of {len(ids)} analysed tracks; choose --k of at most {len(ids)}")
    if not len(ids):
        return {"model": model, "tracks": 0, "clusters": 0, "placed": 0, "refit": False, "seconds": 0.0}
    mapped, gone = _drop_removed(library, model, ids)
    new = np.array([i not in mapped for i in ids])
    # an unchanged map is answered from the database: the fitted reducers (and UMAP with them)
    # are loaded only to place new tracks
    grown = _grown_since_fit(library, model, len(mapped), int(new.sum()))
    refit = refit or _windows_arrived(library, model, kind)
    unchanged = not refit and not new.any() and not grown and bool(mapped) \
        and _fitted_as(library, model) == (kind, method, k)
    fit_path = _fit_file(library, model)
    fit = None
    if not refit and not unchanged and new.any():
        saved = library.map_fit(model)
        fit = _load_fit(fit_path, saved["params"].get("cache_sha256") if saved else None)
    same_setup = unchanged or (fit is not None and "basis" in fit and fit.get("kind") == kind
                               and fit.get("method") == method and fit.get("k") == k)
    summary = {"model": model, "tracks": len(ids), "placed": 0, "refit": False}
    if same_setup and not new.any():
        if gone:
            labels_now = library.map_labels(model)
            _store_labels(library, model, np.array([labels_now[int(i)] for i in ids]), ids)
        summary["clusters"] = len(clusters(library, model))
    elif fit is not None and same_setup and fit["layout"] is not None and not grown and len(mapped) > 0:
        step("placing new tracks", 0.2)
        _place(library, model, fit, ids[new], [p[new] for p in parts], check)
        step("done", 1.0)
        summary.update(clusters=len(fit["centres"]), placed=int(new.sum()))
    else:
        labels = _fit_map(library, model, (kind, method, k), ids, parts, fit_path, step, check)
        summary.update(clusters=len(set(labels.tolist()) - {-1}), placed=len(ids), refit=True)
    return {**summary, "seconds": time.perf_counter() - t0}


def _clustering(library, model: str, method: str | None, k: int | None) -> tuple[str, int | None]:
    """(method, k) of a build: None keeps the current fit's, a KMeans without k its k (else 8)."""
    current = fitted_setup(library, model)
    if method is None:
        method, k = current if current else ("hdbscan", None)
    if method not in ("hdbscan", "kmeans"):
        raise ValueError(f"unknown clustering method {method!r}: hdbscan or kmeans")
    if method == "hdbscan":
        return method, None
    if k is None:
        k = current[1] if current and current[0] == "kmeans" and current[1] else 8
    return method, k


def _stopper(should_stop: Callable[[], bool] | None) -> Callable[[], None]:
    def check() -> None:
        if should_stop and should_stop():
            raise MapCancelled()
    return check


def _drop_removed(library, model: str, ids: np.ndarray) -> tuple[set, set]:
    """(mapped track ids, ids dropped): tracks removed from the library leave the map without a refit."""
    mapped = set(library.map_labels(model))
    gone = mapped - set(ids.tolist())
    if gone:
        library.remove_map_points(model, gone)
        mapped -= gone
    return mapped, gone


def _fit_map(library, model: str, setup: tuple[str, str, int | None], ids: np.ndarray, parts: list[np.ndarray],
             fit_path: Path, step: Progress, check: Callable[[], None]) -> np.ndarray:
    """Fit the basis, both reducers and the clusters on every track; save the map, the fit and
    the named clusters. Returns the cluster labels (in the order of `ids`)."""
    kind, method, k = setup
    step("reducing", 0.05)
    basis = fit_basis(kind, parts, stored_windows(library, model, kind))
    x = basis.apply(parts)
    check()
    coords, space, (layout, space_model) = reduce(x)
    check()
    step("clustering", 0.8)
    labels = match_labels(library.map_assignments(model), ids, cluster(space, method, k))
    centres = centroids(space, labels)
    check()
    step("saving", 0.9)
    digest = _save_fit(fit_path, {"kind": kind, "method": method, "k": k, "basis": basis, "layout": layout,
                                  "space_model": space_model, "centres": centres})
    library.replace_map(model, [(int(i), float(c[0]), float(c[1]), int(lab)) for i, c, lab in zip(ids, coords, labels)],
                        method, {"k": k, "kind": kind, "seed": SEED, "cache_sha256": digest,
                                 "short_of_windows": basis.short_of_windows})
    _store_labels(library, model, labels, ids)
    step("done", 1.0)
    return labels


def _grown_since_fit(library, model: str, mapped: int, new: int) -> bool:
    """Whether the tracks placed since the fit (during scans, by earlier updates, and `new` now)
    are more than a fifth of those it was fitted on: then the map is fitted again."""
    fitted = (library.map_fit(model) or {}).get("n_tracks") or mapped
    return max(0, mapped - fitted) + new > REFIT_FRACTION * fitted


def _place(library, model: str, fit: dict, ids: np.ndarray, parts: list[np.ndarray],
           check: Callable[[], None]) -> None:
    """Put the tracks `ids` (rows of `parts`) on the fitted map (the fit's transform and nearest
    cluster centre) and update the clusters' sizes and names; the fit itself is not touched."""
    x = fit["basis"].apply(parts)
    coords = fit["layout"].transform(x).astype(np.float32)
    space = fit["space_model"].transform(x).astype(np.float32)
    labels = nearest_centre(space, fit["centres"])
    check()
    library.add_map_points(model, [(int(i), float(c[0]), float(c[1]), int(label))
                                   for i, c, label in zip(ids, coords, labels)])
    on_map = library.map_labels(model)
    mapped = np.array([i for i in library.embeddings(model, "probs")[0].tolist() if i in on_map], dtype=np.int64)
    _store_labels(library, model, np.array([on_map[int(i)] for i in mapped], dtype=np.int64), mapped)


def place_new_tracks(library, model: str | None = None, should_stop: Callable[[], bool] | None = None,
                     warm: bool = False) -> dict:
    """Place tracks analysed since the map was fitted with its fitted reducers, however many
    (a scan in progress: the map grows as tracks are analysed); never fits anything. `warm`: with
    nothing new, one mapped track goes through the reducers anyway (nothing is stored), so that
    UMAP's compiled code is ready when the first new track comes.

    Returns {model, fit (whether a usable fit exists), placed (now), mapped (on the map now),
    fitted (tracks the fit was made on)}."""
    model = library.model_key(model)
    saved = library.map_fit(model) if model else None
    out = {"model": model, "fit": False, "placed": 0, "mapped": 0, "fitted": 0}
    if saved is None:
        return out
    out["fitted"] = saved["n_tracks"] or 0
    mapped = set(library.map_labels(model))
    out["mapped"] = len(mapped)
    fit = _load_fit(_fit_file(library, model), saved["params"].get("cache_sha256"))
    if fit is None or fit.get("layout") is None or "basis" not in fit:
        return out
    out["fit"] = True
    waiting = library.analysed_ids(model) - mapped  # only their vectors are read
    ids, parts = stored_parts(library, model, fit["kind"], ids=waiting)
    if not len(ids):
        if warm and mapped:
            _, one = stored_parts(library, model, fit["kind"], ids=[min(mapped)])
            if len(one[0]):
                x = fit["basis"].apply(one)
                fit["layout"].transform(x), fit["space_model"].transform(x)
        return out
    _place(library, model, fit, ids, parts, _stopper(should_stop))
    out.update(placed=len(ids), mapped=len(mapped) + len(ids))
    return out


def _store_labels(library, model: str, labels: np.ndarray, ids: np.ndarray) -> None:
    """Name and save the clusters of these labels (with the genre probabilities, artists and tags
    read now)."""
    probs_ids, probs = library.embeddings(model, "probs")
    _store_clusters(library, model, labels, ids, probs_ids, probs, library.classes(model),
                    library.artists_and_tag_genres())


def _store_clusters(library, model, labels, ids, probs_ids, probs, classes, meta) -> None:
    pos = {int(i): n for n, i in enumerate(probs_ids)}
    keep = labels >= 0
    p = probs[[pos[int(i)] for i in ids[keep]]]
    artists = [meta.get(int(i), (None, None))[0] for i in ids[keep]]
    tags = [meta.get(int(i), (None, None))[1] for i in ids[keep]]
    tag_ids, tag_probs, tag_names = library.tag_matrix()
    tag_rows = None
    if len(tag_ids):
        tag_pos = {int(i): n for n, i in enumerate(tag_ids)}
        tag_rows = np.full((int(keep.sum()), tag_probs.shape[1]), np.nan, np.float32)
        for row, i in enumerate(ids[keep]):
            if int(i) in tag_pos:
                tag_rows[row] = tag_probs[tag_pos[int(i)]]
    named = name_clusters(labels[keep], p, classes, artists, tags, tag_rows, tag_names)
    for c, name in library.cluster_names(model).items():  # names the user gave stay
        if c in named:
            named[c]["name"] = name
    library.replace_clusters(model, named)


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
