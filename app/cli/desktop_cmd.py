"""`cratedigger install-desktop`: add Cratedigger to the Linux desktop's application menu."""

from __future__ import annotations

import argparse
import shlex
import sys

from app.cli.progress import fail


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("install-desktop",
                       help="add Cratedigger to the application menu (desktop entry, icon, AppStream metainfo)")
    p.add_argument("--uninstall", action="store_true", help="remove what install-desktop added")
    p.add_argument("--exec", dest="exec_command", metavar="COMMAND",
                   help="the command the menu entry runs (default: this installation's own launcher)")
    p.set_defaults(func=run_install_desktop)


def run_install_desktop(args) -> int:
    from app.desktop import install_desktop, uninstall_desktop, xdg_data_home

    if sys.platform in ("win32", "darwin"):
        return fail("install-desktop is for Linux desktops; on Windows and macOS use the app bundle")
    try:
        command = shlex.split(args.exec_command) if args.exec_command is not None else None
    except ValueError as e:
        return fail(f"--exec: {e}")
    if command == []:
        return fail("--exec needs a command")
    try:
        if args.uninstall:
            removed = uninstall_desktop()
            for path in removed:
                print(f"removed {path}")
            if not removed:
                print(f"nothing to remove under {xdg_data_home()}")
            return 0
        written = install_desktop(command=command)
    except OSError as e:
        return fail(f"cannot write the desktop files under {xdg_data_home()}: {e.strerror or e}")
    for path in written.all():
        print(f"wrote {path}")
    return 0
