"""What the views share: the library, the model store, the task runner and quick background jobs,
the player, settings, and the signals that keep every view on the same track and selection."""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Signal

from app.home import model_store, open_library, settings_path

from .tasks import QuickJobs, TaskRunner


class AppContext(QObject):
    track_selected = Signal(int)  # a track chosen anywhere
    library_changed = Signal()  # scan, prune, map refit...
    model_changed = Signal()
    similar_ready = Signal(list, list)  # seed ids, result rows
    path_ready = Signal(list)  # rows from A to B
    play_requested = Signal(int)
    play_ids_requested = Signal(list)  # "play these": replaces the queue
    queue_requested = Signal(list)  # "queue": appends
    similar_requested = Signal(list)  # "more like this" for these ids

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = model_store()
        self.library = open_library()
        self.tasks = TaskRunner(self)
        self.jobs = QuickJobs(self.library.path, self)
        self.settings = QSettings(str(settings_path()), QSettings.Format.IniFormat)
        self.selected: list[int] = []
        from .player import Player

        self.player = Player(self._track_path, self)
        self.player.radio_needed.connect(self._fill_radio)
        self.play_ids_requested.connect(lambda ids: self.player.play_ids(ids))
        self.queue_requested.connect(self._queue)
        self.play_requested.connect(lambda track_id: self.player.play_ids([track_id]))

    @property
    def model_name(self) -> str | None:
        return self.store.active_name()

    def _track_path(self, track_id: int) -> str | None:
        track = self.library.track(track_id)
        return track["path"] if track else None

    def _queue(self, ids: list) -> None:
        self.player.enqueue(ids)
        self.player.notice.emit(f"Queued {len(ids)} track{'s' if len(ids) != 1 else ''}.")

    def _fill_radio(self, seeds: list) -> None:
        """Track radio: more like what plays, found off the GUI thread."""
        from app.library.similarity import similar

        exclude = set(self.player.queue)
        if not self.model_name:
            return
        self.jobs.submit("radio", lambda lib: [r["id"] for r in similar(lib, seeds, n=len(exclude) + 10, diversity=0.3,
                                                                       model=lib.results_model(seeds))
                                               if r["id"] not in exclude][:5],
                         self.player.add_radio, lambda _error: self.player.add_radio([]))

    def select(self, track_ids: list[int]) -> None:
        self.selected = list(track_ids)
        if track_ids:
            self.track_selected.emit(int(track_ids[0]))

    def close(self) -> None:
        self.player.stop()
        self.jobs.shutdown()
        self.library.close()
