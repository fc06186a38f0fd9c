"""The desktop app's pure helpers and the library calls behind its filters (no window)."""

import numpy as np
import pytest

from app.library.db import Library
from app.library.mapping import match_labels
from app.ui.library_view import format_duration
from app.ui.map_selection import inside_polygon, inside_rectangle
from app.ui.similar_view import cluster_ids


def test_lasso_polygon_and_rectangle():
    x = np.array([0.0, 1.0, 1.8, 5.0, 1.0])
    y = np.array([0.0, 1.0, 0.5, 5.0, 3.0])
    triangle = [(-1, -1), (3, -1), (1, 2)]
    assert inside_polygon(x, y, triangle).tolist() == [True, True, True, False, False]
    # a concave "C": the point in its mouth is outside
    c_shape = [(0, 0), (4, 0), (4, 1), (1, 1), (1, 3), (4, 3), (4, 4), (0, 4)]
    assert inside_polygon(np.array([0.5, 3.0, 3.0]), np.array([2.0, 2.0, 0.5]), c_shape).tolist() == [True, False, True]
    assert not inside_polygon(x, y, [(0, 0), (1, 1)]).any()
    assert inside_rectangle(x, y, 2.5, 0.5, 0.5, 3.5).tolist() == [False, True, True, False, True]


def test_new_clusters_keep_the_numbers_of_the_old_ones_they_overlap():
    ids = np.arange(10)
    previous = {0: 3, 1: 3, 2: 3, 3: 7, 4: 7, 5: 7, 6: 1, 7: 1, 8: 1, 9: 1}
    fresh = np.array([0, 0, 0, 2, 2, 2, 1, 1, 5, 5])  # old cluster 1 split in two
    relabelled = match_labels(previous, ids, fresh)
    assert relabelled[:3].tolist() == [3, 3, 3] and relabelled[3:6].tolist() == [7, 7, 7]
    assert len(set(relabelled[6:8].tolist()) | set(relabelled[8:].tolist())) == 2
    assert 1 in relabelled[6:].tolist()  # one half keeps the number, the other gets an unused one
    assert relabelled[8] not in (3, 7) and relabelled[6] not in (3, 7)
    assert match_labels({}, ids, fresh).tolist() == fresh.tolist()


def test_durations_and_cluster_names():
    assert format_duration(62.4) == "1:02" and format_duration(3725) == "1:02:05" and format_duration(None) == ""
    clusters = [{"cluster": 0, "name": "classical · hyperrogue"}, {"cluster": 4, "name": "Disco nights"}]
    assert cluster_ids(["DISCO", "0"], clusters) == ([0, 4], [])
    assert cluster_ids(["polka"], clusters) == ([], ["polka"])


def test_library_filters_names_and_revision(tmp_path):
    lib = Library()
    folder = lib.add_folder(tmp_path)
    a = lib.upsert_track(tmp_path / "a.ogg", title="A", tag_genre="Soundtrack", folder_id=folder)
    lib.upsert_track(tmp_path / "b.ogg", title="B", tag_genre="rock")
    before = lib.revision()
    assert lib.count_tracks(filters={"tag": "SOUNDTRACK"}) == 1
    assert lib.count_tracks(filters={"folder": folder}) == 1
    assert [r["id"] for r in lib.track_rows(filters={"tag": "soundtrack", "genre": None})] == [a]
    assert lib.tag_genres() == ["Soundtrack", "rock"]
    with pytest.raises(ValueError):
        lib.count_tracks(filters={"mood": "sad"})
    lib.record_error(tmp_path / "b.ogg", "undecodable", "not audio", track_id=a + 1)
    assert lib.revision() != before and lib.track_error(a + 1)["reason"] == "undecodable"
    lib.rename_cluster(2, "  Boss fights ", model="m")
    assert lib.cluster_names("m") == {2: "Boss fights"}
    with pytest.raises(ValueError):
        lib.rename_cluster(2, " ", model="m")


def test_album_labels_name_untagged_albums_after_their_folder():
    from app.ui.browse_panel import album_labels

    rows = [{"album": "HyperRogue", "folder": None}, {"album": None, "folder": "/games/hyperrogue/music"},
            {"album": None, "folder": "/games/blupi/music"}, {"album": None, "folder": "/games/nexuiz/cdtracks"},
            {"album": None, "folder": None}]
    assert album_labels(rows) == ["HyperRogue", "hyperrogue/music", "blupi/music", "cdtracks", "Unknown album"]
