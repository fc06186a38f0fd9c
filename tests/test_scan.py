"""The scan pipeline: bad input never stops it, rescans are incremental, moves keep analyses."""

import os
import shutil
import sqlite3

import numpy as np
import pytest

from app.home import model_store, open_library
from app.library.db import Library, LibraryError
from app.library.scanner import scan
from audio_factory import make_track, synth, write_audio


@pytest.fixture
def music(tmp_path):
    root = tmp_path / "music"
    (root / "Artist A").mkdir(parents=True)
    (root / "Artist B").mkdir()
    make_track(root / "Artist A" / "one.mp3", "tones", 12.0, seed=1,
               tags={"title": "One", "artist": "A", "album": "First", "genre": "Ambient", "tracknumber": "1"})
    make_track(root / "Artist A" / "two.flac", "chords", 12.0, seed=2, tags={"title": "Two", "artist": "A"})
    make_track(root / "Artist B" / "three.ogg", "clicks", 12.0, seed=3, tags={"title": "Three", "artist": "B"})
    return root


def rows(lib):
    return sorted(
        (os.path.basename(r["path"]), r["status"], r["top_genre"], r["title"]) for r in lib.track_rows(limit=1000)
    )


def test_scan_analyses_and_reads_tags(random_model, music):
    lib = open_library()  # model=None: the store's active model
    seen = []
    summary = scan(lib, [music], progress=seen.append, workers=0)
    assert (summary.discovered, summary.analysed, summary.errors) == (3, 3, 0)
    assert seen[-1].done == seen[-1].total == 3 and seen[-1].rate > 0
    one = lib.track_by_path(music / "Artist A" / "one.mp3")
    assert (one["title"], one["artist"], one["album"], one["tag_genre"], one["track_no"]) == ("One", "A", "First", "Ambient", 1)
    assert one["duration"] == pytest.approx(12.0, abs=0.1) and one["fingerprint"]
    a = lib.analysis(one["id"])
    assert a["probs"].shape == (10,) and a["probs"].sum() == pytest.approx(1.0, abs=1e-4)
    assert a["window_starts"].tolist() == [0.0] and a["embedding"].shape == (32,) and a["dense"].shape == (416,)
    assert lib.status()["analysed"] == {"random-bbnn": 3}


def test_bad_input_gets_reasons_and_the_scan_goes_on(random_model, music):
    bad = music / "bad"
    bad.mkdir()
    (bad / "fake.mp3").write_bytes(np.random.default_rng(0).bytes(40_000))
    (bad / "empty.flac").write_bytes(b"")
    write_audio(bad / "silent.wav", synth("silence", 5.0))
    write_audio(bad / "blip.wav", synth("tones", 0.4))
    data = (music / "Artist A" / "one.mp3").read_bytes()
    (bad / "truncated.mp3").write_bytes(data[:300])
    name = os.fsdecode(b"caf\xe9-latin1.wav")  # not UTF-8
    write_audio(os.path.join(os.fsencode(bad), os.fsencode(name)).decode("utf-8", "surrogateescape"), synth("noise", 3.0))
    (bad / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0 not audio")
    hidden = bad / "no-extension"
    shutil.copy(music / "Artist B" / "three.ogg", hidden)
    lib = open_library()  # model=None: the store's active model
    summary = scan(lib, [music], workers=0)
    reasons = {os.path.basename(e["display_path"]): e["reason"] for e in lib.errors()}
    assert reasons == {"fake.mp3": "undecodable", "empty.flac": "empty", "silent.wav": "silent",
                       "blip.wav": "too_short", "truncated.mp3": "undecodable"}
    assert summary.analysed == 5  # 3 tracks, the non-UTF-8 name and the extension-less ogg
    statuses = {os.path.basename(r["display_path"]): r["status"] for r in lib.track_rows(limit=100)}
    assert statuses["caf\ufffd-latin1.wav"] == "analysed"
    assert statuses["no-extension"] == "analysed" and "cover.jpg" not in statuses
    assert all(e["detail"] for e in lib.errors())


def test_unreadable_folder_and_symlink_loop(random_model, music, tmp_path):
    os.symlink(music, music / "Artist A" / "loop")
    lib = open_library()  # model=None: the store's active model
    summary = scan(lib, [music, tmp_path / "does-not-exist"], workers=0)
    assert summary.discovered == 3


def test_vanished_mid_scan(random_model, music, monkeypatch):
    from app.library import tags

    victim = music / "Artist B" / "three.ogg"
    original = tags.read_tags

    def read_then_delete(path):
        found = original(path)
        if path == str(victim):
            victim.unlink()
        return found

    monkeypatch.setattr(tags, "read_tags", read_then_delete)  # the inline reader reads tags here
    lib = open_library()  # model=None: the store's active model
    summary = scan(lib, [music], workers=0)
    assert summary.analysed == 2
    assert [(os.path.basename(e["path"]), e["reason"]) for e in lib.errors()] == [("three.ogg", "vanished")]


def test_rescan_is_incremental(random_model, music):
    lib = open_library()  # model=None: the store's active model
    scan(lib, [music], workers=0)
    before = rows(lib)
    again = scan(lib, None, workers=0)
    assert (again.skipped, again.analysed) == (3, 0)
    changed = music / "Artist A" / "two.flac"
    make_track(changed, "noise", 12.0, seed=9, tags={"title": "Two (new mix)", "artist": "A"})
    third = scan(lib, None, workers=0)
    assert (third.analysed, third.skipped) == (1, 2)
    assert lib.track_by_path(changed)["title"] == "Two (new mix)"
    (music / "Artist B" / "three.ogg").unlink()
    fourth = scan(lib, None, workers=0)
    assert fourth.missing == 1 and lib.status()["missing"] == 1
    assert {r["status"] for r in lib.track_rows(limit=10) if r["title"] == "Three"} == {"missing"}
    assert lib.prune() == 1 and lib.status()["tracks"] == 2
    assert len(before) == 3


def test_moved_and_renamed_files_keep_their_analysis(random_model, music, tmp_path):
    lib = open_library()  # model=None: the store's active model
    scan(lib, [music], workers=0)
    old = lib.track_by_path(music / "Artist A" / "one.mp3")
    analysed_at = lib.analysis(old["id"])["analysed_at"]
    (music / "Moved").mkdir()
    os.rename(music / "Artist A" / "one.mp3", music / "Moved" / "renamed.mp3")
    summary = scan(lib, None, workers=0)
    assert (summary.moved, summary.analysed, summary.missing) == (1, 0, 0)
    new = lib.track_by_path(music / "Moved" / "renamed.mp3")
    assert new["id"] == old["id"] and not new["missing"]
    assert lib.analysis(new["id"])["analysed_at"] == analysed_at
    assert lib.status()["tracks"] == 3


def test_switching_models_analyses_only_what_is_new(random_model, music, home):
    from conftest import save_random_model

    lib = open_library()  # model=None: the store's active model
    scan(lib, [music], workers=0)
    store = model_store()
    save_random_model(home, "other-net", n_classes=13, seed=1)  # becomes active
    summary = scan(lib, None, workers=0)
    assert summary.analysed == 3
    status = lib.status()
    assert status["analysed"] == {"other-net": 3, "random-bbnn": 3}
    track = lib.track_by_path(music / "Artist A" / "one.mp3")
    assert len(lib.analysis(track["id"], "other-net")["probs"]) == 13
    assert len(lib.analysis(track["id"], "random-bbnn")["probs"]) == 10
    store.use("random-bbnn")
    assert scan(lib, None, workers=0).analysed == 0


def test_worker_processes_give_the_same_results(random_model, music, tmp_path, monkeypatch):
    inline = open_library(path=tmp_path / "inline.sqlite")
    scan(inline, [music], workers=0)
    pooled = open_library(path=tmp_path / "pooled.sqlite")
    summary = scan(pooled, [music], workers=1)
    assert summary.analysed == 3
    for path in ("Artist A/one.mp3", "Artist B/three.ogg"):
        a = inline.analysis(inline.track_by_path(music / path)["id"])
        b = pooled.analysis(pooled.track_by_path(music / path)["id"])
        np.testing.assert_allclose(a["probs"], b["probs"], atol=1e-5)


def test_should_stop_cancels_and_the_next_scan_resumes(random_model, music):
    lib = open_library()  # model=None: the store's active model
    calls = []
    summary = scan(lib, [music], workers=0, progress=calls.append, should_stop=lambda: any(p.done >= 1 for p in calls))
    assert summary.cancelled and summary.analysed == 1
    rest = scan(lib, None, workers=0)
    assert (rest.analysed, rest.skipped) == (2, 1)


def test_locked_database_stops_with_a_message(random_model, music, home):
    lib = Library(timeout=0.2)
    blocker = sqlite3.connect(home / "library.sqlite")
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LibraryError, match="locked"):
            scan(lib, [music], workers=0)
    finally:
        blocker.rollback()
        blocker.close()
    summary = scan(lib, [music], workers=0)
    assert summary.analysed == 3


def test_full_disk_stops_cleanly_keeping_committed_work(random_model, music, monkeypatch):
    lib = open_library()  # model=None: the store's active model
    real = Library.save_analysis
    calls = []

    def fill_up(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Library, "save_analysis", fill_up)
    with pytest.raises(LibraryError, match="full"):
        scan(lib, [music], workers=0)
    monkeypatch.setattr(Library, "save_analysis", real)
    assert lib.status()["analysed"] == {"random-bbnn": 1}
    assert lib.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert scan(lib, None, workers=0).analysed == 2


def test_tracks_sharing_an_intro_are_not_taken_for_copies(random_model, tmp_path):
    import numpy as np

    intro = synth("chords", 5.0)
    folder = tmp_path / "album"
    folder.mkdir()
    write_audio(folder / "a.flac", np.concatenate([intro, synth("noise", 20.0, seed=1)]))
    write_audio(folder / "b.flac", np.concatenate([intro, synth("clicks", 20.0, seed=2)]))
    shutil.copy(folder / "a.flac", folder / "a-copy.flac")
    lib = open_library()  # model=None: the store's active model
    scan(lib, [folder], workers=0)
    fps = {os.path.basename(r["path"]): r["fingerprint"] for r in lib.db.query("SELECT path, fingerprint FROM tracks")}
    assert fps["a.flac"] == fps["a-copy.flac"] != fps["b.flac"]
    a = lib.analysis(lib.track_by_path(folder / "a.flac")["id"])["probs"]
    b = lib.analysis(lib.track_by_path(folder / "b.flac")["id"])["probs"]
    copy = lib.analysis(lib.track_by_path(folder / "a-copy.flac")["id"])["probs"]
    assert np.array_equal(a, copy) and not np.allclose(a, b)
