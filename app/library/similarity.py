""""More like this": cosine similarity over the stored track representations.

`rank` is the pure maths (scores, exclusions, diversity); `similar` reads the library.
The query is expanded once: the seeds' mean direction plus the mean of its EXPANSION nearest
other tracks, and every track is scored by its cosine to that (pseudo-relevance feedback: the
seed's closest neighbours vote for what "like this" means, which damps a lone seed's quirks;
measured on real music, see `EXPANSION`).
Diversity (0..1) re-ranks with maximal marginal relevance: each next pick trades its similarity
to the seeds against its similarity to what was already picked; any diversity above 0 also drops
near-duplicates (cosine > 0.98 to a pick) and never lets one artist play twice in a row.
"""

from __future__ import annotations

import os

import numpy as np

from .reranking import reranked_scores
from .vectors import vector_index

NEAR_DUPLICATE = 0.98
# Nearest tracks averaged into the query (0: the seeds alone). Same-label precision@5 on real music
# (bench/similarity_eval.py --list, sets of bench/sets), default representation without -> with:
# 7 soundtracks 0.642 -> 0.640, 5 of them 0.831 -> 0.852, three styles 0.962 -> 0.958, eight
# packages 0.511 -> 0.528; the BBNN blend alone 0.565 -> 0.573, 0.784 -> 0.795, 0.879 -> 0.902,
# 0.468 -> 0.481. 2 and 4 neighbours measured within 0.02 of 3; 5 or more lose.
EXPANSION = 3


def unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def query_vector(matrix: np.ndarray, seed_rows: np.ndarray, expansion: int = EXPANSION) -> np.ndarray:
    """The seeds' mean direction, expanded with the mean of its `expansion` nearest other rows."""
    q = unit(matrix[seed_rows].mean(axis=0))
    return _expanded(matrix, q, matrix @ q, seed_rows, expansion)


def _expanded(matrix: np.ndarray, q: np.ndarray, scores: np.ndarray, seed_rows: np.ndarray, expansion: int) -> np.ndarray:
    k = min(expansion, len(matrix) - len(np.unique(seed_rows)))
    if k <= 0:
        return q
    scores = scores.copy()
    scores[seed_rows] = -np.inf
    nearest = np.argpartition(-scores, k - 1)[:k]
    return unit(q + matrix[nearest].mean(axis=0))


SHORTLIST = 1000  # candidates (at least 10 per result) nearest the seeds, ranked again by the expanded query
# k-reciprocal re-ranking (reranking.py) replaces the query expansion once a library has enough
# tracks for neighbourhoods of K1 = 10 to mean something (same-label precision@5 on real music: the
# table in vectors.py and the README).
RECIPROCAL_MIN_TRACKS = 40
# More distinct seeds than this (a lasso, a big selection) rank by the expanded query: their votes
# would need a graph of every seed, and so many seeds say "like these" well enough by their mean.
RECIPROCAL_MAX_SEEDS = 50


def rank(matrix: np.ndarray, seed_rows: np.ndarray, n: int, allowed: np.ndarray | None = None,
         diversity: float = 0.0, artists: list | None = None, expansion: int = EXPANSION,
         reciprocal: bool = True) -> list[tuple[int, float]]:
    """Top-n rows most like the seeds: [(row, score)]. `allowed`: boolean mask.

    With `reciprocal` (a library of at least RECIPROCAL_MIN_TRACKS rows, at most
    RECIPROCAL_MAX_SEEDS seeds) the seeds' neighbourhood among the allowed rows is re-ranked by
    k-reciprocal votes (reranking.reranked_scores); otherwise rows are scored by their cosine to
    the expanded query (`query_vector`)."""
    q = unit(matrix[seed_rows].mean(axis=0))
    cosines = matrix @ q
    mask = np.ones(len(cosines), bool) if allowed is None else allowed.copy()
    mask[seed_rows] = False
    candidates = np.flatnonzero(mask)
    if len(candidates) == 0 or n <= 0:
        return []
    if reciprocal and len(matrix) >= RECIPROCAL_MIN_TRACKS and len(np.unique(seed_rows)) <= RECIPROCAL_MAX_SEEDS:
        scores = reranked_scores(matrix, seed_rows, cosines, allowed=mask)
    else:
        scores, candidates = _expansion_scores(matrix, q, cosines, seed_rows, candidates, n, expansion)
    if diversity <= 0:
        k = min(n, len(candidates))
        top = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(r), float(scores[r])) for r in top]
    pool_size = min(len(candidates), max(10 * n, 200))
    pool = candidates[np.argpartition(-scores[candidates], pool_size - 1)[:pool_size]]
    pool = pool[np.argsort(-scores[pool], kind="stable")]
    picked: list[int] = []
    max_sim = np.full(len(pool), -1.0, dtype=np.float32)
    lam = 1.0 - min(max(diversity, 0.0), 1.0)
    alive = np.ones(len(pool), bool)
    while len(picked) < n and alive.any():
        value = lam * scores[pool] - (1 - lam) * np.maximum(max_sim, 0)
        value[~alive] = -np.inf
        if artists is not None and picked:
            last = artists[picked[-1]]
            if last:
                same = np.array([artists[r] == last for r in pool]) & alive
                if (alive & ~same).any():
                    value[same] = -np.inf
        best = int(np.argmax(value))
        row = int(pool[best])
        picked.append(row)
        alive[best] = False
        sims = matrix[pool] @ matrix[row]
        max_sim = np.maximum(max_sim, sims)
        alive &= sims <= NEAR_DUPLICATE
    return [(r, float(scores[r])) for r in picked]


def _expansion_scores(matrix: np.ndarray, q: np.ndarray, cosines: np.ndarray, seed_rows: np.ndarray,
                      candidates: np.ndarray, n: int, expansion: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores against the expanded query, for a shortlist of the candidates nearest the seeds: one
    pass over the library picks the expansion's neighbours and the shortlist."""
    if expansion <= 0:
        return cosines, candidates
    expanded = _expanded(matrix, q, cosines, seed_rows, expansion)
    size = min(len(candidates), max(SHORTLIST, 10 * n))
    candidates = candidates[np.argpartition(-cosines[candidates], size - 1)[:size]]
    scores = np.full(len(matrix), -np.inf, np.float32)
    scores[candidates] = matrix[candidates] @ expanded
    return scores, candidates


GHOST_MARGIN = 10  # extra candidates ranked, for results dropped as copies of the seeds or of each other


def similar(library, seeds: list[int], n: int = 20, model: str | None = None, exclude_artist: bool = False,
            exclude_album: bool = False, genres: list[str] | None = None, clusters: list[int] | None = None,
            diversity: float = 0.0, kind: str | None = None, map_model: str | None = None) -> list[dict]:
    """Tracks most like the seed tracks: [{id, path, score, artist, title, album, genre}]. `clusters`
    are cluster ids of `map_model`'s map (None: the map the app shows, library.map_model()), which may
    be another model's than the vectors' during a model switch."""
    model = library.model_key(model)
    map_model = map_model or library.map_model() or library.map_model(model)
    index = vector_index(library, model, kind)
    if not len(index.ids):
        return []
    seed_rows = index.rows(seeds)
    # every track's artist, album, genre and cluster are read only when a filter needs them
    meta = _metadata(library, model, index, map_model) if (exclude_artist or exclude_album or genres or clusters
                                                 or diversity > 0) else None
    allowed = np.ones(len(index.ids), bool)
    for field, wanted in (("artist", exclude_artist), ("album", exclude_album)):
        if wanted:
            codes = meta[f"{field}_code"]
            seed_codes = codes[seed_rows]
            allowed &= ~np.isin(codes, seed_codes[seed_codes >= 0])
    if genres:
        wanted = {g.strip().lower() for g in genres}
        allowed &= np.array([(g or "").lower() in wanted for g in meta["genre"]], dtype=bool)
    if clusters:
        allowed &= np.isin(meta["cluster_code"], list(clusters))
    ranked = rank(index.matrix, seed_rows, n + GHOST_MARGIN, allowed, diversity, meta["artist"] if meta else None)
    rows = library.tracks(int(index.ids[r]) for r, _ in ranked)
    out = []
    for r, score in _one_per_audio(library, seeds, ranked, rows, index.ids)[:n]:
        track = rows[int(index.ids[r])]
        genre = meta["genre"][r] if meta else (library.analysis(track["id"], model) or {}).get("top_genre")
        out.append({"id": track["id"], "path": track["path"], "score": round(score, 4), "artist": track["artist"],
                    "title": track["title"], "album": track["album"], "genre": genre,
                    "duration": track["duration"]})
    return out


def _one_per_audio(library, seeds: list[int], ranked: list, rows: dict, ids) -> list:
    """The same audio at another path (a copy, or the ghost of a moved file) is never a result
    twice, nor a seed's own audio; of copies, one whose file is on disk stands for them."""
    from .fspath import from_db

    heard = {t["fingerprint"] for t in library.tracks(seeds).values() if t["fingerprint"]}
    chosen: dict = {}
    for r, score in ranked:
        track = rows[int(ids[r])]
        audio = track["fingerprint"] or ("track", track["id"])
        if audio in heard:
            continue
        if audio not in chosen or (not os.path.exists(from_db(chosen[audio][2])) and os.path.exists(from_db(track["path"]))):
            chosen[audio] = (r, chosen[audio][1] if audio in chosen else score, track["path"])
    return [(r, score) for r, score, _ in chosen.values()]


_meta_cache: dict[tuple, tuple[int, dict]] = {}


def _metadata(library, model: str, index, map_model: str | None) -> dict:
    """artist, album, predicted genre and cluster (on `map_model`'s map) per row of the index
    (cached per data version)."""
    key = (str(library.path), model, map_model)
    version = (index.version, library.map_version(map_model or model))
    cached = _meta_cache.get(key)
    if cached and cached[0] == version and len(cached[1]["artist"]) == len(index.ids):
        return cached[1]
    info = library.similarity_info(model, map_model)
    rows = [info.get(int(i), (None, None, None, None)) for i in index.ids]
    meta = {"artist": [r[0] for r in rows], "album": [r[1] for r in rows],
            "genre": [r[2] for r in rows], "cluster": [r[3] for r in rows]}
    for field in ("artist", "album"):  # integer codes for vectorised exclusion; -1 = unknown
        values = meta[field]
        names = sorted({v for v in values if v})
        lookup = {v: i for i, v in enumerate(names)}
        meta[f"{field}_code"] = np.array([lookup.get(v, -1) if v else -1 for v in values], dtype=np.int64)
    meta["cluster_code"] = np.array([-1 if c is None else c for c in meta["cluster"]], dtype=np.int64)
    _meta_cache[key] = (version, meta)
    return meta
