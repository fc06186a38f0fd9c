"""Browse the library by artist and by album: two lists beside the library table.

Artists come with their track and album counts, albums with their artist, year and track count;
choosing one filters the table (an artist also narrows the album list to its albums). Files
without tags are listed as "Unknown artist", and as one album per folder, named after the
folder. The lists are read off the GUI thread; a click plays or queues from the context menu.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QMenu, QSplitter, QTableView, QVBoxLayout,
                               QWidget)

from .context import AppContext

UNKNOWN_ARTIST = "Unknown artist"
ARTIST_COLUMNS = [("Artist", "name"), ("Albums", "albums"), ("Tracks", "tracks")]
ALBUM_COLUMNS = [("Album", "album"), ("Artist", "artist"), ("Year", "year"), ("Tracks", "tracks")]


def artist_label(row: dict) -> str:
    return row["name"] or UNKNOWN_ARTIST


def album_labels(rows: list[dict]) -> list[str]:
    """Each album's name; untagged files are named after their folder (with its parent when two
    folders have the same name)."""
    names = [Path(r["folder"]).name or r["folder"] if r["album"] is None and r["folder"] else None for r in rows]
    twice = {n for n in names if n is not None and names.count(n) > 1}
    labels = []
    for row, name in zip(rows, names):
        if row["album"]:
            labels.append(row["album"])
        elif name in twice:
            labels.append(str(Path(*Path(row["folder"]).parts[-2:])))
        else:
            labels.append(name or "Unknown album")
    return labels


class BrowseModel(QAbstractTableModel):
    """Rows of `Library.artists()` or `Library.albums()`, with an "All" row first (key None)."""

    def __init__(self, columns: list[tuple[str, str]], everything: str) -> None:
        super().__init__()
        self.columns, self.everything = columns, everything
        self.rows: list[dict] = []
        self.labels: list[str] = []  # albums: what the first column shows

    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.labels = album_labels(rows) if any("album" in r for r in rows) else []
        self.endResetModel()

    def key(self, row: int) -> str | None:
        return self.rows[row - 1]["key"] if 0 < row <= len(self.rows) else None

    def row_of(self, key: str | None) -> int:
        return next((n + 1 for n, r in enumerate(self.rows) if r["key"] == key), 0)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows) + 1

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(self.columns)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section][0]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        field = self.columns[index.column()][1]
        if index.row() == 0:
            if role == Qt.ItemDataRole.DisplayRole:
                return f"{self.everything} ({len(self.rows)})" if index.column() == 0 else ""
            if role == Qt.ItemDataRole.FontRole:
                font = QFont()
                font.setBold(True)
                return font
            return None
        row = self.rows[index.row() - 1]
        untagged = row.get("name", "") is None or ("album" in row and row["album"] is None)
        if role == Qt.ItemDataRole.DisplayRole:
            if field == "name":
                return artist_label(row)
            if field == "album":
                return self.labels[index.row() - 1]
            if field == "artist":
                return row["artist"] or UNKNOWN_ARTIST
            return "" if row[field] is None else str(row[field])
        if role == Qt.ItemDataRole.FontRole and untagged and index.column() == 0:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and row.get("folder"):
            return f"No album tag: the untagged files in {row['folder']}"
        if role == Qt.ItemDataRole.TextAlignmentRole and field in ("albums", "tracks", "year"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class BrowsePanel(QWidget):
    """`changed` fires when the chosen artist or album changes (`artist`, `album`: keys or None)."""

    changed = Signal()
    play_requested = Signal(dict)  # the filters to play ("artist" and/or "album")
    queue_requested = Signal(dict)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.artist: str | None = None
        self.album: str | None = None
        self.artist_model = BrowseModel(ARTIST_COLUMNS, "All artists")
        self.album_model = BrowseModel(ALBUM_COLUMNS, "All albums")
        self.artists = self._table(self.artist_model, (150, 52, 50))
        self.albums = self._table(self.album_model, (150, 100, 42, 48))
        self.artists.selectionModel().currentRowChanged.connect(self._artist_chosen)
        self.albums.selectionModel().currentRowChanged.connect(self._album_chosen)
        split = QSplitter(Qt.Orientation.Vertical)
        for title, table in (("Artists", self.artists), ("Albums", self.albums)):
            box = QWidget()
            column = QVBoxLayout(box)
            column.setContentsMargins(0, 0, 0, 0)
            column.addWidget(QLabel(title))
            column.addWidget(table)
            split.addWidget(box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 0, 0)
        layout.addWidget(split)
        self.reload()

    def _table(self, model: BrowseModel, widths: tuple[int, ...]) -> QTableView:
        table = QTableView()
        table.setModel(model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(22)
        table.setShowGrid(False)
        table.setAlternatingRowColors(True)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column, width in enumerate(widths):
            table.setColumnWidth(column, width)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(lambda pos, t=table: self._menu(t, pos))
        table.doubleClicked.connect(lambda index, t=table: self.play_requested.emit(self._filters_at(t, index.row())))
        return table

    # -- data, read in the background
    def reload(self) -> None:
        artist = self.artist
        self.ctx.jobs.submit("browse", lambda lib: (artist, lib.artists(), lib.albums(artist)), self._fill)

    def _fill(self, lists: tuple[str | None, list[dict], list[dict]]) -> None:
        artist, artists, albums = lists
        self._show(self.artists, self.artist_model, artists, self.artist)
        if artist == self.artist:  # else another artist was chosen meanwhile: its own job shows its albums
            self._show(self.albums, self.album_model, albums, self.album)
        if self.artist is not None and self.artist_model.row_of(self.artist) == 0:
            self.artist = self.album = None  # gone (a rescan, a removed folder): the table shows all again
            self.changed.emit()

    def _show(self, table: QTableView, model: BrowseModel, rows: list[dict], keep: str | None) -> None:
        selection = table.selectionModel()
        selection.blockSignals(True)  # the same choice stays: nothing to tell the table
        model.set_rows(rows)
        at = model.row_of(keep)
        table.selectRow(at)
        selection.setCurrentIndex(model.index(at, 0), selection.SelectionFlag.NoUpdate)
        selection.blockSignals(False)

    def _artist_chosen(self, current: QModelIndex, _previous=None) -> None:
        self.artist = self.artist_model.key(current.row())
        self.album = None
        artist = self.artist
        self.ctx.jobs.submit("browse-albums", lambda lib: (artist, lib.albums(artist)), self._albums_read)
        self.changed.emit()

    def _albums_read(self, result: tuple[str | None, list[dict]]) -> None:
        artist, rows = result
        if artist == self.artist:  # a reload may have moved the choice since this job started
            self._show(self.albums, self.album_model, rows, self.album)

    def _album_chosen(self, current: QModelIndex, _previous=None) -> None:
        self.album = self.album_model.key(current.row())
        self.changed.emit()

    def choose_artist(self, key: str | None) -> None:
        self.artists.selectRow(self.artist_model.row_of(key))

    def choose_album(self, key: str | None) -> None:
        self.albums.selectRow(self.album_model.row_of(key))

    @property
    def filters(self) -> dict:
        return {"artist": self.artist, "album": self.album}

    # -- actions
    def _filters_at(self, table: QTableView, row: int) -> dict:
        if table is self.artists:
            return {"artist": self.artist_model.key(row)}
        return {"artist": self.artist, "album": self.album_model.key(row)}

    def _menu(self, table: QTableView, pos: QPoint) -> None:
        index = table.indexAt(pos)
        if not index.isValid():
            return
        filters = self._filters_at(table, index.row())
        menu = QMenu(self)
        menu.addAction("Play", lambda: self.play_requested.emit(filters))
        menu.addAction("Add to queue", lambda: self.queue_requested.emit(filters))
        menu.exec(table.viewport().mapToGlobal(pos))
