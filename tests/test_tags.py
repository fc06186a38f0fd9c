"""Tags via mutagen: the library's fields in every format, cover art, and bad files."""

import os

import pytest

from app.library.tags import read_cover, read_tags
from audio_factory import make_track

TAGS = {"title": "Song", "artist": "Band", "album": "Record", "albumartist": "Various", "genre": "Jazz",
        "date": "1999-04-01", "tracknumber": "7/12"}


@pytest.mark.parametrize("fmt", ["mp3", "flac", "ogg", "opus", "m4a"])
def test_fields_in_each_format(tmp_path, fmt):
    path = make_track(tmp_path / f"t.{fmt}", "tones", 0.5, tags=TAGS)
    assert read_tags(str(path)) == {"title": "Song", "artist": "Band", "album": "Record", "album_artist": "Various",
                                    "tag_genre": "Jazz", "year": 1999, "track_no": 7, "has_cover": 0}


def test_untagged_fake_and_empty_files_give_empty_fields(tmp_path):
    plain = make_track(tmp_path / "plain.wav", "tones", 0.5)
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(os.urandom(3000))
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    for path in (plain, fake, empty, tmp_path / "gone.ogg"):
        tags = read_tags(str(path))
        assert tags["title"] is None and tags["year"] is None and tags["has_cover"] == 0, path.name


def test_cover_art_in_mp3_and_flac(tmp_path):
    from mutagen.flac import FLAC, Picture
    from mutagen.id3 import APIC, ID3

    image = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    mp3 = make_track(tmp_path / "c.mp3", "tones", 0.5, tags={"title": "x"})
    id3 = ID3(mp3)
    id3.add(APIC(encoding=3, mime="image/png", type=3, desc="cover", data=image))
    id3.save()
    flac = make_track(tmp_path / "c.flac", "tones", 0.5)
    f = FLAC(flac)
    pic = Picture()
    pic.type, pic.mime, pic.data = 3, "image/png", image
    f.add_picture(pic)
    f.save()
    for path in (mp3, flac):
        assert read_tags(str(path))["has_cover"] == 1
        assert read_cover(str(path)) == image
    assert read_cover(str(make_track(tmp_path / "none.ogg", "tones", 0.5))) is None
