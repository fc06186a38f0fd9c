"""Take the README's screenshots of every view, the player bar and a lasso selection.

Run under a display (e.g. `xvfb-run -a .venv/bin/python docs/screenshots/take.py OUT_DIR`) with
CRATEDIGGER_HOME pointing at a data home whose library has been scanned (real music) and mapped.
The screenshot machine has no sound card: playback is handed a no-op there so the player bar
shows what it shows while a track plays.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication


def _settle(app: QApplication, ms: int = 600) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _lasso(view) -> list[tuple[float, float]]:
    """A free-form loop around the biggest cluster, as a hand would draw it."""
    pts = view.points
    biggest = max(view.clusters.values(), key=lambda c: c["size"])["cluster"]
    member = pts["cluster"] == biggest
    cx, cy = float(np.median(pts["x"][member])), float(np.median(pts["y"][member]))
    r = 0.9 * float(np.percentile(np.hypot(pts["x"][member] - cx, pts["y"][member] - cy), 80))
    angles = np.linspace(0, 2 * np.pi, 60)
    wobble = 1 + 0.12 * np.sin(3 * angles)
    return [(cx + r * w * np.cos(a), cy + 0.9 * r * w * np.sin(a)) for a, w in zip(angles, wobble)]


def _browse(app: QApplication, window, shot) -> None:
    """The library browsed by artist: the artist with the most tracks on a single album, then that album."""
    browse = window.library_view.browse
    window.show_view("library")
    _settle(app, 900)
    artists = [a for a in browse.artist_model.rows if a["name"]]
    if not artists:
        return
    browse.choose_artist(max(artists, key=lambda a: (a["albums"] == 1, a["tracks"]))["key"])
    _settle(app, 900)
    if browse.album_model.rows:
        browse.choose_album(max(browse.album_model.rows, key=lambda a: a["tracks"])["key"])
    shot("browse")
    browse.choose_artist(None)


def main(out: Path) -> None:
    app = QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    from app.ui.main_window import MainWindow

    window = MainWindow()
    window.resize(1280, 820)
    window.show()
    _settle(app, 1500)
    player = window.ctx.player
    player._start = lambda path, start_seconds=0.0: True  # no sound card here
    ids = [r["id"] for r in window.ctx.library.track_rows(0, 40, "title")]
    window.ctx.select(ids[2:3])
    player.play_ids(ids[2:6])
    _settle(app)

    def shot(name: str) -> None:
        _settle(app, 900)
        window.grab().save(str(out / f"{name}.png"))
        print("saved", out / f"{name}.png")

    for view in ("library", "track", "folders", "model", "settings"):
        window.show_view(view)
        shot(view)
    _browse(app, window, shot)
    window.more_like_this(ids[2:3])
    _settle(app, 1500)
    shot("similar")
    window.show_view("map")
    shot("map")
    window.map_view.highlight.setData([], [])
    window.map_view.seed_mark.setData([], [])
    polygon = _lasso(window.map_view)
    window.map_view.plot._band.setData([p[0] for p in polygon + polygon[:1]], [p[1] for p in polygon + polygon[:1]])
    if window.map_view.plot._band.scene() is None:
        window.map_view.plot.addItem(window.map_view.plot._band)
    window.map_view.modes.buttons()[1].setChecked(True)
    window.map_view.select_polygon(polygon)
    shot("lasso")
    window.map_view.plot._band.setData([], [])
    window.ctx.queue_requested.emit(window.map_view.selection[:6])
    window.player_bar.radio.setChecked(True)
    window.player_bar.queue_button.setChecked(True)
    window.show_view("library")
    _settle(app, 1500)
    window.player_bar._position(34_000, 58_000)  # where the seek bar stands 34 s into the track
    shot("player")
    bar = window.player_bar
    bar.grab().save(str(out / "player-bar.png"))
    window.close()
    os._exit(0)  # the pictures are saved; skip a teardown that only a script like this one pays


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent))
