"""Folders: `cratedigger folders`, a folder renamed on disk (detected by fingerprint, moved with
`folders move`), ghosts never in `similar`, removing a folder forgets its tracks."""

import json
import os
import shutil

import pytest

from app.cli import main
from app.home import open_library
from app.library.scanner import scan
from app.library.similarity import similar
from audio_factory import make_track


@pytest.fixture
def music(tmp_path):
    root = tmp_path / "Old Name"
    root.mkdir()
    for i, kind in enumerate(["tones", "chords", "clicks"]):
        make_track(root / f"{kind}.ogg", kind, 6.0, seed=i, tags={"title": kind})
    return root


def rows(lib):
    return sorted((os.path.basename(r["path"]), r["status"], r["top_genre"]) for r in lib.track_rows(limit=100))


def test_a_renamed_folder_is_detected_moved_and_leaves_no_ghost(random_model, music, tmp_path, capsys):
    lib = open_library()  # model=None: the store's active model
    scan(lib, [music], workers=0)
    before = {r["id"]: r["top_genre"] for r in lib.track_rows()}
    renamed = music.with_name("New Name")
    os.rename(music, renamed)
    summary = scan(lib, [renamed], workers=0)
    assert (summary.moved, summary.analysed, lib.status()["tracks"]) == (3, 0, 3)  # no duplicates
    assert summary.folder_moves == [{"old": str(music), "new": str(renamed), "tracks": 3}]
    assert {r["id"]: r["top_genre"] for r in lib.track_rows()} == before  # same tracks, analyses kept
    assert main(["folders", "move", str(music), str(renamed)]) == 0
    assert [f["path"] for f in lib.folders()] == [str(renamed)]
    again = scan(lib, None, workers=0)
    assert (again.skipped, again.missing, again.unreadable_folders) == (3, 0, 0) and lib.errors() == []
    clean = open_library(path=tmp_path / "clean.sqlite")
    scan(clean, [renamed], workers=0)
    assert rows(lib) == rows(clean)
    assert lib.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_the_scan_offers_the_move_on_the_command_line(random_model, music, capsys):
    assert main(["scan", "--workers", "0", str(music)]) == 0
    renamed = music.with_name("New Name")
    os.rename(music, renamed)
    assert main(["scan", "--workers", "0", str(renamed)]) == 0
    err = capsys.readouterr().err
    assert f"folders move \"{music}\" \"{renamed}\"" in err


def test_ghosts_from_before_never_show_in_similar_and_move_merges_them(random_model, music, tmp_path):
    lib = open_library()  # model=None: the store's active model
    scan(lib, [music], workers=0)
    copy = music.with_name("Copy")
    shutil.copytree(music, copy)
    scan(lib, [copy], workers=0)  # copies: new tracks with the same audio
    shutil.rmtree(music)  # the old folder is gone: its rows stay ("is the drive connected?")
    scan(lib, None, workers=0)
    assert lib.status()["tracks"] == 6
    seed = lib.track_by_path(copy / "tones.ogg")["id"]
    found = similar(lib, [seed], n=10)
    assert [os.path.dirname(r["path"]) for r in found] == [str(copy)] * 2  # no ghost of any copy
    assert main(["folders", "move", str(music), str(copy)]) == 0
    assert lib.status()["tracks"] == 3 and [f["path"] for f in lib.folders()] == [str(copy)]
    assert {os.path.dirname(r["path"]) for r in lib.track_rows()} == {str(copy)}
    assert all(r["status"] == "analysed" for r in lib.track_rows())


def test_folders_list_add_and_remove(random_model, music, tmp_path, capsys):
    other = tmp_path / "Other"
    (other / "inner").mkdir(parents=True)
    make_track(other / "inner" / "song.flac", "noise", 6.0, seed=4)
    lib = open_library()  # model=None: the store's active model
    scan(lib, [music, other, other / "inner"], workers=0)
    capsys.readouterr()
    assert main(["folders", "list", "--json"]) == 0
    listed = {os.path.basename(f["path"]): f for f in json.loads(capsys.readouterr().out)}
    assert (listed["Old Name"]["tracks"], listed["Old Name"]["analysed"], listed["inner"]["tracks"]) == (3, 3, 1)
    assert main(["folders", "remove", str(music)]) == 0
    assert "forgot its 3 tracks" in capsys.readouterr().out
    assert lib.status()["tracks"] == 1 and lib.db.execute("SELECT COUNT(*) FROM analyses").fetchone()[0] == 1
    assert main(["folders", "remove", str(other)]) == 0  # its track is also under 'inner': kept
    assert lib.status()["tracks"] == 1
    assert main(["folders", "remove", str(tmp_path / "never-added")]) == 1
    assert "not one of the library's folders" in capsys.readouterr().err
    assert main(["folders", "add", str(music)]) == 0 and len(lib.folders()) == 2
    assert lib.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_removing_a_folder_in_the_app_asks_and_forgets_its_tracks(random_model, music, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from app.ui.main_window import MainWindow

    scan(open_library(), [music], workers=0)
    window = MainWindow()
    qtbot.addWidget(window)
    view = window.folders_view
    view.reload()
    view.list.item(0).setSelected(True)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    view._remove()
    assert view.list.count() == 1 and window.ctx.library.status()["tracks"] == 3
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    view._remove()
    assert view.list.count() == 0 and window.ctx.library.status()["tracks"] == 0
    window.close()
