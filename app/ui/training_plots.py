"""The Training tab's plots: every split's loss, accuracy and learning-rate curves, and a confusion matrix."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

# one colour per split (matplotlib's tab10), train solid and validation dashed in it
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]
SERIES = (("loss", "loss", False), ("val_loss", "loss", True), ("acc", "acc", False), ("val_acc", "acc", True),
          ("lr", "lr", False))
_PLOT_OF = {key: plot for key, plot, _ in SERIES}


class ConfusionView(pg.GraphicsLayoutWidget):
    """Confusion matrix heatmap: rows true, columns predicted, counts written in the cells."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.plot = self.addPlot()
        self.plot.setLabel("left", "true")
        self.plot.setLabel("bottom", "predicted")
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("CET-L12"))
        self.plot.addItem(self.image)
        self.texts: list[pg.TextItem] = []
        self.matrix = np.zeros((0, 0))
        self.classes: list[str] = []
        self.title = ""
        self.set_title("test confusion")

    def set_title(self, title: str) -> None:
        """Short titles only: the plot is narrow, so long text is elided rather than clipped mid-word."""
        self.title = title
        self.plot.setTitle(title if len(title) <= 40 else title[:39] + "…", size="9pt")

    def show_matrix(self, matrix, classes: list[str], title: str | None = None) -> None:
        m = np.asarray(matrix, dtype=float)
        self.matrix, self.classes = m, list(classes)
        self.set_title(title or "test confusion")
        for t in self.texts:
            self.plot.removeItem(t)
        self.texts = []
        if m.size == 0:
            self.image.clear()
            return
        self.image.setImage(m, levels=(0, max(1.0, m.max())))
        ticks = [(i + 0.5, c) for i, c in enumerate(classes)]
        self.plot.getAxis("bottom").setTicks([ticks])
        self.plot.getAxis("left").setTicks([ticks])
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                t = pg.TextItem(str(int(m[i, j])), anchor=(0.5, 0.5), color="w" if m[i, j] > m.max() / 2 else "k")
                t.setPos(j + 0.5, i + 0.5)
                self.plot.addItem(t)
                self.texts.append(t)


class CurvesView(pg.GraphicsLayoutWidget):
    """Loss, accuracy and learning rate per epoch for every split of a run: one colour per split,
    training solid, validation dashed; every point has a symbol, so one epoch already shows."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.plots = {"loss": self.addPlot(title="loss (solid: train, dashed: validation)"),
                      "acc": self.addPlot(title="accuracy"),
                      "lr": self.addPlot(title="learning rate")}
        self.plots["lr"].setLogMode(y=True)
        for p in self.plots.values():
            p.setLabel("bottom", "epoch")
            p.showGrid(x=True, y=True, alpha=0.2)
        self.legend = self.plots["acc"].addLegend(offset=(-5, -5))  # bottom right, below accuracies near 1
        self.folds: dict[int, list[dict]] = {}
        self.curves: dict[tuple[int, str], pg.PlotDataItem] = {}

    @property
    def rows(self) -> list[dict]:
        """Every split's epochs, split by split (what a one-split run shows)."""
        return [r for k in sorted(self.folds) for r in self.folds[k]]

    def reset(self) -> None:
        for (_, key), item in self.curves.items():
            self.plots[_PLOT_OF[key]].removeItem(item)
        self.legend.clear()
        self.curves, self.folds = {}, {}

    def _curves_for(self, fold: int) -> None:
        colour = PALETTE[len({k for k, _ in self.curves}) % len(PALETTE)]
        for key, plot, dashed in SERIES:
            pen = pg.mkPen(colour, width=2, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
            self.curves[(fold, key)] = self.plots[plot].plot(pen=pen, symbol="o", symbolSize=5, symbolPen=colour,
                                                             symbolBrush=pg.mkBrush("#00000000") if dashed else colour,
                                                             name=f"split {fold + 1}" if key == "acc" else None)

    def set_fold(self, fold: int, rows: list[dict]) -> None:
        if (fold, "loss") not in self.curves:
            self._curves_for(fold)
        self.folds[fold] = list(rows)
        x = np.array([r["epoch"] + 1 for r in rows], dtype=float)
        for key, _, _ in SERIES:
            y = np.array([r.get(key, math.nan) for r in rows], dtype=float)
            finite = np.isfinite(y) if key != "lr" else np.isfinite(y) & (y > 0)
            self.curves[(fold, key)].setData(x[finite], y[finite])

    def set_folds(self, histories: dict[int, list[dict]]) -> None:
        self.reset()
        for fold in sorted(histories):
            self.set_fold(fold, histories[fold])

    def add(self, fold: int, row: dict) -> None:
        rows = [r for r in self.folds.get(fold, []) if r["epoch"] < row["epoch"]]
        self.set_fold(fold, rows + [row])
