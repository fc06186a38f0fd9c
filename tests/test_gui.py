"""The desktop app under pytest-qt (offscreen): each view, background scan, first run, responsiveness."""

import http.server
import threading
import time
from functools import partial

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer

from app.home import model_store
from app.library.db import Library
from app.library.mapping import build_map
from audio_factory import make_track
from library_factory import MODEL_NAME, grouped_library


@pytest.fixture
def window(qtbot):
    from app.ui.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


@pytest.fixture
def grouped(monkeypatch):
    """A 4-group library of known structure, its model made the active one, with a map."""
    from library_factory import CLASSES
    from model.bbnn import BBNN
    from model.store import Manifest

    model_store().save(BBNN(len(CLASSES)), Manifest(name=MODEL_NAME, classes=CLASSES, source="test"), activate=True)
    lib, truth = grouped_library(groups=4, per_group=12)
    build_map(lib, MODEL_NAME, method="kmeans", k=4)
    lib.close()
    return truth


def test_library_table_shows_rows_and_filters(grouped, window, qtbot):
    model = window.library_view.model
    assert window.stack.currentWidget() is window.tabs
    assert model.total == 48 and model.rowCount() == 48
    titles = {model.data(model.index(r, 0)) for r in range(model.rowCount())}
    assert "Song 2-3" in titles
    genre = model.data(model.index(0, 4))
    assert genre.split()[0] in {"blues", "classical", "country", "disco"} and genre.endswith("%")
    assert model.data(model.index(0, 6)) == "analysed" and model.data(model.index(0, 5))
    qtbot.keyClicks(window.search, "G2-A1")
    qtbot.waitUntil(lambda: model.total == 4, timeout=3000)
    assert all(model.rows[r]["artist"] == "G2-A1" for r in range(model.rowCount()))
    window.search.clear()
    qtbot.waitUntil(lambda: model.total == 48, timeout=3000)
    model.sort(0, Qt.SortOrder.DescendingOrder)
    assert model.rows[0]["title"] >= model.rows[-1]["title"]
    mime = model.mimeData([model.index(0, 0), model.index(1, 0)])
    assert len(mime.urls()) == 2 and mime.urls()[0].isLocalFile()


def test_lazy_fetching_of_a_large_library(monkeypatch, qtbot):
    lib = Library()
    with lib.db.conn:
        lib.db.conn.executemany("INSERT INTO tracks(path, title, artist) VALUES (?, ?, ?)",
                                [(f"/m/{i}.mp3", f"T{i}", f"A{i % 50}") for i in range(5000)])
    from app.ui.context import AppContext
    from app.ui.library_view import PAGE, LibraryModel

    model = LibraryModel(AppContext())
    assert model.total == 5000 and model.rowCount() == PAGE
    while model.canFetchMore():
        model.fetchMore()
    assert model.rowCount() == 5000


def test_map_click_selects_everywhere_and_rectangle_makes_a_playlist(grouped, window, qtbot, monkeypatch):
    window.show_view("map")
    view = window.map_view
    assert len(view.points["ids"]) == 48 and view.legend.count() == 4
    spots = view.scatter.points()
    with qtbot.waitSignal(window.ctx.track_selected, timeout=2000) as signal:
        view._clicked(view.scatter, [spots[5]])
    track_id = signal.args[0]
    assert track_id == int(spots[5].data())
    assert window.track_view.track_id == track_id
    assert window.library_view.selected_ids() == [track_id]
    exported = []
    monkeypatch.setattr(window, "_export", exported.append)
    view.playlist_requested.disconnect()
    view.playlist_requested.connect(window._export)
    x, y = view.points["x"], view.points["y"]
    view.select_rect(QRectF(QPointF(x.min() - 1, y.min() - 1), QPointF(x.max() + 1, y.max() + 1)))
    assert sorted(exported[0]) == sorted(view.points["ids"].tolist())
    view.colour_by.setCurrentIndex(1)
    assert view.legend.count() == 4


def test_more_like_this_fills_from_the_library(grouped, window, qtbot):
    seed = next(i for i, g in grouped.items() if g == 1)
    with qtbot.waitSignal(window.ctx.similar_ready, timeout=2000):
        window.more_like_this([seed])
    view = window.similar_view
    assert window.tabs.currentWidget() is view
    assert view.table.rowCount() == min(25, 47)
    top = [view.rows[i]["id"] for i in range(5)]
    assert all(grouped[t] == 1 for t in top)
    view.exclude_artist.setChecked(True)
    view.count.setValue(5)
    view.refresh()
    seed_artist = Library().track(seed)["artist"]
    assert view.table.rowCount() == 5 and all(r["artist"] != seed_artist for r in view.rows)
    other = next(i for i, g in grouped.items() if g == 3)
    with qtbot.waitSignal(window.ctx.path_ready, timeout=2000):
        view.walk_to(other, steps=4)
    assert view.rows[0]["id"] == seed and view.rows[-1]["id"] == other
    assert len(window.map_view.path_line.getData()[0]) == len(view.rows)


def test_track_panel_shows_tags_genres_and_timeline(grouped, window):
    track_id = next(iter(grouped))
    window.ctx.select([track_id])
    view = window.track_view
    assert view.values["artist"].text().startswith("G")
    assert "Analysed by" in view.status.text()
    assert len(view.bars.listDataItems()) + len(view.bars.items()) > 0
    assert len(view.timeline.items()) >= 10


def _music(tmp_path, n=6, seconds=6.0):
    folder = tmp_path / "music"
    folder.mkdir()
    kinds = ["tones", "noise", "clicks", "chords"]
    for i in range(n):
        make_track(folder / f"t{i}.wav", kinds[i % 4], seconds, seed=i, tags=None)
    return folder


def test_background_scan_reports_progress_and_finishes(random_model, window, qtbot, tmp_path):
    folder = _music(tmp_path, n=4)
    seen = []
    window.ctx.tasks.progress.connect(lambda d, t, m, eta: seen.append((d, t, m)))
    window.folders_view.add_folders([str(folder)], scan=False)
    with qtbot.waitSignal(window.ctx.tasks.done, timeout=120_000):
        window.start_scan([str(folder)])
        assert window.progress.isVisible() and window.cancel.isVisible()
    assert any(t == 4 for _, t, _ in seen)
    assert "4 analysed" in window.message.text()
    assert window.library_view.model.total == 4
    assert not window.progress.isVisible()


def test_scan_cancels_and_the_gui_never_blocks(random_model, window, qtbot, tmp_path):
    folder = _music(tmp_path, n=24, seconds=4.0)
    window.folders_view.add_folders([str(folder)], scan=False)
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    progress = []
    window.ctx.tasks.progress.connect(lambda d, t, m, eta: progress.append(d))
    with qtbot.waitSignal(window.ctx.tasks.done, timeout=120_000) as done:
        window.start_scan([str(folder)])
        qtbot.waitUntil(lambda: any(d >= 3 for d in progress), timeout=100_000)
        last[0] = time.perf_counter()
        gaps.clear()
        qtbot.wait(1500)
        window.cancel.click()
    timer.stop()
    summary = done.args[1]
    assert summary.cancelled and 3 <= summary.analysed < 24
    assert "stopped" in window.message.text()
    assert max(gaps) < 0.1, f"event loop blocked for {max(gaps) * 1000:.0f} ms"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_first_run_fetches_the_model_then_scans(qtbot, tmp_path, authors_dir, monkeypatch):
    from model.authors_weights import authors_model

    root = tmp_path / "www"
    dest = root / authors_model("gtzan", 5).repo_path
    dest.parent.mkdir(parents=True)
    dest.write_bytes((authors_dir / "gtzan_fold5.hdf5").read_bytes())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CRATEDIGGER_WEIGHTS_URL", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        from app.ui.main_window import MainWindow

        w = MainWindow()
        qtbot.addWidget(w)
        w.show()
        assert w.stack.currentWidget() is w.welcome and not w.welcome.start.isEnabled()
        with qtbot.waitSignal(w.ctx.tasks.done, timeout=60_000):
            w.welcome.fetch_requested.emit("gtzan", 5)
        assert model_store().active_name() == "bbnn-gtzan-fold5"
        assert w.welcome.start.isEnabled() and "ready" in w.welcome.model_state.text()
        folder = _music(tmp_path, n=2)
        w.welcome.folder.setText(str(folder))
        with qtbot.waitSignal(w.ctx.tasks.done, timeout=120_000):
            w.welcome.start.click()
        assert w.stack.currentWidget() is w.tabs
        assert w.library_view.model.total == 2
        w.close()
    finally:
        server.shutdown()


def test_model_and_folders_views(gtzan_model, window, tmp_path):
    window.show_view("model")
    assert window.model_view.fields["name"].text() == "bbnn-gtzan-fold5"
    assert "96.0%" in window.model_view.fields["accuracy"].text()
    bad = tmp_path / "music"
    bad.mkdir()
    (bad / "broken.mp3").write_bytes(b"\x00" * 1000)
    Library().record_error(bad / "broken.mp3", "undecodable", "not a recognised audio file")
    window.folders_view.add_folders([str(bad)], scan=False)
    assert window.folders_view.list.count() == 1
    assert window.folders_view.errors.rowCount() == 1
    assert window.folders_view.errors.item(0, 1).text() == "undecodable"


def test_screenshot_command_writes_a_picture(random_model, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "shot.png"
    result = subprocess.run([sys.executable, "-m", "app", "gui", "--screenshot", str(out), "--view", "model"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert image.width() >= 800 and image.height() >= 500
