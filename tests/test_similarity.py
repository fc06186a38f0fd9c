"""More like this, sonic paths and playlists on libraries of known structure."""

import numpy as np
import pytest

from app.library.paths import sonic_path, walk
from app.library.playlists import m3u8_bytes, read_m3u8, write_m3u8
from app.library.similarity import query_vector, rank, similar
from app.library.vectors import KINDS, normalise, vector_index
from library_factory import add_tagger, grouped_library

MODEL = "test-model"


def test_same_group_neighbours_for_every_representation():
    lib, truth = grouped_library()
    add_tagger(lib, truth)
    for kind in KINDS:
        for seed in (1, 40, 95):
            results = similar(lib, [seed], n=10, model=MODEL, kind=kind)
            assert len(results) == 10 and seed not in [r["id"] for r in results]
            assert all(truth[r["id"]] == truth[seed] for r in results), kind
            scores = [r["score"] for r in results]
            assert scores == sorted(scores, reverse=True) and scores[0] <= 1.0


def test_several_seeds_and_exclusions():
    lib, truth = grouped_library()
    seeds = [1, 2]
    seed_artists = {lib.track(s)["artist"] for s in seeds}
    seed_albums = {lib.track(s)["album"] for s in seeds}
    by_artist = similar(lib, seeds, n=15, model=MODEL, exclude_artist=True)
    assert by_artist and not {r["artist"] for r in by_artist} & seed_artists
    by_album = similar(lib, seeds, n=15, model=MODEL, exclude_album=True)
    assert by_album and not {r["album"] for r in by_album} & seed_albums
    assert {r["genre"] for r in similar(lib, [1], n=40, model=MODEL, genres=["disco"])} == {"disco"}


def _unit_rows(rows) -> np.ndarray:
    m = np.array(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_query_expansion_follows_the_seeds_neighbourhood():
    # row 0 the seed; rows 1-3 its three nearest, leaning towards axis 2; row 4 a lone track a bit
    # nearer the seed than row 5, which sits among rows 1-3
    m = _unit_rows([[1, 0, 0], [1, 0.5, 0.01], [1, 0.5, -0.01], [1, 0.49, 0], [1, 0, 0.55], [1, 0.6, 0]])
    plain = [r for r, _ in rank(m, np.array([0]), 5, expansion=0)]
    expanded = [r for r, _ in rank(m, np.array([0]), 5, expansion=3)]
    assert plain[3:] == [4, 5] and expanded[3:] == [5, 4]
    assert sorted(plain[:3]) == sorted(expanded[:3]) == [1, 2, 3]


def test_query_expansion_with_few_tracks():
    m = _unit_rows([[1, 0], [0, 1], [1, 1]])
    assert np.allclose(query_vector(m, np.array([0, 1, 2]), 3), _unit_rows([[2, 2]])[0])  # nothing to expand with
    assert np.allclose(query_vector(m, np.array([0]), 0), m[0])
    assert [r for r, _ in rank(m, np.array([0, 0]), 5, expansion=5)] == [2, 1]  # k clipped to the others


def test_ranking_a_shortlist_by_the_expanded_query_matches_ranking_every_track():
    m = normalise(np.random.default_rng(3).normal(size=(4000, 12)))
    for seeds in ([5], [7, 900]):
        scores = m @ query_vector(m, np.array(seeds), 3)
        scores[seeds] = -np.inf
        assert [r for r, _ in rank(m, np.array(seeds), 20, expansion=3, reciprocal=False)] == list(np.argsort(-scores, kind="stable")[:20])


def test_diversity_breaks_runs_of_one_artist_and_near_duplicates():
    lib, _ = grouped_library(groups=2, per_group=30)
    results = similar(lib, [1], n=12, model=MODEL, diversity=0.5)
    artists = [r["artist"] for r in results]
    assert all(a != b for a, b in zip(artists, artists[1:]))
    matrix = np.eye(6, dtype=np.float32)[[0, 1, 1, 2, 3, 4]]  # rows 1 and 2 are duplicates
    picked = [r for r, _ in rank(normalise(matrix + 0.01), np.array([0]), 5, diversity=0.3)]
    assert not {1, 2} <= set(picked)


def test_cache_follows_the_database():
    lib, truth = grouped_library(groups=2, per_group=10)
    first = vector_index(lib, MODEL)
    assert vector_index(lib, MODEL) is first
    tid = lib.upsert_track("/music/new.mp3", title="New", artist="X")
    lib.save_analysis(tid, MODEL, [0.0], np.full((1, 10), 0.1), np.ones((1, 32)), np.ones((1, 416)), 0.1)
    second = vector_index(lib, MODEL)
    assert second is not first and tid in second.ids


def test_path_is_monotone_without_repeats():
    lib, truth = grouped_library(groups=3, per_group=25)
    a, b = 1, 26  # group 0 to group 1
    path = sonic_path(lib, a, b, steps=8, model=MODEL)
    ids = [p["id"] for p in path]
    assert ids[0] == a and ids[-1] == b and len(set(ids)) == len(ids) and 3 <= len(ids) <= 10
    to_end = [p["score"] for p in path]
    assert to_end == sorted(to_end) and to_end[-1] == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    m = normalise(rng.normal(size=(200, 16)))
    rows = walk(m, 0, 1, 12)
    assert len(set(rows)) == len(rows)
    closeness = m[rows] @ m[1]
    assert np.all(np.diff(closeness) >= -1e-6)
    with pytest.raises(ValueError):
        sonic_path(lib, a, a, model=MODEL)


def test_m3u8_round_trip_with_unicode_and_relative_paths(tmp_path):
    music = tmp_path / "Música" / "Björk – 東京"
    music.mkdir(parents=True)
    tracks = [{"path": str(music / "01 Jóga.flac"), "duration": 305.4, "artist": "Björk", "title": "Jóga"},
              {"path": str(music / "02 ☃.mp3"), "duration": None, "artist": None, "title": None}]
    text = m3u8_bytes(tracks).decode("utf-8")  # all UTF-8 names: the whole playlist is UTF-8
    assert text.splitlines()[:3] == ["#EXTM3U", "#EXTINF:305,Björk - Jóga", tracks[0]["path"]]
    assert "#EXTINF:-1,02 ☃" in text
    for relative in (False, True):
        out = write_m3u8(tracks, tmp_path / f"list{relative}.m3u8", relative=relative)
        raw = out.read_bytes().decode("utf-8")
        assert ("Música/" in raw) and (raw.count(str(tmp_path)) == (0 if relative else 2))
        entries = read_m3u8(out)
        assert [e[0] for e in entries] == [t["path"] for t in tracks]
        assert entries[0][1:] == (305, "Björk - Jóga")


class _OldManifest:
    name = "old-model"
    classes = ["a", "b"]
    source = "test"
    source_sha256 = None


def test_cluster_filter_uses_the_shown_maps_clusters_not_the_ranking_models():
    # a model switch: the new model ranks (it analysed everything) but has no map yet, so the app
    # shows the old model's map; its cluster 7 holds group 1, which the new model never clustered
    lib, truth = grouped_library()
    old = lib.ensure_model(_OldManifest)
    for tid in list(truth)[:3]:
        lib.save_analysis(tid, old, [0.0], np.array([[0.9, 0.1]]), np.ones((1, 32)), np.ones((1, 4)), 0.1)
    group1 = [t for t, g in truth.items() if g == 1]
    lib.replace_map(old, [(t, 0.0, 0.0, 7 if t in group1 else 3) for t in truth], "umap", {})
    assert lib.map_model(MODEL) == old and lib.map_fit(MODEL) is None
    for shown in (None, old):
        results = similar(lib, [1], n=10, model=MODEL, clusters=[7], map_model=shown)
        assert len(results) == 10 and all(truth[r["id"]] == 1 for r in results)
    lib.replace_map(MODEL, [(t, 0.0, 0.0, 7 if truth[t] == 2 else 0) for t in truth], "umap", {})
    assert {truth[r["id"]] for r in similar(lib, [1], n=10, model=MODEL, clusters=[7])} == {2}
    assert {truth[r["id"]] for r in similar(lib, [1], n=10, model=MODEL, clusters=[7], map_model=old)} == {1}
