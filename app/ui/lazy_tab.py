"""A tab that builds its real widget the first time it is shown, so its imports wait until then.

The Training tab needs torch and scikit-learn (seconds to import); building it on first view keeps
them out of the app's start. Its heavy modules are imported on a background thread first, and
only the widget is built on the GUI thread once they are in. The event loop keeps running, but
not freely: loading torch's libraries holds the GIL in pieces (gaps of 150-180 ms measured,
instead of one 2-s freeze); the app's own heavy work (model import, map) runs in processes.
"""

from __future__ import annotations

import threading
from typing import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class LazyTab(QWidget):
    POLL_MS = 30

    def __init__(self, build: Callable[[], QWidget], on_built: Callable[[QWidget], None] | None = None,
                 parent: QWidget | None = None, preload: Callable[[], None] | None = None) -> None:
        super().__init__(parent)
        self._build, self._on_built, self._preload = build, on_built, preload
        self._loader: threading.Thread | None = None
        self.widget: QWidget | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._loading = QLabel("Loading…")
        self._loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self._loading)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self.widget is None and self._build is not None and self._loader is None:
            if self._preload is None:
                QTimer.singleShot(0, self.ensure_built)  # "Loading…" paints first
                return
            self._loader = threading.Thread(target=self._run_preload, name="tab-preload", daemon=True)
            self._loader.start()
            QTimer.singleShot(self.POLL_MS, self._build_when_loaded)

    def _run_preload(self) -> None:
        try:
            self._preload()
        except Exception:  # noqa: BLE001 - the build on the GUI thread imports again and reports it
            pass

    def _build_when_loaded(self) -> None:
        if self._loader is not None and self._loader.is_alive():
            QTimer.singleShot(self.POLL_MS, self._build_when_loaded)
        elif self.widget is None and self._build is not None:
            self.ensure_built()

    def ensure_built(self) -> QWidget:
        """The real widget, built now if it was not yet."""
        if self.widget is None:
            build, self._build = self._build, None
            self.widget = build()
            self._loading.hide()
            self.layout().addWidget(self.widget)
            self.widget.show()  # a child added to a widget already shown stays hidden until shown
            if self._on_built is not None:
                self._on_built(self.widget)
        return self.widget
