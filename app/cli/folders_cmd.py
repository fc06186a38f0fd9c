"""`cratedigger folders [list|add|remove|move OLD NEW]`: the library's music folders."""

from __future__ import annotations

import argparse
from pathlib import Path

from .progress import fail, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("folders", help="list, add, remove or move the library's music folders")
    fsub = p.add_subparsers(dest="folders_command", metavar="{list,add,remove,move}")
    p.set_defaults(func=_run(_list), json=False)
    ls = fsub.add_parser("list", help="every folder with its track counts (the default)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_run(_list))
    add = fsub.add_parser("add", help="add folders (analysed by the next 'cratedigger rescan')")
    add.add_argument("paths", nargs="+", metavar="DIR")
    add.set_defaults(func=_run(_add))
    rm = fsub.add_parser("remove", help="remove a folder and forget its tracks (your files are not touched)")
    rm.add_argument("path", metavar="DIR")
    rm.set_defaults(func=_run(_remove))
    mv = fsub.add_parser("move", help="a folder was renamed or moved on disk: its tracks follow, analyses kept")
    mv.add_argument("old", metavar="OLD")
    mv.add_argument("new", metavar="NEW")
    mv.set_defaults(func=_run(_move))


def _run(handler):
    """The library opened for the handler; its errors become one line."""
    def run(args) -> int:
        import sqlite3

        from app.home import library_path, open_library
        from app.library import LibraryError, explain

        try:
            with open_library() as library:
                return handler(library, args)
        except LibraryError as e:
            return fail(str(e))
        except sqlite3.Error as e:
            return fail(explain(e, library_path()))
    return run


def _list(library, args) -> int:
    folders = library.folder_counts()
    if args.json:
        print_json([{"path": f["display_path"], "tracks": f["tracks"], "missing": f["missing"],
                     "analysed": f["analysed"], "on_disk": f["exists"], "watch": bool(f["watch"])} for f in folders])
        return 0
    if not folders:
        print("no music folders yet: run 'cratedigger scan DIR' or 'cratedigger folders add DIR'")
    for f in folders:
        note = "" if f["exists"] else "  (not found: renamed, moved, or a drive not connected?)"
        print(f"{f['display_path']}: {f['tracks']} tracks, {f['analysed']} analysed, {f['missing']} missing{note}")
    return 0


def _add(library, args) -> int:
    bad = [p for p in args.paths if not Path(p).expanduser().is_dir()]
    if bad:
        return fail(f"not a folder: {', '.join(bad)}")
    for p in args.paths:
        library.add_folder(p)
        print(f"added {Path(p).expanduser().resolve()}")
    print("run 'cratedigger rescan' to analyse what is in it")
    return 0


def _remove(library, args) -> int:
    n = library.remove_folder(args.path)
    print(f"removed {args.path}; forgot its {n} track{'s' if n != 1 else ''} (the files were not touched)")
    return 0


def _move(library, args) -> int:
    if not Path(args.new).expanduser().is_dir():
        return fail(f"not a folder: {args.new}")
    n = library.move_folder(args.old, args.new)
    print(f"{args.old} -> {Path(args.new).expanduser().resolve()}: {n} track{'s' if n != 1 else ''} moved "
          "with their analyses; run 'cratedigger rescan' to check them")
    return 0
