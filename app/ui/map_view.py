"""The Map view: every analysed track as a point, coloured by cluster or predicted genre.

Hover shows artist - title; a click selects the track everywhere (and previews it when asked);
dragging with the right mouse button draws a rectangle whose tracks become a playlist; the seed
and results of "more like this" and a sonic path are drawn on top.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QSplitter, QVBoxLayout, QWidget)

from app.library.mapping import clusters as load_clusters
from app.library.mapping import map_points

from .context import AppContext


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


class _Plot(pg.PlotWidget):
    rect_selected = Signal(QRectF)

    def __init__(self) -> None:
        super().__init__()
        self._origin: QPointF | None = None
        self._band = None

    def mousePressEvent(self, ev):
        if ev.button() == Qt.MouseButton.RightButton:
            self._origin = self.plotItem.vb.mapSceneToView(self.mapToScene(ev.position().toPoint()))
            self._band = pg.RectROI(self._origin, [0, 0], pen=pg.mkPen((255, 200, 0), width=2), movable=False)
            self.addItem(self._band)
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev):
        if self._origin is not None and self._band is not None:
            p = self.plotItem.vb.mapSceneToView(self.mapToScene(ev.position().toPoint()))
            self._band.setSize([p.x() - self._origin.x(), p.y() - self._origin.y()])
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev):
        if self._origin is not None and ev.button() == Qt.MouseButton.RightButton:
            p = self.plotItem.vb.mapSceneToView(self.mapToScene(ev.position().toPoint()))
            rect = QRectF(self._origin, p).normalized()
            self.removeItem(self._band)
            self._origin, self._band = None, None
            self.rect_selected.emit(rect)
            ev.accept()
            return
        super().mouseReleaseEvent(ev)


class MapView(QWidget):
    playlist_requested = Signal(list)
    refit_requested = Signal()

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.points: dict = {"ids": np.zeros(0, np.int64), "x": np.zeros(0), "y": np.zeros(0)}
        self.colour_by = QComboBox()
        self.colour_by.addItems(["Cluster", "Predicted genre"])
        self.colour_by.currentIndexChanged.connect(lambda _: self.redraw())
        self.preview = QCheckBox("Play on click")
        self.refit = QPushButton("Recompute map")
        self.refit.clicked.connect(self.refit_requested.emit)
        self.info = QLabel("")
        self.hint = QLabel("Click a point to select it · right-drag a rectangle to make a playlist · scroll to zoom")
        self.hint.setStyleSheet("color: gray")
        bar = QHBoxLayout()
        for w in (QLabel("Colour by"), self.colour_by, self.preview, self.refit):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.info)
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
        self.seed_mark = pg.ScatterPlotItem(size=18, symbol="star", pxMode=True, brush=pg.mkBrush(255, 215, 0),
                                            pen=pg.mkPen("k"))
        self.path_line = pg.PlotDataItem(pen=pg.mkPen((255, 215, 0), width=2))
        self.selected_mark = pg.ScatterPlotItem(size=16, pxMode=True, brush=None, pen=pg.mkPen((230, 30, 30), width=3))
        for item in (self.path_line, self.highlight, self.seed_mark, self.selected_mark):
            self.plot.addItem(item)
        self.plot.rect_selected.connect(self._rect)
        self.legend = QListWidget()
        self.legend.setMaximumWidth(260)
        self.legend.itemClicked.connect(self._legend_clicked)
        split = QSplitter()
        split.addWidget(self.plot)
        split.addWidget(self.legend)
        split.setStretchFactor(0, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.hint)
        self.empty = QLabel("No map yet: scan some music, then press “Recompute map”.", self.plot)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        ctx.track_selected.connect(self.mark_selected)
        ctx.similar_ready.connect(self.show_similar)
        ctx.path_ready.connect(self.show_path)
        self.reload()

    def reload(self) -> None:
        self.points = map_points(self.ctx.library) if self.ctx.model_name else self.points
        self.clusters = {c["cluster"]: c for c in load_clusters(self.ctx.library)} if self.ctx.model_name else {}
        self._index = {int(i): n for n, i in enumerate(self.points["ids"])}
        self.redraw()

    def redraw(self) -> None:
        n = len(self.points["ids"])
        self.empty.setVisible(n == 0)
        self.empty.resize(self.plot.size())
        self.info.setText(f"{n} tracks, {len(self.clusters)} clusters" if n else "")
        self.legend.clear()
        if n == 0:
            self.scatter.setData([])
            return
        by_genre = self.colour_by.currentIndex() == 1
        keys = list(self.points["top_genre"]) if by_genre else [int(c) for c in self.points["cluster"]]
        names = sorted(set(keys), key=lambda k: (str(k) if by_genre else -self.clusters.get(k, {}).get("size", 0)))
        colours = dict(zip(names, palette(len(names))))
        brushes = [pg.mkBrush(*colours[k], 200) for k in keys]
        self.scatter.setData(x=self.points["x"], y=self.points["y"], brush=brushes, pen=None,
                             data=self.points["ids"].tolist())
        counts = {k: keys.count(k) for k in names}
        for k in names:
            label = str(k) if by_genre else f"[{k}] " + self.clusters.get(k, {}).get("name", f"cluster {k}")
            item = QListWidgetItem(f"■  {label}  ({counts[k]})")
            item.setForeground(pg.mkColor(*colours[k]))
            item.setData(Qt.ItemDataRole.UserRole, k)
            self.legend.addItem(item)
        self.plot.autoRange()

    def resizeEvent(self, ev):
        super().resizeEvent(ev)
        self.empty.resize(self.plot.size())

    def _xy(self, ids) -> tuple[np.ndarray, np.ndarray]:
        rows = [self._index[i] for i in ids if i in self._index]
        return self.points["x"][rows], self.points["y"][rows]

    def _clicked(self, _item, spots, *args) -> None:
        if not spots:
            return
        track_id = int(spots[0].data())
        self.ctx.select([track_id])
        if self.preview.isChecked():
            self.ctx.play_requested.emit(track_id)

    def _hovered(self, _item, spots, *args) -> None:
        if len(spots) == 0:
            self.plot.setToolTip("")
            return
        n = self._index.get(int(spots[0].data()))
        if n is None:
            return
        artist, title = self.points["artist"][n], self.points["title"][n]
        self.plot.setToolTip(" - ".join(x for x in (artist, title) if x) or f"track {spots[0].data()}")

    def _rect(self, rect: QRectF) -> None:
        inside = ((self.points["x"] >= rect.left()) & (self.points["x"] <= rect.right()) &
                  (self.points["y"] >= rect.top()) & (self.points["y"] <= rect.bottom()))
        ids = self.points["ids"][inside].tolist()
        if ids:
            self.playlist_requested.emit(ids)

    def select_rect(self, rect: QRectF) -> None:
        self._rect(rect)

    def _legend_clicked(self, item: QListWidgetItem) -> None:
        key = item.data(Qt.ItemDataRole.UserRole)
        by_genre = self.colour_by.currentIndex() == 1
        values = self.points["top_genre"] if by_genre else self.points["cluster"].tolist()
        ids = [int(i) for i, v in zip(self.points["ids"], values) if v == key]
        x, y = self._xy(ids)
        self.highlight.setData(x=x, y=y)

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
