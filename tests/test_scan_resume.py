"""A scan killed with SIGKILL half way, then run again, ends where an uninterrupted scan does."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from audio_factory import make_track

KINDS = ["tones", "noise", "clicks", "chords"]


def _cli(home, *args, **kwargs):
    env = dict(os.environ, CRATEDIGGER_HOME=str(home))
    return subprocess.Popen([sys.executable, "-m", "app", *args], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _rows(db_path):
    conn = sqlite3.connect(db_path)
    try:
        return sorted(conn.execute(
            "SELECT t.path, t.title, t.missing, a.model, a.top_genre, a.n_windows, a.probs"
            " FROM tracks t LEFT JOIN analyses a ON a.track_id = t.id").fetchall())
    finally:
        conn.close()


def _analysed(db_path):
    try:
        conn = sqlite3.connect(db_path, timeout=1)
        n = conn.execute("SELECT COUNT(*) FROM analyses").fetchone()[0]
        conn.close()
        return n
    except sqlite3.Error:
        return 0


def test_sigkill_then_rescan_equals_uninterrupted(tmp_path):
    from conftest import save_random_model

    music = tmp_path / "music"
    music.mkdir()
    for i in range(10):
        make_track(music / f"track{i:02d}.wav", KINDS[i % 4], 20.0, seed=i, tags=None)
    homes = {name: tmp_path / name for name in ("killed", "clean")}
    for home in homes.values():
        home.mkdir()
        save_random_model(home)

    clean = _cli(homes["clean"], "scan", "--workers", "1", str(music))
    killed = _cli(homes["killed"], "scan", "--workers", "1", str(music))
    db = homes["killed"] / "library.sqlite"
    deadline = time.time() + 120
    while _analysed(db) < 3 and time.time() < deadline and killed.poll() is None:
        time.sleep(0.05)
    assert killed.poll() is None, "the scan finished before it could be killed"
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    partial = _analysed(db)
    assert 3 <= partial < 10

    resumed = _cli(homes["killed"], "scan", "--json-progress", "--workers", "1", str(music))
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])["summary"]
    assert summary["skipped"] == partial and summary["analysed"] == 10 - partial
    assert clean.wait(timeout=300) == 0

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    a, b = _rows(db), _rows(homes["clean"] / "library.sqlite")
    assert [r[:6] for r in a] == [r[:6] for r in b]
    for ra, rb in zip(a, b):
        np.testing.assert_allclose(np.frombuffer(ra[6], "<f4"), np.frombuffer(rb[6], "<f4"), atol=1e-5)
