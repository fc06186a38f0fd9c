"""Rescans: failed files are not retried until they change; unreadable files get a reason."""

import os

import numpy as np

from app.home import open_library
from app.library.scanner import scan
from audio_factory import make_track, synth, write_audio


def test_unchanged_bad_files_are_not_retried_and_a_fixed_one_is_analysed(random_model, tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    make_track(music / "good.ogg", "chords", 6.0, seed=1)
    (music / "fake.mp3").write_bytes(np.random.default_rng(1).bytes(40_000))  # fails while decoding
    write_audio(music / "silent.wav", synth("silence", 5.0))  # fails while decoding
    (music / "empty.flac").write_bytes(b"")  # fails while probing
    lib = open_library()  # model=None: the store's active model
    first = scan(lib, [music], workers=0)
    assert (first.analysed, first.errors) == (1, 3)
    before = {e["path"]: (e["reason"], e["at"]) for e in lib.errors()}

    again = scan(lib, None, workers=0)
    assert (again.skipped, again.analysed, again.errors) == (4, 0, 0)
    assert {e["path"]: (e["reason"], e["at"]) for e in lib.errors()} == before

    make_track(music / "fake.mp3", "tones", 6.0, seed=2)  # the user replaced the broken file
    third = scan(lib, None, workers=0)
    assert (third.analysed, third.errors, third.skipped) == (1, 0, 3)
    assert {os.path.basename(e["path"]) for e in lib.errors()} == {"silent.wav", "empty.flac"}
    assert lib.track_rows(search="fake", limit=5)[0]["status"] == "analysed"


def test_an_unreadable_file_gets_a_reason_and_the_scan_goes_on(random_model, tmp_path, monkeypatch):
    music = tmp_path / "music"
    music.mkdir()
    make_track(music / "a.flac", "tones", 6.0, seed=1)
    locked = make_track(music / "locked.mp3", "noise", 6.0, seed=2)
    os.chmod(locked, 0)
    if os.geteuid() == 0:  # root may read anything: deny it the way the kernel would for others
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if os.fspath(p) == str(locked)
                            else real_access(p, mode, **kw))
    lib = open_library()  # model=None: the store's active model
    summary = scan(lib, [music], workers=0)
    assert (summary.analysed, summary.errors) == (1, 1)
    [error] = lib.errors()
    assert (os.path.basename(error["path"]), error["reason"]) == ("locked.mp3", "unreadable")
    assert "permission" in error["detail"]
    assert lib.status()["errors"] == {"unreadable": 1}


def test_discovery_reports_progress_and_can_be_stopped(random_model, tmp_path, monkeypatch):
    from app.library.scan import plan

    music = tmp_path / "music"
    music.mkdir()
    for i in range(3):
        make_track(music / f"t{i}.wav", "tones", 3.0, seed=i)
    lib = open_library()  # model=None: the store's active model
    scan(lib, [music], workers=0)
    monkeypatch.setattr(plan, "DISCOVER_REPORT_SECONDS", 0.0)
    (music / "t2.wav").unlink()
    seen = []
    stopped = scan(lib, None, workers=0, progress=seen.append, should_stop=lambda: len(seen) >= 1)
    assert stopped.cancelled and seen[0].stage == "discover" and seen[0].total == 0
    assert lib.status()["missing"] == 0  # a stopped walk proves nothing about vanished files

    seen.clear()
    done = scan(lib, None, workers=0, progress=seen.append)
    assert [p.done for p in seen if p.stage == "discover"] == [1, 2]
    assert seen[-1].stage == "analyse" and (done.missing, done.skipped) == (1, 2)


def test_an_unplugged_drive_keeps_its_tracks_and_says_so(random_model, tmp_path):
    music = tmp_path / "drive" / "music"
    music.mkdir(parents=True)
    make_track(music / "a.ogg", "tones", 4.0, seed=1)
    make_track(music / "b.flac", "chords", 4.0, seed=2)
    lib = open_library()  # model=None: the store's active model
    scan(lib, [music], workers=0)
    os.rename(tmp_path / "drive", tmp_path / "unplugged")
    away = scan(lib, None, workers=0)
    assert (away.missing, away.unreadable_folders, away.discovered) == (0, 1, 0)
    assert lib.status()["missing"] == 0 and lib.status()["analysed"] == {random_model.name: 2}
    [error] = lib.errors()
    assert error["path"] == str(music) and error["reason"] == "unreadable_folder"
    assert "folder not found" in error["detail"] and "kept" in error["detail"]
    os.rename(tmp_path / "unplugged", tmp_path / "drive")
    back = scan(lib, None, workers=0)
    assert (back.skipped, back.missing, back.unreadable_folders) == (2, 0, 0) and lib.errors() == []


def test_deleted_copies_and_deleted_broken_files_are_marked_missing(random_model, tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    make_track(music / "song.ogg", "clicks", 4.0, seed=1)
    (music / "copy.ogg").write_bytes((music / "song.ogg").read_bytes())
    make_track(music / "keep.flac", "tones", 4.0, seed=2)
    (music / "fake.mp3").write_bytes(np.random.default_rng(3).bytes(20_000))
    lib = open_library()  # model=None: the store's active model
    first = scan(lib, [music], workers=0)
    assert (first.analysed, first.errors) == (3, 1)
    for name in ("song.ogg", "copy.ogg", "fake.mp3"):
        (music / name).unlink()
    again = scan(lib, None, workers=0)
    assert (again.missing, again.skipped) == (3, 1)
    assert lib.status()["missing"] == 3 and lib.errors() == []
    assert lib.prune() == 3 and [r["title"] or os.path.basename(r["path"]) for r in lib.track_rows()] == ["keep.flac"]


def test_files_that_come_back_unchanged_are_not_analysed_again(random_model, tmp_path):
    music = tmp_path / "music"
    (music / "album").mkdir(parents=True)
    make_track(music / "album" / "a.ogg", "tones", 4.0, seed=1)
    make_track(music / "b.flac", "chords", 4.0, seed=2)
    lib = open_library()  # model=None: the store's active model
    scan(lib, [music], workers=0)
    os.rename(music / "album", tmp_path / "album-away")
    assert scan(lib, None, workers=0).missing == 1
    version = lib.data_version()
    os.rename(tmp_path / "album-away", music / "album")
    back = scan(lib, None, workers=0)
    assert (back.analysed, back.skipped, back.missing) == (0, 2, 0)
    assert lib.status()["missing"] == 0 and {r["status"] for r in lib.track_rows()} == {"analysed"}
    assert lib.data_version() > version  # the track is in the map's data again


def test_retry_failed_tries_unchanged_failed_files_again(random_model, tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    make_track(music / "good.ogg", "chords", 6.0, seed=1)
    make_track(music / "wrongly.ogg", "tones", 6.0, seed=2)
    lib = open_library()
    assert scan(lib, [music], workers=0).analysed == 2
    wrongly = lib.track_rows(search="wrongly", limit=5)[0]
    stat = os.stat(music / "wrongly.ogg")  # marked as failed by a fault that was not the file's (a bug, a crash)
    lib.record_error(music / "wrongly.ogg", "crashed", "exit code 1", wrongly["id"], stat.st_size, stat.st_mtime)

    again = scan(lib, None, workers=0)
    assert (again.skipped, again.analysed) == (2, 0) and len(lib.errors()) == 1

    retried = scan(lib, None, workers=0, retry_failed=True)
    assert (retried.analysed, retried.errors, retried.skipped) == (1, 0, 1)  # the good file is still unchanged
    assert lib.errors() == []
    assert lib.track_rows(search="wrongly", limit=5)[0]["status"] == "analysed"
