"""When the library cannot be used: the same choices as `cratedigger repair`, in a dialog.

`damaged_dialog` offers to restore the newest good backup, to save what can be read, or to quit;
`install_excepthook` makes an error nobody caught end in a message box (and the log), never in
a traceback on the terminal: a damaged database there leads to the same dialog.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path
from typing import Callable

from PySide6.QtWidgets import QMessageBox, QWidget

from app.library import LibraryError
from app.library.safety import list_backups, problems, repair

log = logging.getLogger(__name__)


def is_damage(error: BaseException) -> bool:
    text = str(error)
    return isinstance(error, (LibraryError, sqlite3.DatabaseError)) and ("malformed" in text or "damaged" in text
                                                                         or "not a database" in text)


def damaged_dialog(library_path: Path, message: str, parent: QWidget | None = None) -> bool:
    """Ask what to do with a damaged library; True once it was repaired (the caller reopens it)."""
    good = next((b for b in list_backups(library_path) if not problems(b)), None)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle("The library is damaged")
    box.setText(f"The library {library_path} is damaged and cannot be read completely.")
    box.setDetailedText(message)
    box.setInformativeText(
        (f"The newest good backup is {good.name}; tracks analysed since then will be analysed again by the next scan."
         if good else "There is no good backup; what can still be read can be saved into a new library.")
        + "\nThe damaged file is kept beside the library either way.")
    restore = box.addButton("Restore backup", QMessageBox.ButtonRole.AcceptRole) if good else None
    salvage = box.addButton("Save what can be read", QMessageBox.ButtonRole.ActionRole)
    box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    box.exec()
    clicked = box.clickedButton()
    if clicked is None or clicked not in (restore, salvage):
        return False
    try:
        result = repair(library_path, salvage=clicked is salvage, backup=good if clicked is restore else None)
    except (LibraryError, OSError, sqlite3.Error) as e:
        QMessageBox.critical(parent, "Repair failed", f"{e}\nThe files are as they were.")
        return False
    QMessageBox.information(parent, "Library repaired",
                            f"{result.rows.get('tracks', 0)} tracks and {result.rows.get('analyses', 0)} analyses "
                            f"are back. The damaged file is kept as {result.damaged}.")
    return True


def install_excepthook(library_path: Callable[[], Path], on_repaired: Callable[[], None],
                       log_file: Path | None) -> None:
    """Uncaught errors in the GUI end in a dialog (damage: the repair dialog), logged, not printed."""
    def hook(kind, error, tb) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, tb)
            return
        log.info("uncaught error in the app", exc_info=(kind, error, tb))
        if is_damage(error):
            if damaged_dialog(library_path(), str(error)):
                on_repaired()
            return
        where = f"\nThe details are in {log_file}." if log_file else ""
        QMessageBox.warning(None, "Something went wrong", f"{kind.__name__}: {error}{where}")

    sys.excepthook = hook
