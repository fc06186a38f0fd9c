"""Desktop integration on Linux: the app id, the shipped icon/desktop entry/AppStream metainfo,
and installing them under the user's XDG data dir (`cratedigger install-desktop`).

The three files live in `app/resources/` as package data, named after the app id as the
freedesktop.org and AppStream specifications want:
    <XDG_DATA_HOME>/applications/<APP_ID>.desktop
    <XDG_DATA_HOME>/icons/hicolor/scalable/apps/<APP_ID>.svg
    <XDG_DATA_HOME>/metainfo/<APP_ID>.metainfo.xml
No Qt here: the command line and the packaging scripts use it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

APP_ID = "org.cratedigger.Cratedigger"


def resource(name: str) -> Traversable:
    """A file shipped in app/resources (in a source tree, a wheel install or a frozen bundle)."""
    return files("app") / "resources" / name


ICON = resource(f"{APP_ID}.svg")
DESKTOP_ENTRY = resource(f"{APP_ID}.desktop")
METAINFO = resource(f"{APP_ID}.metainfo.xml")


def xdg_data_home() -> Path:
    """$XDG_DATA_HOME when it is an absolute path (the spec ignores a relative one), else ~/.local/share."""
    env = os.environ.get("XDG_DATA_HOME", "")
    if env and os.path.isabs(env):
        return Path(env)
    return Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """The command that starts this very installation: an AppImage, a frozen bundle, the
    `cratedigger` script that is running, or this interpreter with `-m app`."""
    if os.environ.get("APPIMAGE"):
        return [os.environ["APPIMAGE"]]
    if getattr(sys, "frozen", False):
        return [os.path.abspath(sys.executable)]
    script = sys.argv[0] if sys.argv else ""
    if Path(script).name == "cratedigger" and os.path.isfile(script):
        return [os.path.abspath(script)]
    return [os.path.abspath(sys.executable), "-m", "app"]


def exec_quote(arg: str) -> str:
    """One argument of a desktop entry's Exec key, quoted as the Desktop Entry spec requires."""
    arg = arg.replace("%", "%%")
    if not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'


def desktop_entry(command: list[str]) -> str:
    """The shipped desktop entry with Exec (and TryExec) pointing at `command`."""
    lines = []
    for line in DESKTOP_ENTRY.read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = "Exec=" + " ".join(exec_quote(a) for a in command)
        elif line.startswith("TryExec="):
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class DesktopFiles:
    desktop: Path
    icon: Path
    metainfo: Path

    def all(self) -> list[Path]:
        return [self.desktop, self.icon, self.metainfo]


def desktop_files(data_home: Path | None = None) -> DesktopFiles:
    """Where the three files go under a data home (default: the user's XDG data home)."""
    base = data_home or xdg_data_home()
    return DesktopFiles(desktop=base / "applications" / f"{APP_ID}.desktop",
                        icon=base / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
                        metainfo=base / "metainfo" / f"{APP_ID}.metainfo.xml")


def install_desktop(data_home: Path | None = None, command: list[str] | None = None) -> DesktopFiles:
    """Write the desktop entry, icon and metainfo; return where they went. Raises OSError."""
    target = desktop_files(data_home)
    contents = {target.desktop: desktop_entry(command or launcher_command()).encode("utf-8"),
                target.icon: ICON.read_bytes(),
                target.metainfo: METAINFO.read_bytes()}
    for path, data in contents.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # never leave a half-written entry for the desktop to read
    return target


def uninstall_desktop(data_home: Path | None = None) -> list[Path]:
    """Remove what install_desktop wrote; return the files that were there."""
    removed = []
    for path in desktop_files(data_home).all():
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed
