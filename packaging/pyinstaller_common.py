"""What the three PyInstaller specs (linux/, windows/, macos/) share: the entry script, the
package data, hidden imports, module excludes, and the trim that keeps test folders, C/C++
headers, CUDA libraries and unused Qt modules out of the bundle, with a report of what it saved.

A spec does:
    sys.path.insert(0, str(Path(SPECPATH).parent)); import pyinstaller_common as common
    a = Analysis(**common.analysis_options())
    common.trim(a, report=Path(workpath) / "trim-report.txt")
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
from pathlib import Path

from PyInstaller.utils.hooks import collect_data_files, collect_submodules

PACKAGING = Path(__file__).resolve().parent
REPO = PACKAGING.parent
ENTRY = PACKAGING / "entry.py"
APP_ID = "org.cratedigger.Cratedigger"
ICON_SVG = REPO / "app" / "resources" / f"{APP_ID}.svg"

# Python modules nobody imports at run time (checked: none of them is in sys.modules after importing
# every module of app/ and model/; torch.testing._internal is, through torch.utils.checkpoint) (tools, notebooks, other Qt bindings, test suites).
EXCLUDED_MODULES = [
    "tkinter", "_tkinter", "IPython", "ipykernel", "jupyter_client", "notebook", "pytest", "_pytest", "pytestqt",
    "PyInstaller", "pip", "PyQt5", "PyQt6", "PySide2",
    "torch.utils.tensorboard", "tensorboard", "torch.utils.benchmark",
    "matplotlib.tests", "numba.tests", "numpy.tests", "scipy.conftest", "sklearn.conftest",
    "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets", "PySide6.QtWebEngineQuick", "PySide6.QtQml",
    "PySide6.QtQuick", "PySide6.Qt3DCore", "PySide6.QtPdf", "PySide6.QtCharts", "PySide6.QtDataVisualization",
    "PySide6.QtDesigner", "PySide6.QtBluetooth", "PySide6.QtLocation", "PySide6.QtPositioning", "PySide6.QtSql",
]

# Collected files (destination paths) the app never reads: dropped after the analysis.
TRIMMED_FILES = [
    # test suites and their data, C/C++ headers, build files
    # (not *.pyi: librosa's lazy_loader reads its __init__.pyi at run time)
    "*/tests/*", "*/test/*", "torch/include/*", "torch/share/*", "*/include/*.h",
    "torch/bin/*Test", "torch/bin/protoc*", "torch/bin/test_*", "torch/lib/*test*.so", "torch/lib/libaoti_custom_ops.so",
    "torch/lib/libbackend_with_compiler.so", "*.a", "*.lib", "*.pdb",
    # CUDA: this is the CPU build (the spec refuses a CUDA torch; these catch strays)
    "*libcudnn*", "*libcublas*", "*libcufft*", "*libcurand*", "*libcusolver*", "*libcusparse*", "*libnccl*",
    "*libnvrtc*", "*libnvJitLink*", "*libcudart*", "*libtorch_cuda*", "*libc10_cuda*", "nvidia/*", "triton/*",
    # Qt modules Cratedigger does not use (web engine, 3D, PDF, charts, designer, virtual keyboard, ...)
    # and the plugins that pull them in. Not QtQuick/QtQml: QtMultimedia's FFmpeg plugin links them.
    "*Qt6WebEngine*", "*QtWebEngine*", "*qtwebengine*", "*Qt6Quick3D*", "*Qt6QuickControls2*", "*Qt6Qml*Compiler*",
    "*Qt63D*", "*Qt6Pdf*", "*/imageformats/libqpdf.so", "*/platforminputcontexts/libqtvirtualkeyboardplugin.so",
    "*Qt6Charts*", "*Qt6DataVisualization*", "*Qt6Designer*", "*Qt6Graphs*", "*Qt6Location*", "*Qt6Bluetooth*",
    "*Qt6Lottie*", "*Qt6VirtualKeyboard*", "*Qt6Sensors*", "*Qt6SerialPort*", "*Qt6SpatialAudio*",
    "*Qt6TextToSpeech*", "*Qt6Scxml*", "*Qt6RemoteObjects*", "*Qt6WebSockets*", "*Qt6WebChannel*", "*Qt6WebView*",
    "PySide6/Qt/qml/*", "PySide6/qml/*", "*/translations/qtwebengine*", "*/translations/qt_help*",
    "*/translations/designer*", "*/translations/linguist*", "*/translations/assistant*",
]


def analysis_options() -> dict:
    """Keyword arguments for PyInstaller's Analysis, the same on every platform."""
    datas = collect_data_files("app", includes=["resources/*"]) + collect_data_files("model", includes=["**/gtzan/*"])
    # The CLI finds its subcommands with pkgutil and imports heavy modules inside handlers:
    # PyInstaller's import graph cannot see those, so every module of ours is named.
    hidden = collect_submodules("app") + collect_submodules("model")
    return dict(scripts=[str(ENTRY)], pathex=[str(REPO)], datas=datas, hiddenimports=hidden,
                excludes=EXCLUDED_MODULES, noarchive=False)


def icon(kind: str, workpath: str) -> str:
    """The app icon as cratedigger.<kind> (png, ico, icns), rendered from the SVG into the work dir."""
    out = Path(workpath) / "icons"
    subprocess.run([sys.executable, str(PACKAGING / "make_icons.py"), str(out)], check=True,
                   env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    return str(out / f"cratedigger.{kind}")


def refuse_cuda_torch() -> None:
    """The bundle is the CPU build: stop early when the build venv has a CUDA torch."""
    import torch

    if torch.version.cuda:
        raise SystemExit(f"this venv has a CUDA torch ({torch.__version__}); install the CPU wheel "
                         "(pip install torch --index-url https://download.pytorch.org/whl/cpu) and build again")


def _trimmed(dest: str) -> bool:
    dest = dest.replace(os.sep, "/")
    return any(fnmatch.fnmatch(dest, pattern) for pattern in TRIMMED_FILES)


def _size(src: str | None) -> int:
    try:
        return os.path.getsize(src) if src else 0
    except OSError:
        return 0


def trim(analysis, report: Path) -> None:
    """Drop TRIMMED_FILES from the analysis's binaries and datas; write what went and its size."""
    dropped: list[tuple[int, str]] = []
    for attr in ("binaries", "datas"):
        kept = []
        for entry in getattr(analysis, attr):
            if _trimmed(entry[0]):
                dropped.append((_size(entry[1]), entry[0]))
            else:
                kept.append(entry)
        setattr(analysis, attr, kept)
    dropped.sort(reverse=True)
    total = sum(size for size, _ in dropped)
    report.parent.mkdir(parents=True, exist_ok=True)
    with report.open("w", encoding="utf-8") as out:
        out.write(f"trimmed {len(dropped)} files, {total / 2**20:.1f} MiB\n")
        for size, dest in dropped:
            out.write(f"{size:>12} {dest}\n")
    print(f"trim: dropped {len(dropped)} files, {total / 2**20:.1f} MiB (list: {report})")
