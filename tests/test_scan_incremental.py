"""Rescans: failed files are not retried until they change; unreadable files get a reason."""

import os

import numpy as np

from app.library.db import Library
from app.library.scanner import scan
from audio_factory import make_track, synth, write_audio


def test_unchanged_bad_files_are_not_retried_and_a_fixed_one_is_analysed(gtzan_model, tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    make_track(music / "good.ogg", "chords", 6.0, seed=1)
    (music / "fake.mp3").write_bytes(np.random.default_rng(1).bytes(40_000))  # fails while decoding
    write_audio(music / "silent.wav", synth("silence", 5.0))  # fails while decoding
    (music / "empty.flac").write_bytes(b"")  # fails while probing
    lib = Library()
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


def test_an_unreadable_file_gets_a_reason_and_the_scan_goes_on(gtzan_model, tmp_path, monkeypatch):
    music = tmp_path / "music"
    music.mkdir()
    make_track(music / "a.flac", "tones", 6.0, seed=1)
    locked = make_track(music / "locked.mp3", "noise", 6.0, seed=2)
    os.chmod(locked, 0)
    if os.geteuid() == 0:  # root may read anything: deny it the way the kernel would for others
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if os.fspath(p) == str(locked)
                            else real_access(p, mode, **kw))
    lib = Library()
    summary = scan(lib, [music], workers=0)
    assert (summary.analysed, summary.errors) == (1, 1)
    [error] = lib.errors()
    assert (os.path.basename(error["path"]), error["reason"]) == ("locked.mp3", "unreadable")
    assert "permission" in error["detail"]
    assert lib.status()["errors"] == {"unreadable": 1}
