"""The library database: schema and migrations, writes, the reads the GUI and similarity code use."""

import os
import sqlite3

import numpy as np
import pytest

from app.library import db as dbmod
from app.library.db import SCHEMA_VERSION, Library, LibraryError
from app.library.fspath import display_path, from_db, to_db

CLASSES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]


class Manifest:
    name = "m1"
    classes = CLASSES
    source = "test"
    source_sha256 = "abc"


def analysed(lib, path, genre_index, model="m1", **fields):
    tid = lib.upsert_track(path, **fields)
    probs = np.full((2, 10), 0.05, np.float32)
    probs[:, genre_index] = 0.55
    emb = np.stack([np.arange(32, dtype=np.float32), np.arange(32, dtype=np.float32) + 2])
    lib.save_analysis(tid, model, [0.0, 30.0], probs, emb, np.ones((2, 416), np.float32), 0.25)
    return tid


def test_new_library_has_the_schema_wal_and_version(home):
    lib = Library()
    assert lib.path == home / "library.sqlite"
    assert lib.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert lib.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = set(lib.db.table_names())
    assert {"folders", "tracks", "models", "analyses", "errors", "map_points", "clusters", "map_fits"} <= tables
    track_cols = {c.name for c in lib.db["tracks"].columns}
    assert {"path", "size", "mtime", "fingerprint", "duration", "format", "sample_rate", "channels", "title",
            "artist", "album", "album_artist", "tag_genre", "year", "track_no", "has_cover", "first_seen",
            "last_seen", "missing"} <= track_cols
    lib.close()
    again = Library()  # reopening migrates nothing and keeps the version
    assert again.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_forward_migrations_run_in_order(tmp_path, monkeypatch):
    path = tmp_path / "lib.sqlite"
    Library(path).close()
    monkeypatch.setattr(dbmod, "MIGRATIONS", [*dbmod.MIGRATIONS, "ALTER TABLE tracks ADD COLUMN bpm REAL;"])
    monkeypatch.setattr(dbmod, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    lib = Library(path)
    assert lib.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert "bpm" in {c.name for c in lib.db["tracks"].columns}


def test_a_newer_schema_or_a_damaged_file_is_refused_with_a_message(tmp_path):
    newer = tmp_path / "newer.sqlite"
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(LibraryError, match="newer Cratedigger"):
        Library(newer)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(LibraryError, match="damaged"):
        Library(junk)
    assert junk.stat().st_size == 4096  # left as it was


def test_upsert_save_analysis_and_read_back(home):
    lib = Library()
    lib.ensure_model(Manifest)
    folder = lib.add_folder(home)
    assert lib.add_folder(home) == folder and len(lib.folders()) == 1
    version = lib.data_version()
    tid = analysed(lib, "/m/a.mp3", 6, title="Heavy", artist="X", folder_id=folder, duration=200.0)
    assert lib.upsert_track("/m/a.mp3", album="Rocks") == tid  # same path, same row
    assert lib.data_version() > version
    a = lib.analysis(tid, "m1")
    assert a["classes"] == CLASSES and a["top_genre"] == "metal"
    assert a["window_probs"].shape == (2, 10) and a["window_starts"].tolist() == [0.0, 30.0]
    assert np.isclose(a["probs"].sum(), 1.0) and a["probs"].dtype == np.float32
    assert np.allclose(a["embedding"], np.arange(32) + 1) and np.allclose(a["embedding_std"], 1.0)
    assert a["dense"].shape == (416,)
    assert lib.track(tid)["album"] == "Rocks" and lib.track_by_path("/m/a.mp3")["id"] == tid
    with pytest.raises(ValueError, match="unknown track fields"):
        lib.upsert_track("/m/b.mp3", colour="red")


def test_track_rows_status_search_sort_and_count(home):
    lib = Library()
    lib.ensure_model(Manifest)
    a = analysed(lib, "/m/a.mp3", 6, title="Zed", artist="beta")
    b = analysed(lib, "/m/b.mp3", 5, title="Alpha", artist="Alpha")
    c = lib.upsert_track("/m/c.mp3", title="Broken", artist="Gamma")
    lib.record_error("/m/c.mp3", "undecodable", "not audio", c)
    d = lib.upsert_track("/m/d.mp3", title="Gone", artist="delta", missing=1)
    e = lib.upsert_track("/m/e.mp3", title="Waiting", artist="Eps")
    rows = {r["id"]: r for r in lib.track_rows(model="m1")}
    assert {i: r["status"] for i, r in rows.items()} == {
        a: "analysed", b: "analysed", c: "error", d: "missing", e: "pending"}
    assert rows[a]["top_genre"] == "metal" and rows[c]["top_genre"] is None
    assert [r["id"] for r in lib.track_rows(sort="artist", model="m1")] == [b, a, d, e, c]  # case-insensitive
    assert [r["id"] for r in lib.track_rows(sort="title", descending=True, model="m1")][:2] == [a, e]
    assert [r["id"] for r in lib.track_rows(sort="top_genre", model="m1")][:2] == [b, a]  # unanalysed last
    assert [r["id"] for r in lib.track_rows(offset=1, limit=2, sort="artist", model="m1")] == [a, d]
    assert [r["id"] for r in lib.track_rows(search="metal", model="m1")] == [a]
    assert lib.count_tracks(search="alpha", model="m1") == 1 and lib.count_tracks(model="m1") == 5
    with pytest.raises(ValueError):
        lib.track_rows(sort="id; DROP TABLE tracks")


def test_embeddings_status_genres_errors_and_prune(home):
    lib = Library()
    lib.ensure_model(Manifest)
    a = analysed(lib, "/m/a.mp3", 6)
    b = analysed(lib, "/m/b.mp3", 6)
    c = analysed(lib, "/m/c.mp3", 5)
    analysed(lib, "/m/a.mp3", 1, model="m2")
    lib.upsert_track("/m/c.mp3", missing=1)
    lib.record_error("/m/x.mp3", "too_short", "only 0.2 s of audio")
    lib.record_error("/m/y.mp3", "too_short", "only 0.1 s of audio")
    ids, matrix = lib.embeddings("m1")
    assert ids.tolist() == [a, b] and matrix.shape == (2, 32) and matrix.dtype == np.float32
    assert lib.embeddings("m1", kind="dense")[1].shape == (2, 416)
    assert lib.embeddings("nobody")[1].shape[0] == 0
    status = lib.status("m1")
    assert status["tracks"] == 2 and status["missing"] == 1
    assert status["analysed"] == {"m1": 2, "m2": 1} and status["errors"] == {"too_short": 2}
    assert lib.genre_distribution("m1") == {"metal": 2}
    assert [e["path"] for e in lib.errors()] == ["/m/x.mp3", "/m/y.mp3"]
    version = lib.data_version()
    assert lib.prune() == 1
    assert lib.track(c) is None and lib.db.execute("SELECT COUNT(*) FROM analyses WHERE track_id = ?", [c]).fetchone()[0] == 0
    assert lib.data_version() > version


def test_model_none_means_the_callers_active_model(random_model):
    from app.home import active_model_key

    lib = Library(active_model=active_model_key)  # what app.home.open_library passes
    lib.ensure_model(random_model)
    tid = analysed(lib, "/m/a.mp3", 0, model=random_model.name)
    assert lib.analysis(tid)["top_genre"] == "blues"
    assert lib.status()["active_model"] == random_model.name
    assert lib.genre_distribution() == {"blues": 1}


def test_non_utf8_paths_round_trip(home):
    raw = os.fsdecode(b"/m/caf\xe9.mp3")  # Latin-1 bytes, not UTF-8
    lib = Library()
    tid = lib.upsert_track(raw, title="Cafe")
    stored = lib.track(tid)["path"]
    assert stored.startswith("b64:") and from_db(stored) == raw and to_db(raw) == stored
    assert display_path(stored) == "/m/caf\ufffd.mp3"
    assert lib.track_by_path(raw)["id"] == tid


def test_locked_database_is_reported(tmp_path):
    path = tmp_path / "lib.sqlite"
    Library(path).close()
    blocker = sqlite3.connect(path)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        lib = Library(path, timeout=0.1)
        with pytest.raises(sqlite3.OperationalError) as e:
            lib.upsert_track("/m/a.mp3")
        assert "locked" in dbmod.explain(e.value, path)
    finally:
        blocker.rollback()
        blocker.close()


def test_artists_and_albums_group_tags_and_untagged_files(home, tmp_path):
    lib = Library()
    lib.upsert_track("/m/a/1.mp3", artist="Alpha", album="First", year=2001, track_no=2)
    lib.upsert_track("/m/a/2.mp3", artist="alpha ", album="first", year=2003, track_no=1)
    lib.upsert_track("/m/c/3.mp3", artist="Beta", album="Comp")
    lib.upsert_track("/m/c/4.mp3", artist="Gamma", album="Comp")
    lib.upsert_track("/m/s/5.mp3", artist="Gamma", album="Comp", album_artist="Gamma")  # another "Comp"
    lib.upsert_track("/m/u/6.ogg")
    lib.upsert_track("/m/u/7.ogg", artist="  ", album="")
    odd = tmp_path / os.fsdecode(b"caf\xe9")  # a folder name that is not UTF-8
    lib.upsert_track(odd / "8.ogg", artist="Beta")
    artists = {a["name"]: a for a in lib.artists()}
    assert list(artists) == ["Alpha", "Beta", "Gamma", None]  # case and blanks fold; untagged last
    assert (artists["Alpha"]["tracks"], artists["Alpha"]["albums"]) == (2, 1)
    assert (artists["Gamma"]["tracks"], artists["Gamma"]["albums"]) == (2, 2)
    assert artists[None]["tracks"] == 2
    albums = lib.albums()
    shown = [(a["album"], a["artist"], a["year"], a["tracks"]) for a in albums]
    assert shown[:3] == [("Comp", "Various artists", None, 2), ("Comp", "Gamma", None, 1), ("First", "Alpha", 2001, 2)]
    untagged = {a["folder"]: a for a in albums if a["album"] is None}
    assert untagged["/m/u"]["artist"] is None and untagged["/m/u"]["tracks"] == 2
    assert untagged[display_path(to_db(odd))]["artist"] == "Beta"
    for album in albums:  # every key filters the table to exactly the album's tracks
        assert lib.count_tracks(filters={"album": album["key"]}) == album["tracks"]
    for artist in artists.values():
        assert lib.count_tracks(filters={"artist": artist["key"]}) == artist["tracks"]
    first = next(a for a in albums if a["album"] == "First")
    assert [lib.track(i)["track_no"] for i in lib.track_ids(sort="track_no", filters={"album": first["key"]})] == [1, 2]
    beta = lib.albums(artists["Beta"]["key"])
    assert [(a["album"], a["tracks"]) for a in beta] == [("Comp", 1), (None, 1)]  # only Beta's tracks count
    both = {"artist": artists["Beta"]["key"], "album": beta[0]["key"]}
    assert [from_db(r["path"]) for r in lib.track_rows(filters=both)] == ["/m/c/3.mp3"]
    with pytest.raises(ValueError):
        lib.count_tracks(filters={"album": "not a key"})


class ManifestB(Manifest):
    name = "m2"


def test_a_new_model_shows_the_previous_models_results_until_it_has_analysed(home):
    from library_factory import add_tagger

    lib = Library(active_model="m2")
    lib.ensure_model(Manifest)
    lib.ensure_model(ManifestB)
    ids = [analysed(lib, f"/m/{i}.mp3", 0, model="m1", title=f"T{i}") for i in range(6)]
    lib.upsert_track("/m/new.mp3", title="never analysed")
    assert lib.previous_model() == "m1" and lib.previous_model("m1") is None
    add_tagger(lib, {i: 0 for i in ids})  # a tagger's rows, newer than m1's, are never "previous" genres
    assert lib.previous_model() == "m1"
    for i in ids[:2]:  # the new model has analysed two tracks: they say jazz
        probs = np.full((2, 10), 0.05, np.float32)
        probs[:, 5] = 0.55
        lib.save_analysis(i, "m2", [0.0, 30.0], probs, np.ones((2, 32)), np.ones((2, 416)), 0.1)
    own = {r["id"]: r["top_genre"] for r in lib.track_rows(sort="title")}  # without `previous`: the model's own only
    assert own[ids[1]] == "jazz" and own[ids[2]] is None
    rows = {r["id"]: r for r in lib.track_rows(sort="title", previous=True)}
    assert [(rows[i]["top_genre"], rows[i]["genre_model"], rows[i]["status"]) for i in ids[1:3]] == [
        ("jazz", "m2", "analysed"), ("blues", "m1", "pending")]
    assert len(rows) == 7 and lib.count_tracks(filters={"genre": "BLUES"}, previous=True) == 4
    assert lib.count_tracks(filters={"genre": "blues"}) == 0
    assert lib.results_coverage() == {"model": "m2", "analysed": 2, "tracks": 7, "previous": "m1", "from_previous": 4}
    assert lib.latest_analysis(ids[0])["model"] == "m2" and lib.latest_analysis(ids[4])["model"] == "m1"
    assert lib.latest_analysis(ids[4], "m1")["top_genre"] == "blues" and lib.analysis(ids[4]) is None
    some, probs = lib.embeddings("m1", "probs", ids=[ids[1], ids[0], 999])  # only the tracks asked for
    assert some.tolist() == sorted(ids[:2]) and probs.shape == (2, 10)
    # the map: the previous model's until the new one has its own
    lib.replace_map("m1", [(i, float(n), 0.0, 0) for n, i in enumerate(ids)], "kmeans", {"k": 1})
    assert lib.map_model() == "m1" and lib.track_rows(sort="title", previous=True)[1]["cluster"] == 0
    # "play these" plays what the table shows, in its order, whatever the sort
    for sort in ("title", "status", "top_genre", "cluster"):
        shown = [r["id"] for r in lib.track_rows(sort=sort, previous=True, filters={"cluster": "0"})]
        assert lib.track_ids(sort=sort, previous=True, filters={"cluster": "0"}) == shown and len(shown) == 6
    # "more like this": the model that has heard more of the library, as long as it heard the seeds
    assert lib.results_model([ids[0]]) == "m1" and lib.results_model([ids[0]], "m1") == "m1"
    for i in ids[2:]:
        lib.save_analysis(i, "m2", [0.0, 30.0], np.full((2, 10), 0.1), np.ones((2, 32)), np.ones((2, 416)), 0.1)
    assert lib.results_model([ids[0]]) == "m2" and lib.results_coverage()["from_previous"] == 0
    lib.replace_map("m2", [(i, 0.0, float(n), 1) for n, i in enumerate(ids)], "kmeans", {"k": 1})
    assert lib.map_model() == "m2"
    # switching back loses nothing: the first model's results are all there
    back = Library(active_model="m1")
    assert [r["top_genre"] for r in back.track_rows(sort="title", previous=True)][1:] == ["blues"] * 6
    assert back.map_model() == "m1" and back.previous_model() == "m2"


def test_rows_from_before_schema_5_lack_window_vectors_and_are_told_apart(tmp_path, monkeypatch):
    path = tmp_path / "lib.sqlite"
    monkeypatch.setattr(dbmod, "MIGRATIONS", dbmod.MIGRATIONS[:4])
    monkeypatch.setattr(dbmod, "SCHEMA_VERSION", 4)
    old = Library(path)
    old.ensure_model(Manifest)
    assert "window_vectors" not in old.db.table_names()
    before = old.upsert_track("/m/old.mp3")
    with old.db.conn:  # a row as schema 4 wrote it
        old.db.execute("INSERT INTO analyses(track_id, model, probs, top_genre, top_prob, embedding, n_windows)"
                       " VALUES (?, 'm1', ?, 'blues', 0.5, ?, 2)",
                       [before, dbmod.blob(np.full(10, 0.1)), dbmod.blob(np.arange(32))])
    old.close()
    monkeypatch.undo()
    lib = Library(path)
    assert lib.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    after = analysed(lib, "/m/new.mp3", 2)
    assert lib.analysed_ids("m1") == {before, after}
    assert lib.analysed_ids("m1", per_window=True) == {after}
    assert lib.window_vectors("m1")[0].shape == (2, 32) and lib.window_vectors("m1", "dense") == []
    twin = lib.upsert_track("/m/copy.mp3")
    lib.db.execute("UPDATE tracks SET fingerprint = 'f' WHERE id IN (?, ?)", [before, twin])
    assert lib.analysed_twin("f", twin, "m1") == before and lib.analysed_twin("f", twin, "m1", per_window=True) is None
    lib.copy_analysis(after, twin, "m1")  # a copy of a file gets its window vectors too
    assert lib.analysed_ids("m1", per_window=True) == {after, twin}
    lib.set_aside_analyses(after)
    lib.forget_analyses(twin)
    assert lib.window_vectors("m1") == [] and lib.analysed_ids("m1", per_window=True) == set()
