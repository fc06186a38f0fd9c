"""k-reciprocal re-ranking: the vectorised maths against a loop written from the paper's steps."""

import numpy as np

from app.library.reranking import nearest, reciprocal_sets, reranked_scores
from app.library.similarity import RECIPROCAL_MAX_SEEDS, RECIPROCAL_MIN_TRACKS, rank
from app.library.vectors import normalise


def _clustered(n_per: int = 20, groups: int = 4, dims: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, dims)) * 2
    return normalise(np.concatenate([c + rng.normal(size=(n_per, dims)) for c in centres]))


def _paper_distances(m: np.ndarray, query: int, k1: int = 10, k2: int = 3, lam: float = 0.3) -> np.ndarray:
    """Zhong et al. 2017, one step at a time with Python sets (squared Euclidean distances)."""
    d = np.sum((m[:, None, :] - m[None, :, :]) ** 2, axis=-1)
    order = np.argsort(d, axis=1, kind="stable")

    def recip(i: int, k: int) -> set:
        return {j for j in order[i, : k + 1] if i in order[j, : k + 1]}

    votes = np.zeros_like(d)
    for i in range(len(m)):
        r = recip(i, k1)
        widened = set(r)
        for j in r:
            rj = recip(j, int(round(k1 / 2)))
            if len(rj & r) > 2 / 3 * len(rj):
                widened |= rj
        cols = sorted(widened)
        w = np.exp(-d[i, cols])
        votes[i, cols] = w / w.sum()
    votes = np.stack([votes[order[i, :k2]].mean(axis=0) for i in range(len(m))])
    low = np.minimum(votes, votes[query]).sum(axis=1)
    jaccard = 1 - low / (2 - low)
    return (1 - lam) * jaccard + lam * d[query]


def test_scores_rank_as_the_paper_does():
    m = _clustered()
    for query in (0, 21, 77):
        scores = reranked_scores(m, np.array([query]), m @ m[query], neighbourhood=len(m))
        reference = _paper_distances(m, query)
        assert np.allclose(1 - scores, reference / 2, atol=1e-4)
        ours = np.argsort(-scores, kind="stable")[1:15]
        assert list(ours) == list(np.argsort(reference, kind="stable")[1:15])


def test_reciprocal_sets_are_mutual_and_hold_the_row():
    m = _clustered(seed=1)
    sims = m @ m.T
    sets = reciprocal_sets(sims, 6)
    assert sets[np.arange(len(m)), np.arange(len(m))].all()
    mutual = nearest(sims, 6) & nearest(sims, 6).T
    assert (sets >= mutual).all() and sets.sum() > mutual.sum()  # widening only adds, and here it does
    assert not (mutual & ~nearest(sims, 6)).any()


def test_rows_outside_the_neighbourhood_keep_their_cosine_order_below_it():
    m = _clustered(n_per=50, seed=2)
    cosines = m @ m[3]
    scores = reranked_scores(m, np.array([3]), cosines, neighbourhood=30)
    near = np.argsort(-cosines)[1:31]
    far = np.setdiff1d(np.arange(len(m)), np.append(near, 3))
    assert np.array_equal(np.argsort(-scores[far], kind="stable"), np.argsort(-cosines[far], kind="stable"))
    assert np.allclose(scores[far], 0.35 + 0.3 * cosines[far], atol=1e-5)  # (1 - lambda) / 2 + lambda * cos


def test_re_ranking_finds_more_of_a_groups_own_tracks_in_overlapping_groups():
    # four noisy groups in 32 dimensions, where plain cosine lists suffer from hubs
    gains = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        centres = rng.normal(size=(4, 32))
        m = normalise(np.concatenate([c + rng.normal(scale=1.5, size=(20, 32)) for c in centres]))
        group = np.repeat(np.arange(4), 20)

        def own_share(reciprocal: bool) -> float:
            tops = [[r for r, _ in rank(m, np.array([q]), 5, expansion=0, reciprocal=reciprocal)] for q in range(80)]
            return float(np.mean([np.mean(group[t] == group[q]) for q, t in enumerate(tops)]))

        gains.append(own_share(True) - own_share(False))
    assert min(gains) > 0 and np.mean(gains) > 0.03


def test_small_libraries_fall_back_to_the_expanded_query():
    m = _clustered(n_per=5, groups=3)
    assert len(m) < RECIPROCAL_MIN_TRACKS
    assert rank(m, np.array([0]), 5) == rank(m, np.array([0]), 5, reciprocal=False)


def test_several_seeds_vote_together():
    m = _clustered(seed=5)
    out = rank(m, np.array([0, 1]), 10)
    assert len(out) == 10 and not {0, 1} & {r for r, _ in out}
    assert [s for _, s in out] == sorted((s for _, s in out), reverse=True)


def test_many_seeds_rank_by_their_expanded_mean():
    m = _clustered(n_per=100, seed=6)
    seeds = np.arange(RECIPROCAL_MAX_SEEDS + 1)
    assert rank(m, seeds, 10) == rank(m, seeds, 10, reciprocal=False)
    assert rank(m, seeds[:3], 10) != rank(m, seeds[:3], 10, reciprocal=False)


def test_the_neighbourhood_is_drawn_from_the_allowed_rows():
    m = _clustered(n_per=200, groups=2, seed=7)
    allowed = np.zeros(len(m), bool)
    allowed[200:] = True  # only the other group: none of them is among the seed's 300 nearest by cosine
    cosines = m @ m[0]
    plain = 0.35 + 0.3 * cosines  # the score of a row left outside the neighbourhood
    scores = reranked_scores(m, np.array([0]), cosines, neighbourhood=50, allowed=allowed)
    assert not np.allclose(scores[200:], plain[200:], atol=1e-4)  # they were re-ranked
    unfiltered = reranked_scores(m, np.array([0]), cosines, neighbourhood=50)
    assert np.allclose(unfiltered[200:], plain[200:], atol=1e-5)
