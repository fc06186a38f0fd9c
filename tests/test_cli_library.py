"""scan / status / errors / show / genres / prune as a user types them."""

import json

from app.cli import main
from audio_factory import make_track


def test_scan_status_show_genres_errors(random_model, tmp_path, capsys):
    music = tmp_path / "music"
    music.mkdir()
    make_track(music / "a.ogg", "clicks", 40.0, seed=1, tags={"title": "Clicky", "artist": "Me"})
    make_track(music / "b.m4a", "chords", 8.0, seed=2)
    (music / "junk.mp3").write_bytes(b"\x00" * 5000)
    assert main(["scan", "--json-progress", "--workers", "0", str(music)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["summary"]["analysed"] == 2 and lines[-1]["summary"]["errors"] == 1
    assert lines[-2]["done"] == lines[-2]["total"] == 3 and "eta_seconds" in lines[-2]

    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["tracks"] == 3 and status["analysed"] == {"random-bbnn": 2}
    assert status["errors"] == {"undecodable": 1}

    assert main(["show", "--json", str(music / "a.ogg")]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["tags"]["title"] == "Clicky" and len(shown["windows"]) == 1
    assert abs(sum(shown["genres"].values()) - 1) < 1e-4

    assert main(["show", str(music / "junk.mp3")]) == 0
    assert "error: undecodable" in capsys.readouterr().out

    assert main(["genres", "--json"]) == 0
    assert sum(json.loads(capsys.readouterr().out).values()) == 2
    assert main(["errors"]) == 0
    assert "junk.mp3: undecodable" in capsys.readouterr().out

    (music / "b.m4a").unlink()
    assert main(["rescan", "--workers", "0"]) == 0
    assert "1 missing" in capsys.readouterr().out
    assert main(["prune"]) == 0
    assert "removed 1" in capsys.readouterr().out


def test_scan_refuses_a_non_folder_and_needs_a_model(tmp_path, capsys):
    assert main(["scan", str(tmp_path / "nope")]) == 1
    assert "not a folder" in capsys.readouterr().err
    assert main(["scan", str(tmp_path)]) == 1
    assert "cratedigger model fetch" in capsys.readouterr().err
