"""The player: a play queue of track ids, QtMultimedia playback (seek, volume, next, previous),
and track radio (the queue is kept filled with "more like this" of what plays).

Without a working audio output (QtMultimedia missing, or no output device) a track is handed to
the system's player; when that fails too the user is told so, never "Playing …".
"""

from __future__ import annotations

import logging
from typing import Callable

from PySide6.QtCore import QObject, QUrl, Signal

from app.library.fspath import from_db

log = logging.getLogger(__name__)
RADIO_AHEAD = 3  # radio asks for more when fewer tracks than this wait in the queue


def _load_backend(parent: QObject):
    """(QMediaPlayer, QAudioOutput, '') or (None, None, why playback is unavailable)."""
    try:
        from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer
    except Exception as e:  # missing QtMultimedia or its backend (e.g. libpulse on Linux)
        log.info("QtMultimedia unavailable: %s", e)
        return None, None, "audio playback is not available in this installation"
    if not QMediaDevices.audioOutputs():
        return None, None, "no audio output device was found"
    output = QAudioOutput(parent)
    player = QMediaPlayer(parent)
    player.setAudioOutput(output)
    return player, output, ""


class Player(QObject):
    notice = Signal(str)  # one-line messages for the status bar
    state_changed = Signal(bool)  # playing?
    now_playing = Signal(int)  # track id (-1: nothing)
    position_changed = Signal(int, int)  # ms, duration ms
    queue_changed = Signal()
    radio_needed = Signal(list)  # seed track ids: the owner answers with add_radio(ids)

    def __init__(self, track_path: Callable[[int], str | None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.track_path = track_path
        self.queue: list[int] = []
        self.index = -1
        self.radio = False
        self.current: str | None = None
        self.playing = False
        self._asked_radio = False
        self._player, self._output, self.unavailable_reason = _load_backend(self)
        if self._player is None:
            return
        from PySide6.QtMultimedia import QMediaPlayer

        self._player.playbackStateChanged.connect(self._state)
        self._player.positionChanged.connect(lambda ms: self.position_changed.emit(int(ms), int(self._player.duration())))
        self._player.mediaStatusChanged.connect(
            lambda s: self.next() if s == QMediaPlayer.MediaStatus.EndOfMedia else None)
        self._player.errorOccurred.connect(self._error)

    @property
    def embedded(self) -> bool:
        return self._player is not None

    @property
    def current_id(self) -> int | None:
        return self.queue[self.index] if 0 <= self.index < len(self.queue) else None

    # -- the queue
    def play_ids(self, ids: list[int], start: int = 0) -> None:
        """Replace the queue with ids and play the one at `start`."""
        self.queue = [int(i) for i in ids]
        self._asked_radio = False
        self.queue_changed.emit()
        self._play_at(start)

    def enqueue(self, ids: list[int]) -> None:
        """Add to the end of the queue (starting playback if nothing plays)."""
        idle = self.current_id is None
        self.queue += [int(i) for i in ids]
        self.queue_changed.emit()
        if idle and ids:
            self._play_at(len(self.queue) - len(ids))

    def play(self, db_path: str, start_seconds: float = 0.0) -> bool:
        """Play one file outside the queue (kept for callers that only have a path)."""
        return self._start(db_path, start_seconds)

    def next(self) -> None:
        if self.index + 1 < len(self.queue):
            self._play_at(self.index + 1)
        else:
            self.stop()
            self._want_radio()

    def previous(self) -> None:
        if self._player is not None and self._player.position() > 3000:
            self._player.setPosition(0)  # like every player: back to the start first
        elif self.index > 0:
            self._play_at(self.index - 1)

    def remove(self, position: int) -> None:
        if 0 <= position < len(self.queue):
            del self.queue[position]
            if position < self.index:
                self.index -= 1
            self.queue_changed.emit()

    def clear(self) -> None:
        self.stop()
        self.queue, self.index = [], -1
        self.queue_changed.emit()
        self.now_playing.emit(-1)

    def set_radio(self, on: bool) -> None:
        self.radio = on
        self._asked_radio = False
        self._want_radio()

    def add_radio(self, ids: list[int]) -> None:
        """Tracks the radio found: appended when not already queued."""
        self._asked_radio = False
        fresh = [int(i) for i in ids if int(i) not in self.queue]
        if fresh:
            self.enqueue(fresh)

    def _want_radio(self) -> None:
        if not self.radio or self._asked_radio or not self.queue:
            return
        if len(self.queue) - max(self.index, 0) - 1 < RADIO_AHEAD:
            self._asked_radio = True
            seeds = self.queue[max(0, self.index - 1):self.index + 1] or self.queue[-1:]
            self.radio_needed.emit(seeds)

    def _play_at(self, position: int) -> None:
        if not 0 <= position < len(self.queue):
            return
        self.index = position
        track_id = self.queue[position]
        path = self.track_path(track_id)
        self.queue_changed.emit()
        if path is None:
            self.notice.emit("That track is no longer in the library.")
            return
        if self._start(path):
            self.now_playing.emit(track_id)
        self._want_radio()

    # -- playback
    def _start(self, db_path: str, start_seconds: float = 0.0) -> bool:
        path = from_db(db_path)
        self.current = path
        if self._player is None:
            from PySide6.QtGui import QDesktopServices

            if QDesktopServices.openUrl(QUrl.fromLocalFile(path)):
                self.notice.emit(f"Opened in the system's player ({self.unavailable_reason}).")
                return True
            self.notice.emit(f"Cannot play: {self.unavailable_reason}, and no system player opened the file.")
            return False
        self._player.setSource(QUrl.fromLocalFile(path))
        if start_seconds:
            self._player.setPosition(int(start_seconds * 1000))
        self._player.play()
        return True

    def toggle(self) -> None:
        if self._player is None:
            return
        if self.playing:
            self._player.pause()
        elif self.current:
            self._player.play()
        elif self.queue:
            self._play_at(max(self.index, 0))

    def seek(self, ms: int) -> None:
        if self._player is not None:
            self._player.setPosition(int(ms))

    def set_volume(self, percent: int) -> None:
        if self._output is not None:
            self._output.setVolume(max(0, min(100, percent)) / 100.0)

    def volume(self) -> int:
        return int(round(self._output.volume() * 100)) if self._output is not None else 0

    def stop(self) -> None:
        if self._player is not None:
            self._player.stop()

    def _state(self, state) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        self.playing = state == QMediaPlayer.PlaybackState.PlayingState
        self.state_changed.emit(self.playing)

    def _error(self, _error, text: str) -> None:
        log.warning("playback failed for %s: %s", self.current, text)
        self.notice.emit(f"Cannot play {self.current}: {text or 'the audio output failed'}")
