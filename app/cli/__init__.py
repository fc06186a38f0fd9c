"""The `cratedigger` command. With no arguments it opens the GUI.

Each module in this package that defines `register(subparsers)` adds its own subcommands,
so a command lives next to nothing but its own argument parsing and output. Heavy imports
(torch, Qt) happen inside the handlers so `cratedigger --help` stays fast.

`main` is the one place errors end: a reader that stops early (`| head`) ends the command
quietly (exit code 141, like a tool killed by SIGPIPE); an error a user can cause or fix (a
damaged or locked library, a missing model, an unusable device, a full or read-only disk) is
one line on stderr (exit code 1); anything else is one line naming the log file that holds the
traceback (exit code 70).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import pkgutil
import sys
from pathlib import Path

EXIT_ERROR, EXIT_BROKEN_PIPE, EXIT_BUG, EXIT_INTERRUPTED = 1, 141, 70, 130
# exceptions whose message is written for the user: (module, class), checked only once the
# module is imported, so catching them never imports torch
USER_ERRORS = [("app.library", "LibraryError"), ("model.store", "ModelStoreError"),
               ("model.device", "DeviceError"), ("model.download", "DownloadError"),
               ("model.train.datasets", "DatasetError"), ("model.train.loop", "TrainError"),
               ("model.train.splits", "SplitError"), ("app.library.labels", "LabelError"),
               ("model.audio", "AudioError"), ("model.keras_import", "KerasImportError")]

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
_log_file: list[Path] = []  # where this run's log goes, when it could be opened


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
    _log_file.clear()
    console = logging.StreamHandler()
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    _handlers.append(console)
    try:
        path = logs_dir() / "cratedigger.log"
        log_file = RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return  # a read-only or full data home must not stop the command
    log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(log_file)
    _handlers.append(log_file)
    _log_file.append(path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if not args.command:
        from app.cli.gui_cmd import run_gui

        args = argparse.Namespace(screenshot=None, view=None, track=None, func=run_gui)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that went away is found here, not at exit
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as e:  # noqa: BLE001 - the one place every error ends
        return _report(e)


def _report(e: Exception) -> int:
    """One line on stderr for an error; the traceback of a bug goes to the log file."""
    from .progress import fail

    message = user_message(e)
    if message is not None:
        logging.getLogger("cratedigger").info("%s", message)
        return fail(message)
    logging.getLogger("cratedigger").info("unexpected error", exc_info=e)  # to the log file, not the terminal
    where = (f"the details are in {_log_file[0]}" if _log_file else "run again with -v for the details")
    fail(f"unexpected error ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no message'}); "
         f"{where}; please report it")
    return EXIT_BUG


def user_message(e: BaseException) -> str | None:
    """The one line a user needs for an error they can cause or fix, None for a bug."""
    import sqlite3

    for module, name in USER_ERRORS:
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(e, cls):
            return str(e) or name
    if isinstance(e, sqlite3.Error):
        from app.home import library_path
        from app.library import explain

        return explain(e, library_path())
    if isinstance(e, OSError):
        return os_message(e)
    return None


def os_message(e: OSError) -> str:
    where = f" {e.filename}" if e.filename else ""
    if e.errno == errno.ENOSPC:
        return f"the disk is full (writing{where}); free some space and try again (nothing saved before is lost)"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write{where}: {e.strerror or 'permission denied'} (a read-only folder or disk?)"
    if e.errno == errno.ENOENT:
        return f"not found:{where or ' a file'}"
    return f"{e.strerror or e}{':' + where if where else ''}"


def _silence_stdout() -> None:
    """The reader went away: point stdout at /dev/null so the final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation: stdout is not a file (tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
