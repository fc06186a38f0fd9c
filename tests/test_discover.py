"""Discovery: audio by extension and by content, symlink loops, unreadable folders, odd names."""

import os

import pytest

from app.library.discover import sniff_audio, walk
from audio_factory import FORMATS, make_track, synth, write_audio


def names(found):
    return [os.path.relpath(f.path, f.folder) for f in found]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_generated_format_is_recognised_by_content(tmp_path, fmt):
    path = write_audio(tmp_path / f"x.{fmt}", synth("tones", 0.5))
    with open(path, "rb") as f:
        assert sniff_audio(f.read(12)), fmt


def test_walk_finds_audio_by_extension_and_content_and_skips_the_rest(tmp_path):
    root = tmp_path / "music"
    (root / "b").mkdir(parents=True)
    make_track(root / "b" / "song.flac", "tones", 0.5)
    make_track(root / "a.mp3", "tones", 0.5)
    (root / "no_extension").write_bytes((root / "a.mp3").read_bytes())  # audio by content
    (root / "track.bin").write_bytes((root / "b" / "song.flac").read_bytes())
    (root / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 100)
    (root / "notes.txt").write_text("hello")
    (root / "random.dat").write_bytes(os.urandom(200))
    (root / "fake.mp3").write_bytes(os.urandom(200))  # an audio name: kept, the scan reports it
    found = list(walk([root]))
    assert names(found) == ["a.mp3", "fake.mp3", "no_extension", "track.bin", "b/song.flac"]
    a = found[0]
    st = os.stat(root / "a.mp3")
    assert (a.size, a.mtime, a.folder) == (st.st_size, st.st_mtime, str(root)) and os.path.isabs(a.path)


def test_symlink_loops_and_duplicate_links_are_walked_once(tmp_path):
    root = tmp_path / "music"
    (root / "sub").mkdir(parents=True)
    make_track(root / "sub" / "x.ogg", "tones", 0.5)
    os.symlink(root, root / "sub" / "loop")  # a loop back to the top
    os.symlink(root / "sub", root / "again")  # the same folder twice
    os.symlink(root / "sub" / "x.ogg", root / "link.ogg")  # the same file twice
    os.symlink(tmp_path / "nowhere.mp3", root / "dangling.mp3")
    found = list(walk([root, root]))
    assert len(found) == 1 and os.path.realpath(found[0].path) == str(root / "sub" / "x.ogg")


def test_an_unreadable_folder_is_reported_and_skipped(tmp_path, monkeypatch):
    root = tmp_path / "music"
    (root / "locked").mkdir(parents=True)
    make_track(root / "ok.wav", "tones", 0.5)
    make_track(root / "locked" / "hidden.wav", "tones", 0.5)
    os.chmod(root / "locked", 0)
    if os.geteuid() == 0:  # root reads any folder: refuse it the way the kernel would
        real_scandir = os.scandir

        def scandir(path):
            if os.path.basename(path) == "locked":
                raise PermissionError(13, "Permission denied", path)
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    try:
        errors = []
        found = list(walk([root], on_error=lambda p, why: errors.append((os.path.basename(p), why))))
    finally:
        os.chmod(root / "locked", 0o755)
    assert names(found) == ["ok.wav"]
    assert errors == [("locked", "cannot read folder: Permission denied")]


def test_a_missing_folder_is_reported(tmp_path):
    errors = []
    assert list(walk([tmp_path / "gone"], on_error=lambda p, why: errors.append(why))) == []
    assert errors == ["folder not found"]


def test_non_utf8_names_are_found(tmp_path):
    folder = os.fsencode(tmp_path)
    name = os.path.join(folder, b"caf\xe9.wav").decode("utf-8", "surrogateescape")
    write_audio(name, synth("tones", 0.5))
    found = list(walk([tmp_path]))
    assert [f.path for f in found] == [name] and os.path.exists(found[0].path)
