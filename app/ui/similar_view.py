"""The More-like-this view: results for the selected track(s), the similarity filters, play,
export as M3U8, and a sonic path to a second track."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QHBoxLayout, QHeaderView, QInputDialog, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from pathlib import Path

from app.library.fspath import display_path
from app.library.paths import sonic_path
from app.library.similarity import similar

from .context import AppContext


class SimilarView(QWidget):
    export_requested = Signal(list)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.seeds: list[int] = []
        self.rows: list[dict] = []
        self.title = QLabel("Select tracks and choose “More like this”.")
        self.title.setStyleSheet("font-size: 14pt; font-weight: 600")
        self.count = QSpinBox()
        self.count.setRange(1, 500)
        self.count.setValue(int(ctx.settings.value("similar/n", 25)))
        self.exclude_artist = QCheckBox("Exclude the seed's artist")
        self.exclude_album = QCheckBox("Exclude the seed's album")
        self.diversity = QDoubleSpinBox()
        self.diversity.setRange(0.0, 1.0)
        self.diversity.setSingleStep(0.1)
        self.genres = QLineEdit()
        self.genres.setPlaceholderText("only genres, e.g. rock, metal")
        self.clusters = QLineEdit()
        self.clusters.setPlaceholderText("only clusters, e.g. 0, 3")
        self.go = QPushButton("Find")
        self.go.clicked.connect(self.refresh)
        self.path_to = QPushButton("Path to…")
        self.path_to.setToolTip("A playlist walking from the seed to another track by sound")
        self.path_to.clicked.connect(self._ask_path)
        self.export = QPushButton("Export M3U8…")
        self.export.clicked.connect(lambda: self.export_requested.emit(self.seeds[:1] + [r["id"] for r in self.rows]))
        filters = QHBoxLayout()
        for w in (QLabel("Results"), self.count, self.exclude_artist, self.exclude_album, QLabel("Diversity"),
                  self.diversity, self.genres, self.clusters, self.go):
            filters.addWidget(w)
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(["", "Score", "Title", "Artist", "Album", "Genre"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        for col, width in enumerate((40, 70, 260, 180, 200)):
            self.table.setColumnWidth(col, width)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.cellClicked.connect(self._clicked)
        actions = QHBoxLayout()
        actions.addWidget(self.title, 1)
        actions.addWidget(self.path_to)
        actions.addWidget(self.export)
        layout = QVBoxLayout(self)
        layout.addLayout(actions)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)

    def show_for(self, seeds: list[int]) -> None:
        self.seeds = list(seeds)
        self.refresh()

    def _list(self, text: str, cast=str) -> list | None:
        items = [t.strip() for t in text.split(",") if t.strip()]
        try:
            return [cast(t) for t in items] or None
        except ValueError:
            return None

    def refresh(self) -> None:
        if not self.seeds or not self.ctx.model_name:
            return
        self.ctx.settings.setValue("similar/n", self.count.value())
        seeds = [s for s in self.seeds if self.ctx.library.analysis(s) is not None]
        if not seeds:
            self.title.setText("The selected track has not been analysed yet.")
            self._fill([])
            return
        self.rows = similar(self.ctx.library, seeds, n=self.count.value(), exclude_artist=self.exclude_artist.isChecked(),
                            exclude_album=self.exclude_album.isChecked(), genres=self._list(self.genres.text()),
                            clusters=self._list(self.clusters.text(), int), diversity=self.diversity.value())
        seed = self.ctx.library.track(seeds[0])
        name = " - ".join(x for x in (seed["artist"], seed["title"] or Path(display_path(seed["path"])).name) if x)
        self.title.setText(f"More like {name}" + (f" and {len(seeds) - 1} more" if len(seeds) > 1 else ""))
        self._fill(self.rows)
        self.ctx.similar_ready.emit(seeds, self.rows)

    def _fill(self, rows: list[dict]) -> None:
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            title = row.get("title") or Path(display_path(row["path"])).name
            values = ["▶", f"{row['score']:.3f}", title, row.get("artist") or "", row.get("album") or "",
                      row.get("genre") or ""]
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, row["id"])
                self.table.setItem(r, c, item)

    def _clicked(self, row: int, column: int) -> None:
        track_id = self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)
        if column == 0:
            self.ctx.play_requested.emit(track_id)
        else:
            self.ctx.select([track_id])

    def _ask_path(self) -> None:
        if not self.seeds:
            return
        text, ok = QInputDialog.getText(self, "Sonic path", "Walk to which track? (title or artist; the first match)")
        if ok and text.strip():
            rows = self.ctx.library.track_rows(0, 1, search=text.strip())
            if rows:
                self.walk_to(rows[0]["id"])

    def walk_to(self, target: int, steps: int = 10) -> None:
        try:
            self.rows = sonic_path(self.ctx.library, self.seeds[0], target, steps=steps)
        except (KeyError, ValueError) as e:
            self.title.setText(str(e))
            return
        self.title.setText(f"A path of {len(self.rows)} tracks")
        self._fill(self.rows)
        self.ctx.path_ready.emit(self.rows)
