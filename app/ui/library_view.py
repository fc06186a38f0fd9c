"""The Library view: every track in a table that fetches rows lazily from the database."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QMimeData, QModelIndex, QPoint, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QAbstractItemView, QFileDialog, QHeaderView, QMenu, QTableView, QVBoxLayout, QWidget

from app.library.fspath import display_path, from_db

from .context import AppContext

COLUMNS = [("Title", "title"), ("Artist", "artist"), ("Album", "album"), ("Duration", "duration"),
           ("Genre", "top_genre"), ("Tags", "tags"), ("Cluster", "cluster"), ("Status", "status")]
PAGE = 200


def _duration(seconds) -> str:
    if seconds is None:
        return ""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class LibraryModel(QAbstractTableModel):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.rows: list[dict] = []
        self.total = 0
        self.search = ""
        self.sort_key, self.descending = "artist", False
        self.refresh()

    def refresh(self) -> None:
        self.beginResetModel()
        self.total = self.ctx.library.count_tracks(self.search or None)
        self.rows = []
        self.endResetModel()
        if self.total:
            self.fetchMore(QModelIndex())

    def set_search(self, text: str) -> None:
        self.search = text.strip()
        self.refresh()

    # lazy loading
    def canFetchMore(self, parent=QModelIndex()) -> bool:
        return not parent.isValid() and len(self.rows) < self.total

    def fetchMore(self, parent=QModelIndex()) -> None:
        more = self.ctx.library.track_rows(len(self.rows), PAGE, self.sort_key, self.descending, self.search or None)
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
                return _duration(row["duration"])
            if key == "top_genre":
                return f"{row['top_genre']} {row['top_prob']:.0%}" if row["top_genre"] else ""
            if key == "cluster":
                return row["cluster_name"] or ("" if row["cluster"] is None else str(row["cluster"]))
            if key == "tags":  # MusiCNN's three most probable tags
                return ", ".join((row["tags"] or "").split(", ")[:3])
            value = row[key]
            return "" if value is None else str(value)
        if role == Qt.ItemDataRole.ToolTipRole:
            return row["display_path"]
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
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setDragEnabled(True)
        self.table.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate((260, 180, 200, 70, 120, 200, 170, 80)):
            self.table.setColumnWidth(col, width)
        header.setStretchLastSection(True)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda index: self._play([index.row()]))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        ctx.library_changed.connect(self.model.refresh)

    def selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.table.selectionModel().selectedRows()})

    def selected_ids(self) -> list[int]:
        return self.model.track_ids(self.selected_rows())

    def _selection_changed(self, *_):
        ids = self.selected_ids()
        if ids:
            self.ctx.select(ids)

    def select_track(self, track_id: int) -> None:
        for r, row in enumerate(self.model.rows):
            if row["id"] == track_id:
                self.table.selectRow(r)
                self.table.scrollTo(self.model.index(r, 0))
                return

    def _play(self, rows: list[int]) -> None:
        ids = self.model.track_ids(rows)
        if ids:
            self.ctx.play_requested.emit(ids[0])

    def _menu(self, pos: QPoint) -> None:
        rows = self.selected_rows()
        if not rows:
            return
        ids = self.model.track_ids(rows)
        paths = [from_db(self.model.rows[r]["path"]) for r in rows]
        menu = QMenu(self)
        actions = [
            ("More like this", lambda: self.more_like_this.emit(ids)),
            ("Play", lambda: self._play(rows)),
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
