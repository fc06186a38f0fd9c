"""Start the Qt application and the main window."""

from __future__ import annotations

import sys


def run(screenshot: str | None = None, view: str | None = None) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Cratedigger")
    app.setOrganizationName("Cratedigger")
    window = MainWindow()
    if view:
        window.show_view(view)
    window.show()
    if screenshot:
        def grab() -> None:
            window.grab().save(screenshot)
            window.close()
            app.quit()

        QTimer.singleShot(800, grab)
    return app.exec()
