"""What the views share: the library, the model store, the task runner, the player, settings,
and the signals that keep every view on the same track."""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Signal

from app.home import model_store, settings_path
from app.library.db import Library

from .tasks import TaskRunner


class AppContext(QObject):
    track_selected = Signal(int)  # a track chosen anywhere
    library_changed = Signal()  # scan, prune, map refit...
    model_changed = Signal()
    similar_ready = Signal(list, list)  # seed ids, result rows
    path_ready = Signal(list)  # rows from A to B
    play_requested = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = Library()
        self.store = model_store()
        self.tasks = TaskRunner(self)
        self.settings = QSettings(str(settings_path()), QSettings.Format.IniFormat)
        self.selected: list[int] = []
        from .player import Player

        self.player = Player(self)

    @property
    def model_name(self) -> str | None:
        return self.store.active_name()

    def select(self, track_ids: list[int]) -> None:
        self.selected = list(track_ids)
        if track_ids:
            self.track_selected.emit(int(track_ids[0]))

    def close(self) -> None:
        self.player.stop()
        self.library.close()
