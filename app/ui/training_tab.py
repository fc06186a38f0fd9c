"""The Training tab: pick a data set and protocol, train BBNN off the GUI thread with live curves,
see each run's confusion matrix and test accuracy, and make a trained model the active one."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QMetaMethod, Qt, QThread, Signal
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPlainTextEdit,
                               QProgressBar, QPushButton, QRadioButton, QSpinBox, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from app.home import cache_dir, model_store, models_dir, runs_dir


class TrainThread(QThread):
    """Creates (or resumes) a run and trains it; every engine event goes out as a signal."""

    event = Signal(object)  # model.train.loop.TrainEvent
    run_created = Signal(str)  # run id
    finished_ok = Signal(dict)  # report
    stopped = Signal(str)  # run id or ''
    failed = Signal(str)

    def __init__(self, source: str | None, mapping_text: str, config, resume_id: str | None = None, parent=None) -> None:
        super().__init__(parent)
        self.source, self.mapping_text, self.config, self.resume_id = source, mapping_text, config, resume_id
        self._stop = False
        self.run_id = resume_id or ""

    def request_stop(self) -> None:
        self._stop = True

    def _dataset(self):
        from app.home import open_library
        from app.library.labels import library_pairs, parse_mapping
        from model.train.datasets import from_pairs, scan_folder

        if self.source is not None:
            return scan_folder(self.source)
        mapping = parse_mapping(self.mapping_text) if self.mapping_text.strip() else None
        with open_library(read_only=True) as lib:
            return from_pairs(library_pairs(lib, mapping), "library", sorted(mapping) if mapping else None)

    def run(self) -> None:
        from app.library.labels import LabelError
        from model.store import ModelStoreError
        from model.train.datasets import DatasetError
        from model.train.loop import Run, Stopped, TrainError, create_run, train_run
        from model.train.splits import SplitError

        mels = cache_dir() / "mels"
        try:
            store = model_store()
            if self.resume_id:
                run = Run(runs_dir() / self.resume_id)
                cfg = run.config
            else:
                cfg = self.config
                base_spec = store.manifest(cfg.from_model).spec if cfg.from_model else None
                run = create_run(runs_dir(), mels, self._dataset(), cfg, base_spec, self.event.emit, lambda: self._stop)
            self.run_id = run.id
            self.run_created.emit(run.id)
            base = None
            if cfg.from_model:
                model, manifest = store.load(cfg.from_model)
                base = (model, manifest.classes)
            report = train_run(run, models_dir(), mels, self.event.emit, lambda: self._stop, base)
        except Stopped:
            self.stopped.emit(self.run_id)
        except (DatasetError, LabelError, SplitError, TrainError, ModelStoreError) as e:
            self.failed.emit(str(e))
        except Exception as e:  # anything else still ends the thread with a message, never silently
            self.failed.emit(f"{type(e).__name__}: {e}")
        else:
            self.finished_ok.emit(report)


class ConfusionView(pg.GraphicsLayoutWidget):
    """Confusion matrix heatmap: rows true, columns predicted, counts written in the cells."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.plot = self.addPlot(title="test confusion (rows: true, columns: predicted)")
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("CET-L12"))
        self.plot.addItem(self.image)
        self.texts: list[pg.TextItem] = []
        self.matrix = np.zeros((0, 0))
        self.classes: list[str] = []

    def show_matrix(self, matrix, classes: list[str]) -> None:
        m = np.asarray(matrix, dtype=float)
        self.matrix, self.classes = m, list(classes)
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
                t = pg.TextItem(str(int(m[i, j])), anchor=(0.5, 0.5),
                                color="w" if m[i, j] > m.max() / 2 else "k")
                t.setPos(j + 0.5, i + 0.5)
                self.plot.addItem(t)
                self.texts.append(t)


class CurvesView(pg.GraphicsLayoutWidget):
    """Loss, accuracy (train and validation) and learning rate per epoch."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.loss = self.addPlot(title="loss")
        self.acc = self.addPlot(title="accuracy")
        self.lr = self.addPlot(title="learning rate")
        self.lr.setLogMode(y=True)
        for p in (self.loss, self.acc):
            p.addLegend(offset=(-5, 5))
        self.curves = {
            "loss": self.loss.plot(pen=pg.mkPen("#1f77b4", width=2), name="train"),
            "val_loss": self.loss.plot(pen=pg.mkPen("#ff7f0e", width=2, style=Qt.PenStyle.DashLine), name="valid"),
            "acc": self.acc.plot(pen=pg.mkPen("#1f77b4", width=2), name="train"),
            "val_acc": self.acc.plot(pen=pg.mkPen("#ff7f0e", width=2, style=Qt.PenStyle.DashLine), name="valid"),
            "lr": self.lr.plot(pen=pg.mkPen("#2ca02c", width=2), symbol="o", symbolSize=4),
        }
        self.rows: list[dict] = []

    def set_history(self, rows: list[dict]) -> None:
        self.rows = list(rows)
        x = np.array([r["epoch"] + 1 for r in self.rows], dtype=float)
        for key, curve in self.curves.items():
            y = np.array([r.get(key, math.nan) for r in self.rows], dtype=float)
            curve.setData(x, y)

    def add(self, row: dict) -> None:
        self.set_history(self.rows + [row])


class TrainingTab(QWidget):
    model_activated = Signal(str)  # a trained model became the active one
    reanalyse_requested = Signal(str)  # the user wants the library analysed with this model

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thread: TrainThread | None = None
        self._build()
        self.refresh_runs()
        self.refresh_models()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # -- layout
    def _build(self) -> None:
        from model.train.splits import PROTOCOLS

        data = QGroupBox("Data set")
        self.folder_radio = QRadioButton("Folder with one subfolder per class")
        self.library_radio = QRadioButton("Library tag genres mapped to classes")
        self.folder_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.folder_radio)
        group.addButton(self.library_radio)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("e.g. .../genres or .../Data/genres_original")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.mapping_edit = QPlainTextEdit()
        self.mapping_edit.setPlaceholderText("one class a line:  guitar: rock, indie, punk\n"
                                             "empty: every tag genre with 10+ tracks is a class")
        self.mapping_edit.setMaximumHeight(80)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit)
        row.addWidget(browse)
        dl = QVBoxLayout(data)
        dl.addWidget(self.folder_radio)
        dl.addLayout(row)
        dl.addWidget(self.library_radio)
        dl.addWidget(self.mapping_edit)

        params = QGroupBox("Protocol and hyperparameters (paper defaults)")
        form = QFormLayout(params)
        self.protocol = QComboBox()
        self.protocol.addItems(PROTOCOLS)
        self.folds = self._spin(1, 20, 10)
        self.epochs = self._spin(1, 1000, 100)
        self.batch = self._spin(1, 256, 8)
        self.lr = self._dspin(1e-5, 1.0, 0.01, 5)
        self.clip = self._dspin(0.0, 60.0, 0.0, 2)
        self.clip.setSpecialValueText("30.01 s (paper)")
        self.bn = self._dspin(0.001, 0.5, 0.01, 3)
        self.seed = self._spin(0, 1_000_000, 0)
        self.augment = QCheckBox("time/frequency masks, time warp, cell dropout (training batches only)")
        self.precision = QComboBox()
        self.precision.addItems(["auto", "fp32", "bf16", "fp16"])
        self.from_model = QComboBox()
        self.model_name = QLineEdit()
        self.model_name.setPlaceholderText("automatic")
        for label, w in (("protocol", self.protocol), ("splits (paper, kfold)", self.folds), ("epochs", self.epochs),
                         ("batch size", self.batch), ("learning rate", self.lr), ("clip length (s)", self.clip),
                         ("BatchNorm momentum", self.bn), ("seed", self.seed), ("augmentation", self.augment),
                         ("precision", self.precision), ("fine-tune from", self.from_model), ("model name", self.model_name)):
            form.addRow(label, w)

        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume selected run")
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume_selected)
        self.stop_button.setEnabled(False)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.stop_button, self.resume_button):
            buttons.addWidget(b)
        self.progress = QProgressBar()
        self.status = QLabel("Choose a data set and press Start.")
        self.status.setWordWrap(True)

        left = QWidget()
        ll = QVBoxLayout(left)
        for w in (data, params):
            ll.addWidget(w)
        ll.addLayout(buttons)
        ll.addWidget(self.progress)
        ll.addWidget(self.status)
        ll.addStretch(1)

        self.curves = CurvesView()
        self.confusion = ConfusionView()
        self.runs_table = QTableWidget(0, 5)
        self.runs_table.setHorizontalHeaderLabels(["run", "status", "protocol", "test accuracy", "model"])
        self.runs_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.runs_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.runs_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.runs_table.horizontalHeader().setStretchLastSection(True)
        self.runs_table.itemSelectionChanged.connect(self._show_selected)
        self.use_button = QPushButton("Use this model")
        self.use_button.clicked.connect(self.use_selected)
        history = QWidget()
        hl = QVBoxLayout(history)
        hl.addWidget(QLabel("Runs"))
        hl.addWidget(self.runs_table)
        hl.addWidget(self.use_button)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.curves)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.confusion)
        bottom.addWidget(history)
        right.addWidget(bottom)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        QVBoxLayout(self).addWidget(split)

    @staticmethod
    def _spin(lo: int, hi: int, value: int) -> QSpinBox:
        s = QSpinBox()
        s.setRange(lo, hi)
        s.setValue(value)
        return s

    @staticmethod
    def _dspin(lo: float, hi: float, value: float, decimals: int) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setDecimals(decimals)
        s.setRange(lo, hi)
        s.setSingleStep(10 ** -decimals * 10)
        s.setValue(value)
        return s

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Data set folder", self.folder_edit.text())
        if path:
            self.folder_edit.setText(path)
            self.folder_radio.setChecked(True)

    # -- state
    def refresh_models(self) -> None:
        current = self.from_model.currentData()
        self.from_model.clear()
        self.from_model.addItem("(train from scratch)", None)
        for name in model_store().names():
            self.from_model.addItem(name, name)
        i = self.from_model.findData(current)
        self.from_model.setCurrentIndex(max(0, i))

    def refresh_runs(self, select: str | None = None) -> None:
        from model.train.loop import list_runs

        self.runs_table.setRowCount(0)
        for run in reversed(list_runs(runs_dir())):
            s = run.summary()
            r = self.runs_table.rowCount()
            self.runs_table.insertRow(r)
            acc = s["test_accuracy"]
            values = [s["id"], s["status"] or "", s["protocol"], f"{acc:.1%}" if isinstance(acc, float) else "–",
                      s["model"] or ""]
            for c, v in enumerate(values):
                self.runs_table.setItem(r, c, QTableWidgetItem(str(v)))
            if s["id"] == select:
                self.runs_table.selectRow(r)
        self.runs_table.resizeColumnsToContents()

    def selected_run(self) -> str | None:
        rows = self.runs_table.selectionModel().selectedRows()
        return self.runs_table.item(rows[0].row(), 0).text() if rows else None

    def _show_selected(self) -> None:
        from model.train.loop import Run

        run_id = self.selected_run()
        if not run_id or self.busy:
            return
        run = Run(runs_dir() / run_id)
        folds = run.folds_to_train()
        self.curves.set_history(run.history(folds[0]) if folds else [])
        report = run.report()
        if report:
            self.confusion.show_matrix(report["confusion"], report["classes"])
        else:
            self.confusion.show_matrix([], [])
        self.use_button.setEnabled(bool(report and report.get("model") in model_store().names()))

    @property
    def busy(self) -> bool:
        return self.thread is not None and self.thread.isRunning()

    def config(self):
        from model.train.loop import TrainConfig

        return TrainConfig(protocol=self.protocol.currentText(), folds=self.folds.value(), epochs=self.epochs.value(),
                           batch_size=self.batch.value(), lr=self.lr.value(), seed=self.seed.value(),
                           clip_seconds=self.clip.value() or None, augment=self.augment.isChecked(),
                           from_model=self.from_model.currentData(), model_name=self.model_name.text().strip() or None,
                           precision=self.precision.currentText(), bn_momentum=self.bn.value())

    # -- actions
    def start(self) -> None:
        if self.busy:
            return
        source = None
        if self.folder_radio.isChecked():
            source = self.folder_edit.text().strip()
            if not source:
                self.status.setText("Choose a data set folder first.")
                return
        cfg = self.config()
        if cfg.model_name and cfg.model_name in model_store().names():
            self.status.setText(f"A model named {cfg.model_name!r} exists already; choose another name.")
            return
        self._launch(TrainThread(source, self.mapping_edit.toPlainText(), cfg))

    def resume_selected(self) -> None:
        from model.train.loop import Run

        run_id = self.selected_run()
        if self.busy or not run_id:
            self.status.setText("Select a stopped run in the list to resume it.")
            return
        run = Run(runs_dir() / run_id)
        if run.state().get("status") == "finished":
            self.status.setText(f"Run {run_id} is finished.")
            return
        state = run.state()
        self._launch(TrainThread(None, "", None, resume_id=run_id))
        self.curves.set_history(run.history(state["fold"]) if state.get("fold") is not None else [])

    def _launch(self, thread: TrainThread) -> None:
        self.thread = thread
        thread.event.connect(self._on_event)
        thread.run_created.connect(lambda rid: self.refresh_runs(select=rid))
        thread.finished_ok.connect(self._on_done)
        thread.stopped.connect(self._on_stopped)
        thread.failed.connect(self._on_failed)
        thread.finished.connect(self._on_thread_end)
        self.curves.set_history([])
        self.confusion.show_matrix([], [])
        self.start_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText("Preparing the data set…")
        thread.start()

    def stop(self) -> None:
        if self.busy:
            self.thread.request_stop()
            self.status.setText("Stopping after the current batch…")

    def shutdown(self, timeout_ms: int = 60000) -> None:
        """Stop a running run cleanly (resumable) and wait for its thread."""
        if self.thread is not None and self.thread.isRunning():
            self.thread.request_stop()
            self.thread.wait(timeout_ms)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def _on_event(self, e) -> None:
        if e.kind == "cache":
            self.progress.setRange(0, e.total)
            self.progress.setValue(e.done)
            self.status.setText(f"Computing mel spectrograms: {e.done} / {e.total} files")
        elif e.kind == "batch":
            self.progress.setRange(0, e.total)
            self.progress.setValue(e.done)
            self.status.setText(f"Split {e.fold + 1}/{e.n_folds}, epoch {e.epoch + 1}/{e.epochs}: batch {e.done}/{e.total}")
        elif e.kind == "epoch":
            if self.curves.rows and self.curves.rows[-1]["epoch"] >= e.epoch:  # a new split began
                self.curves.set_history([])
            self.curves.add(e.metrics)
            m = e.metrics
            self.status.setText(f"Split {e.fold + 1}/{e.n_folds}, epoch {e.epoch + 1}: loss {m['loss']:.3f}, "
                                f"validation accuracy {m['val_acc']:.1%}")
        elif e.kind == "fold":
            self.confusion.show_matrix(e.metrics["test"]["confusion"], e.metrics["test"]["classes"])
            self.refresh_runs(select=self.thread.run_id if self.thread else None)

    def _on_done(self, report: dict) -> None:
        self.confusion.show_matrix(report["confusion"], report["classes"])
        skipped = report.get("skipped") or []
        note = f"; {len(skipped)} unreadable file(s) skipped (listed in the report)" if skipped else ""
        self.status.setText(f"Finished: test accuracy {report['test_accuracy']:.1%}; "
                            f"model {report['model']!r} saved{note}.")
        self.refresh_models()

    def _on_stopped(self, run_id: str) -> None:
        self.status.setText(f"Stopped. Select run {run_id} and press Resume to continue." if run_id
                            else "Stopped before the run started.")

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"Training failed: {message}")

    def _on_thread_end(self) -> None:
        rid = self.thread.run_id if self.thread else None
        self.start_button.setEnabled(True)
        self.resume_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.refresh_runs(select=rid)

    def use_selected(self) -> None:
        from model.store import ModelStoreError
        from model.train.loop import Run

        run_id = self.selected_run()
        report = Run(runs_dir() / run_id).report() if run_id else None
        if not report:
            self.status.setText("Select a finished run first.")
            return
        try:
            model_store().use(report["model"])
        except ModelStoreError as e:
            self.status.setText(str(e))
            return
        self.status.setText(f"{report['model']} is now the active model.")
        if self.isSignalConnected(QMetaMethod.fromSignal(self.model_activated)):
            self.model_activated.emit(report["model"])  # the main window offers re-analysis itself
            return
        answer = QMessageBox.question(self, "Re-analyse the library?",
                                      f"{report['model']} is now active. Analyse the library with it now?")
        if answer == QMessageBox.StandardButton.Yes:
            self.reanalyse_requested.emit(report["model"])
