"""Audio preview: QtMultimedia when it loads, else the system's player (said once)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QUrl, Signal

from app.library.fspath import from_db

log = logging.getLogger(__name__)


class Player(QObject):
    notice = Signal(str)  # one-off messages for the status bar
    state_changed = Signal(bool)  # playing?

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._player = None
        self._warned = False
        self.current: str | None = None
        try:
            from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

            self._output = QAudioOutput(self)
            self._player = QMediaPlayer(self)
            self._player.setAudioOutput(self._output)
            self._player.playbackStateChanged.connect(
                lambda s: self.state_changed.emit(s == QMediaPlayer.PlaybackState.PlayingState))
        except Exception as e:  # missing QtMultimedia or its backend (e.g. libpulse on Linux)
            log.info("QtMultimedia unavailable: %s", e)
            self._player = None

    @property
    def embedded(self) -> bool:
        return self._player is not None

    def play(self, db_path: str, start_seconds: float = 0.0) -> None:
        path = from_db(db_path)
        self.current = path
        if self._player is None:
            from PySide6.QtGui import QDesktopServices

            if not self._warned:
                self._warned = True
                self.notice.emit("Audio preview is not available here; using the system's player instead.")
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))
            return
        self._player.setSource(QUrl.fromLocalFile(path))
        if start_seconds:
            self._player.setPosition(int(start_seconds * 1000))
        self._player.play()

    def toggle(self) -> None:
        if self._player is None:
            return
        from PySide6.QtMultimedia import QMediaPlayer

        if self._player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            self._player.pause()
        elif self.current:
            self._player.play()

    def stop(self) -> None:
        if self._player is not None:
            self._player.stop()
