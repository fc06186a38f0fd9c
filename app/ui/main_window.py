"""The main window: toolbar, views, and a status bar with progress. (Shell; views fill in.)"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Cratedigger")
        self.resize(1200, 800)
        self.tabs = QTabWidget()
        self.setCentralWidget(self.tabs)
        self.tabs.addTab(QLabel("Your library will appear here."), "Library")
        self.statusBar().showMessage("Ready")

    def show_view(self, name: str) -> None:
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i).lower() == name:
                self.tabs.setCurrentIndex(i)
