"""The More-like-this view: results for the selected track(s) with the similarity filters, and a
sonic path from the seed to a destination chosen in the library or on the map. Results play,
queue and export; the work runs off the GUI thread."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QPushButton, QSpinBox, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from app.library.fspath import display_path

from .context import AppContext
from .library_view import format_duration


def parse_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def cluster_ids(words: list[str], clusters: list[dict]) -> tuple[list[int], list[str]]:
    """Cluster numbers for the words (a number, or a name or part of one, any case); the words
    that matched nothing come back second."""
    ids, unknown = [], []
    for word in words:
        if word.lstrip("-").isdigit():
            ids.append(int(word))
            continue
        hits = [c["cluster"] for c in clusters if word.lower() in (c.get("name") or "").lower()]
        if hits:
            ids += hits
        else:
            unknown.append(word)
    return sorted(set(ids)), unknown


def _path_with_genres(library, seed: int, target: int, steps: int) -> list[dict]:
    from app.library.paths import sonic_path

    model = library.results_model([seed, target])  # the previous model's until the active one has heard more
    rows = sonic_path(library, seed, target, steps=steps, model=model)
    for row in rows:
        analysis = library.analysis(row["id"], model)
        row["genre"] = analysis["top_genre"] if analysis else None
    return rows


def borrowed_note(library, model: str | None) -> str:
    """What to say when results come from the previous model, not the active one ('' when not)."""
    active = library.model_key()
    if model is None or model == active:
        return ""
    coverage = library.results_coverage()
    return (f"Results from {library.model_name(model)}: {coverage['model']} has analysed {coverage['analysed']} "
            f"of {coverage['tracks']} tracks so far.")


class DestinationDialog(QDialog):
    """Choose where a sonic path goes: search the library, or click a point on the map."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, steps: int = 10) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Sonic path: choose the destination")
        self.chosen: int | None = None
        self.wants_map = False
        self.searched: str | None = None  # the text whose results are shown
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search title, artist, album or file name…")
        self.results = QListWidget()
        self.none = QLabel("")
        self.none.setStyleSheet("color: gray")
        self.steps = QSpinBox()
        self.steps.setRange(1, 100)
        self.steps.setValue(steps)
        self.steps.setSuffix(" tracks between")
        from_map = QPushButton("Pick on the map instead")
        from_map.clicked.connect(self._from_map)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setEnabled(False)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self._find)
        self.search.textChanged.connect(lambda _: self._timer.start())
        self.results.currentItemChanged.connect(lambda item, _: self.ok.setEnabled(item is not None))
        self.results.itemDoubleClicked.connect(lambda _: self._accept())
        row = QHBoxLayout()
        row.addWidget(QLabel("Length:"))
        row.addWidget(self.steps)
        row.addStretch(1)
        row.addWidget(from_map)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.none)
        layout.addLayout(row)
        layout.addWidget(buttons)
        self.resize(560, 420)
        self._find()

    def _find(self) -> None:
        """Search the library off the GUI thread (a LIKE over every track)."""
        text = self.search.text().strip()
        self.searched = None
        self.ctx.jobs.submit("destination", lambda lib: lib.track_rows(0, 50, "artist", search=text or None),
                             lambda rows: self._show(text, rows))

    def _show(self, text: str, rows: list[dict]) -> None:
        self.results.clear()
        for row in rows:
            if row["status"] != "analysed":
                continue
            label = " - ".join(x for x in (row["artist"], row["title"]) if x) or Path(row["display_path"]).name
            item = QListWidgetItem(f"{label}    ({Path(row['display_path']).name})")
            item.setData(Qt.ItemDataRole.UserRole, row["id"])
            self.results.addItem(item)
        self.none.setText("" if self.results.count() else f"Nothing analysed matches “{text}”.")
        if self.results.count():
            self.results.setCurrentRow(0)
        self.searched = text

    def _accept(self) -> None:
        item = self.results.currentItem()
        if item is not None:
            self.chosen = int(item.data(Qt.ItemDataRole.UserRole))
            self.accept()

    def _from_map(self) -> None:
        self.wants_map = True
        self.accept()


class SimilarView(QWidget):
    export_requested = Signal(list)
    map_pick_requested = Signal()  # the main window shows the map and waits for a click

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.seeds: list[int] = []
        self.rows: list[dict] = []
        self.mode = "similar"  # or "path"
        self.title = QLabel("Select tracks and choose “More like this”.")
        self.title.setStyleSheet("font-size: 14pt; font-weight: 600")
        self.title.setWordWrap(True)
        filters = self._build_filters()
        self.steps = QSpinBox()
        self.steps.setRange(1, 100)
        self.steps.setValue(int(ctx.settings.value("path/steps", 10)))
        self.path_to = QPushButton("Path to…")
        self.path_to.setToolTip("A playlist walking from the seed to another track by sound")
        self.path_to.clicked.connect(self.ask_path)
        self.play_all = QPushButton("Play all")
        self.play_all.clicked.connect(lambda: self.ctx.play_ids_requested.emit(self.playlist()))
        self.queue_all = QPushButton("Queue all")
        self.queue_all.clicked.connect(lambda: self.ctx.queue_requested.emit(self.playlist()))
        self.export = QPushButton("Export M3U8…")
        self.export.clicked.connect(lambda: self.export_requested.emit(self.playlist()))
        self.table = QTableWidget(0, 7)
        self.table.setHorizontalHeaderLabels(["", "Similarity", "Title", "Artist", "Album", "Genre", "Duration"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        for col, width in enumerate((40, 90, 250, 170, 190, 110)):
            self.table.setColumnWidth(col, width)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.cellClicked.connect(self._clicked)
        actions = QHBoxLayout()
        actions.addWidget(self.title, 1)
        for w in (self.play_all, self.queue_all, self.path_to, QLabel("steps"), self.steps, self.export):
            actions.addWidget(w)
        self.note = QLabel("")
        self.note.setStyleSheet("color: gray")
        layout = QVBoxLayout(self)
        layout.addLayout(actions)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)
        self._enable()

    def _build_filters(self) -> QHBoxLayout:
        self.count = QSpinBox()
        self.count.setRange(1, 500)
        self.count.setValue(int(self.ctx.settings.value("similar/n", 25)))
        self.exclude_artist = QCheckBox("Exclude the seed's artist")
        self.exclude_album = QCheckBox("Exclude the seed's album")
        self.diversity = QDoubleSpinBox()
        self.diversity.setRange(0.0, 1.0)
        self.diversity.setSingleStep(0.1)
        self.genres = QLineEdit()
        self.genres.setPlaceholderText("only genres, e.g. rock, metal")
        self.clusters = QLineEdit()
        self.clusters.setPlaceholderText("only clusters: names or numbers")
        self.go = QPushButton("Find")
        self.go.clicked.connect(self.refresh)
        filters = QHBoxLayout()
        for w in (QLabel("Results"), self.count, self.exclude_artist, self.exclude_album, QLabel("Diversity"),
                  self.diversity, self.genres, self.clusters, self.go):
            filters.addWidget(w)
        return filters

    def _enable(self) -> None:
        for b in (self.play_all, self.queue_all, self.export):
            b.setEnabled(bool(self.rows))
        self.path_to.setEnabled(bool(self.seeds))

    def playlist(self) -> list[int]:
        """What Play / Queue / Export take: a path as walked (seed first, once), or the seeds then the results."""
        ids = [r["id"] for r in self.rows]
        if self.mode == "path":
            return ids
        return [s for s in self.seeds[:1] if s not in ids] + ids

    def show_for(self, seeds: list[int]) -> None:
        self.seeds = list(seeds)
        self.refresh()

    def refresh(self) -> None:
        if not self.seeds or not self.ctx.model_name:
            return
        from app.library.mapping import clusters as load_clusters
        from app.library.similarity import similar

        self.ctx.settings.setValue("similar/n", self.count.value())
        shown_map = self.ctx.library.map_model()  # cluster ids are the shown map's, whichever model ranks
        wanted, unknown = cluster_ids(parse_list(self.clusters.text()), load_clusters(self.ctx.library, shown_map))
        if unknown:
            self.note.setText(f"No cluster is called {', '.join(unknown)}: "
                              "use a cluster's number or part of its name (see the map's legend).")
            if not wanted:
                return
        else:
            self.note.setText("")
        seeds = list(self.seeds)
        options = dict(n=self.count.value(), exclude_artist=self.exclude_artist.isChecked(),
                       exclude_album=self.exclude_album.isChecked(), genres=parse_list(self.genres.text()) or None,
                       clusters=wanted or None, diversity=self.diversity.value(), map_model=shown_map)

        def work(lib):
            model = lib.results_model(seeds)
            analysed = [s for s in seeds if lib.analysis(s, model) is not None]
            if not analysed:
                return analysed, None, [], ""
            return (analysed, lib.track(analysed[0]), similar(lib, analysed, model=model, **options),
                    borrowed_note(lib, model))

        self.title.setText("Looking…")
        self.ctx.jobs.submit("similar", work, self._show_similar, lambda e: self.title.setText(f"Could not search: {e}"))

    def _show_similar(self, result) -> None:
        seeds, seed, rows, borrowed = result
        self.mode = "similar"
        self.table.horizontalHeaderItem(1).setText("Similarity")
        if not seeds:
            self.title.setText("The selected track has not been analysed yet.")
            self.rows = []
            self._fill([])
            return
        self.rows = rows
        name = " - ".join(x for x in (seed["artist"], seed["title"] or Path(display_path(seed["path"])).name) if x)
        self.title.setText(f"More like {name}" + (f" and {len(seeds) - 1} more" if len(seeds) > 1 else ""))
        if borrowed:
            self.note.setText(borrowed)
        self._fill(rows)
        self.ctx.similar_ready.emit(seeds, rows)

    def _fill(self, rows: list[dict]) -> None:
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            title = row.get("title") or Path(display_path(row["path"])).name
            values = ["▶", f"{row['score']:.3f}", title, row.get("artist") or "", row.get("album") or "",
                      row.get("genre") or "", format_duration(row.get("duration"))]
            for c, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, row["id"])
                self.table.setItem(r, c, item)
        self._enable()

    def _clicked(self, row: int, column: int) -> None:
        track_id = self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)
        if column == 0:
            self.ctx.play_requested.emit(track_id)
        else:
            self.ctx.select([track_id])

    # -- sonic path
    def ask_path(self) -> None:
        if not self.seeds:
            return
        dialog = DestinationDialog(self.ctx, self, self.steps.value())
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.steps.setValue(dialog.steps.value())
        if dialog.wants_map:
            self.title.setText("Click the destination on the map…")
            self.map_pick_requested.emit()
        elif dialog.chosen is not None:
            self.walk_to(dialog.chosen)

    def walk_to(self, target: int, steps: int | None = None) -> None:
        if not self.seeds:
            return
        steps = steps or self.steps.value()
        self.ctx.settings.setValue("path/steps", steps)
        seed = self.seeds[0]
        self.title.setText("Walking…")
        self.ctx.jobs.submit("similar", lambda lib: _path_with_genres(lib, seed, target, steps), self._show_path,
                             lambda e: self.title.setText(f"No path: {e}"))

    def _show_path(self, rows: list[dict]) -> None:
        self.mode = "path"
        self.rows = rows
        self.table.horizontalHeaderItem(1).setText("To destination")
        first, last = rows[0], rows[-1]
        name = lambda r: r.get("title") or Path(display_path(r["path"])).name  # noqa: E731
        self.title.setText(f"A path of {len(rows)} tracks from {name(first)} to {name(last)}")
        self.note.setText("The score column is now each track's similarity to the destination.")
        self._fill(rows)
        self.ctx.path_ready.emit(rows)
