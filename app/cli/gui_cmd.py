"""`cratedigger gui`: open the desktop app (also what `cratedigger` alone does)."""

from __future__ import annotations

import argparse

VIEWS = ["library", "map", "track", "similar", "folders", "model", "settings", "training"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the desktop app")
    p.add_argument("--screenshot", metavar="FILE.png", help="render the window, save it as a picture and exit")
    p.add_argument("--view", choices=VIEWS, help="which view to show first")
    p.add_argument("--track", help="with --view track/similar: the track (path) to show")
    p.set_defaults(func=run_gui)


def run_gui(args) -> int:
    from app.ui.main import run

    return run(screenshot=args.screenshot, view=args.view, track=getattr(args, "track", None))
