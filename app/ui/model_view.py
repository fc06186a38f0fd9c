"""The Model view: the active model's card, fetching the authors' model, importing a file,
switching models (then offering to analyse the library with it), and the MusiCNN tagger
(get it, switch it on or off)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QListWidget,
                               QMessageBox, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from model.authors_weights import DEFAULT_FOLD
from model.store import ModelStoreError

from .context import AppContext

FETCH_NOTE = ("The BBNN authors' trained model (about 2.5 MB) is downloaded from their public GitHub repository "
              "CaifengLiu/music-genre-classification, checked against its known sha256 and converted here.")


MUSICNN_NOTE = ("MusiCNN (Pons and Serra, MTG-UPF; ISC licence) hears mood, style, instrumentation and decade tags "
                "(chill, mellow, happy, sad, party, guitar, 80s...) and sharpens \"more like this\". Its weights come "
                "from the musicnn 0.1.0 package on the Python package index (29 MB, sha256 checked).")


def weak_model_text(manifest) -> str | None:
    """A sentence when a model's known test accuracy is near chance (below half, or below twice
    chance), else None (also when its accuracy is unknown)."""
    metrics = manifest.metrics or {}
    acc = metrics.get("test_accuracy", metrics.get("mean_test_accuracy_over_folds"))
    chance = 1.0 / max(1, len(manifest.classes))
    if not isinstance(acc, (int, float)) or acc >= max(0.5, 2 * chance):
        return None
    return (f"{manifest.name} scored {acc:.0%} on its test data (chance is {chance:.0%}): its genres and map "
            "will mostly be noise.")


class ModelView(QWidget):
    fetch_requested = Signal(str, int)
    import_requested = Signal(str)  # a file to import (in the background)
    musicnn_fetch_requested = Signal()
    reanalyse_requested = Signal()

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.card = QGroupBox("Active model")
        self.fields = {k: QLabel("") for k in ("name", "classes", "accuracy", "source", "sha256", "input")}
        form = QFormLayout(self.card)
        for key, label in (("name", "Name"), ("classes", "Classes"), ("accuracy", "Known accuracy"),
                           ("source", "Where it came from"), ("sha256", "Source sha256"), ("input", "Input")):
            self.fields[key].setWordWrap(True)
            form.addRow(label + ":", self.fields[key])
        self.models = QListWidget()
        self.models.setMaximumHeight(160)
        use = QPushButton("Use selected model")
        use.clicked.connect(self._use)
        use_row = QHBoxLayout()
        use_row.addWidget(use)
        use_row.addStretch(1)
        self.dataset = QComboBox()
        self.dataset.addItems(["gtzan", "extballroom"])
        self.fold = QSpinBox()
        self.fold.setRange(0, 9)
        self.fold.setValue(DEFAULT_FOLD)
        fetch = QPushButton("Fetch the authors' model")
        fetch.clicked.connect(lambda: self.fetch_requested.emit(self.dataset.currentText(), self.fold.value()))
        importer = QPushButton("Import a file…")
        importer.clicked.connect(self._import)
        fetch_row = QHBoxLayout()
        for w in (QLabel("Data set"), self.dataset, QLabel("Fold"), self.fold, fetch, importer):
            fetch_row.addWidget(w)
        fetch_row.addStretch(1)
        note = QLabel(FETCH_NOTE)
        note.setWordWrap(True)
        note.setStyleSheet("color: gray")
        layout = QVBoxLayout(self)
        layout.addWidget(self.card)
        layout.addWidget(self._musicnn_box())
        layout.addWidget(QLabel("Models on this computer"))
        layout.addWidget(self.models)
        layout.addLayout(use_row)
        layout.addLayout(fetch_row)
        layout.addWidget(note)
        layout.addStretch(1)
        ctx.model_changed.connect(self.reload)
        self.reload()

    def _musicnn_box(self) -> QGroupBox:
        box = QGroupBox("MusiCNN tagger")
        self.musicnn_status = QLabel("")
        self.musicnn_status.setWordWrap(True)
        self.musicnn_fetch = QPushButton("Get MusiCNN")
        self.musicnn_fetch.clicked.connect(self.musicnn_fetch_requested.emit)
        self.musicnn_on = QCheckBox("Hear tracks with MusiCNN too when scanning")
        self.musicnn_on.setChecked(self.ctx.settings.value("analysis/musicnn", "true") != "false")
        self.musicnn_on.toggled.connect(lambda on: self.ctx.settings.setValue("analysis/musicnn", "true" if on else "false"))
        note = QLabel(MUSICNN_NOTE)
        note.setWordWrap(True)
        note.setStyleSheet("color: gray")
        row = QHBoxLayout()
        row.addWidget(self.musicnn_fetch)
        row.addWidget(self.musicnn_on)
        row.addStretch(1)
        inner = QVBoxLayout(box)
        inner.addWidget(self.musicnn_status)
        inner.addLayout(row)
        inner.addWidget(note)
        return box

    def _reload_musicnn(self) -> None:
        try:
            tagger = self.ctx.store.musicnn()
        except ModelStoreError as e:
            tagger, problem = None, str(e)
        else:
            problem = None
        if tagger:
            self.musicnn_status.setText(f"{tagger.name}: {len(tagger.classes)} tags, from {tagger.source}")
        else:
            self.musicnn_status.setText(problem or "Not installed: press Get MusiCNN, or run "
                                                   "'cratedigger model fetch musicnn'. Without it the app works "
                                                   "with the genre model alone.")
        self.musicnn_fetch.setVisible(tagger is None)

    def reload(self) -> None:
        self._reload_musicnn()
        active = self.ctx.store.active()
        self.models.clear()
        for m in self.ctx.store.list():
            self.models.addItem(("● " if active and m.name == active.name else "   ") + m.name)
        if active is None:
            for label in self.fields.values():
                label.setText("")
            self.fields["name"].setText("No model yet: fetch the authors' model or import a file.")
            return
        metrics = active.metrics
        acc = metrics.get("test_accuracy", metrics.get("mean_test_accuracy_over_folds"))
        self.fields["name"].setText(active.name)
        self.fields["classes"].setText(", ".join(active.classes))
        where = metrics.get("evaluated_on", "")
        self.fields["accuracy"].setText(f"{acc:.1%}" + (f" – {where}" if where else "") if isinstance(acc, float) else "unknown")
        self.fields["source"].setText(active.source)
        self.fields["sha256"].setText(active.source_sha256 or "")
        spec = active.spec
        self.fields["input"].setText(f"{spec.n_frames} × {spec.n_mels} log-mel, {spec.clip_seconds:.1f} s at {spec.sample_rate} Hz")

    def _accuracy_ok(self, name: str) -> bool:
        """A model no better than chance is only used when the user insists."""
        try:
            manifest = self.ctx.store.manifest(name)
        except ModelStoreError:
            return True
        weak = weak_model_text(manifest)
        return weak is None or QMessageBox.question(
            self, "A weak model", f"{weak} Use it anyway?") == QMessageBox.StandardButton.Yes

    def keep_if_weak(self, manifest, previous: str | None) -> bool:
        """After an import made `manifest` the active model: if it is weak, ask whether to keep it;
        No goes back to `previous`. Returns whether it stays active."""
        weak = weak_model_text(manifest)
        if weak is None or not previous or previous == manifest.name:
            return True
        if QMessageBox.question(self, "A weak model", f"{weak} Use it anyway? (No: keep using {previous}; "
                                f"{manifest.name} stays on this computer.)") == QMessageBox.StandardButton.Yes:
            return True
        try:
            self.ctx.store.use(previous)
        except ModelStoreError as e:
            QMessageBox.warning(self, "Cratedigger", str(e))
            return True
        return False

    def _selected_name(self) -> str | None:
        item = self.models.currentItem()
        return item.text()[3:].strip() if item else None

    def _use(self) -> None:
        name = self._selected_name()
        if not name or not self._accuracy_ok(name):
            return
        try:
            self.ctx.store.use(name)
        except ModelStoreError as e:
            QMessageBox.warning(self, "Cratedigger", str(e))
            return
        self.ctx.model_changed.emit()
        self.offer_reanalysis()

    def offer_reanalysis(self) -> None:
        pending = self.ctx.library.status().get("pending") or 0
        previous = self.ctx.library.previous_model()
        meanwhile = (f"\n\nUntil then the library, the map and “more like this” show "
                     f"{self.ctx.library.model_name(previous)}'s results for them." if previous else "")
        if pending and QMessageBox.question(
                self, "Analyse the library?",
                f"{pending} tracks have not been analysed with {self.ctx.model_name}. Analyse them now?{meanwhile}"
        ) == QMessageBox.StandardButton.Yes:
            self.reanalyse_requested.emit()

    def _import(self) -> None:
        downloads = Path.home() / "Downloads"
        start = self.ctx.settings.value("last_model_dir", str(downloads if downloads.is_dir() else Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Import a model", start, "Models (*.hdf5 *.h5 *.safetensors)")
        if path:
            self.ctx.settings.setValue("last_model_dir", str(Path(path).parent))
            self.import_requested.emit(path)
