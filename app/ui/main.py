"""Start the Qt application and the main window (or render it to a picture and exit).

A library that cannot be opened because it is damaged brings up the repair dialog (see
recovery.py) instead of a traceback; after a repair the window opens on the repaired library.
"""

from __future__ import annotations

import sqlite3
import sys


def run(screenshot: str | None = None, view: str | None = None, track: str | None = None) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.desktop import APP_ID
    from app.home import library_path, logs_dir

    from .recovery import install_excepthook

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Cratedigger")
    app.setOrganizationName("Cratedigger")
    app.setDesktopFileName(APP_ID)  # lets Wayland compositors find the menu entry and its icon
    app.setStyle("Fusion")  # follows the system palette (light or dark) on every platform
    window = _open_window(interactive=not screenshot)
    if window is None:
        return 1
    state = {"window": window}

    def reopen() -> None:
        old = state["window"]
        old.close()
        state["window"] = _open_window(interactive=True)
        if state["window"] is None:
            app.quit()
        else:
            state["window"].show()

    if not screenshot:
        install_excepthook(library_path, reopen, logs_dir() / "cratedigger.log")
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


def _open_window(interactive: bool):
    """The main window; on a damaged library, the repair dialog first (None: the user quit).
    Without a user to ask (screenshots) the error goes up to the command line's one-line report."""
    from PySide6.QtWidgets import QMessageBox

    from app.home import library_path
    from app.library import LibraryError

    from .main_window import MainWindow
    from .recovery import damaged_dialog, is_damage

    while True:
        try:
            return MainWindow()
        except (LibraryError, sqlite3.DatabaseError) as e:
            if not interactive:
                raise
            if is_damage(e):
                if damaged_dialog(library_path(), str(e)):
                    continue
                return None
            QMessageBox.critical(None, "Cratedigger cannot open the library", str(e))
            return None
