"""The Library view: every track in a table that fetches rows lazily from the database, with
filters by predicted genre, tag genre, cluster and folder, and artist and album lists beside it
(browse_panel.py); "Play these" and "Queue" take everything the table shows. It follows a
running scan live. Until the active model has analysed a track, its genre and cluster are the
previous model's (in grey italics, and the line above the table says how many)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QMimeData, QModelIndex, QPoint, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QFont, QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QMenu,
                               QPushButton, QSplitter, QTableView, QVBoxLayout, QWidget)

from app.library.fspath import display_path, from_db

from .browse_panel import BrowsePanel
from .context import AppContext

COLUMNS = [("Title", "title"), ("Artist", "artist"), ("Album", "album"), ("Duration", "duration"),
           ("Genre", "top_genre"), ("Tags", "tags"), ("Cluster", "cluster"), ("Status", "status"), ("File", "path")]
PAGE = 200
LIVE_MS = 1000  # how often the table looks for new tracks while a scan runs


def format_duration(seconds) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    if seconds is None or seconds < 0:
        return ""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def results_note(coverage: dict) -> str:
    """The line saying whose genres the library shows, when some are the previous model's."""
    if not coverage["from_previous"]:
        return ""
    return (f"Genres and clusters from {coverage['previous']} for {coverage['from_previous']} tracks (grey): "
            f"{coverage['analysed']} of {coverage['tracks']} tracks analysed by {coverage['model']}. "
            "Scan to analyse the rest; nothing of either model is lost.")


class LibraryModel(QAbstractTableModel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.rows: list[dict] = []
        self.total = 0
        self.search = ""
        self.filters: dict = {}
        self.sort_key, self.descending = "artist", False
        self.map_from: str | None = None
        self.refresh()

    def _read_map_source(self) -> None:
        """Whose map the cluster column comes from, when it is not the active model's (a name, else None)."""
        lib = self.ctx.library
        shown = lib.map_model() if self.ctx.model_name else None
        self.map_from = lib.model_name(shown) if shown and shown != lib.model_key() else None

    def refresh(self) -> None:
        self._read_map_source()
        self.beginResetModel()
        self.total = self.ctx.library.count_tracks(self.search or None, filters=self.filters, previous=True)
        self.rows = []
        self.endResetModel()
        if self.total:
            self.fetchMore(QModelIndex())

    def update_live(self) -> None:
        """Bring the loaded rows up to date in place (a scan is adding and analysing tracks):
        changed rows are repainted, new ones appended or inserted, without losing the scroll."""
        self._read_map_source()
        total = self.ctx.library.count_tracks(self.search or None, filters=self.filters, previous=True)
        fresh = self.ctx.library.track_rows(0, max(len(self.rows), PAGE), self.sort_key, self.descending,
                                            self.search or None, filters=self.filters, previous=True)
        if [r["id"] for r in fresh[:len(self.rows)]] == [r["id"] for r in self.rows]:
            self.rows[:] = fresh[:len(self.rows)]
            if self.rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(COLUMNS) - 1))
            self.total = total
            if len(fresh) > len(self.rows) and len(self.rows) < PAGE:
                self.fetchMore(QModelIndex())
            return
        self.beginResetModel()  # the view keeps its scroll position and selection (LibraryView.follow_scan)
        self.rows = fresh
        self.total = total
        self.endResetModel()

    def set_filters(self, filters: dict) -> None:
        self.filters = {k: v for k, v in filters.items() if v is not None and v != ""}
        self.refresh()

    def set_search(self, text: str) -> None:
        self.search = text.strip()
        self.refresh()

    # lazy loading
    def canFetchMore(self, parent=QModelIndex()) -> bool:
        return not parent.isValid() and len(self.rows) < self.total

    def fetchMore(self, parent=QModelIndex()) -> None:
        more = self.ctx.library.track_rows(len(self.rows), PAGE, self.sort_key, self.descending, self.search or None,
                                           filters=self.filters, previous=True)
        if not more:
            self.total = len(self.rows)
            return
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(more) - 1)
        self.rows.extend(more)
        self.endInsertRows()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        key = COLUMNS[index.column()][1]
        if role == Qt.ItemDataRole.DisplayRole:
            if key == "title":
                return row["title"] or Path(row["display_path"]).name
            if key == "duration":
                return format_duration(row["duration"])
            if key == "path":
                return Path(row["display_path"]).name
            if key == "top_genre":
                return f"{row['top_genre']} {row['top_prob']:.0%}" if row["top_genre"] else ""
            if key == "cluster":
                return row["cluster_name"] or ("" if row["cluster"] is None else str(row["cluster"]))
            if key == "tags":  # MusiCNN's three most probable tags
                return ", ".join((row["tags"] or "").split(", ")[:3])
            value = row[key]
            return "" if value is None else str(value)
        borrowed = (key == "top_genre" and row["status"] != "analysed" and row["genre_model"]
                    or key == "cluster" and self.map_from and row["cluster"] is not None)
        if role == Qt.ItemDataRole.ToolTipRole:
            if borrowed and key == "cluster":
                return f"On {self.map_from}'s map: {self.ctx.model_name} gets its own when a scan with it ends"
            if borrowed:
                return (f"From {row['genre_model']}: {self.ctx.model_name} has not analysed this track yet "
                        "(scan to analyse it)")
            return row["display_path"]
        if borrowed and role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(QColor(128, 128, 128))
        if borrowed and role == Qt.ItemDataRole.FontRole:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.UserRole:
            return row["id"]
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        key = COLUMNS[column][1]
        self.sort_key = key
        self.descending = order == Qt.SortOrder.DescendingOrder
        self.refresh()

    def flags(self, index):
        return super().flags(index) | Qt.ItemFlag.ItemIsDragEnabled

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes) -> QMimeData:
        mime = QMimeData()
        rows = sorted({i.row() for i in indexes})
        mime.setUrls([QUrl.fromLocalFile(from_db(self.rows[r]["path"])) for r in rows])
        return mime

    def track_ids(self, rows: list[int]) -> list[int]:
        return [self.rows[r]["id"] for r in rows if r < len(self.rows)]


class LibraryView(QWidget):
    more_like_this = Signal(list)
    export_requested = Signal(list)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.model = LibraryModel(ctx)
        self.table = self._make_table()
        self.filters = {key: QComboBox() for key in ("genre", "tag", "cluster", "folder")}
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 4, 4, 0)
        for key, label in (("genre", "Genre"), ("tag", "Tag genre"), ("cluster", "Cluster"), ("folder", "Folder")):
            combo = self.filters[key]
            combo.setMinimumWidth(130)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.currentIndexChanged.connect(self._filter_changed)
            bar.addWidget(QLabel(label))
            bar.addWidget(combo)
        bar.addStretch(1)
        self.count = QLabel("")
        bar.addWidget(self.count)
        self.source_note = QLabel("")  # whose results the table shows, when not only the active model's
        self.source_note.setWordWrap(True)
        self.source_note.setStyleSheet("color: gray")
        self.source_note.setContentsMargins(6, 0, 6, 0)
        self.source_note.hide()
        self.play_these = QPushButton("Play these")
        self.play_these.setToolTip("Play every track the table shows (an album in its track order)")
        self.queue_these = QPushButton("Queue")
        self.queue_these.setToolTip("Add every track the table shows to the queue")
        self.play_these.clicked.connect(lambda: self.play_filtered({}))
        self.queue_these.clicked.connect(lambda: self.play_filtered({}, queue=True))
        bar.addWidget(self.play_these)
        bar.addWidget(self.queue_these)
        self.browse = BrowsePanel(ctx)
        self.browse.changed.connect(self._filter_changed)
        self.browse.play_requested.connect(self.play_filtered)
        self.browse.queue_requested.connect(lambda filters: self.play_filtered(filters, queue=True))
        split = QSplitter()
        split.addWidget(self.browse)
        split.addWidget(self.table)
        split.setStretchFactor(1, 1)
        split.setSizes([400, 880])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.source_note)
        layout.addWidget(split, 1)
        self._revision = None
        self._note_key: tuple | None = None
        self.live = QTimer(self)
        self.live.setInterval(LIVE_MS)
        self.live.timeout.connect(self.follow_scan)
        ctx.library_changed.connect(self.reload)
        ctx.model_changed.connect(self.reload)
        self.model.modelReset.connect(self._show_count)
        self.model.rowsInserted.connect(self._show_count)
        self.reload_filters()
        self._show_count()

    def _make_table(self) -> QTableView:
        """The track table: sortable, rows selected whole, dragged out as files, a context menu."""
        table = QTableView()
        table.setModel(self.model)
        table.setSortingEnabled(True)
        table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setAlternatingRowColors(True)
        table.setDragEnabled(True)
        table.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(24)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate((220, 150, 160, 65, 110, 170, 160, 75, 190)):
            table.setColumnWidth(col, width)
        header.setStretchLastSection(True)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._menu)
        table.selectionModel().selectionChanged.connect(self._selection_changed)
        table.doubleClicked.connect(lambda index: self._play([index.row()]))
        return table

    def reload(self) -> None:
        self.reload_filters()
        self.browse.reload()
        self.model.refresh()

    def reload_filters(self) -> None:
        """Fill the filter choices from the library (keeping what is chosen)."""
        from app.library.mapping import clusters

        lib = self.ctx.library
        previous = lib.previous_model() if self.ctx.model_name else None
        genres = dict.fromkeys([*lib.genre_distribution(), *(lib.genre_distribution(previous) if previous else ())])
        choices = {
            "genre": [(g, g) for g in genres] if self.ctx.model_name else [],
            "tag": [(t, t) for t in lib.tag_genres()],
            "cluster": [(c["name"] or f"cluster {c['cluster']}", c["cluster"]) for c in clusters(lib, lib.map_model())]
            if self.ctx.model_name else [],
            "folder": [(display_path(f["path"]), f["id"]) for f in lib.folders()],
        }
        for key, combo in self.filters.items():
            current = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("All", None)
            for text, value in choices[key]:
                combo.addItem(text, value)
            at = combo.findData(current)
            combo.setCurrentIndex(at if at >= 0 else 0)
            combo.blockSignals(False)
        self._filter_changed()

    def _filter_changed(self, *_) -> None:
        wanted = {key: combo.currentData() for key, combo in self.filters.items()} | self.browse.filters
        if wanted != self.model.filters and {k: v for k, v in wanted.items() if v is not None} != self.model.filters:
            self.model.set_filters(wanted)

    def _show_count(self, *_) -> None:
        shown = self.model.total
        self.count.setText(f"{shown} track{'s' if shown != 1 else ''}")
        key = (self.ctx.library.revision(), self.ctx.model_name)
        if key != self._note_key:  # counted again only when the library or the model changed
            self._note_key = key
            # three counts and the previous model's lookup: in the background, the newest wins
            has_model = bool(self.ctx.model_name)
            self.ctx.jobs.submit("results-note", lambda lib: results_note(lib.results_coverage()) if has_model else "",
                                 self._show_note)

    def _show_note(self, note: str) -> None:
        self.source_note.setText(note)
        self.source_note.setVisible(bool(note))

    def set_following(self, on: bool) -> None:
        """While a scan runs the table polls the library and shows tracks as they arrive."""
        if on:
            self._revision = None
            self.live.start()
        else:
            self.live.stop()

    def follow_scan(self) -> None:
        revision = self.ctx.library.revision()
        if revision == self._revision:
            return
        self._revision = revision
        self.browse.reload()
        scroll = self.table.verticalScrollBar().value()
        selected = set(self.selected_ids())
        self.model.update_live()
        if selected and not set(self.selected_ids()):
            self._reselect(selected)
        self.table.verticalScrollBar().setValue(scroll)
        self._show_count()

    def _reselect(self, ids: set[int]) -> None:
        from PySide6.QtCore import QItemSelectionModel

        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        selection = self.table.selectionModel()
        selection.blockSignals(True)  # the same tracks stay selected: nothing to tell the other views
        for r, row in enumerate(self.model.rows):
            if row["id"] in ids:
                selection.select(self.model.index(r, 0), flags)
        selection.blockSignals(False)

    def selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.table.selectionModel().selectedRows()})

    def selected_ids(self) -> list[int]:
        return self.model.track_ids(self.selected_rows())

    def _selection_changed(self, *_):
        ids = self.selected_ids()
        if ids and ids != self.ctx.selected:  # not again when the table follows a choice made elsewhere
            self.ctx.select(ids)

    def select_track(self, track_id: int) -> None:
        if track_id in self.selected_ids():
            return
        for r, row in enumerate(self.model.rows):
            if row["id"] == track_id:
                self.table.selectRow(r)
                self.table.scrollTo(self.model.index(r, 0))
                return

    def play_filtered(self, browse: dict, queue: bool = False) -> None:
        """Play (or queue) every track the table shows, with the artist or album given (None:
        all) in place of the chosen one; an album plays in its track order."""
        filters = dict(self.model.filters)
        for key, value in browse.items():
            if value is None:
                filters.pop(key, None)
            else:
                filters[key] = value
        sort, descending = ("track_no", False) if filters.get("album") else (self.model.sort_key, self.model.descending)
        search = self.model.search or None
        signal = self.ctx.queue_requested if queue else self.ctx.play_ids_requested
        self.ctx.jobs.submit("play-these", lambda lib: lib.track_ids(search, sort, descending, filters=filters,
                                                                           previous=True),
                             lambda ids: signal.emit(ids) if ids else None)

    def _play(self, rows: list[int]) -> None:
        ids = self.model.track_ids(rows)
        if ids:
            self.ctx.play_ids_requested.emit(ids)

    def _menu(self, pos: QPoint) -> None:
        rows = self.selected_rows()
        if not rows:
            return
        ids = self.model.track_ids(rows)
        paths = [from_db(self.model.rows[r]["path"]) for r in rows]
        menu = QMenu(self)
        actions = [
            ("Play", lambda: self.ctx.play_ids_requested.emit(ids)),
            ("Add to queue", lambda: self.ctx.queue_requested.emit(ids)),
            ("More like this", lambda: self.more_like_this.emit(ids)),
            ("Show in folder", lambda: self._show_in_folder(paths[0])),
            ("Copy path", lambda: QGuiApplication.clipboard().setText("\n".join(display_path(p) for p in paths))),
            ("Export selection as M3U8…", lambda: self.export_requested.emit(ids)),
        ]
        for label, fn in actions:
            action = QAction(label, menu)
            action.triggered.connect(fn)
            menu.addAction(action)
        menu.exec(self.table.viewport().mapToGlobal(pos))

    @staticmethod
    def _show_in_folder(path: str) -> None:
        from PySide6.QtGui import QDesktopServices

        QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))


def export_m3u8(parent: QWidget, ctx: AppContext, track_ids: list[int]) -> str | None:
    """Ask where, then write the tracks (in the given order) as an M3U8 playlist."""
    from app.library.playlists import write_m3u8

    if not track_ids:
        return None
    start = ctx.settings.value("last_playlist_dir", str(Path.home()))
    out, _ = QFileDialog.getSaveFileName(parent, "Export playlist", str(Path(start) / "playlist.m3u8"),
                                         "M3U8 playlists (*.m3u8)")
    if not out:
        return None
    rows = ctx.library.tracks(track_ids)
    write_m3u8([rows[i] for i in track_ids if i in rows], out)
    ctx.settings.setValue("last_playlist_dir", str(Path(out).parent))
    return out
