"""The Training tab: pick a data set (settings suggested from its size), see the time it will take,
train BBNN off the GUI thread with every split's curves and a live ETA, stop and resume, evaluate a
run's model on another data set, delete runs, and make a trained model the active one (warned when
its test accuracy is near chance). A running run shows in the main window's status bar, whose
Cancel stops it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QMetaMethod, Qt, QThread, Signal
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPlainTextEdit,
                               QProgressBar, QPushButton, QRadioButton, QSpinBox, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from app.home import cache_dir, model_store, models_dir, runs_dir

from .training_plots import ConfusionView, CurvesView

USER_ERRORS = ("DatasetError", "LabelError", "SplitError", "TrainError", "ModelStoreError")


def _dataset(source: str | None, mapping_text: str):
    """A folder of class folders, or the library's tag genres (mapped when a mapping is given)."""
    from app.home import open_library
    from app.library.labels import library_pairs, parse_mapping
    from model.train.datasets import from_pairs, scan_folder

    if source is not None:
        return scan_folder(source)
    mapping = parse_mapping(mapping_text) if mapping_text.strip() else None
    with open_library(read_only=True) as lib:
        return from_pairs(library_pairs(lib, mapping), "library", sorted(mapping) if mapping else None)


def _message(e: BaseException) -> str:
    if type(e).__name__ in USER_ERRORS:
        return str(e)
    if isinstance(e, InterruptedError):
        return "stopped"
    return f"{type(e).__name__}: {e}"


class CallThread(QThread):
    """Runs fn() off the GUI thread: done(result) or failed(message for the user)."""

    done = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[], Any], parent=None) -> None:
        super().__init__(parent)
        self.fn = fn

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as e:  # every failure ends as a message, never silently
            self.failed.emit(_message(e))
            return
        self.done.emit(result)


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

    def run(self) -> None:
        from model.train.loop import Run, Stopped, create_run, train_run

        mels = cache_dir() / "mels"
        try:
            store = model_store()
            if self.resume_id:
                run = Run(runs_dir() / self.resume_id)
                cfg = run.config
            else:
                cfg = self.config
                base_spec = store.manifest(cfg.from_model).spec if cfg.from_model else None
                dataset = _dataset(self.source, self.mapping_text)
                run = create_run(runs_dir(), mels, dataset, cfg, base_spec, self.event.emit, lambda: self._stop)
            self.run_id = run.id
            self.run_created.emit(run.id)
            base = None
            if cfg.from_model:
                model, manifest = store.load(cfg.from_model)
                base = (model, manifest.classes)
            report = train_run(run, models_dir(), mels, self.event.emit, lambda: self._stop, base)
        except Stopped:
            self.stopped.emit(self.run_id)
        except Exception as e:  # anything else still ends the thread with a message, never silently
            self.failed.emit(_message(e))
        else:
            self.finished_ok.emit(report)



class TrainingTab(QWidget):
    model_activated = Signal(str)  # a trained model became the active one
    reanalyse_requested = Signal(str)  # the user wants the library analysed with this model
    # a run's progress for the window's status bar: message, done, total, ETA in seconds (-1: none);
    # total < 0 means the run ended (message says how)
    activity = Signal(str, float, float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thread: TrainThread | None = None
        self._running = False  # from _launch until the thread's end is handled here (after its last message)
        self.helper: CallThread | None = None  # estimate or evaluation
        self._devices_probed = False
        self._eta = -1.0
        self._build()
        self.refresh_runs()
        self.refresh_models()
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
            app.aboutToQuit.connect(self._release_plots)

    # -- layout
    def _build(self) -> None:
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.addWidget(self._data_box())
        ll.addWidget(self._params_box())
        ll.addLayout(self._buttons())
        self.progress = QProgressBar()
        self.estimate = QLabel("")
        self.estimate.setWordWrap(True)
        self.status = QLabel("Choose a data set and press Start.")
        self.status.setWordWrap(True)
        for w in (self.progress, self.estimate, self.status):
            ll.addWidget(w)
        ll.addStretch(1)
        self.curves = CurvesView()
        self.confusion = ConfusionView()
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.curves)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.confusion)
        bottom.addWidget(self._runs_box())
        bottom.setSizes([380, 520])
        right.addWidget(bottom)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        QVBoxLayout(self).addWidget(split)
        self._protocol_changed(self.protocol.currentText())

    def _data_box(self) -> QGroupBox:
        data = QGroupBox("Data set")
        self.folder_radio = QRadioButton("Folder with one subfolder per class")
        self.library_radio = QRadioButton("Library tag genres mapped to classes")
        self.folder_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.folder_radio)
        group.addButton(self.library_radio)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("e.g. .../genres or .../Data/genres_original")
        self.folder_edit.editingFinished.connect(self.suggest)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.mapping_edit = QPlainTextEdit()
        self.mapping_edit.setPlaceholderText("one class a line:  guitar: rock, indie, punk\n"
                                             "empty: every tag genre with 10+ tracks is a class")
        self.mapping_edit.setMaximumHeight(70)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit)
        row.addWidget(browse)
        dl = QVBoxLayout(data)
        dl.addWidget(self.folder_radio)
        dl.addLayout(row)
        dl.addWidget(self.library_radio)
        dl.addWidget(self.mapping_edit)
        dl.addWidget(self.note)
        return data

    def _params_box(self) -> QGroupBox:
        from model.train.splits import PROTOCOLS

        params = QGroupBox("Protocol and hyperparameters")
        form = QFormLayout(params)
        self.protocol = QComboBox()
        self.protocol.addItems(PROTOCOLS)
        self.protocol.currentTextChanged.connect(self._protocol_changed)
        self.folds = self._spin(2, 20, 10)
        self.valid = self._dspin(0.05, 0.45, 0.1, 2)
        self.test = self._dspin(0.05, 0.45, 0.1, 2)
        self.epochs = self._spin(1, 1000, 100)
        self.batch = self._spin(1, 256, 8)
        self.lr = self._dspin(1e-5, 1.0, 0.01, 5)
        self.clip = self._dspin(0.0, 60.0, 0.0, 2)
        self.clip.setSpecialValueText("30.01 s (paper)")
        self.bn = self._dspin(0.001, 0.5, 0.01, 3)
        self.precise_bn = QCheckBox("recompute BatchNorm statistics over the training set after each epoch")
        self.precise_bn.setChecked(True)
        self.seed = self._spin(0, 1_000_000, 0)
        self.augment = QCheckBox("time/frequency masks, time warp, cell dropout (training batches only)")
        self.device = QComboBox()
        self.device.addItem("auto (best available)", None)
        self.device.addItem("cpu", "cpu")
        self.precision = QComboBox()
        self.precision.addItems(["auto", "fp32", "bf16", "fp16"])
        self.from_model = QComboBox()
        self.model_name = QLineEdit()
        self.model_name.setPlaceholderText("automatic")
        for label, w in (("protocol", self.protocol), ("splits (paper, kfold)", self.folds),
                         ("validation fraction", self.valid), ("test fraction", self.test), ("epochs (at most)", self.epochs),
                         ("batch size", self.batch), ("learning rate", self.lr), ("clip length (s)", self.clip),
                         ("BatchNorm momentum", self.bn), ("precise BatchNorm", self.precise_bn), ("seed", self.seed),
                         ("augmentation", self.augment), ("device", self.device), ("precision", self.precision),
                         ("fine-tune from", self.from_model), ("model name", self.model_name)):
            form.addRow(label, w)
        return params

    def _buttons(self) -> QHBoxLayout:
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume selected run")
        self.estimate_button = QPushButton("Estimate time")
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume_selected)
        self.estimate_button.clicked.connect(self.estimate_time)
        self.stop_button.setEnabled(False)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.stop_button, self.resume_button, self.estimate_button):
            buttons.addWidget(b)
        return buttons

    def _runs_box(self) -> QWidget:
        self.runs_table = QTableWidget(0, 5)
        self.runs_table.setHorizontalHeaderLabels(["run", "status", "protocol", "test accuracy", "model"])
        self.runs_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.runs_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.runs_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.runs_table.horizontalHeader().setStretchLastSection(True)
        self.runs_table.itemSelectionChanged.connect(self._show_selected)
        self.use_button = QPushButton("Use this model")
        self.evaluate_button = QPushButton("Evaluate on…")
        self.evaluate_button.setToolTip("Test the selected run's model on another folder of class folders")
        self.delete_button = QPushButton("Delete run")
        self.use_button.clicked.connect(self.use_selected)
        self.evaluate_button.clicked.connect(lambda: self.evaluate_selected())
        self.delete_button.clicked.connect(self.delete_selected)
        row = QHBoxLayout()
        for b in (self.use_button, self.evaluate_button, self.delete_button):
            row.addWidget(b)
        history = QWidget()
        hl = QVBoxLayout(history)
        hl.addWidget(QLabel("Runs"))
        hl.addWidget(self.runs_table)
        hl.addLayout(row)
        return history

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
        s.setSingleStep(10 ** -decimals * 10 if decimals > 2 else 0.05)
        s.setValue(value)
        return s

    def _protocol_changed(self, protocol: str) -> None:
        self.folds.setEnabled(protocol in ("paper", "kfold"))
        self.valid.setEnabled(protocol == "holdout")
        self.test.setEnabled(protocol == "holdout")

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Data set folder", self.folder_edit.text())
        if path:
            self.folder_edit.setText(path)
            self.folder_radio.setChecked(True)
            self.suggest()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._devices_probed:  # torch is imported when the tab is first shown, not at start
            self._devices_probed = True
            import torch

            if torch.cuda.is_available():
                self.device.addItem(f"cuda ({torch.cuda.get_device_name(0)})", "cuda")
            if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
                self.device.addItem("mps", "mps")

    # -- suggestions and estimates
    def suggest(self) -> None:
        """Protocol, splits, fractions and epochs from the size of the chosen folder."""
        from model.train.datasets import DatasetError, scan_folder
        from model.train.estimate import suggest

        folder = self.folder_edit.text().strip()
        if not folder or self.busy:
            return
        try:
            counts = scan_folder(folder).counts()
        except (DatasetError, OSError) as e:
            self.note.setText(str(e))
            return
        s = suggest(counts)
        self.protocol.setCurrentText(s["protocol"])
        if s["protocol"] in ("paper", "kfold"):
            self.folds.setValue(s["folds"])
        self.valid.setValue(s["valid_frac"])
        self.test.setValue(s["test_frac"])
        self.epochs.setValue(s["epochs"])
        self.note.setText(f"Suggested for {s['why']}. Press Estimate time to see how long it takes here.")

    def estimate_time(self) -> None:
        """Time a few training steps on the chosen device with this run's clip shape, off the GUI thread."""
        if self.busy or (self.helper is not None and self.helper.isRunning()):
            return
        source = self.folder_edit.text().strip() if self.folder_radio.isChecked() else None
        if self.folder_radio.isChecked() and not source:
            self.estimate.setText("Choose a data set folder first.")
            return
        cfg, mapping = self.config(), self.mapping_edit.toPlainText()
        self.estimate.setText("Timing a few training steps…")
        self._run_helper(lambda: _estimate(source, mapping, cfg), self.estimate.setText,
                         lambda m: self.estimate.setText(f"No estimate: {m}"), self.estimate_button)

    def _run_helper(self, fn, on_done, on_failed, button: QPushButton) -> None:
        self.helper = CallThread(fn, self)
        self.helper.done.connect(on_done)
        self.helper.failed.connect(on_failed)
        button.setEnabled(False)
        self.helper.finished.connect(lambda: button.setEnabled(True))
        self.helper.start()

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
        self._update_run_buttons()

    def selected_run(self) -> str | None:
        rows = self.runs_table.selectionModel().selectedRows()
        return self.runs_table.item(rows[0].row(), 0).text() if rows else None

    def _update_run_buttons(self) -> None:
        from model.train.loop import Run

        run_id = self.selected_run()
        report = Run(runs_dir() / run_id).report() if run_id and (runs_dir() / run_id).is_dir() else None
        has_model = bool(report and report.get("model") in model_store().names())
        self.use_button.setEnabled(has_model)
        self.evaluate_button.setEnabled(has_model)
        self.delete_button.setEnabled(bool(run_id) and not (self.busy and self.thread.run_id == run_id))

    def _show_selected(self) -> None:
        from model.train.loop import Run

        self._update_run_buttons()
        run_id = self.selected_run()
        if not run_id or self.busy or not (runs_dir() / run_id).is_dir():
            return
        run = Run(runs_dir() / run_id)
        self.curves.set_folds({k: run.history(k) for k in run.folds_to_train()})
        report = run.report()
        if report:
            self.confusion.show_matrix(report["confusion"], report["classes"],
                                       f"test, {len(report['folds'])} split(s): {report['test_accuracy']:.0%}")
        else:
            self.confusion.show_matrix([], [])

    @property
    def busy(self) -> bool:
        # not only the thread's isRunning(): it turns False before the thread's last signals (failed,
        # done, stopped) reach this tab, and the tab would look idle with its outcome unsaid
        return self._running or (self.thread is not None and self.thread.isRunning())

    def config(self):
        from model.train.loop import TrainConfig

        return TrainConfig(protocol=self.protocol.currentText(), folds=self.folds.value(), epochs=self.epochs.value(),
                           batch_size=self.batch.value(), lr=self.lr.value(), seed=self.seed.value(),
                           valid_frac=self.valid.value(), test_frac=self.test.value(),
                           clip_seconds=self.clip.value() or None, augment=self.augment.isChecked(),
                           from_model=self.from_model.currentData(), model_name=self.model_name.text().strip() or None,
                           device=self.device.currentData(), precision=self.precision.currentText(),
                           bn_momentum=self.bn.value(), precise_bn=self.precise_bn.isChecked())

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
        self.curves.reset()
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
        self.curves.set_folds({k: run.history(k) for k in run.folds_to_train() if run.history(k)})
        self._launch(TrainThread(None, "", None, resume_id=run_id))

    def _launch(self, thread: TrainThread) -> None:
        self.thread = thread
        thread.event.connect(self._on_event)
        thread.run_created.connect(lambda rid: self.refresh_runs(select=rid))
        thread.finished_ok.connect(self._on_done)
        thread.stopped.connect(self._on_stopped)
        thread.failed.connect(self._on_failed)
        thread.finished.connect(self._on_thread_end)
        self.confusion.show_matrix([], [])
        for b in (self.start_button, self.resume_button, self.estimate_button):
            b.setEnabled(False)
        self.stop_button.setEnabled(True)
        self._eta = -1.0
        self._say("Preparing the data set…")
        self._running = True
        thread.start()

    def stop(self) -> None:
        """Stop the running run after its current batch (or evaluation batch); it stays resumable."""
        if self.busy:
            self.thread.request_stop()
            self._say("Stopping after the current batch…")

    def shutdown(self, timeout_ms: int = 60000) -> None:
        """Stop a running run cleanly (resumable) and wait for its thread."""
        if self.thread is not None and self.thread.isRunning():
            self.thread.request_stop()
            self.thread.wait(timeout_ms)
        self._running = self.thread is not None and self.thread.isRunning()
        if self.helper is not None and self.helper.isRunning():
            self.helper.wait(timeout_ms)

    def _release_plots(self) -> None:
        """Destroy the plot views while Qt still runs: left to the interpreter's exit, the confusion
        view's scene crashes PySide6 (segmentation fault after the window closed)."""
        import shiboken6

        for view in (self.confusion, self.curves):
            if shiboken6.isValid(view):
                view.setParent(None)
                shiboken6.delete(view)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def _say(self, text: str, done: float = 0, total: float = 0) -> None:
        self.status.setText(text)
        self.activity.emit(text, float(done), float(total), self._eta)

    def _on_event(self, e) -> None:
        from model.train.estimate import estimate_text, format_seconds

        if e.eta_seconds is not None:
            self._eta = e.eta_seconds
        left = f" · at most {format_seconds(self._eta)} left" if self._eta >= 0 else ""
        where = f"Split {e.fold + 1}/{e.n_folds}, epoch {e.epoch + 1}/{e.epochs}"
        if e.kind == "cache":
            self.progress.setRange(0, e.total)
            self.progress.setValue(e.done)
            self._say(f"Computing mel spectrograms: {e.done} / {e.total} files", e.done, e.total)
        elif e.kind == "estimate" and e.metrics.get("splits_left"):
            m = e.metrics
            self.estimate.setText("Estimate: " + estimate_text(m["epoch_seconds"], m["total_seconds"], e.epochs,
                                                               m["splits_left"], m["device"], m["precision"]))
        elif e.kind == "batch":
            self.progress.setRange(0, e.total)
            self.progress.setValue(e.done)
            self._say(f"{where}: batch {e.done}/{e.total}{left}", e.done, e.total)
        elif e.kind == "phase":
            self._say(f"{where}: {e.message}{left}", self.progress.value(), self.progress.maximum())
        elif e.kind == "epoch":
            self.curves.add(e.fold, e.metrics)
            m = e.metrics
            self._say(f"{where}: loss {m['loss']:.3f}, validation accuracy {m['val_acc']:.1%}{left}")
        elif e.kind == "fold":
            self.confusion.show_matrix(e.metrics["test"]["confusion"], e.metrics["test"]["classes"],
                                       f"test, split {e.fold + 1}: {e.metrics['test_accuracy']:.0%}")
            self.refresh_runs(select=self.thread.run_id if self.thread else None)

    def _on_done(self, report: dict) -> None:
        from model.train.report import chance_warning

        self.confusion.show_matrix(report["confusion"], report["classes"],
                                   f"test, {len(report['folds'])} split(s): {report['test_accuracy']:.0%}")
        skipped = report.get("skipped") or []
        note = f"; {len(skipped)} unreadable file(s) skipped (listed in the report)" if skipped else ""
        warning = chance_warning(report["chosen_fold_test"]["accuracy"], report["chosen_fold_test"]["confusion"])
        self.status.setText(f"Finished: test accuracy {report['test_accuracy']:.1%}; model {report['model']!r} "
                            f"saved{note}." + (f" Careful: {warning}." if warning else ""))
        self.refresh_models()

    def _on_stopped(self, run_id: str) -> None:
        self.status.setText(f"Stopped. Select run {run_id} and press Resume to continue." if run_id
                            else "Stopped before the run started.")

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"Training failed: {message}")

    def _on_thread_end(self) -> None:
        self._running = False
        rid = self.thread.run_id if self.thread else None
        for b in (self.start_button, self.resume_button, self.estimate_button):
            b.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.refresh_runs(select=rid)
        self.activity.emit(self.status.text(), 0.0, -1.0, -1.0)

    # -- runs
    def _confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.warning(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                     QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def use_selected(self) -> None:
        from model.store import ModelStoreError
        from model.train.loop import Run
        from model.train.report import chance_warning

        run_id = self.selected_run()
        report = Run(runs_dir() / run_id).report() if run_id else None
        if not report:
            self.status.setText("Select a finished run first.")
            return
        warning = chance_warning(report["chosen_fold_test"]["accuracy"], report["chosen_fold_test"]["confusion"])
        if warning and not self._confirm("Use a model near chance?",
                                         f"{report['model']}: {warning}.\n\nMake it the active model anyway?"):
            self.status.setText(f"{report['model']} was not activated.")
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

    def delete_selected(self) -> None:
        from model.train.loop import Run, TrainError, delete_run

        run_id = self.selected_run()
        if not run_id:
            return
        if self.busy and self.thread.run_id == run_id:
            self.status.setText("Stop this run before deleting it.")
            return
        running = Run(runs_dir() / run_id).state().get("status") == "running"
        extra = " It is marked running: if another Cratedigger trains it now, that run fails." if running else ""
        if not self._confirm("Delete run?", f"Delete run {run_id} with its curves, splits and checkpoints? "
                                            f"Its model stays in the model store.{extra}"):
            return
        try:
            delete_run(runs_dir(), run_id, force=True)
        except (TrainError, OSError) as e:
            self.status.setText(f"Could not delete {run_id}: {e}")
            return
        self.status.setText(f"Deleted run {run_id}.")
        self.curves.reset()
        self.confusion.show_matrix([], [])
        self.refresh_runs()

    def evaluate_selected(self, folder: str | None = None) -> None:
        """Test the selected run's model on another folder of class folders, off the GUI thread."""
        from model.train.loop import Run

        run_id = self.selected_run()
        report = Run(runs_dir() / run_id).report() if run_id else None
        if not report or (self.helper is not None and self.helper.isRunning()):
            return
        folder = folder or QFileDialog.getExistingDirectory(self, "Evaluate on which data set?", self.folder_edit.text())
        if not folder:
            return
        self.status.setText(f"Evaluating {report['model']} on {folder}…")
        self._run_helper(lambda: _evaluate(report["model"], folder, self.device.currentData()), self._on_evaluated,
                         lambda m: self.status.setText(f"Evaluation failed: {m}"), self.evaluate_button)

    def _on_evaluated(self, metrics: dict) -> None:
        name = Path(metrics["dataset"]).name
        self.confusion.show_matrix(metrics["confusion"], metrics["classes"], f"{name}: {metrics['accuracy']:.0%}")
        left_out = metrics["unknown_classes"]
        self.status.setText(f"{metrics['model']} on {metrics['dataset']}: accuracy {metrics['accuracy']:.1%} "
                            f"({metrics['n']} files)" + (f"; classes the model does not know were left out: "
                                                         f"{', '.join(left_out)}" if left_out else "")
                            + f". Report: {metrics['report']}")


def _estimate(source: str | None, mapping_text: str, cfg) -> str:
    from model.device import pick_device
    from model.train.estimate import estimate_text, measure, run_seconds, split_sizes
    from model.train.loop import _resolve_precision, run_spec

    dataset = _dataset(source, mapping_text)
    base = model_store().manifest(cfg.from_model).spec if cfg.from_model else None
    spec = run_spec(cfg, base)
    device = pick_device(cfg.device)
    precision = _resolve_precision(cfg.precision, device)
    timing = measure(len(dataset.classes), spec.n_frames, spec.n_mels, cfg.batch_size, device, precision)
    splits = split_sizes(cfg.protocol, len(dataset.items), cfg.folds, cfg.valid_frac, cfg.test_frac)
    per_epoch = timing.epoch(splits[0]["train"], splits[0]["valid"], cfg.batch_size, cfg.precise_bn)
    total = run_seconds(timing, splits, cfg.epochs, cfg.batch_size, cfg.precise_bn)
    return f"{len(dataset.items)} files: " + estimate_text(per_epoch, total, cfg.epochs, len(splits), str(device),
                                                           precision)


def _evaluate(model_name: str, folder: str, device_name: str | None) -> dict:
    from model.device import pick_device
    from model.train.datasets import scan_folder
    from model.train.evaluate import evaluate_dataset

    model, manifest = model_store().load(model_name)
    return evaluate_dataset(model, manifest, scan_folder(folder), cache_dir() / "mels", runs_dir() / "evaluations",
                            pick_device(device_name))
