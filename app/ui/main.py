"""Start the Qt application and the main window (or render it to a picture and exit)."""

from __future__ import annotations

import sys


def run(screenshot: str | None = None, view: str | None = None, track: str | None = None) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.desktop import APP_ID

    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Cratedigger")
    app.setOrganizationName("Cratedigger")
    app.setDesktopFileName(APP_ID)  # lets Wayland compositors find the menu entry and its icon
    app.setStyle("Fusion")  # follows the system palette (light or dark) on every platform
    window = MainWindow()
    if track:
        window.open_track(track)
    if view:
        window.show_view(view)
    window.show()
    if screenshot:
        window.resize(1280, 820)  # the same size every time, whatever was saved

        def grab() -> None:
            window.grab().save(screenshot)
            window.close()
            app.quit()

        QTimer.singleShot(1500, grab)
    return finish(app.exec())


def finish(code: int) -> int:
    """Leave at once when a cancelled task is still winding down (a scan stopping between two
    tracks): its work is committed track by track, and waiting would freeze the closing app."""
    from .tasks import lingering

    if lingering():
        import logging
        import os

        logging.getLogger(__name__).warning("leaving while a background task is still stopping")
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
