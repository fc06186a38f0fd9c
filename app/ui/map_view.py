"""The Map view: every analysed track as a point, coloured by cluster or predicted genre.

Hover shows artist - title (the file name when tags are missing); a click selects the track
everywhere and stays marked; a lasso (free-form) or rectangle drag selects many, and the
selection panel plays, queues, finds more like them or exports them. The legend selects a
cluster on click and renames it from its menu. The map data is read off the GUI thread.

While a scan runs and a map exists, the tracks it analyses are placed on the map every few
seconds with the fitted reducers, in the map's worker process (map_process.place_in_worker):
nothing is fitted again until the scan ends, and the line above the map says so.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QGridLayout, QGroupBox, QHBoxLayout, QInputDialog,
                               QLabel, QListWidget, QListWidgetItem, QMenu, QPushButton, QRadioButton, QSplitter, QVBoxLayout,
                               QWidget)

from app.library.fspath import display_path

from .context import AppContext
from .map_selection import inside_polygon, inside_rectangle

MAX_LASSO_VERTICES = 200
LIVE_PLACE_MS = 3000  # during a scan, newly analysed tracks are placed on the map this often


def palette(n: int) -> list[tuple[int, int, int]]:
    """n well-separated colours, readable on light and dark backgrounds."""
    base = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
            (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
    out = list(base)
    i = 0
    while len(out) < n:
        h = (i * 0.618033988749895) % 1.0
        c = pg.hsvColor(h, 0.75, 0.9)
        out.append((c.red(), c.green(), c.blue()))
        i += 1
    return out[:n]


def load_map(library) -> dict:
    """Everything the view draws, read in one go (runs on a worker thread)."""
    from app.library.mapping import clusters, map_points

    shown = library.map_model()  # the previous model's map until the active model has its own
    points = map_points(library, shown)
    tracks = library.tracks(points["ids"].tolist())
    names = []
    for i, artist, title in zip(points["ids"].tolist(), points["artist"], points["title"]):
        track = tracks.get(i)
        file_name = Path(display_path(track["path"])).name if track else f"track {i}"
        names.append(" - ".join(x for x in (artist, title) if x) or file_name)
    status = library.status()
    model = status["active_model"]
    fit = library.map_fit(shown) if model else None
    borrowed = bool(model) and shown != library.model_key()
    coverage = library.results_coverage() if borrowed else None
    return {"points": points, "names": names, "clusters": {c["cluster"]: c for c in clusters(library, shown)},
            "analysed": status["analysed"].get(model, 0) if model else 0, "model": model,
            "fitted": fit["n_tracks"] if fit and not borrowed else 0,
            "fit_key": (shown, fit["fitted_at"] if fit else None),
            "borrowed": borrowed_map_note(library.model_name(shown), coverage) if borrowed else ""}


def borrowed_map_note(shown: str, coverage: dict) -> str:
    """The line above a map that is the previous model's (the active one has none yet)."""
    return (f"This is {shown}'s map: {coverage['model']} has analysed {coverage['analysed']} of "
            f"{coverage['tracks']} tracks and gets its own map when a scan with it ends (or with Recompute map).")


def place_new_points(library_path, warm: bool = False) -> dict:
    """Newly analysed tracks placed on the fitted map, in the map's worker process (job thread)."""
    from app.library.map_process import place_in_worker

    return place_in_worker(library_path, warm=warm)


def live_text(scanning: bool, mapping: bool, placed: int, mapped: int, fitted: int) -> str:
    """What the line above the map says about new tracks and the fit (pure, for the view)."""
    from app.library.mapping import REFIT_FRACTION

    since_fit = max(0, mapped - fitted)
    refits = since_fit > REFIT_FRACTION * fitted
    if mapping:
        return "Updating the map… the current map stays until the new one is ready."
    if scanning and fitted:
        if not placed:
            return (f"Scanning: tracks it analyses are placed on this map (fitted on {fitted} tracks) "
                    "every few seconds.")
        return (f"Scanning: {placed} new track{'s' if placed != 1 else ''} placed on the existing map "
                f"(fitted on {fitted}); " + ("it is fitted again when the scan ends." if refits
                                              else "press Recompute map after the scan to refit."))
    if since_fit and fitted:
        return (f"{since_fit} track{'s' if since_fit != 1 else ''} placed on this map since it was fitted on "
                f"{fitted}; Recompute map fits it again.")
    return ""


class _Plot(pg.PlotWidget):
    """Scroll zooms, left-drag pans in point mode; in lasso or rectangle mode the left drag draws
    the selection (a right drag always draws a rectangle)."""

    polygon_selected = Signal(list)  # [(x, y), ...] in map coordinates
    rect_selected = Signal(QRectF)

    def __init__(self) -> None:
        super().__init__()
        self.mode = "point"
        self._shape: str | None = None
        self._trail: list[tuple[float, float]] = []
        self._band = pg.PlotDataItem(pen=pg.mkPen((255, 170, 0), width=2, style=Qt.PenStyle.DashLine))
        self._band.setZValue(10)

    def _at(self, ev) -> tuple[float, float]:
        p = self.plotItem.vb.mapSceneToView(self.mapToScene(ev.position().toPoint()))
        return p.x(), p.y()

    def mousePressEvent(self, ev):
        right = ev.button() == Qt.MouseButton.RightButton
        if right or (ev.button() == Qt.MouseButton.LeftButton and self.mode in ("lasso", "rectangle")):
            self._shape = "rectangle" if right else self.mode
            self._trail = [self._at(ev)]
            if self._band.scene() is None:
                self.addItem(self._band)
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev):
        if self._shape is None:
            super().mouseMoveEvent(ev)
            return
        point = self._at(ev)
        if self._shape == "lasso":
            self._trail.append(point)
            xs, ys = zip(*(self._trail + self._trail[:1]))
        else:
            (x0, y0), (x1, y1) = self._trail[0], point
            self._trail[1:] = [point]
            xs, ys = (x0, x1, x1, x0, x0), (y0, y0, y1, y1, y0)
        self._band.setData(list(xs), list(ys))
        ev.accept()

    def mouseReleaseEvent(self, ev):
        if self._shape is None:
            super().mouseReleaseEvent(ev)
            return
        shape, trail = self._shape, self._trail + [self._at(ev)]
        self._shape, self._trail = None, []
        self._band.setData([], [])
        ev.accept()
        if shape == "lasso":
            step = max(1, len(trail) // MAX_LASSO_VERTICES)
            self.polygon_selected.emit(trail[::step])
        else:
            self.rect_selected.emit(QRectF(QPointF(*trail[0]), QPointF(*trail[-1])).normalized())


class SelectionPanel(QGroupBox):
    """Count and actions for the tracks selected on the map."""

    def __init__(self) -> None:
        super().__init__("Selection")
        self.count = QLabel("Nothing selected. Draw a lasso or click a cluster.")
        self.count.setWordWrap(True)
        self.play = QPushButton("Play")
        self.queue = QPushButton("Queue")
        self.similar = QPushButton("More like this")
        self.export = QPushButton("Export…")
        grid = QGridLayout()
        for n, b in enumerate((self.play, self.queue, self.similar, self.export)):
            grid.addWidget(b, n // 2, n % 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.count)
        layout.addLayout(grid)
        self.show_count(0)

    def show_count(self, n: int) -> None:
        self.count.setText(f"{n} track{'s' if n != 1 else ''} selected" if n else
                           "Nothing selected. Draw a lasso or click a cluster in the legend.")
        for b in (self.play, self.queue, self.similar, self.export):
            b.setEnabled(n > 0)


class MapView(QWidget):
    playlist_requested = Signal(list)
    refit_requested = Signal()
    destination_picked = Signal(int)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.points: dict = {"ids": np.zeros(0, np.int64), "x": np.zeros(0), "y": np.zeros(0),
                             "cluster": np.zeros(0, np.int64), "top_genre": []}
        self.names: list[str] = []
        self.clusters: dict = {}
        self._index: dict[int, int] = {}
        self._analysed = 0
        self._running: set[str] = set()
        self._fitted = 0
        self._borrowed = ""  # what to say when the map shown is the previous model's
        self._fit_key: tuple | None = None
        self._live_placed = 0  # tracks placed during the running scan
        self._live_busy = False
        self._live_version = -1
        self._live_timer = QTimer(self)
        self._live_timer.timeout.connect(self._live_tick)
        self._picker: Callable[[int], None] | None = None
        self.selection: list[int] = []
        self._build()
        ctx.track_selected.connect(self.mark_selected)
        ctx.similar_ready.connect(self.show_similar)
        ctx.path_ready.connect(self.show_path)
        self.reload()

    # -- construction
    def _build_bar(self) -> QHBoxLayout:
        self.colour_by = QComboBox()
        self.colour_by.addItems(["Cluster", "Predicted genre"])
        self.colour_by.currentIndexChanged.connect(lambda _: self.redraw())
        self.modes = QButtonGroup(self)
        mode_row = QHBoxLayout()
        for n, (mode, label, tip) in enumerate((("point", "Point", "Click a point to select it; drag to pan"),
                                                ("lasso", "Lasso", "Draw around points to select them"),
                                                ("rectangle", "Rectangle", "Drag a rectangle to select points"))):
            button = QRadioButton(label)
            button.setToolTip(tip)
            button.setProperty("mode", mode)
            button.setChecked(n == 0)
            self.modes.addButton(button)
            mode_row.addWidget(button)
        self.modes.buttonToggled.connect(self._mode_changed)
        self.preview = QCheckBox("Play on click")
        self.refit = QPushButton("Recompute map")
        self.refit.clicked.connect(self.refit_requested.emit)
        self.info = QLabel("")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Colour by"))
        bar.addWidget(self.colour_by)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Select:"))
        bar.addLayout(mode_row)
        bar.addSpacing(12)
        for w in (self.preview, self.refit):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.info)
        return bar

    def _build(self) -> None:
        bar = self._build_bar()
        self._build_plot()
        self.panel = SelectionPanel()
        self.panel.play.clicked.connect(lambda: self.ctx.play_ids_requested.emit(self.selection))
        self.panel.queue.clicked.connect(lambda: self.ctx.queue_requested.emit(self.selection))
        self.panel.similar.clicked.connect(lambda: self.ctx.similar_requested.emit(self.selection))
        self.panel.export.clicked.connect(lambda: self.playlist_requested.emit(self.selection))
        self.legend = QListWidget()
        self.legend.setWordWrap(True)
        self.legend.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.legend.itemClicked.connect(self._legend_clicked)
        self.legend.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.legend.customContextMenuRequested.connect(self._legend_menu)
        self.legend.itemDoubleClicked.connect(self._rename)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.panel)
        side_layout.addWidget(QLabel("Clusters (click to select, double-click to rename)"))
        side_layout.addWidget(self.legend, 1)
        side.setMinimumWidth(300)
        split = QSplitter()
        split.addWidget(self.plot)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        split.setSizes([900, 330])
        self.hint = QLabel("Scroll to zoom · drag to pan · right-drag always draws a rectangle")
        self.hint.setStyleSheet("color: gray")
        self.live = QLabel("")
        self.live.setWordWrap(True)
        self.live.setVisible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.live)
        layout.addWidget(split, 1)
        layout.addWidget(self.hint)

    def _build_plot(self) -> None:
        self.plot = _Plot()
        self.plot.setBackground(None)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setAspectLocked(False)
        self.scatter = pg.ScatterPlotItem(size=7, pxMode=True, hoverable=True, tip=None)
        self.scatter.sigClicked.connect(self._clicked)
        self.scatter.sigHovered.connect(self._hovered)
        self.plot.addItem(self.scatter)
        self.highlight = pg.ScatterPlotItem(size=13, pxMode=True, brush=None, pen=pg.mkPen((255, 215, 0), width=2.5))
        self.chosen = pg.ScatterPlotItem(size=11, pxMode=True, brush=None, pen=pg.mkPen((255, 140, 0), width=2))
        self.seed_mark = pg.ScatterPlotItem(size=18, symbol="star", pxMode=True, brush=pg.mkBrush(255, 215, 0),
                                            pen=pg.mkPen("k"))
        self.path_line = pg.PlotDataItem(pen=pg.mkPen((255, 215, 0), width=2))
        self.selected_mark = pg.ScatterPlotItem(size=16, pxMode=True, brush=None, pen=pg.mkPen((230, 30, 30), width=3))
        for item in (self.path_line, self.highlight, self.chosen, self.seed_mark, self.selected_mark):
            self.plot.addItem(item)
        self.plot.polygon_selected.connect(self.select_polygon)
        self.plot.rect_selected.connect(self.select_rect)
        self.empty = QLabel("", self.plot)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("font-size: 12pt; color: gray")

    # -- data
    def reload(self) -> None:
        """Read the map in the background; the current drawing stays until the new one arrives."""
        if not self.ctx.model_name:
            self._apply({"points": self.points, "names": self.names, "clusters": {}, "analysed": 0, "model": None})
            return
        self.ctx.jobs.submit("map-data", load_map, self._apply)

    def _apply(self, data: dict) -> None:
        self.points, self.names, self.clusters = data["points"], data["names"], data["clusters"]
        self._analysed = data["analysed"]
        self._fitted = data.get("fitted", 0)
        self._borrowed = data.get("borrowed", "")
        new_map, self._fit_key = data.get("fit_key") != self._fit_key, data.get("fit_key")
        self._index = {int(i): n for n, i in enumerate(self.points["ids"])}
        self.selection = [i for i in self.selection if i in self._index]
        self.redraw()
        if new_map:  # all of a new map in view; points placed on it later stay in view until the user zooms
            self.plot.autoRange()
            self.plot.enableAutoRange()
        if self.ctx.selected:
            self.mark_selected(self.ctx.selected[0])

    def has_map(self) -> bool:
        """Whether the active model has a map (the previous model's, shown meanwhile, does not count)."""
        return len(self.points["ids"]) > 0 and not self._borrowed

    def task_state(self, name: str, running: bool) -> None:
        """The main window tells the map what runs, so the empty map says the truth; while a scan
        runs, the tracks it analyses are placed on the map."""
        (self._running.add if running else self._running.discard)(name)
        if name == "scan" and running:
            self._live_placed, self._live_version = 0, -1
            self._live_timer.start(LIVE_PLACE_MS)
            self._live_tick()  # at once: the map's process starts (UMAP loads) while the first tracks are analysed
        elif name == "scan":
            self._live_timer.stop()
        self._explain_empty()

    def stop_live(self) -> None:
        """No more placements (the window closes)."""
        self._live_timer.stop()

    def _live_tick(self) -> None:
        """Every few seconds of a scan: place what it analysed (or, with no map, count it)."""
        version = self.ctx.library.data_version()
        if self._live_busy or version == self._live_version or not self.ctx.model_name:
            return
        self._live_version = version
        if not self._fitted:
            self.reload()  # no map yet: "N tracks analysed so far"
            return
        self._live_busy = True
        path, warm = self.ctx.library.path, self._live_placed == 0
        self.ctx.jobs.submit("map-place", lambda: place_new_points(path, warm), self._placed, self._place_failed,
                             with_library=False)

    def _placed(self, result: dict) -> None:
        self._live_busy = False
        if result.get("placed"):
            if "scan" in self._running:
                self._live_placed += result["placed"]
            self.reload()

    def _place_failed(self, _error: str) -> None:
        self._live_busy = False  # logged by the job; the map after the scan places them

    def _explain_empty(self) -> None:
        n = len(self.points["ids"])
        model = self.ctx.model_name
        if n:
            text = ""
        elif not model:
            text = "No model yet: get one in the Model tab."
        elif "map" in self._running:
            text = "Computing the map…"
        elif "scan" in self._running:
            text = ("Scanning: the map will be built when the scan finishes "
                    f"({self._analysed} track{'s' if self._analysed != 1 else ''} analysed so far).")
        elif self._analysed:
            text = f"{self._analysed} tracks are analysed but not mapped yet: press “Recompute map”."
        else:
            text = f"{model} has not analysed this library yet: press Scan (earlier models' results are kept)."
        self.empty.setText(text)
        self.empty.setVisible(bool(text))
        self.empty.setGeometry(self.plot.rect().adjusted(20, 20, -20, -20))
        line = ""
        if n:
            line = live_text("scan" in self._running, "map" in self._running, self._live_placed, n, self._fitted)
            line = line if "map" in self._running else self._borrowed or line
        self.live.setText(line)
        self.live.setVisible(bool(line))

    def redraw(self) -> None:
        n = len(self.points["ids"])
        self.info.setText(f"{n} tracks, {len(self.clusters)} clusters" if n else "")
        self.legend.clear()
        self._explain_empty()
        if n == 0:
            self.scatter.setData([])
            self._show_selection()
            return
        by_genre = self.colour_by.currentIndex() == 1
        keys = list(self.points["top_genre"]) if by_genre else [int(c) for c in self.points["cluster"]]
        names = sorted(set(keys), key=lambda k: (str(k) if by_genre else -self.clusters.get(k, {}).get("size", 0)))
        colours = dict(zip(names, palette(len(names))))
        brush_of = {k: pg.mkBrush(*colours[k], 200) for k in names}  # one per colour (redrawn often in a scan)
        brushes = [brush_of[k] for k in keys]
        self.scatter.setData(x=self.points["x"], y=self.points["y"], brush=brushes, pen=None,
                             data=self.points["ids"].tolist())
        counts = Counter(keys)
        for k in names:
            info = self.clusters.get(k, {})
            label = str(k) if by_genre else info.get("name") or f"cluster {k}"
            item = QListWidgetItem(f"■  {label}  ({counts[k]})")
            item.setForeground(pg.mkColor(*colours[k]))
            item.setData(Qt.ItemDataRole.UserRole, k)
            if not by_genre:
                genres = ", ".join(f"{g} {p:.0%}" for g, p in info.get("top_genres", [])[:3])
                item.setToolTip(f"Cluster {k}: {label}" + (f"\nGenres: {genres}" if genres else ""))
            self.legend.addItem(item)
        self._show_selection()

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        self.empty.setGeometry(self.plot.rect().adjusted(20, 20, -20, -20))

    def _xy(self, ids) -> tuple[np.ndarray, np.ndarray]:
        rows = [self._index[i] for i in ids if i in self._index]
        return self.points["x"][rows], self.points["y"][rows]

    # -- pointing
    def _mode_changed(self, button, checked: bool) -> None:
        if checked:
            self.plot.mode = button.property("mode")

    def pick_destination(self, callback: Callable[[int], None]) -> None:
        """The next click on a point chooses it (for a sonic path) instead of selecting it."""
        self._picker = callback
        self.hint.setText("Click the track the path should walk to (Esc in the path dialog cancels).")

    def _clicked(self, _item, spots, *args) -> None:
        if not len(spots):
            return
        track_id = int(spots[0].data())
        if self._picker is not None:
            picker, self._picker = self._picker, None
            self.hint.setText("Scroll to zoom · drag to pan · right-drag always draws a rectangle")
            picker(track_id)
            self.destination_picked.emit(track_id)
            return
        self.mark_selected(track_id)
        self.ctx.select([track_id])
        if self.preview.isChecked():
            self.ctx.play_requested.emit(track_id)

    def _hovered(self, _item, spots, *args) -> None:
        if len(spots) == 0:
            self.plot.setToolTip("")
            return
        n = self._index.get(int(spots[0].data()))
        if n is not None:
            self.plot.setToolTip(self.names[n] if n < len(self.names) else "")

    # -- selecting many
    def set_selection(self, ids: list[int]) -> None:
        self.selection = [int(i) for i in ids if int(i) in self._index]
        self._show_selection()

    def _show_selection(self) -> None:
        x, y = self._xy(self.selection)
        self.chosen.setData(x=x, y=y)
        self.panel.show_count(len(self.selection))

    def select_polygon(self, polygon: list) -> None:
        mask = inside_polygon(self.points["x"], self.points["y"], polygon)
        self.set_selection(self.points["ids"][mask].tolist())

    def select_rect(self, rect: QRectF) -> None:
        mask = inside_rectangle(self.points["x"], self.points["y"], rect.left(), rect.top(), rect.right(), rect.bottom())
        self.set_selection(self.points["ids"][mask].tolist())

    def _legend_key_ids(self, key) -> list[int]:
        by_genre = self.colour_by.currentIndex() == 1
        values = self.points["top_genre"] if by_genre else self.points["cluster"].tolist()
        return [int(i) for i, v in zip(self.points["ids"], values) if v == key]

    def _legend_clicked(self, item: QListWidgetItem) -> None:
        self.set_selection(self._legend_key_ids(item.data(Qt.ItemDataRole.UserRole)))

    def _legend_menu(self, pos) -> None:
        item = self.legend.itemAt(pos)
        if item is None or self.colour_by.currentIndex() == 1:
            return
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self._rename(item))
        menu.addAction("Play", lambda: self.ctx.play_ids_requested.emit(self._legend_key_ids(item.data(Qt.ItemDataRole.UserRole))))
        menu.exec(self.legend.viewport().mapToGlobal(pos))

    def _rename(self, item: QListWidgetItem) -> None:
        if self.colour_by.currentIndex() == 1:
            return
        cluster = int(item.data(Qt.ItemDataRole.UserRole))
        current = self.clusters.get(cluster, {}).get("name", "")
        name, ok = QInputDialog.getText(self, "Rename cluster", f"A name for cluster {cluster}:", text=current)
        if ok and name.strip():
            self.rename_cluster(cluster, name)

    def rename_cluster(self, cluster: int, name: str) -> None:
        self.ctx.library.rename_cluster(cluster, name)
        self.clusters.setdefault(cluster, {})["name"] = name.strip()
        self.redraw()
        self.ctx.library_changed.emit()

    # -- what other views show on the map
    def mark_selected(self, track_id: int) -> None:
        x, y = self._xy([track_id])
        self.selected_mark.setData(x=x, y=y)

    def show_similar(self, seeds: list, rows: list) -> None:
        x, y = self._xy([r["id"] for r in rows])
        self.highlight.setData(x=x, y=y)
        sx, sy = self._xy(seeds)
        self.seed_mark.setData(x=sx, y=sy)
        self.path_line.setData([], [])

    def show_path(self, rows: list) -> None:
        ids = [r["id"] for r in rows]
        x, y = self._xy(ids)
        self.path_line.setData(x, y)
        self.highlight.setData(x=x, y=y)
        sx, sy = self._xy(ids[:1])
        self.seed_mark.setData(x=sx, y=sy)
