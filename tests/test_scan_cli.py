"""The library commands on a damaged database, and how `show` reads to a person."""

import os

import numpy as np

from app.cli import main
from app.library.db import Library


def test_read_commands_on_a_damaged_database_fail_with_one_line(home, capsys):
    (home / "library.sqlite").write_bytes(np.random.default_rng(0).bytes(8192))
    for command in (["errors"], ["genres"], ["prune"], ["status"], ["show", "/x.mp3"]):
        assert main(command) == 1, command
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "damaged" in err[0], (command, err)
    assert (home / "library.sqlite").stat().st_size == 8192  # left for the user to inspect


def test_show_by_a_symlinked_path_with_clock_times(random_model, tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "link")
    stored = str(tmp_path / "link" / "song.ogg")  # as discovery stores it: through the link
    (real / "song.ogg").write_bytes(b"")
    lib = Library()
    lib.ensure_model(random_model)
    tid = lib.upsert_track(stored, title="Long one", duration=3725.4, sample_rate=44100, channels=2)
    probs = np.full((2, 10), 0.02, np.float32)
    probs[0, 6], probs[1, 1] = 0.82, 0.82
    lib.save_analysis(tid, random_model.name, [59.9, 3661.0], probs, np.zeros((2, 32)), np.zeros((2, 416)), 0.1)
    lib.close()
    assert main(["show", stored]) == 0
    out = capsys.readouterr().out
    assert "duration: 1:02:05" in out and "sample_rate: 44100 Hz" in out
    assert "0:59  metal" in out and "1:01:01  classical" in out
