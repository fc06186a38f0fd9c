"""similar / path / export-m3u / clusters as a user types them: real scans, unicode paths, bad input."""

import json
import os

import pytest

from app.cli import main
from app.library.db import Library
from app.library.playlists import read_m3u8
from audio_factory import make_track
from library_factory import MODEL_NAME, grouped_library


def test_scanned_unicode_library_similar_path_and_playlists(random_model, tmp_path, capsys):
    music = tmp_path / "Música" / "Björk – 東京"
    music.mkdir(parents=True)
    files = {}
    for style in ("tones", "noise", "clicks"):
        for take in (1, 2):
            path = music / f"{style} {take} ☃.ogg"
            make_track(path, style, 6.0, seed=take, tags={"title": f"{style.title()} {take}", "artist": f"Ärtist {style}"})
            files[(style, take)] = path
    assert main(["scan", "--workers", "0", str(tmp_path / "Música")]) == 0
    capsys.readouterr()

    seed = files[("tones", 1)]
    playlist = tmp_path / "ähnlich.m3u8"
    assert main(["similar", "--json", "-n", "3", "--m3u", str(playlist), str(seed)]) == 0
    results = json.loads(capsys.readouterr().out)
    assert len(results) == 3 and all(set(r) == {"path", "score", "artist", "title", "genre", "top_tags"} for r in results)
    assert all(r["top_tags"] == [] for r in results)  # no MusiCNN installed: no tags, the rest works
    assert str(seed) not in [r["path"] for r in results]
    assert all(os.path.exists(r["path"]) for r in results)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    assert [e[0] for e in read_m3u8(playlist)] == [r["path"] for r in results]
    assert f"{results[0]['artist']} - {results[0]['title']}" in playlist.read_text(encoding="utf-8")

    assert main(["similar", "--json", "-n", "5", "--exclude-artist", str(seed), str(files[("noise", 1)])]) == 0
    excluded = json.loads(capsys.readouterr().out)
    assert {r["artist"] for r in excluded} == {"Ärtist clicks"}

    start, end = files[("tones", 2)], files[("noise", 2)]
    assert main(["path", "--json", "--steps", "3", str(start), str(end)]) == 0
    walked = [r["path"] for r in json.loads(capsys.readouterr().out)]
    assert walked[0] == str(start) and walked[-1] == str(end) and len(set(walked)) == len(walked) <= 5

    listing = tmp_path / "list.txt"
    listing.write_text(f"{files[('clicks', 1)]}\n\n{files[('tones', 1)]}\n", encoding="utf-8")
    out = tmp_path / "lists" / "mine.m3u8"
    out.parent.mkdir()
    assert main(["export-m3u", "--relative", "--tracks", str(listing), str(out)]) == 0
    assert "wrote 2 tracks" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert str(tmp_path) not in text and "../Música/Björk – 東京/clicks 1 ☃.ogg" in text
    assert [e[0] for e in read_m3u8(out)] == [str(files[("clicks", 1)]), str(files[("tones", 1)])]

    assert main(["export-m3u", "-n", "2", "--similar", str(seed), str(out)]) == 0
    assert [e[0] for e in read_m3u8(out)][0] == str(seed) and len(read_m3u8(out)) == 3


@pytest.fixture
def grouped(monkeypatch):
    monkeypatch.setattr("model.store.ModelStore.active_name", lambda self: MODEL_NAME)  # the store says it is active
    lib, truth = grouped_library(groups=2, per_group=8)
    return lib, truth


def test_bad_input_gets_one_clear_line_and_writes_nothing(grouped, tmp_path, capsys):
    lib, _ = grouped
    first = lib.track(1)["path"]
    assert main(["similar", str(tmp_path / "nowhere.mp3")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("cratedigger: ") and "not in the library" in err and "\n" not in err

    lib.upsert_track(tmp_path / "pending.mp3", title="Not yet")
    assert main(["path", first, str(tmp_path / "pending.mp3")]) == 1
    assert "has not been analysed" in capsys.readouterr().err

    assert main(["path", first, first]) == 1
    assert "two different tracks" in capsys.readouterr().err

    target = tmp_path / "no such folder" / "out.m3u8"
    assert main(["export-m3u", "--tracks", str(tmp_path / "missing.txt"), str(target)]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert main(["export-m3u", "--cluster", "99", str(target)]) == 1
    assert "no cluster 99" in capsys.readouterr().err
    assert main(["similar", "--m3u", str(target), first]) == 1
    captured = capsys.readouterr()
    assert "cannot write the playlist" in captured.err and captured.out == ""
    assert not target.parent.exists()

    for argv in (["similar", "-n", "0", first], ["path", "--steps", "-1", first, first],
                 ["similar", "--diversity", "2", first], ["clusters", "--k", "x"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
    capsys.readouterr()


def test_clusters_and_export_without_anything_to_show(tmp_path, capsys):
    Library().close()
    assert main(["export-m3u", "--cluster", "0", str(tmp_path / "c.m3u8")]) == 1
    assert "no active model" in capsys.readouterr().err
    assert not (tmp_path / "c.m3u8").exists()


def test_clusters_of_an_empty_library(monkeypatch, capsys):
    monkeypatch.setattr("model.store.ModelStore.active_name", lambda self: MODEL_NAME)  # the store says it is active
    assert main(["clusters"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == "nothing analysed yet: run 'cratedigger scan DIR' first"


def test_after_a_model_switch_similar_path_and_show_use_the_previous_models_results(grouped, monkeypatch, capsys):
    lib, truth = grouped
    first, last = lib.track(1)["path"], lib.track(16)["path"]
    assert main(["similar", "-n", "3", "--json", first]) == 0
    before = json.loads(capsys.readouterr().out)
    monkeypatch.setattr("model.store.ModelStore.active_name", lambda self: "a-new-model")  # nothing analysed yet
    assert main(["similar", "-n", "3", "--json", first]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == before
    assert f"results from {MODEL_NAME}" in captured.err and "a-new-model" in captured.err
    assert main(["path", "--steps", "3", first, last]) == 0
    assert f"results from {MODEL_NAME}" in capsys.readouterr().err
    assert main(["show", "--json", first]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["genres"] is not None and shown["model"] == MODEL_NAME
