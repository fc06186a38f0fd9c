"""The map's fit over time: the chosen clustering is kept, `similar` follows refits, removed tracks leave."""

import numpy as np

from app.library.mapping import build_map, clusters, fitted_setup, map_points
from app.library.similarity import similar
from library_factory import grouped_library

MODEL = "test-model"


def _cluster_of(lib) -> dict:
    pts = map_points(lib, MODEL)
    return dict(zip(pts["ids"].tolist(), pts["cluster"].tolist()))


def test_refits_keep_the_chosen_clustering_and_similar_follows_them():
    lib, truth = grouped_library(groups=3, per_group=20)
    assert build_map(lib, MODEL, method="kmeans", k=2)["clusters"] == 2
    again = build_map(lib, MODEL, refit=True)  # no method given: the fit's KMeans with k = 2 again
    assert again["refit"] and again["clusters"] == 2 and fitted_setup(lib, MODEL) == ("kmeans", 2)

    seed = 1
    for k in (2, 3):  # the second fit rewrites every map row: the restriction must follow it
        build_map(lib, MODEL, method="kmeans", k=k)
        cluster_of = _cluster_of(lib)
        mine = cluster_of[seed]
        results = similar(lib, [seed], n=100, model=MODEL, clusters=[mine])
        assert {cluster_of[r["id"]] for r in results} == {mine}
        assert len(results) == sum(1 for c in cluster_of.values() if c == mine) - 1
    assert sorted(c["size"] for c in clusters(lib, MODEL)) == [20, 20, 20]

    assert build_map(lib, MODEL, method="hdbscan")["refit"]
    assert fitted_setup(lib, MODEL) == ("hdbscan", None)
    assert not build_map(lib, MODEL)["refit"]


def test_removed_tracks_leave_the_map_without_a_refit():
    lib, truth = grouped_library(groups=2, per_group=15)
    build_map(lib, MODEL)
    before = map_points(lib, MODEL)
    with lib.db.conn:
        lib.db.execute("UPDATE tracks SET missing = 1 WHERE id IN (1, 2)")
    lib.touch()
    summary = build_map(lib, MODEL)
    assert not summary["refit"] and summary["tracks"] == 28 and summary["placed"] == 0
    after = map_points(lib, MODEL)
    keep = ~np.isin(before["ids"], [1, 2])
    assert np.array_equal(after["ids"], before["ids"][keep]) and np.allclose(after["x"], before["x"][keep])
    assert sum(c["size"] for c in clusters(lib, MODEL)) == 28
    assert lib.db.execute("SELECT COUNT(*) FROM map_points WHERE track_id IN (1, 2)").fetchone()[0] == 0
