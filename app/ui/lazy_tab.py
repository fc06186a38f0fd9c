"""A tab that builds its real widget the first time it is shown, so its imports wait until then.

The Training tab needs torch and scikit-learn (seconds to import); building it on first view keeps
them out of the app's start. The tab says "Loading…" while the widget is built.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class LazyTab(QWidget):
    def __init__(self, build: Callable[[], QWidget], on_built: Callable[[QWidget], None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._build, self._on_built = build, on_built
        self.widget: QWidget | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._loading = QLabel("Loading…")
        self._loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self._loading)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self.widget is None and self._build is not None:
            QTimer.singleShot(0, self.ensure_built)  # "Loading…" paints first

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
