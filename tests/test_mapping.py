"""The map and clusters: known groups recovered, seeded, new tracks placed without refitting, CLI."""

import json

import numpy as np
from sklearn.metrics import adjusted_rand_score

from app.cli import main
from app.library import mapping
from app.library.playlists import read_m3u8
from library_factory import grouped_library

MODEL = "test-model"


def test_map_clusters_names_seeding_and_incremental_placement(tmp_path, capsys, monkeypatch):
    lib, truth = grouped_library(groups=4, per_group=30)
    summary = mapping.build_map(lib, MODEL)
    assert summary["refit"] and summary["tracks"] == 120
    pts = mapping.map_points(lib, MODEL)
    labels = [truth[int(i)] for i in pts["ids"]]
    assert adjusted_rand_score(labels, pts["cluster"]) > 0.95
    named = mapping.clusters(lib, MODEL)
    assert len(named) == 4 and sum(c["size"] for c in named) == 120
    genres = {c["name"].split(" ")[0] for c in named}
    assert genres == {"blues", "classical", "country", "disco"}
    assert all(c["top_tag_genres"][0][0].startswith("tag") for c in named)

    # seeded: a refit of the same library gives the same map
    again = mapping.build_map(lib, MODEL, refit=True)
    pts2 = mapping.map_points(lib, MODEL)
    assert again["refit"] and np.allclose(pts["x"], pts2["x"]) and np.array_equal(pts["cluster"], pts2["cluster"])

    # unchanged: nothing to do
    assert mapping.build_map(lib, MODEL)["placed"] == 0

    # a few new tracks are placed with the fitted reducer, next to their group
    rng = np.random.default_rng(5)
    ref_ids = [i for i, g in truth.items() if g == 2][:3]
    for k in range(5):
        tid = lib.upsert_track(f"/music/new/{k}.mp3", title=f"New {k}", artist="Newcomer")
        a = lib.analysis(ref_ids[k % 3], MODEL)
        emb = a["embedding"][None] + 0.05 * rng.normal(size=(2, 32))
        lib.save_analysis(tid, MODEL, [0, 30], np.repeat(a["probs"][None], 2, 0), np.abs(emb),
                          np.repeat(a["dense"][None], 2, 0), 0.1)
        truth[tid] = 2
    placed = mapping.build_map(lib, MODEL)
    assert not placed["refit"] and placed["placed"] == 5
    pts3 = mapping.map_points(lib, MODEL)
    cluster_of = dict(zip(pts3["ids"].tolist(), pts3["cluster"].tolist()))
    group2 = {cluster_of[i] for i in ref_ids}
    assert len(group2) == 1 and all(cluster_of[t] in group2 for t in truth if truth[t] == 2)

    # KMeans with a chosen k
    km = mapping.build_map(lib, MODEL, method="kmeans", k=4)
    assert km["clusters"] == 4 and km["refit"]
    assert adjusted_rand_score([truth[int(i)] for i in mapping.map_points(lib, MODEL)["ids"]],
                               mapping.map_points(lib, MODEL)["cluster"]) > 0.95

    # the CLI, against the same data home, with this model active
    monkeypatch.setattr("model.store.ModelStore.active_name", lambda self: MODEL)  # the store says it is active
    assert main(["clusters", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)  # the KMeans fit is kept
    assert len(found) == 4 and sum(c["size"] for c in found) == 125
    first = lib.track(ref_ids[0])["path"]
    monkeypatch.setattr("app.cli.similar_cmd._ids", lambda library, paths: [library.track_by_path(p)["id"] for p in paths])
    assert main(["similar", "--json", "-n", "5", "--exclude-artist", first]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 5 and set(results[0]) == {"path", "score", "artist", "title", "genre", "top_tags"}
    assert all(r["genre"] == "country" and r["artist"] != lib.track(ref_ids[0])["artist"] for r in results)
    playlist = tmp_path / "cluster.m3u8"
    pts4 = mapping.map_points(lib, MODEL)
    cluster_of = dict(zip(pts4["ids"].tolist(), pts4["cluster"].tolist()))
    cluster_id = cluster_of[ref_ids[0]]
    assert main(["export-m3u", "--cluster", str(cluster_id), str(playlist)]) == 0
    assert capsys.readouterr().out.startswith("wrote ")
    assert len(read_m3u8(playlist)) == sum(1 for c in cluster_of.values() if c == cluster_id)
    other = [i for i, g in truth.items() if g == 0][0]
    assert main(["path", "--steps", "4", "--json", "--m3u", str(tmp_path / "p.m3u8"), first, lib.track(other)["path"]]) == 0
    walked = json.loads(capsys.readouterr().out)
    assert walked[0]["path"] == first and walked[-1]["path"] == lib.track(other)["path"]
    assert len(read_m3u8(tmp_path / "p.m3u8")) >= 2


def _add_near(lib, truth, group: int, n: int, seed: int, prefix: str) -> list[int]:
    """n new tracks analysed close to the tracks of `group`."""
    rng = np.random.default_rng(seed)
    refs = [i for i, g in truth.items() if g == group][:3]
    added = []
    for k in range(n):
        tid = lib.upsert_track(f"/music/{prefix}/{k}.mp3", title=f"{prefix} {k}")
        a = lib.analysis(refs[k % 3], MODEL)
        emb = a["embedding"][None] + 0.05 * rng.normal(size=(2, 32))
        lib.save_analysis(tid, MODEL, [0, 30], np.repeat(a["probs"][None], 2, 0), np.abs(emb),
                          np.repeat(a["dense"][None], 2, 0), 0.1)
        added.append(tid)
    return added


def test_place_new_tracks_never_refits_and_the_next_update_does(home):
    lib, truth = grouped_library(groups=3, per_group=20)
    assert mapping.place_new_tracks(lib, MODEL)["fit"] is False  # no map yet: nothing to place on
    mapping.build_map(lib, MODEL)
    fit = lib.map_fit(MODEL)
    cache = sorted((home / "cache").glob("map-*.joblib"))[0]
    cache_bytes = cache.read_bytes()
    added = _add_near(lib, truth, 1, 20, seed=3, prefix="live")  # a third of the fitted tracks
    placed = mapping.place_new_tracks(lib, MODEL)
    assert placed == {"model": MODEL, "fit": True, "placed": 20, "mapped": 80, "fitted": 60}
    assert lib.map_fit(MODEL) == fit and cache.read_bytes() == cache_bytes  # the reducers untouched
    cluster_of = lib.map_labels(MODEL)
    group1 = {cluster_of[i] for i, g in truth.items() if g == 1}
    assert len(group1) == 1 and {cluster_of[i] for i in added} == group1
    assert mapping.place_new_tracks(lib, MODEL)["placed"] == 0
    # more than a fifth of the map was placed since the fit: the next update fits it again
    summary = mapping.build_map(lib, MODEL)
    assert summary["refit"] and lib.map_fit(MODEL)["n_tracks"] == 80


def test_exact_neighbours_are_cosine_nearest_with_self_at_zero():
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(200, 12)).astype(np.float32)
    rows[7] = rows[3] * 2.5  # same direction: cosine distance 0 to track 3
    indices, distances = mapping.nearest_neighbours(rows, rows, 6)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    cosine = 1 - unit @ unit.T
    expected = np.sort(cosine, axis=1)[:, :6]
    assert np.allclose(distances, np.clip(expected, 0, None), atol=1e-5)
    assert np.allclose(np.take_along_axis(cosine, indices.astype(int), 1), distances, atol=1e-5)
    assert (distances[:, 0] == 0).all() and distances[3, 1] == 0 and set(indices[3, :2]) == {3, 7}
    # the index UMAP's transform queries finds a fitted track's own row for a copy of it
    found, dist = mapping.ExactIndex(rows).query(rows[[5, 9]], k=3)
    assert found[:, 0].tolist() == [5, 9] and (dist[:, 0] == 0).all()


def test_a_map_fitted_short_of_windows_is_fitted_again_once_they_are_there(home):
    from app.library.vectors import discriminant_ready

    lib, truth = grouped_library(groups=3, per_group=40, window_dense=False)  # as rows from before schema 5
    assert not discriminant_ready(lib, MODEL, "blend_lda")
    assert mapping.build_map(lib, MODEL, kind="blend_lda")["refit"]
    assert lib.map_fit(MODEL)["params"]["short_of_windows"]
    assert not mapping.build_map(lib, MODEL, kind="blend_lda")["refit"]  # nothing new: the map stays
    rng = np.random.default_rng(9)
    for tid in truth:  # a rescan hears them again, keeping every window's vectors
        a = lib.analysis(tid, MODEL)
        windows = np.abs(a["dense"] + rng.normal(size=(3, 416)))
        lib.save_analysis(tid, MODEL, a["window_starts"], a["window_probs"], np.tile(a["embedding"], (3, 1)), windows,
                          0.3, window_dense=True)
    assert discriminant_ready(lib, MODEL, "blend_lda")
    assert mapping.build_map(lib, MODEL, kind="blend_lda")["refit"]
    assert not lib.map_fit(MODEL)["params"]["short_of_windows"]
