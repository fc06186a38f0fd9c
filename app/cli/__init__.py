"""The `cratedigger` command. With no arguments it opens the GUI.

Each module in this package that defines `register(subparsers)` adds its own subcommands,
so a command lives next to nothing but its own argument parsing and output. Heavy imports
(torch, Qt) happen inside the handlers so `cratedigger --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from app import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cratedigger",
        description="Organise your music library by how it sounds. Run without arguments to open the app.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser.add_argument("--version", action="version", version=f"cratedigger {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


_handlers: list[logging.Handler] = []


def _setup_logging(verbose: bool) -> None:
    """Warnings (everything with -v) to stderr; info and up to a rotating file in the data home."""
    from logging.handlers import RotatingFileHandler

    from app.home import logs_dir

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in _handlers:  # main() may run more than once in one process (tests, the GUI)
        root.removeHandler(handler)
        handler.close()
    _handlers.clear()
    console = logging.StreamHandler()
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    _handlers.append(console)
    try:
        log_file = RotatingFileHandler(logs_dir() / "cratedigger.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return  # a read-only or full data home must not stop the command
    log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(log_file)
    _handlers.append(log_file)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if not args.command:
        from app.cli.gui_cmd import run_gui

        return run_gui(argparse.Namespace(screenshot=None, view=None))
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
