"""Data safety and clear answers: every fault and bad input a user can cause ends in one line on
stderr and a non-zero exit code, never a traceback; a damaged library comes back with `repair`."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.home import library_path, model_store
from app.library.db import Library
from app.library.safety import list_backups, make_backup, problems
from library_factory import CLASSES, MODEL_NAME, _Manifest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def active(monkeypatch):
    """The store says the test model is the active one (no weights needed for library commands)."""
    monkeypatch.setattr("model.store.ModelStore.active_name", lambda self: MODEL_NAME)


def _add(lib: Library, path: str, group: int, rng) -> int:
    tid = lib.upsert_track(path, title=f"Song {group}", artist=f"A{group}", duration=200.0)
    probs = np.full((3, len(CLASSES)), 0.02)
    probs[:, group] = 0.82
    lib.save_analysis(tid, MODEL_NAME, [0.0, 60.0, 120.0], probs, np.abs(rng.normal(size=(3, 32)) + 3 * group),
                      np.abs(rng.normal(size=(3, 416)) + group), 0.1)
    return tid


def _library(n: int = 60, start: int = 0) -> list[str]:
    """n analysed tracks in the data home's library (written straight into it); their paths."""
    rng = np.random.default_rng(start)
    lib = Library()
    lib.ensure_model(_Manifest)
    paths = [f"/music/{'ab'[i % 2]}/track{i:04d}.mp3" for i in range(start, start + n)]
    for i, p in enumerate(paths):
        _add(lib, p, i % 2, rng)
    lib.close()
    return paths


def _checkpoint() -> None:
    """Fold the WAL into the file, as closing the last connection does."""
    conn = sqlite3.connect(library_path())
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _damage_middle(path: Path, marker: bytes) -> None:
    """Overwrite the table page holding `marker` (a track's path) with garbage: damage inside the
    file, where the rows are (a page of the path index would only break lookups)."""
    data = bytearray(path.read_bytes())
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    at = data.find(marker)
    while at >= 0 and data[at - at % page] != 0x0D:  # 0x0D: a table b-tree leaf page
        at = data.find(marker, at + 1)
    assert at > page
    start = at - at % page
    data[start:start + page] = bytes(range(256)) * (page // 256)
    path.write_bytes(bytes(data))


def _clean(err: str) -> None:
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) <= 2, err


# -- a damaged library -------------------------------------------------------------------------------

def test_damaged_mid_file_gives_one_line_then_repair_restores_the_backup(active, capsys):
    before = _library(60)
    make_backup(Library())  # what a scan that changed something does
    after = _library(20, start=1000)  # analysed after the backup
    _checkpoint()
    _damage_middle(library_path(), before[30].encode())
    assert problems(library_path())
    capsys.readouterr()
    for argv in (["status"], ["similar", before[0]], ["genres"]):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 1, argv
        assert "damaged" in err and "cratedigger repair" in err
        _clean(err)
    assert main(["doctor"]) == 1
    assert "damaged" in capsys.readouterr().out

    assert main(["repair"]) == 0
    out = capsys.readouterr().out
    assert "restored the backup" in out and "damaged file is kept" in out
    assert not problems(library_path())
    lib = Library(active_model=MODEL_NAME)
    for p in before:  # every track analysed before the last backup is back, with its analysis
        t = lib.track_by_path(p)
        assert t is not None and lib.analysis(t["id"]) is not None
    assert all(lib.track_by_path(p) is None for p in after)  # the next scan analyses these again
    assert list(library_path().parent.glob("library-damaged-*.sqlite"))
    assert main(["repair"]) == 0 and "nothing to repair" in capsys.readouterr().out


def test_salvage_without_a_backup_keeps_every_readable_row(active, capsys):
    paths = _library(200)
    _checkpoint()
    _damage_middle(library_path(), paths[100].encode())
    assert not list_backups(library_path())
    assert main(["repair"]) == 0
    out = capsys.readouterr().out
    assert "saved what could be read" in out
    assert not problems(library_path())
    lib = Library(active_model=MODEL_NAME)
    kept = [p for p in paths if lib.track_by_path(p)]
    assert 100 <= len(kept) < 200 and paths[100] not in kept
    assert paths[0] in kept and paths[-1] in kept  # the pages before and after the damage
    assert lib.status()["analysed"][MODEL_NAME] == len(kept)  # analyses of the lost tracks are gone too
    # their per-window vectors are kept too: the next scan need not hear every track again
    assert len(lib.analysed_ids(lib.model_key(MODEL_NAME), per_window=True)) == len(kept)
    assert main(["status"]) == 0


def test_truncated_library(active, capsys):
    _library(40)
    make_backup(Library())
    _checkpoint()
    path = library_path()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert "damaged" in err and "repair" in err
    _clean(err)
    assert main(["repair"]) == 0 and "restored" in capsys.readouterr().out
    assert Library(active_model=MODEL_NAME).status()["tracks"] == 40


def test_backups_keep_the_last_three_and_open_read_only(active):
    _library(5)
    lib = Library()
    made = [make_backup(lib) for _ in range(5)]
    kept = list_backups(lib.path)
    assert len(kept) == 3 and set(kept) == set(made[-3:])
    backup = Library(kept[0], read_only=True, active_model=MODEL_NAME)  # a backup opens read-only
    assert backup.status()["tracks"] == 5
    with pytest.raises(sqlite3.OperationalError):
        backup.upsert_track("/music/new.mp3")


def test_a_scan_that_changes_something_leaves_a_backup(random_model, tmp_path):
    from app.library.scanner import scan
    from audio_factory import make_track

    music = tmp_path / "music"
    music.mkdir()
    make_track(music / "a.wav", seconds=32)
    lib = Library()
    first = scan(lib, [str(music)], workers=0)
    assert first.analysed == 1 and first.backup and Path(first.backup).exists()
    again = scan(lib, [str(music)], workers=0)
    assert again.analysed == 0 and again.backup is None  # nothing changed: no new copy
    assert len(list_backups(lib.path)) == 1


# -- read-only opening ---------------------------------------------------------------------------------

def test_read_commands_work_beside_a_writing_scan_and_change_nothing(active, capsys):
    paths = _library(10)
    writer = sqlite3.connect(library_path())
    writer.execute("BEGIN IMMEDIATE")  # a scan holding the write lock
    writer.execute("UPDATE tracks SET title = 'x'")
    try:
        assert main(["status"]) == 0
        assert main(["similar", "-n", "3", paths[0]]) == 0
        assert "10 tracks" in capsys.readouterr().out
    finally:
        writer.rollback()
        writer.close()


@pytest.fixture
def read_only_home(home, tmp_path, monkeypatch):
    """The data home made read-only for real: a read-only bind mount when running as root (root
    writes through permission bits), read-only permission bits otherwise."""
    if os.geteuid() != 0:
        home.chmod(0o555)
        yield home
        home.chmod(0o755)
        return
    view = tmp_path / "ro-home"
    view.mkdir()
    r = subprocess.run(["mount", "--bind", str(home), str(view)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot bind-mount as root here: {r.stderr.strip()}")
    try:
        r = subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        monkeypatch.setenv("CRATEDIGGER_HOME", str(view))
        yield view
    finally:
        import gc

        gc.collect()  # connections the CLI left to the garbage collector
        subprocess.run(["umount", "--lazy", str(view)], check=True)


def test_read_only_home(active, home, request, capsys):
    paths = _library(10)
    make_backup(Library())
    ro = request.getfixturevalue("read_only_home")
    with pytest.raises(OSError):
        (ro / "probe").write_text("x")
    assert main(["status"]) == 0
    assert main(["similar", "-n", "2", paths[0]]) == 0
    assert main(["show", paths[0]]) == 0
    assert main(["doctor"]) in (0, 1)
    out, err = capsys.readouterr()
    assert "10 tracks" in out and "read-only" in out and err == ""
    assert main(["scan", str(ro)]) == 1  # writing commands say why they cannot
    err = capsys.readouterr().err
    assert "read-only" in err or "no model" in err
    _clean(err)


# -- model store faults --------------------------------------------------------------------------------

@pytest.fixture
def checkpoint(tmp_path):
    """A Cratedigger .safetensors checkpoint saved in another store."""
    from model.bbnn import BBNN
    from model.store import Manifest, ModelStore

    other = ModelStore(tmp_path / "other")
    other.save(BBNN(len(CLASSES)), Manifest(name="mine", classes=CLASSES, source="test"))
    return tmp_path / "other" / "mine.safetensors"


def test_model_import_on_a_full_disk(checkpoint, monkeypatch, capsys):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("safetensors.torch.save_file", full)
    assert main(["model", "import", str(checkpoint)]) == 1
    err = capsys.readouterr().err
    assert "disk is full" in err
    _clean(err)
    store = model_store()
    assert store.names() == [] and store.active_name() is None
    assert not list(store.root.glob(".*")) if store.root.exists() else True


def test_model_use_on_a_read_only_home_and_a_broken_manifest(checkpoint, monkeypatch, capsys):
    assert main(["model", "import", "--no-activate", str(checkpoint)]) == 0
    store = model_store()
    assert store.manifest("mine").weights_sha256  # recorded for doctor

    def read_only(*a, **k):
        raise PermissionError(errno.EROFS, "Read-only file system")

    with monkeypatch.context() as m:
        m.setattr("model.store._atomic_write_text", read_only)
        assert main(["model", "use", "mine"]) == 1
        err = capsys.readouterr().err
        assert "read-only" in err
        _clean(err)
    weights = store.root / "mine.safetensors"
    data = bytearray(weights.read_bytes())
    data[-64:] = bytes(64)  # damaged tensor bytes: the digest no longer matches
    weights.write_bytes(bytes(data))
    monkeypatch.setattr("app.health.check_system", lambda: [])
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM  models   mine: the weights file of model 'mine' is damaged" in out
    (store.root / "mine.json").write_text("{not json", encoding="utf-8")
    assert main(["model", "list"]) == 1
    captured = capsys.readouterr()
    assert "manifest of model 'mine' is damaged" in captured.err
    _clean(captured.err)
    assert main(["model", "remove", "mine"]) == 0


# -- bad arguments ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["similar", "-n", "0", "x.mp3"], "at least 1"),
    (["similar", "--diversity", "2", "x.mp3"], "between 0 and 1"),
    (["similar", "--cluster", "-3", "x.mp3"], "at least 0"),
    (["path", "--steps", "0", "a", "b"], "at least 1"),
    (["clusters", "--k", "0"], "at least 1"),
    (["export-m3u", "--cluster", "-1", "out.m3u8"], "at least 0"),
    (["predict", "--offset", "-5", "x.mp3"], "at least 0"),
    (["predict", "--top", "0", "x.mp3"], "at least 1"),
    (["predict", "--device", "tpu", "x.mp3"], "unknown device 'tpu'"),
    (["scan", "--workers", "-1", "."], "from 0 to 64"),
    (["model", "fetch", "--fold", "11"], "from 0 to 9"),
    (["model", "fetch", "--timeout", "0"], "more than 0"),
    (["train", "--epochs", "0", "data"], "from 1 to 10000"),
    (["train", "--epochs", "-1", "data"], "from 1 to 10000"),
    (["train", "--batch-size", "0", "data"], "from 1 to 4096"),
    (["train", "--lr", "nan", "data"], "not a finite number"),
    (["train", "--valid", "1", "data"], "between 0 and 1"),
    (["train", "--folds", "1", "data"], "from 2 to 100"),
])
def test_bad_numbers_are_refused_before_anything_runs(argv, words, capsys, home):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())  # no run was created


@pytest.mark.parametrize("argv", [["predict", "--device", "cuda", "x.mp3"], ["train", "--device", "cuda", "data"]])
def test_cuda_on_a_cpu_only_torch(argv, capsys, home, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only build, on a GPU machine too
    monkeypatch.setattr(torch.version, "cuda", None)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "without CUDA" in err and "--device cpu" in err
    _clean(err)
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


def test_unknown_genres_and_clusters_list_the_valid_ones(active, capsys):
    paths = _library(5)  # under 6 tracks the map is a line: no UMAP to wait for
    assert main(["similar", "--genre", "nosuch", paths[0]]) == 1
    err = capsys.readouterr().err
    assert "unknown genre 'nosuch'" in err and "blues, classical" in err
    assert main(["similar", "--cluster", "999", paths[0]]) == 1
    assert "no clusters yet" in capsys.readouterr().err
    assert main(["clusters", "--k", "100000"]) == 1
    assert "at most 5" in capsys.readouterr().err
    assert Library().map_fit(MODEL_NAME) is None  # nothing was fitted or replaced
    assert main(["clusters", "--k", "2"]) == 0
    capsys.readouterr()
    assert main(["similar", "--cluster", "999", paths[0]]) == 1
    err = capsys.readouterr().err
    assert "no cluster 999" in err and "the clusters are: 0, 1" in err
    assert main(["export-m3u", "--cluster", "7", "out.m3u8"]) == 1
    assert "the clusters are: 0, 1" in capsys.readouterr().err


# -- paths ---------------------------------------------------------------------------------------------

def test_missing_track_and_symlinked_folder(active, tmp_path, capsys):
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(real / "sub")
    via_link = str(tmp_path / "link" / "a.mp3")  # how a scan through the symlink stores it
    (real / "sub" / "a.mp3").write_bytes(b"")
    rng = np.random.default_rng(0)
    lib = Library()
    lib.ensure_model(_Manifest)
    a = _add(lib, via_link, 0, rng)
    b = _add(lib, str(real / "b.mp3"), 0, rng)
    _add(lib, str(real / "c.mp3"), 1, rng)
    gone = _add(lib, str(real / "gone.mp3"), 1, rng)
    lib.upsert_track(str(real / "gone.mp3"), missing=1)
    assert lib.find_track(via_link)["id"] == a
    assert lib.find_track(real / "sub" / "a.mp3") is None or lib.find_track(real / "sub" / "a.mp3")["id"] == a
    (tmp_path / "alias").symlink_to(real)
    assert lib.find_track(tmp_path / "alias" / "b.mp3")["id"] == b  # resolved when the given form is unknown
    lib.close()
    assert main(["similar", "-n", "2", via_link]) == 0
    assert main(["show", via_link]) == 0
    playlist = tmp_path / "p.txt"
    playlist.write_text(f"{via_link}\n{tmp_path / 'alias' / 'b.mp3'}\n")
    assert main(["export-m3u", "--tracks", str(playlist), str(tmp_path / "p.m3u8")]) == 0
    capsys.readouterr()
    assert main(["similar", str(real / "gone.mp3")]) == 1
    err = capsys.readouterr().err
    assert "marked missing" in err
    _clean(err)
    assert gone
    assert main(["similar", str(real / "nowhere.mp3")]) == 1
    assert "not in the library" in capsys.readouterr().err


def test_non_utf8_names_in_json_and_m3u8(active, tmp_path, capsys):
    import base64

    raw = b"/music/caf\xe9.mp3"
    rng = np.random.default_rng(1)
    lib = Library()
    lib.ensure_model(_Manifest)
    seed = _add(lib, "/music/seed.mp3", 0, rng)
    _add(lib, os.fsdecode(raw), 0, rng)
    assert seed
    lib.close()
    assert main(["similar", "--json", "-n", "1", "--m3u", str(tmp_path / "p.m3u8"), "/music/seed.mp3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["path"] == "/music/caf\ufffd.mp3" and base64.b64decode(out[0]["path_b64"]) == raw
    lines = (tmp_path / "p.m3u8").read_bytes().splitlines()
    assert raw in lines  # the bytes the file system has, so the entry points at the file
    from app.library.playlists import read_m3u8

    assert read_m3u8(tmp_path / "p.m3u8")[0][0] == os.fsdecode(raw)


# -- the top-level handler --------------------------------------------------------------------------------

class _ClosedPipe:
    def write(self, text):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def test_broken_pipe_exits_quietly(active, monkeypatch, capsys):
    _library(4)
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["genres"]) == 141
    assert capsys.readouterr().err == ""


def test_real_broken_pipe_and_unexpected_errors_in_a_process(home):
    """`cratedigger errors | head -1`: the reader goes away; and a bug: one line naming the log."""
    lib = Library()
    for i in range(3000):
        lib.record_error(f"/music/broken{i:05d}.mp3", "undecodable", "not a recognised audio file")
    lib.close()
    env = dict(os.environ, CRATEDIGGER_HOME=str(home))
    p = subprocess.Popen([sys.executable, "-m", "app", "errors"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 141 and err == ""
    script = ("import sys, app.cli.scan_cmd as c; c._status = lambda args: 1 / 0; "
              "from app.cli import main; sys.exit(main(['status']))")
    r = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 70 and "Traceback" not in r.stderr
    assert "unexpected error (ZeroDivisionError" in r.stderr and "cratedigger.log" in r.stderr
    assert "ZeroDivisionError" in (home / "logs" / "cratedigger.log").read_text()


def test_gui_without_a_display(monkeypatch, capsys):
    for var in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    if not sys.platform.startswith("linux"):
        pytest.skip("displays are found differently elsewhere")
    assert main(["gui"]) == 1
    err = capsys.readouterr().err
    assert "no display found" in err and "--screenshot" in err
    _clean(err)


def test_a_failed_task_prints_no_traceback(capsys):
    """`fetch` offline in the app: the task fails with one line, the traceback only in the log."""
    from app.cli import _setup_logging
    from app.ui.tasks import _TaskThread
    from model.store import ModelStoreError

    _setup_logging(False)

    def offline(report, cancelled):
        raise ModelStoreError("cannot reach the download server (network unreachable)")

    task = _TaskThread(offline)
    ended = []
    task.ended.connect(lambda result, error, cancelled: ended.append(error))
    task.run()  # in this thread, as the QThread would
    assert ended == ["cannot reach the download server (network unreachable)"]
    err = capsys.readouterr().err
    assert "Traceback" not in err and "network unreachable" in err


def test_gui_offers_repair_for_a_damaged_library(qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from app.ui.main import _open_window

    _library(6)
    make_backup(Library())
    _checkpoint()
    library_path().write_bytes(b"this is not a database" * 100)
    clicked = []

    def choose_restore(box):
        button = next(b for b in box.buttons() if b.text() == "Restore backup")
        clicked.append(box.text() + box.detailedText())
        button.click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", choose_restore)
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: None)
    window = _open_window(interactive=True)
    assert window is not None and clicked and "damaged" in clicked[0]
    qtbot.addWidget(window)
    assert window.ctx.library.status(MODEL_NAME)["tracks"] == 6
