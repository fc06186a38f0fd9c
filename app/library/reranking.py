"""k-reciprocal re-ranking of "more like this" (Zhong et al., CVPR 2017), pure maths.

A cosine ranking puts a track's true kin first only when they are also its nearest; in a library
of overlapping styles a "hub" track is near many queries without being like them. Two tracks are
k-reciprocal neighbours when each is among the other's k nearest. The query's k-reciprocal set,
widened by the sets of its members that mostly agree with it, says which tracks "vote" for the
query; every track gets such a vote vector (Gaussian weights of its set, averaged over its few
nearest), and two tracks are alike when their vote vectors overlap (a Jaccard distance). The
final distance mixes that with the plain one:

    d = (1 - LAMBDA) * jaccard_distance + LAMBDA * (2 - 2 cos)

Only a neighbourhood of the query is re-ranked (the NEIGHBOURHOOD rows nearest the seeds' mean by
cosine, of those a filter allows): it holds the neighbours that can share votes with the query's;
every other row keeps a Jaccard distance of 1, so it ranks below them in its plain cosine order. Scores are returned as `1 - d / 2`
(higher is more alike; 1 for an identical track with identical votes).
"""

from __future__ import annotations

import numpy as np

K1 = 10  # neighbours for the k-reciprocal sets (half of it for the sets that widen them)
K2 = 3  # nearest whose vote vectors are averaged into each track's (local query expansion)
LAMBDA = 0.3  # weight of the plain distance
NEIGHBOURHOOD = 300  # rows nearest the seeds that are re-ranked


def nearest(sims: np.ndarray, k: int) -> np.ndarray:
    """Boolean matrix: [i, j] when j is among row i's k + 1 most similar (itself included)."""
    k = min(k, len(sims) - 1)
    top = np.argpartition(-sims, k, axis=1)[:, : k + 1]
    out = np.zeros(sims.shape, bool)
    np.put_along_axis(out, top, True, axis=1)
    return out


def reciprocal_sets(sims: np.ndarray, k1: int = K1) -> np.ndarray:
    """Boolean matrix: row i marks its k1-reciprocal set, widened by the k1/2-reciprocal set of
    any member when more than two thirds of that set already belong to row i's."""
    full = nearest(sims, k1)
    full &= full.T
    half = nearest(sims, int(round(k1 / 2)))
    half &= half.T
    shared = full.astype(np.float32) @ half.T.astype(np.float32)  # [i, j]: |R(i) and R_half(j)|
    widen = full & (shared > (2 / 3) * half.sum(axis=1)[None, :])
    return full | ((widen.astype(np.float32) @ half.astype(np.float32)) > 0)


def vote_vectors(sims: np.ndarray, k1: int = K1, k2: int = K2) -> np.ndarray:
    """Each row's votes: Gaussian weights exp(-squared distance) over its widened reciprocal set,
    summing to 1, averaged over its k2 nearest rows."""
    sets = reciprocal_sets(sims, k1)
    votes = np.where(sets, np.exp(-(2.0 - 2.0 * sims)), 0.0)
    votes /= np.maximum(votes.sum(axis=1, keepdims=True), 1e-12)
    if k2 > 1:
        k2 = min(k2, len(sims))
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k2]
        votes = votes[top].mean(axis=1)
    return votes


def jaccard_distance(query_votes: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """1 - sum(min) / sum(max) of the query's votes against each row's."""
    low = np.minimum(votes, query_votes[None, :]).sum(axis=1)
    high = np.maximum(votes, query_votes[None, :]).sum(axis=1)
    return 1.0 - low / np.maximum(high, 1e-12)


def reranked_scores(matrix: np.ndarray, seed_rows: np.ndarray, cosines: np.ndarray, k1: int = K1,
                    k2: int = K2, weight: float = LAMBDA, neighbourhood: int = NEIGHBOURHOOD,
                    allowed: np.ndarray | None = None) -> np.ndarray:
    """Every row's score against the seeds (unit rows of `matrix`; `cosines`: each row's cosine to
    the seeds' mean direction), the query's neighbourhood re-ranked by k-reciprocal votes: the
    seeds and their `neighbourhood` nearest rows (of the `allowed` ones, a boolean mask, when given)."""
    seeds = np.unique(seed_rows)
    others = cosines.copy()
    if allowed is not None:
        others[~allowed] = -np.inf
    others[seeds] = -np.inf
    size = min(neighbourhood, int(np.isfinite(others).sum()))
    near = np.argpartition(-others, size - 1)[:size] if size > 0 else np.zeros(0, np.int64)
    local = np.concatenate([seeds, near])
    votes = vote_vectors(matrix[local] @ matrix[local].T, k1, k2)
    jaccard = np.ones(len(matrix))
    jaccard[local] = jaccard_distance(votes[: len(seeds)].mean(axis=0), votes)
    distance = (1.0 - weight) * jaccard + weight * (2.0 - 2.0 * cosines)
    return (1.0 - distance / 2.0).astype(np.float32)
