"""What the machine must provide for the window and audio preview, checked without loading Qt.

On Linux, Qt's X11 platform plugin and QtMultimedia link against system libraries that a
minimal install may lack (libxcb-cursor0, libxcb-icccm4, libpulse0...); without them Qt aborts
the process instead of raising an error. These checks find that out first (with `ldd` on the
Qt files, plus the libraries Qt opens at run time) and say which packages to install.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

_HEADLESS_PLATFORMS = {"offscreen", "minimal", "vnc", "linuxfb", "eglfs"}
_RUNTIME_X11 = ["xcb-cursor"]  # opened by Qt at run time, so ldd cannot see it


def qt_dir() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "Qt"


def debian_package(soname: str) -> str:
    """A likely Debian/Ubuntu package for a library: libxcb-icccm.so.4 -> libxcb-icccm4."""
    m = re.match(r"(lib[^.]+)\.so\.(\d+)", soname)
    if not m:
        return soname
    base, version = m.group(1).lower(), m.group(2)
    return f"{base}{'-' if base[-1].isdigit() else ''}{version}"


def missing_libraries(binary: Path) -> list[str]:
    """Shared libraries `binary` needs that the dynamic linker cannot find (Linux, with ldd)."""
    if not sys.platform.startswith("linux") or not binary.exists() or shutil.which("ldd") is None:
        return []
    try:
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line})


def window_libraries_missing() -> list[str]:
    """Libraries missing for an X11 window (empty off Linux or when all are there)."""
    qt = qt_dir()
    if qt is None or not sys.platform.startswith("linux"):
        return []
    missing = set(missing_libraries(qt / "plugins" / "platforms" / "libqxcb.so"))
    missing.update(f"lib{name}.so.0" for name in _RUNTIME_X11 if ctypes.util.find_library(name) is None)
    return sorted(missing)


def audio_libraries_missing() -> list[str]:
    """Libraries missing for audio preview through QtMultimedia."""
    qt = qt_dir()
    if qt is None or not sys.platform.startswith("linux"):
        return []
    return missing_libraries(qt / "lib" / "libQt6Multimedia.so.6")


def install_hint(libraries: list[str]) -> str:
    return "install " + " ".join(sorted({debian_package(lib) for lib in libraries})) + " (Debian/Ubuntu names)"


def display_problem() -> str | None:
    """Why no window can open here, in words; None when one can (or Qt is told to draw off screen)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if platform in _HEADLESS_PLATFORMS or not sys.platform.startswith("linux"):
        return None
    if platform != "xcb" and os.environ.get("WAYLAND_DISPLAY"):
        return None
    if not os.environ.get("DISPLAY"):
        return "no display found (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    missing = window_libraries_missing()
    if missing:
        return f"Qt cannot open a window: {', '.join(missing)} missing; {install_hint(missing)}"
    return None
