"""Render the app icon (app/resources/<APP_ID>.svg) into the raster formats the bundles need:
cratedigger.png (256 px, the AppImage's .DirIcon), cratedigger.ico (Windows), cratedigger.icns (macOS).

    python packaging/make_icons.py OUT_DIR

Uses Qt's own SVG renderer and image writers, so it needs nothing beyond the app's dependencies.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SVG = Path(__file__).resolve().parents[1] / "app" / "resources" / "org.cratedigger.Cratedigger.svg"


def render(size: int):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(SVG)).render(painter)
    painter.end()
    return image


def main(out_dir: str) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 (image plugins need an application)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    image = render(256)  # 256 px: the largest size an .ico holds; .icns scales it
    for name, fmt in (("cratedigger.png", "PNG"), ("cratedigger.ico", "ICO"), ("cratedigger.icns", "ICNS")):
        if not image.save(str(out / name), fmt):
            print(f"make_icons: Qt could not write {fmt}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/icons"))
