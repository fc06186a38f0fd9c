"""The player bar under the views: now playing with cover, previous / play-pause / next, seek,
volume, track radio, and the play queue (a list beside the views, shown on demand)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QSlider,
                               QStyle, QToolButton, QVBoxLayout, QWidget)

from app.library.fspath import display_path, from_db

from .context import AppContext
from .library_view import format_duration

COVER = 48


def track_label(track: dict, with_file: bool = False) -> str:
    """artist - title, or the file name when the tags say nothing (with_file: the file name too,
    for lists where many tracks share their tags)."""
    file_name = Path(display_path(track["path"])).name
    label = " - ".join(x for x in (track.get("artist"), track.get("title") or file_name) if x)
    return f"{label}   ({file_name})" if with_file and track.get("title") else label


class QueuePanel(QWidget):
    """The play queue: double-click plays, Delete removes, the playing track is marked."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.list = QListWidget()
        self.list.itemDoubleClicked.connect(lambda item: ctx.player.play_ids(ctx.player.queue, self.list.row(item)))
        clear = QPushButton("Clear")
        clear.clicked.connect(ctx.player.clear)
        remove = QPushButton("Remove")
        remove.clicked.connect(lambda: ctx.player.remove(self.list.currentRow()))
        self.title = QLabel("Queue")
        self.title.setStyleSheet("font-weight: 600")
        buttons = QHBoxLayout()
        buttons.addWidget(remove)
        buttons.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.setMinimumWidth(360)
        ctx.player.queue_changed.connect(self.reload)

    def reload(self) -> None:
        player = self.ctx.player
        rows = self.ctx.library.tracks(player.queue)
        self.list.clear()
        for n, track_id in enumerate(player.queue):
            track = rows.get(track_id)
            text = track_label(track, with_file=True) if track else f"(removed track {track_id})"
            item = QListWidgetItem(("▶ " if n == player.index else "    ") + text)
            if n == player.index:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.list.addItem(item)
        self.title.setText(f"Queue ({len(player.queue)})" + (" · radio on" if player.radio else ""))


class PlayerBar(QWidget):
    queue_toggled = Signal(bool)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        player = ctx.player
        self.cover = QLabel()
        self.cover.setFixedSize(COVER, COVER)
        self.cover.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cover.setStyleSheet("border: 1px solid palette(mid)")
        self.title = QLabel("Nothing playing")
        self.title.setMinimumWidth(220)
        icon = self.style().standardIcon
        self._icons = {True: icon(QStyle.StandardPixmap.SP_MediaPause), False: icon(QStyle.StandardPixmap.SP_MediaPlay)}
        self.prev, self.play, self.next = QToolButton(), QToolButton(), QToolButton()
        for button, pixmap, tip in ((self.prev, QStyle.StandardPixmap.SP_MediaSkipBackward, "Previous"),
                                    (self.play, QStyle.StandardPixmap.SP_MediaPlay, "Play / pause (Space)"),
                                    (self.next, QStyle.StandardPixmap.SP_MediaSkipForward, "Next")):
            button.setIcon(icon(pixmap))
            button.setToolTip(tip)
            button.setMinimumWidth(34)
        self.prev.clicked.connect(player.previous)
        self.play.clicked.connect(player.toggle)
        self.next.clicked.connect(player.next)
        self.seek = QSlider(Qt.Orientation.Horizontal)
        self.seek.setRange(0, 0)
        self.seek.sliderReleased.connect(lambda: player.seek(self.seek.value()))
        self.time = QLabel("0:00 / 0:00")
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setMaximumWidth(110)
        self.volume.setToolTip("Volume")
        self.volume.setValue(int(ctx.settings.value("player/volume", 80)))
        self.volume.valueChanged.connect(self._volume)
        player.set_volume(self.volume.value())
        self.radio = QCheckBox("Radio")
        self.radio.setToolTip("Keep the queue filled with more like what plays")
        self.radio.toggled.connect(player.set_radio)
        self.queue_button = QPushButton("Queue")
        self.queue_button.setCheckable(True)
        self.queue_button.toggled.connect(self.queue_toggled.emit)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        for w in (self.cover, self.title, self.prev, self.play, self.next):
            layout.addWidget(w)
        layout.addWidget(self.seek, 1)
        speaker = QLabel()
        speaker.setPixmap(icon(QStyle.StandardPixmap.SP_MediaVolume).pixmap(16, 16))
        for w in (self.time, speaker, self.volume, self.radio, self.queue_button):
            layout.addWidget(w)
        player.now_playing.connect(self.show_track)
        player.state_changed.connect(lambda playing: self.play.setIcon(self._icons[bool(playing)]))
        player.position_changed.connect(self._position)
        player.queue_changed.connect(self._queue_count)
        self.setEnabled(True)

    def _volume(self, value: int) -> None:
        self.ctx.player.set_volume(value)
        self.ctx.settings.setValue("player/volume", value)

    def _queue_count(self) -> None:
        n = len(self.ctx.player.queue)
        self.queue_button.setText(f"Queue ({n})" if n else "Queue")

    def _position(self, ms: int, total: int) -> None:
        if not self.seek.isSliderDown():
            self.seek.setRange(0, max(total, 0))
            self.seek.setValue(ms)
        self.time.setText(f"{format_duration(ms / 1000)} / {format_duration(total / 1000)}")

    def show_track(self, track_id: int) -> None:
        track = self.ctx.library.track(track_id) if track_id >= 0 else None
        if track is None:
            self.title.setText("Nothing playing")
            self.cover.setPixmap(QPixmap())
            return
        self.title.setText(track_label(track))
        self.title.setToolTip(display_path(track["path"]))
        self.cover.setPixmap(QPixmap())
        self.cover.setText("♪")
        path = from_db(track["path"])

        def cover(_=None):
            from app.library.tags import read_cover

            return read_cover(path)

        self.ctx.jobs.submit("cover", cover, self._set_cover, with_library=False)

    def _set_cover(self, data: bytes | None) -> None:
        pix = QPixmap()
        if data and pix.loadFromData(data):
            self.cover.setPixmap(pix.scaled(COVER, COVER, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))
