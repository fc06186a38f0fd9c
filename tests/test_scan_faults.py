"""Faults injected into the scan: a reading process killed mid-file, the scanning process killed,
a model that outputs NaN, rows poisoned by an older version, damaged weights, NaN audio.
Each ends with the rows a clean scan gives (where that applies) and an intact database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from app.home import model_store, open_library
from app.library.scanner import scan
from audio_factory import make_track
from conftest import save_random_model


@pytest.fixture
def music(tmp_path):
    root = tmp_path / "music"
    root.mkdir()
    for i, kind in enumerate(["tones", "chords", "clicks"]):
        make_track(root / f"{kind}.ogg", kind, 8.0, seed=i, tags={"title": kind})
    return root


def rows(lib):
    """What a user sees of the library: path, status, genre and the stored probabilities."""
    out = []
    for r in sorted(lib.track_rows(limit=1000), key=lambda r: r["path"]):
        a = lib.analysis(r["id"])
        out.append((os.path.basename(r["path"]), r["status"], r["top_genre"],
                    None if a is None else np.round(a["probs"], 5).tolist()))
    return out


def intact(lib):
    return lib.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def clean_rows(tmp_path, music, name="clean", policy="default"):
    clean = open_library(path=tmp_path / f"{name}.sqlite")
    scan(clean, [music], workers=0, policy=policy)
    return rows(clean)


@pytest.mark.slow
def test_a_reader_killed_mid_file_marks_it_crashed_and_the_scan_goes_on(random_model, music, tmp_path, monkeypatch):
    from app.library.scan import pool

    import crashing_reader

    victim = make_track(music / f"{crashing_reader.VICTIM}.flac", "noise", 8.0, seed=7)
    clean = clean_rows(tmp_path, music)
    real_worker = pool.worker_main
    monkeypatch.setattr(pool, "worker_main", crashing_reader.worker_main)
    lib = open_library()  # model=None: the store's active model
    summary = scan(lib, [music], workers=1)
    assert (summary.analysed, summary.crashed, summary.restarts) == (3, 1, 1)
    [error] = lib.errors()
    assert (os.path.basename(error["path"]), error["reason"]) == (victim.name, "crashed")
    assert "SIGKILL" in error["detail"] and "not read again until it changes" in error["detail"]
    assert [r for r in rows(lib) if r[0] != victim.name] == [r for r in clean if r[0] != victim.name]
    assert scan(lib, None, workers=1).skipped == 4  # not retried while unchanged

    monkeypatch.setattr(pool, "worker_main", real_worker)
    os.utime(victim, (time.time() + 5, time.time() + 5))  # the file changed
    again = scan(lib, None, workers=0)
    assert (again.analysed, again.errors) == (1, 0) and lib.errors() == []
    assert rows(lib) == clean
    assert intact(lib)

    monkeypatch.setattr(pool, "worker_main", crashing_reader.worker_main)
    os.utime(victim, (time.time() + 10, time.time() + 10))  # changed again, and its new version kills the reader
    track = next(r["id"] for r in lib.track_rows(limit=10) if r["path"].endswith(victim.name))
    assert scan(lib, None, workers=1).crashed == 1
    assert lib.analysis(track) is None and track not in lib.embeddings()[0].tolist()  # its analysis is of older audio
    assert len(lib.stale_analysis_models(track)) == 1


def _descendants(pid):
    """Process ids whose parent chain leads to pid (Linux /proc)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; the parent-death signal is Linux's")
def test_no_reader_outlives_a_killed_scan(home, tmp_path):
    save_random_model(home)
    music = tmp_path / "music"
    music.mkdir()
    for i in range(6):
        make_track(music / f"t{i}.wav", "noise", 65.0, seed=i, tags=None)
    env = dict(os.environ, CRATEDIGGER_HOME=str(home))
    scan_process = subprocess.Popen([sys.executable, "-m", "app", "scan", "--workers", "2", "--windows", "all",
                                     str(music)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import sqlite3

    deadline = time.time() + 120
    tracks = 0
    while time.time() < deadline and scan_process.poll() is None and tracks < 1:
        time.sleep(0.2)
        try:
            with sqlite3.connect(home / "library.sqlite", timeout=1) as conn:
                tracks = conn.execute("SELECT COUNT(*) FROM tracks").fetchone()[0]
        except sqlite3.Error:
            pass
    assert scan_process.poll() is None, "the scan ended before it could be killed"
    family = _descendants(scan_process.pid)
    assert len(family) >= 2  # the readers (and multiprocessing's resource tracker)
    scan_process.kill()
    scan_process.wait()
    deadline = time.time() + 5
    while time.time() < deadline and any(_alive(p) for p in family):
        time.sleep(0.1)
    assert not [p for p in family if _alive(p)], "processes outlived the killed scan"
    with sqlite3.connect(home / "library.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _nan_model(home):
    torch.manual_seed(0)
    from model.bbnn import BBNN
    from model.keras_import import GTZAN_CLASSES
    from model.store import Manifest, ModelStore

    model = BBNN(10)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    return ModelStore(home / "models").save(model, Manifest(name="nan-net", classes=list(GTZAN_CLASSES),
                                                            source="test"), activate=True)


def test_nan_model_outputs_are_never_stored(home, music, tmp_path):
    _nan_model(home)
    lib = open_library()  # model=None: the store's active model
    summary = scan(lib, [music], workers=0)
    assert (summary.analysed, summary.errors) == (0, 3)
    assert {e["reason"] for e in lib.errors()} == {"invalid_output"}
    assert all("model output was invalid" in e["detail"] for e in lib.errors())
    assert lib.db.execute("SELECT COUNT(*) FROM analyses").fetchone()[0] == 0
    save_random_model(home)  # a sound model: the same files are analysed, no error stays
    assert scan(lib, None, workers=0).analysed == 3 and lib.errors() == []
    assert rows(lib) == clean_rows(tmp_path, music) and intact(lib)


def test_poisoned_rows_are_skipped_by_similarity_and_analysed_again(random_model, music, tmp_path):
    from app.library.mapping import build_map
    from app.library.similarity import similar

    lib = open_library()  # model=None: the store's active model
    scan(lib, [music], workers=0)
    expected = rows(lib)
    tid = lib.track_by_path(music / "tones.ogg")["id"]
    nan = np.full(32, np.nan, "<f4").tobytes()
    with lib.db.conn:  # what an older version stored from a damaged model
        lib.db.execute("UPDATE analyses SET embedding = ?, probs = ?, top_prob = ? WHERE track_id = ?",
                       [nan, np.full(10, np.nan, "<f4").tobytes(), float("nan"), tid])
    other = lib.track_by_path(music / "chords.ogg")["id"]
    assert tid not in [r["id"] for r in similar(lib, [other], n=5)]
    assert lib.embeddings()[0].tolist() == sorted({other, lib.track_by_path(music / "clicks.ogg")["id"]})
    again = scan(lib, None, workers=0)
    assert (again.analysed, again.skipped) == (1, 2)
    assert rows(lib) == expected and intact(lib)
    assert tid in [r["id"] for r in similar(lib, [other], n=5)]
    assert build_map(lib, method="kmeans", k=2)["tracks"] == 3


def test_damaged_weights_are_refused_with_a_clear_message(random_model, music, home):
    lib = open_library()  # model=None: the store's active model
    scan(lib, [music], workers=0)
    before = rows(lib)
    weights = home / "models" / f"{random_model.name}.safetensors"
    data = bytearray(weights.read_bytes())
    data[-200:-100] = bytes(100)  # a damaged stretch of the tensors
    weights.write_bytes(bytes(data))
    make_track(music / "new.flac", "noise", 8.0, seed=9)
    from model.store import ModelStoreError

    with pytest.raises(ModelStoreError, match="damaged"):
        scan(lib, None, workers=0)
    out = subprocess.run([sys.executable, "-m", "app", "scan", str(music)], capture_output=True, text=True,
                         env=dict(os.environ, CRATEDIGGER_HOME=str(home)))
    assert out.returncode == 1 and "damaged" in out.stderr and "Traceback" not in out.stderr
    assert [r for r in rows(lib) if r[0] != "new.flac"] == before and intact(lib)


def test_nan_or_infinite_audio_is_undecodable(random_model, tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    wave = np.sin(np.arange(22050 * 4) / 10).astype(np.float32) * 0.5
    for name, bad in (("nan.wav", np.nan), ("inf.wav", np.inf)):
        broken = wave.copy()
        broken[30_000:30_010] = bad
        soundfile.write(music / name, broken, 22050, subtype="FLOAT")
    lib = open_library()  # model=None: the store's active model
    summary = scan(lib, [music], workers=0)
    assert (summary.analysed, summary.errors) == (0, 2)
    assert {(e["reason"], "NaN or infinite" in e["detail"]) for e in lib.errors()} == {("undecodable", True)}


def test_model_names_cannot_reach_outside_the_store(random_model, home, tmp_path):
    from model.store import ModelStoreError

    outside = home / "x.json"
    outside.write_text("{}")
    store = model_store()
    for bad in ("../x", "a/b", "..", ""):
        with pytest.raises(ModelStoreError, match="bad model name"):
            store.remove(bad)
    assert outside.exists()
    out = subprocess.run([sys.executable, "-m", "app", "model", "remove", "../x"], capture_output=True, text=True,
                         env=dict(os.environ, CRATEDIGGER_HOME=str(home)))
    assert out.returncode == 1 and "bad model name" in out.stderr and outside.exists()


def test_a_different_network_never_shares_a_name_or_a_key(random_model, home, tmp_path, music):
    from model.store import ModelStoreError

    other = save_random_model(tmp_path / "elsewhere", seed=5)  # same name, other weights
    file = tmp_path / "elsewhere" / "models" / f"{other.name}.safetensors"
    store = model_store()
    with pytest.raises(ModelStoreError, match="different model"):
        store.import_file(file, name=random_model.name)
    imported = store.import_file(file)  # its own name is taken: it gets a free one
    assert imported.name == f"{random_model.name}-2" and imported.key != random_model.key
    assert store.import_file(home / "models" / f"{random_model.name}.safetensors").name == random_model.name
    lib = open_library()  # model=None: the store's active model
    scan(lib, [music], workers=0, model_name=random_model.name)
    scan(lib, None, workers=0, model_name=imported.name)
    keys = {r[0] for r in lib.db.execute("SELECT DISTINCT model FROM analyses")}
    assert keys == {random_model.key, imported.key}


def test_a_changed_file_that_fails_stops_serving_its_old_analysis_until_it_analyses_again(random_model, music):
    """The old vectors belong to other audio: kept aside, never in similarity or the map, until the
    file analyses cleanly again."""
    from app.library.mapping import build_map
    from app.library.similarity import similar

    lib = open_library()
    scan(lib, [music], workers=0)
    victim = music / "chords.ogg"
    good = victim.read_bytes()
    track = next(r["id"] for r in lib.track_rows(limit=10) if r["path"].endswith("chords.ogg"))
    others = [r["id"] for r in lib.track_rows(limit=10) if r["id"] != track]
    before = lib.analysis(track)["probs"]
    build_map(lib, method="kmeans", k=2)
    assert track in lib.map_labels(lib.model_key())

    victim.write_bytes(np.random.default_rng(0).bytes(len(good)))  # new content the reader cannot decode
    os.utime(victim, (time.time() + 5, time.time() + 5))
    summary = scan(lib, None, workers=0)
    assert (summary.errors, [e["reason"] for e in lib.errors()]) == (1, ["undecodable"])
    assert lib.analysis(track) is None and track not in lib.embeddings()[0].tolist()
    assert track not in lib.map_labels(lib.model_key())
    assert track not in [s["id"] for s in similar(lib, [others[0]], n=5)]
    assert {r["id"]: r["status"] for r in lib.track_rows(limit=10)}[track] == "error"
    assert lib.stale_analysis_models(track) == [lib.model_key()]  # kept, not served
    assert scan(lib, None, workers=0).skipped == 3  # not read again while unchanged, still not served
    assert lib.analysis(track) is None

    victim.write_bytes(good)
    os.utime(victim, (time.time() + 10, time.time() + 10))
    assert scan(lib, None, workers=0).analysed == 1 and lib.errors() == []
    assert np.allclose(lib.analysis(track)["probs"], before, atol=1e-5) and lib.stale_analysis_models(track) == []
    assert track in lib.embeddings()[0].tolist()


def test_a_failure_of_an_unchanged_file_keeps_its_analysis(random_model, music):
    """Only a changed file's analyses are set aside: an unchanged file that fails (read again for
    an ear that lacks it) keeps serving what it has."""
    from dataclasses import replace

    from app.library.fspath import from_db
    from app.library.scan.plan import classify
    from app.library.scan.progress import ScanSummary
    from app.library.scan.reader import Job
    from app.library.scan.store import TrackWriter

    lib = open_library()
    scan(lib, [music], workers=0)
    plan = classify(lib, [str(music)], [], [], {})
    key = next(k for k in plan.existing if k.endswith("tones.ogg"))
    _, track, size, mtime = plan.existing[key][:4]
    writer = TrackWriter(lib, plan, [], ScanSummary(), lambda path: None)
    job = Job(from_db(key), size, mtime, str(music), 30.0, "default", [], {})
    writer.fail(job, "crashed", "the reader died")
    assert lib.analysis(track) is not None and lib.stale_analysis_models(track) == []
    writer.fail(replace(job, size=size + 1), "crashed", "the reader died")
    assert lib.analysis(track) is None and len(lib.stale_analysis_models(track)) == 1
