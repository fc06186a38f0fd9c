"""The main window: toolbar with search, the views, the player bar with its queue, and a status
bar with progress, ETA and Cancel for whatever long task runs (scan, map, model download or
import); further requests wait in a queue."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import (QDockWidget, QLabel, QLineEdit, QMainWindow, QMessageBox, QProgressBar, QPushButton,
                               QStackedWidget, QTabWidget, QToolBar, QVBoxLayout, QWidget)

from app import desktop
from app.home import open_library
from app.library.fspath import display_path
from app.wording import counted

from .context import AppContext
from .folders_view import FoldersView
from .library_view import LibraryView, export_m3u8
from .map_view import MapView
from .model_view import ModelView
from .player_bar import PlayerBar, QueuePanel
from .settings_view import SettingsView, apply_theme, scan_options
from .similar_view import SimilarView
from .tasks import format_eta
from .track_view import TrackView
from .welcome import WelcomePage

log = logging.getLogger(__name__)
ICON = Path(str(desktop.ICON))  # package data; a real file in a source tree, a wheel install and the bundle
VIEWS = ["library", "map", "track", "similar", "folders", "model", "settings", "training"]
TASK_TITLES = {"scan": "Scanning…", "map": "Computing the map…", "fetch": "Downloading the model…",
               "import": "Importing the model…", "fetch-musicnn": "Downloading MusiCNN…"}
CLOSE_WAIT_MS = 3500  # closing waits this long for a cancelled task, then leaves without it


def human_failure(name: str, message: str) -> str:
    """What a failed task means for the user, in one or two sentences."""
    if name.startswith("fetch") and "could not reach" in message:
        return ("Cratedigger could not reach GitHub to download the model: this computer seems to be offline. "
                "Download the model file on another computer, then use “Import a model file…”.")
    if name == "import":
        return f"The model could not be imported: {message}\n\nNothing was changed."
    return message


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.ctx = AppContext(self)
        self.setWindowTitle("Cratedigger")
        if ICON.exists():
            self.setWindowIcon(QIcon(str(ICON)))
        self.setAcceptDrops(True)
        self._build_toolbar()
        self._build_views()
        self._build_statusbar()
        self._summary_timer = QTimer(self)  # the standing summary returns a while after a task ends
        self._summary_timer.setSingleShot(True)
        self._summary_timer.setInterval(8000)
        self._summary_timer.timeout.connect(self._update_summary)
        self._wire()
        self._restore()
        self._show_start_page()
        self.ctx.library_changed.connect(self._summary_timer.start)
        self.ctx.model_changed.connect(self._summary_timer.start)

    # -- construction
    def _build_views(self) -> None:
        c = self.ctx
        self.library_view = LibraryView(c)
        self.map_view = MapView(c)
        self.track_view = TrackView(c)
        self.similar_view = SimilarView(c)
        self.folders_view = FoldersView(c)
        self.model_view = ModelView(c)
        self.settings_view = SettingsView(c)
        self.tabs = QTabWidget()
        for name, view in (("Library", self.library_view), ("Map", self.map_view), ("Track", self.track_view),
                           ("More like this", self.similar_view), ("Folders", self.folders_view),
                           ("Model", self.model_view), ("Settings", self.settings_view)):
            self.tabs.addTab(view, name)
        self.training_view = self._training_tab()
        if self.training_view is not None:
            self.tabs.addTab(self.training_view, "Training")
        self.welcome = WelcomePage(c)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.tabs)
        self.player_bar = PlayerBar(c)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.stack, 1)
        column.addWidget(self.player_bar)
        self.setCentralWidget(central)
        self.queue_panel = QueuePanel(c)
        self.queue_dock = QDockWidget("Queue", self)
        self.queue_dock.setObjectName("queue-dock")
        self.queue_dock.setWidget(self.queue_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.queue_dock)
        self.queue_dock.hide()
        self.player_bar.queue_toggled.connect(self.queue_dock.setVisible)
        self.queue_dock.visibilityChanged.connect(self.player_bar.queue_button.setChecked)

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("main-toolbar")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search title, artist, album, genre, file…  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setMaximumWidth(420)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(lambda: self.library_view.model.set_search(self.search.text()))
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        bar.addWidget(self.search)
        self.act_scan = QAction("Scan", self)
        self.act_scan.setToolTip("Look for new, changed and removed music (Ctrl+R)")
        self.act_scan.setShortcut(QKeySequence("Ctrl+R"))
        self.act_similar = QAction("More like this", self)
        self.act_similar.setShortcut(QKeySequence("Ctrl+M"))
        self.act_play = QAction("Play / pause", self)
        self.act_play.setShortcut(QKeySequence("Ctrl+P"))
        self.act_add = QAction("Add folder…", self)
        for action in (self.act_add, self.act_scan, self.act_similar, self.act_play):
            bar.addAction(action)
        QShortcut(QKeySequence.StandardKey.Find, self, activated=lambda: (self.search.setFocus(), self.search.selectAll()))
        QShortcut(QKeySequence(Qt.Key.Key_Space), self, activated=self._play_selected)

    def _build_statusbar(self) -> None:
        status = self.statusBar()
        self.message = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setVisible(False)
        self.eta = QLabel("")
        self.waiting = QLabel("")
        self.waiting.setStyleSheet("color: gray")
        self.cancel = QPushButton("Cancel")
        self.cancel.setVisible(False)
        self.cancel.clicked.connect(self._cancel)
        status.addWidget(self.message, 1)
        status.addPermanentWidget(self.waiting)
        status.addPermanentWidget(self.eta)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel)

    def _training_tab(self) -> QWidget | None:
        """The Training tab, built the first time it is shown (it imports torch and scikit-learn)."""
        import importlib.util

        from .lazy_tab import LazyTab

        if importlib.util.find_spec("app.ui.training_tab") is None:
            return None

        def build() -> QWidget:
            from .training_tab import TrainingTab

            return TrainingTab()

        def wire(tab: QWidget) -> None:
            for name in ("model_activated", "model_changed"):  # "Use this model" in the tab
                signal = getattr(tab, name, None)
                if signal is not None:
                    signal.connect(lambda *_: (self.ctx.model_changed.emit(), self.model_view.offer_reanalysis()))
            if hasattr(tab, "activity"):  # a training run shows in the status bar; Cancel stops it
                tab.activity.connect(self._on_training_activity)

        def preload() -> None:  # off the GUI thread: seconds of imports the tab's first view needs
            import torch  # noqa: F401

            import model.train.loop  # noqa: F401
            import model.train.estimate  # noqa: F401

        return LazyTab(build, wire, preload=preload)

    def _on_training_activity(self, message: str, done: float, total: float, eta: float) -> None:
        if self.ctx.tasks.busy:  # the status bar belongs to the task the runner holds
            return
        if total < 0:
            self.progress.setVisible(False)
            self.cancel.setVisible(False)
            self.eta.setText("")
            self.message.setText(message)
            self._summary_timer.start()
            return
        self.progress.setVisible(True)
        self.cancel.setVisible(True)
        self.cancel.setEnabled(True)
        self._on_progress(done, total, message, eta)

    def _wire(self) -> None:
        c = self.ctx
        self.act_scan.triggered.connect(lambda: self.start_scan([]))
        self.act_add.triggered.connect(lambda: self.folders_view._add_dialog())
        self.act_similar.triggered.connect(lambda: self.more_like_this(c.selected))
        self.act_play.triggered.connect(self._play_selected)
        self.library_view.more_like_this.connect(self.more_like_this)
        self.library_view.export_requested.connect(self._export)
        self.similar_view.export_requested.connect(self._export)
        self.map_view.playlist_requested.connect(self._export)
        self.map_view.refit_requested.connect(lambda: self.build_map(refit=True))
        self.track_view.similar.clicked.connect(lambda: self.more_like_this(c.selected))
        self.folders_view.scan_requested.connect(self.start_scan)
        self.folders_view.retry_requested.connect(lambda: self.start_scan([], retry_failed=True))
        self.model_view.fetch_requested.connect(self.fetch_model)
        self.model_view.import_requested.connect(self.import_model)
        self.model_view.musicnn_fetch_requested.connect(self.fetch_musicnn)
        self.model_view.reanalyse_requested.connect(lambda: self.start_scan([]))
        self.welcome.fetch_requested.connect(self.fetch_model)
        self.welcome.import_requested.connect(self.model_view._import)
        self.welcome.start_requested.connect(self._first_scan)
        self.similar_view.map_pick_requested.connect(self._pick_destination_on_map)
        c.similar_requested.connect(self.more_like_this)
        c.player.notice.connect(self.message.setText)
        c.player.now_playing.connect(self._now_playing)
        c.model_changed.connect(self._model_changed)
        c.track_selected.connect(self.library_view.select_track)
        c.tasks.progress.connect(self._on_progress)
        c.tasks.started.connect(self._on_started)
        c.tasks.queued.connect(self._on_queued)
        c.tasks.done.connect(self._on_done)
        c.tasks.cancelled.connect(self._on_cancelled)
        c.tasks.failed.connect(self._on_failed)

    # -- pages and views
    def _show_start_page(self) -> None:
        first_run = self.ctx.store.active_name() is None and not self.ctx.library.folders()
        self._set_page(self.welcome if first_run else self.tabs)

    def _set_page(self, page: QWidget) -> None:
        self.stack.setCurrentWidget(page)
        for w in (self.search, self.act_scan, self.act_similar, self.act_play):
            w.setEnabled(page is self.tabs)
        self.player_bar.setVisible(page is self.tabs)
        self._update_summary()

    def _update_summary(self) -> None:
        """The standing status-bar line when no task runs."""
        if self.ctx.tasks.busy:
            return
        s = self.ctx.library.status()
        model = s["active_model"]
        analysed = s["analysed"].get(model, 0) if model else 0
        errors = sum(s["errors"].values())
        self.message.setText(f"{counted(s['tracks'], 'track')} · {analysed} analysed · {counted(errors, 'error')} · "
                             f"model {model or 'none'}")

    def show_view(self, name: str) -> None:
        self._set_page(self.tabs)
        widget = {"library": self.library_view, "map": self.map_view, "track": self.track_view,
                  "similar": self.similar_view, "folders": self.folders_view, "model": self.model_view,
                  "settings": self.settings_view, "training": self.training_view}.get(name)
        if widget is None:
            self.tabs.setCurrentWidget(self.model_view)
            self.message.setText(f"The {name} view is not available in this build.")
            return
        self.tabs.setCurrentWidget(widget)

    def open_track(self, path: str) -> None:
        """Select a track by path and fill the track panel and "more like this" for it."""
        track = self.ctx.library.find_track(path)
        if track is None:
            self.message.setText(f"{display_path(path)} is not in the library")
            return
        if track["missing"]:
            self.message.setText(f"{display_path(path)} is marked missing (its file was gone at the last scan)")
            return
        self.ctx.select([track["id"]])
        self.similar_view.show_for([track["id"]])

    def _model_changed(self) -> None:
        log.info("active model is now %s", self.ctx.model_name)
        self.map_view.reload()

    # -- actions
    def more_like_this(self, ids: list[int]) -> None:
        if not ids:
            self.message.setText("Select a track first.")
            return
        self.similar_view.show_for(ids)
        self.show_view("similar")

    def _pick_destination_on_map(self) -> None:
        self.show_view("map")
        self.message.setText("Click the track the path should walk to.")
        self.map_view.pick_destination(lambda track_id: (self.similar_view.walk_to(track_id), self.show_view("similar")))

    def _play_selected(self) -> None:
        if self.ctx.player.current:
            self.ctx.player.toggle()
        elif self.ctx.selected:
            self.ctx.play_ids_requested.emit(self.ctx.selected)

    def _now_playing(self, track_id: int) -> None:
        track = self.ctx.library.track(track_id) if track_id >= 0 else None
        if track is not None and self.ctx.player.embedded:
            self.message.setText(f"Playing {track['title'] or Path(track['path']).name}")

    def _export(self, ids: list[int]) -> None:
        out = export_m3u8(self, self.ctx, ids)
        if out:
            self.message.setText(f"Saved {len(ids)} tracks to {out}")

    def _first_scan(self, folder: str) -> None:
        if not folder.strip() or not Path(folder).is_dir():
            QMessageBox.warning(self, "Cratedigger", f"Choose your music folder first." if not folder.strip()
                                else f"{folder} is not a folder.")
            return
        self.folders_view.add_folders([folder], scan=False)
        self._set_page(self.tabs)
        self.start_scan([folder])

    def start_scan(self, folders: list[str], retry_failed: bool = False) -> None:
        if self.ctx.store.active_name() is None:
            self.message.setText("Get a model first (Model tab).")
            return
        path, options = self.ctx.library.path, scan_options(self.ctx.settings)
        log.info("scan requested: %s (%s%s)", ", ".join(folders) or "all folders", options,
                 ", failed files again" if retry_failed else "")
        from app.library.scan.lock import scan_running

        if not self.ctx.tasks.busy and scan_running(path):
            self.message.setText("A scan of this library is already running (another window or "
                                 "'cratedigger scan'); wait for it to finish.")
            return

        def work(report, cancelled):
            from app.library.scanner import scan

            with open_library(path=path) as lib:
                def progress(p):
                    report(p.done, p.total, f"Analysing {Path(p.current).name if p.current else '…'}"
                                            f" ({p.rate:.1f} tracks/s, {p.errors} errors)")
                return scan(lib, folders or None, progress=progress, should_stop=cancelled, retry_failed=retry_failed,
                            **options)

        self.ctx.tasks.run("scan", work)

    def build_map(self, refit: bool = False) -> None:
        path = self.ctx.library.path

        def work(report, cancelled):
            from app.library.map_process import build_map_in_worker

            return build_map_in_worker(path, refit=refit, progress=lambda stage, f: report(f * 100, 100, stage.capitalize()),
                                       should_stop=cancelled)

        self.ctx.tasks.run("map", work)

    def fetch_model(self, dataset: str, fold: int) -> None:
        def work(report, cancelled):  # in a process of its own: torch's import must not hold the window's GIL
            from app.library.model_tasks import fetch_model

            return fetch_model(dataset, fold, progress=lambda d, t: report(d, t, "Downloading the model"),
                               should_stop=cancelled)

        self.ctx.tasks.run("fetch", work)

    def import_model(self, path: str) -> None:
        self._model_before_import = self.ctx.store.active_name()  # a weak import can be undone

        def work(report, cancelled):  # in a process of its own, like a download
            from app.library.model_tasks import import_model

            return import_model(path)

        self.ctx.tasks.run("import", work)

    def fetch_musicnn(self) -> None:
        def work(report, cancelled):
            from app.library.model_tasks import fetch_musicnn

            return fetch_musicnn(progress=lambda d, t: report(d, t, "Downloading MusiCNN"), should_stop=cancelled)

        self.ctx.tasks.run("fetch-musicnn", work)  # its own name: it queues beside a model download

    def _cancel(self) -> None:
        self.ctx.tasks.cancel()
        training = getattr(self.training_view, "widget", None)  # built once the tab was shown
        if not self.ctx.tasks.busy and getattr(training, "busy", False):
            training.stop()
        self.message.setText("Stopping…")

    # -- task feedback
    def _on_started(self, name: str) -> None:
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.cancel.setVisible(True)
        self.cancel.setEnabled(name != "import")
        if name == "map" and self.message.text().startswith("Scan "):
            self.message.setText(self.message.text() + " · updating the map…")
        else:
            self.message.setText(TASK_TITLES.get(name, name))
        self._show_waiting()
        if name == "scan":
            self.library_view.set_following(True)
        self.map_view.task_state(name, running=True)

    def _on_queued(self, name: str) -> None:
        self._show_waiting()
        self.message.setText(f"{TASK_TITLES.get(name, name).rstrip('…')} will start when "
                             f"{self.ctx.tasks.name} ends.")

    def _show_waiting(self) -> None:
        waiting = self.ctx.tasks.waiting
        self.waiting.setText(f"then: {', '.join(waiting)}" if waiting else "")

    def _on_progress(self, done: float, total: float, message: str, eta: float) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{int(done)}/{int(total)}" if total > 100 or done == int(done) else "%p%")
        else:
            self.progress.setRange(0, 0)
        self.eta.setText(format_eta(eta))
        if message:
            self.message.setText(message)

    def _finish_task(self, name: str) -> None:
        self.progress.setVisible(False)
        self.cancel.setVisible(False)
        self.eta.setText("")
        self._show_waiting()
        self._summary_timer.start()
        if name == "scan":
            self.library_view.set_following(False)
        self.map_view.task_state(name, running=False)

    def _on_done(self, name: str, result) -> None:
        self._finish_task(name)
        if name == "scan":
            s = result
            log.info("scan %s: %d analysed, %d unchanged, %d errors, %d missing, %d moved in %.0f s",
                     "stopped" if s.cancelled else "done", s.analysed, s.skipped, s.errors, s.missing, s.moved, s.seconds)
            self.message.setText(f"Scan {'stopped' if s.cancelled else 'done'}: {s.analysed} analysed, "
                                 f"{s.skipped} unchanged, {s.errors} errors, {s.missing} missing")
            self._offer_folder_moves(s.folder_moves)
            self.ctx.library_changed.emit()
            if not s.cancelled and (s.analysed + s.moved + s.missing or not self.map_view.has_map()) \
                    and "map" not in self.ctx.tasks.waiting:  # a Recompute asked for during the scan does it
                self.build_map()  # its own task: cancellable, and the scan's summary stays readable
        elif name == "map":
            self.message.setText(f"Map: {result['tracks']} tracks in {result['clusters']} clusters")
            self.map_view.reload()
            self.ctx.library_changed.emit()
        elif name in ("fetch", "import", "fetch-musicnn"):
            self.message.setText(f"{result.name} is ready")
            if name == "import" and not self.model_view.keep_if_weak(result, getattr(self, "_model_before_import", None)):
                self.message.setText(f"{result.name} was imported; {self.ctx.model_name} stays the active model")
            self.ctx.model_changed.emit()
            self.model_view.offer_reanalysis()

    def _on_cancelled(self, name: str) -> None:
        self._finish_task(name)
        self.message.setText({"map": "Map update cancelled: the previous map stays.",
                              "fetch": "Download cancelled: nothing was changed.",
                              "fetch-musicnn": "Download cancelled: nothing was changed."}.get(name, f"{name} cancelled."))

    def _offer_folder_moves(self, moves: list[dict]) -> None:
        """A library folder that is gone, whose tracks turned up in a scanned folder: move it?"""
        for move in moves:
            answer = QMessageBox.question(
                self, "Cratedigger", f"{move['old']} is no longer there, and {move['tracks']} of its tracks are in "
                f"{move['new']}.\n\nWas the folder renamed or moved? Move it in the library (analyses are kept)?")
            if answer == QMessageBox.StandardButton.Yes:
                self.ctx.library.move_folder(move["old"], move["new"])

    def _on_failed(self, name: str, message: str) -> None:
        self._finish_task(name)
        text = human_failure(name, message)
        self.message.setText(text.splitlines()[0])
        if name in ("fetch", "import"):
            self.welcome.show_problem(text)
        QMessageBox.warning(self, "Cratedigger", text)

    # -- drag and drop of folders
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        folders = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile() and Path(u.toLocalFile()).is_dir()]
        if folders:
            self.folders_view.add_folders(folders)
            self.show_view("folders")

    # -- state
    def _restore(self) -> None:
        s = self.ctx.settings
        apply_theme(str(s.value("ui/theme", "system")))
        geometry = s.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        state = s.value("window/state")
        if state is not None:
            self.restoreState(state)
        self.queue_dock.hide()
        self.tabs.setCurrentIndex(int(s.value("window/tab", 0)))

    def closeEvent(self, event) -> None:
        self._summary_timer.stop()
        self.library_view.set_following(False)
        self.map_view.stop_live()
        if self.ctx.tasks.busy:
            self.message.setText("Stopping…")
            log.info("window closed during %s: cancelling", self.ctx.tasks.name)
        self.ctx.tasks.shutdown(CLOSE_WAIT_MS)
        from app.library import map_process

        map_process.shutdown()  # also refuses a worker to map jobs still queued
        s = self.ctx.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/tab", self.tabs.currentIndex())
        s.sync()
        self.ctx.close()
        super().closeEvent(event)
