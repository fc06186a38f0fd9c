"""First run: two steps, get the model and add a music folder; then the scan starts."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout,
                               QWidget)

from model.authors_weights import DEFAULT_FOLD

from .context import AppContext


class WelcomePage(QWidget):
    fetch_requested = Signal(str, int)
    import_requested = Signal()
    start_requested = Signal(str)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        title = QLabel("Welcome to Cratedigger")
        title.setStyleSheet("font-size: 22pt; font-weight: 600")
        intro = QLabel("Cratedigger listens to your music and sorts it by how it sounds: genres, a map of "
                       "clusters, and “more like this” from any track. Everything stays on this computer.")
        intro.setWordWrap(True)
        self.step1 = QGroupBox("1. Get the genre model")
        self.model_state = QLabel("")
        self.model_state.setWordWrap(True)
        fetch = QPushButton(f"Download the authors' model (GTZAN, fold {DEFAULT_FOLD}, about 2.5 MB)")
        fetch.clicked.connect(lambda: self.fetch_requested.emit("gtzan", DEFAULT_FOLD))
        importer = QPushButton("Import a model file…")
        importer.clicked.connect(self.import_requested.emit)
        source = QLabel("From the BBNN authors' public repository on GitHub (CaifengLiu/music-genre-classification); "
                        "its checksum is verified before use.")
        source.setWordWrap(True)
        source.setStyleSheet("color: gray")
        row1 = QHBoxLayout()
        row1.addWidget(fetch)
        row1.addWidget(importer)
        row1.addStretch(1)
        box1 = QVBoxLayout(self.step1)
        box1.addWidget(self.model_state)
        box1.addLayout(row1)
        box1.addWidget(source)
        self.step2 = QGroupBox("2. Add your music folder")
        self.folder = QLineEdit()  # never pre-filled: one click must not scan a whole home folder
        self.folder.setPlaceholderText("Choose the folder that holds your music…")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self._choose)
        self.start = QPushButton("Start listening")
        self.start.setDefault(True)
        self.start.clicked.connect(lambda: self.start_requested.emit(self.folder.text().strip()))
        self.folder.textChanged.connect(lambda _: self.reload())
        row2 = QHBoxLayout()
        row2.addWidget(self.folder, 1)
        row2.addWidget(choose)
        row2.addWidget(self.start)
        QVBoxLayout(self.step2).addLayout(row2)
        layout = QVBoxLayout(self)
        layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        layout.setContentsMargins(60, 40, 60, 40)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addSpacing(20)
        layout.addWidget(self.step1)
        layout.addWidget(self.step2)
        ctx.model_changed.connect(self.reload)
        self.reload()

    def reload(self) -> None:
        active = self.ctx.store.active()
        self.model_state.setText(f"✓ {active.name} is ready." if active else "No model yet.")
        self.model_state.setStyleSheet("")
        self.step2.setEnabled(active is not None)
        self.start.setEnabled(active is not None and bool(self.folder.text().strip()))

    def show_problem(self, text: str) -> None:
        """A failed download or import, until the next success."""
        if self.ctx.store.active() is None:
            self.model_state.setText(text)
            self.model_state.setStyleSheet("color: #c0392b")

    def _choose(self) -> None:
        music = Path.home() / "Music"
        start = self.folder.text() or str(music if music.is_dir() else Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Your music folder", start)
        if folder:
            self.folder.setText(folder)
