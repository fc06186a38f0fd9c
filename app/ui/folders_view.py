"""The Folders view: music folders (add, remove, drop), scan / rescan, optional watching with a
debounced rescan, and the list of files that could not be analysed."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QListWidget, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from app.library.fspath import from_db

from .context import AppContext

DEBOUNCE_MS = 5000


class FoldersView(QWidget):
    scan_requested = Signal(list)  # folders, or [] for all
    retry_requested = Signal()  # scan all folders, the files that failed before included

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.list = QListWidget()
        add = QPushButton("Add folder…")
        add.clicked.connect(self._add_dialog)
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove)
        scan = QPushButton("Scan now")
        scan.clicked.connect(lambda: self.scan_requested.emit([]))
        self.watch = QCheckBox("Watch folders and rescan on changes")
        self.watch.setChecked(ctx.settings.value("watch", "false") == "true")
        self.watch.toggled.connect(self._watch_toggled)
        buttons = QHBoxLayout()
        for w in (add, remove, scan, self.watch):
            buttons.addWidget(w)
        buttons.addStretch(1)
        self.errors = QTableWidget(0, 3)
        self.errors.setHorizontalHeaderLabels(["File", "Reason", "Detail"])
        self.errors.verticalHeader().setVisible(False)
        self.errors.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.errors.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.errors.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.hint = QLabel("Drop folders anywhere on the window to add them.")
        self.hint.setStyleSheet("color: gray")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Music folders"))
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.hint)
        self.error_label = QLabel("Files that could not be analysed")
        self.retry = QPushButton("Try them again")
        self.retry.setToolTip("A scan skips these files until they change; this scan reads them again.")
        self.retry.clicked.connect(self.retry_requested.emit)
        error_row = QHBoxLayout()
        error_row.addWidget(self.error_label)
        error_row.addStretch(1)
        error_row.addWidget(self.retry)
        layout.addLayout(error_row)
        layout.addWidget(self.errors, 2)
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._changed)
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(DEBOUNCE_MS)
        self.debounce.timeout.connect(lambda: self.scan_requested.emit([]))
        ctx.library_changed.connect(self.reload)
        self.reload()

    def reload(self) -> None:
        self.list.clear()
        folders = [from_db(f["path"]) for f in self.ctx.library.folders()]
        self.list.addItems(folders)
        errors = self.ctx.library.errors()
        self.error_label.setText(f"Files that could not be analysed ({len(errors)})")
        self.retry.setEnabled(bool(errors))
        self.errors.setRowCount(len(errors))
        for r, e in enumerate(errors):
            for c, value in enumerate((e["display_path"], e["reason"], e["detail"])):
                self.errors.setItem(r, c, QTableWidgetItem(value or ""))
        self._watch_toggled(self.watch.isChecked())

    def add_folders(self, paths: list[str], scan: bool = True) -> None:
        added = [p for p in paths if Path(p).is_dir()]
        for p in added:
            self.ctx.library.add_folder(p)
        self.reload()
        if added and scan:
            self.scan_requested.emit(added)

    def _add_dialog(self) -> None:
        start = str(Path.home() / "Music") if (Path.home() / "Music").is_dir() else str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Add a music folder", start)
        if folder:
            self.add_folders([folder])

    def _remove(self) -> None:
        items = self.list.selectedItems()
        if not items or not self._confirm_remove([item.text() for item in items]):
            return
        for item in items:
            self.ctx.library.remove_folder(item.text())
        self.reload()
        self.ctx.library_changed.emit()

    def _confirm_remove(self, folders: list[str]) -> bool:
        from PySide6.QtWidgets import QMessageBox

        names = "\n".join(folders)
        answer = QMessageBox.question(self, "Remove folders", f"Remove from the library, forgetting their tracks "
                                      f"and analyses?\n\n{names}\n\nYour music files are not touched.")
        return answer == QMessageBox.StandardButton.Yes

    def _watch_toggled(self, on: bool) -> None:
        self.ctx.settings.setValue("watch", "true" if on else "false")
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        if on:
            dirs = []
            for f in (from_db(f["path"]) for f in self.ctx.library.folders()):
                root = Path(f)
                if root.is_dir():
                    dirs.append(str(root))
                    dirs += [str(p) for p in root.rglob("*") if p.is_dir()][:2000]
            if dirs:
                self.watcher.addPaths(dirs)

    def _changed(self, _path: str) -> None:
        self.debounce.start()  # many events from one copy become one rescan
