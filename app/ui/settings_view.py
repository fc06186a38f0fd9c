"""The Settings page: how scans analyse (window policy, decode workers, precision), which models
analysed this library, and the look (follow the system's theme, or light / dark)."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QApplication, QComboBox, QFormLayout, QGroupBox, QLabel, QSpinBox, QVBoxLayout,
                               QWidget)

from .context import AppContext

POLICIES = [("default", "A few windows per track (fast)"), ("all", "Every 30-second window (thorough)"),
            ("1", "One window per track (fastest)")]
PRECISIONS = [("auto", "Automatic (fp16 on a GPU, fp32 on the CPU)"), ("fp32", "fp32"), ("bf16", "bf16"),
              ("fp16", "fp16 (GPU only)")]
THEMES = [("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")]


def scan_options(settings) -> dict:
    """The scan() keyword arguments the user chose."""
    workers = settings.value("scan/workers", None)
    return {"policy": str(settings.value("scan/policy", "default")),
            "workers": None if workers in (None, "", "auto") else int(workers),
            "precision": str(settings.value("scan/precision", "auto"))}


def apply_theme(name: str) -> None:
    """'system' keeps the platform palette; 'dark' and 'light' set Fusion palettes."""
    app = QApplication.instance()
    if app is None:
        return
    if name == "system":
        app.setPalette(app.style().standardPalette())
        return
    palette = QPalette()
    if name == "dark":
        colours = {QPalette.ColorRole.Window: "#2b2b2b", QPalette.ColorRole.WindowText: "#e6e6e6",
                   QPalette.ColorRole.Base: "#1f1f1f", QPalette.ColorRole.AlternateBase: "#2a2a2a",
                   QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#353535",
                   QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.Highlight: "#2f65ca",
                   QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#353535",
                   QPalette.ColorRole.ToolTipText: "#e6e6e6", QPalette.ColorRole.PlaceholderText: "#8a8a8a",
                   QPalette.ColorRole.Mid: "#555555"}
        for role, colour in colours.items():
            palette.setColor(role, QColor(colour))
    app.setPalette(palette)


def _combo(options: list[tuple[str, str]], current: str) -> QComboBox:
    combo = QComboBox()
    for value, text in options:
        combo.addItem(text, value)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


class SettingsView(QWidget):
    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        s = ctx.settings
        options = scan_options(s)
        self.policy = _combo(POLICIES, options["policy"])
        self.workers = QSpinBox()
        self.workers.setRange(0, max(1, os.cpu_count() or 1))
        self.workers.setSpecialValueText("automatic")
        self.workers.setValue(options["workers"] or 0)
        self.precision = _combo(PRECISIONS, options["precision"])
        self.theme = _combo(THEMES, str(s.value("ui/theme", "system")))
        scan_box = QGroupBox("Analysis (applies to the next scan)")
        form = QFormLayout(scan_box)
        form.addRow("Windows per track:", self.policy)
        form.addRow("Decode workers:", self.workers)
        form.addRow("Precision:", self.precision)
        self.models = QLabel("")
        self.models.setWordWrap(True)
        self.models.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        models_box = QGroupBox("Models used in this library")
        QVBoxLayout(models_box).addWidget(self.models)
        look = QGroupBox("Appearance")
        QFormLayout(look).addRow("Theme:", self.theme)
        layout = QVBoxLayout(self)
        for w in (scan_box, models_box, look):
            layout.addWidget(w)
        layout.addStretch(1)
        self.policy.currentIndexChanged.connect(lambda _: s.setValue("scan/policy", self.policy.currentData()))
        self.workers.valueChanged.connect(lambda v: s.setValue("scan/workers", v if v else "auto"))
        self.precision.currentIndexChanged.connect(lambda _: s.setValue("scan/precision", self.precision.currentData()))
        self.theme.currentIndexChanged.connect(self._theme)
        ctx.model_changed.connect(self.reload)
        ctx.library_changed.connect(self.reload)
        self.reload()

    def _theme(self, _=None) -> None:
        name = self.theme.currentData()
        self.ctx.settings.setValue("ui/theme", name)
        apply_theme(name)

    def reload(self) -> None:
        status = self.ctx.library.status()
        active = status["active_model"]
        lines = [f"{'● ' if name == active else ''}{name}: {count} tracks analysed"
                 for name, count in status["analysed"].items()]
        if active and active not in status["analysed"]:
            lines.insert(0, f"● {active}: nothing analysed yet")
        self.models.setText("\n".join(lines) or "No model has analysed this library yet.")
