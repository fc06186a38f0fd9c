"""`cratedigger doctor|repair`: check the installation; get a damaged library back."""

from __future__ import annotations

import argparse

from .progress import print_json

MARK = {"ok": "ok     ", "warning": "warning", "problem": "PROBLEM"}


def register(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("doctor", help="check the library, backups, models, disk space and system libraries")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=_doctor)

    r = sub.add_parser("repair", help="restore the newest good backup of a damaged library, or save what can be read",
                       description="The damaged file is kept beside the library (library-damaged-DATE.sqlite). "
                                   "Tracks analysed after the backup are analysed again by the next scan.")
    how = r.add_mutually_exclusive_group()
    how.add_argument("--salvage", action="store_true",
                     help="copy every readable row of the damaged file instead of restoring a backup")
    how.add_argument("--backup", metavar="FILE", help="restore this backup (default: the newest good one)")
    r.add_argument("--force", action="store_true", help="also when the library looks sound")
    r.set_defaults(func=_repair)


def _doctor(args) -> int:
    from app.health import run_checks

    findings = run_checks()
    if args.json:
        print_json([f.__dict__ for f in findings])
    else:
        for f in findings:
            print(f"{MARK[f.level]}  {f.area:<8} {f.text}")
    return 1 if any(f.level == "problem" for f in findings) else 0


def _repair(args) -> int:
    from app.home import library_path
    from app.library.safety import repair

    result = repair(library_path(), salvage=args.salvage, backup=args.backup, force=args.force)
    counts = f"{result.rows.get('tracks', 0)} tracks, {result.rows.get('analyses', 0)} analyses"
    if result.how == "nothing to do":
        print(f"the library is sound ({counts}); nothing to repair (--force to restore a backup anyway)")
        return 0
    if result.how == "restored":
        print(f"restored the backup {result.source.name}: {counts}")
    else:
        print(f"saved what could be read: {counts}")
        if result.lost:
            print("could not be read: " + ", ".join(f"about {n} {table} rows" for table, n in result.lost.items()))
    if result.damaged:
        print(f"the damaged file is kept as {result.damaged}")
    print("run 'cratedigger rescan' to analyse again what changed since")
    return 0
