"""`cratedigger gui`: open the desktop app (also what `cratedigger` alone does)."""

from __future__ import annotations

import argparse
import os

from .progress import fail

VIEWS = ["library", "map", "track", "similar", "folders", "model", "settings", "training"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="open the desktop app")
    p.add_argument("--screenshot", metavar="FILE.png", help="render the window, save it as a picture and exit")
    p.add_argument("--view", choices=VIEWS, help="which view to show first")
    p.add_argument("--track", help="with --view track/similar: the track (path) to show")
    p.set_defaults(func=run_gui)


def run_gui(args) -> int:
    from app.system import display_problem

    problem = display_problem()
    if problem and args.screenshot:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a picture needs no screen
    elif problem:
        return fail(f"{problem}; the command line works without one (see 'cratedigger --help'), and "
                    "'cratedigger gui --screenshot FILE.png' renders the app without a screen")
    from app.ui.main import run

    return run(screenshot=args.screenshot, view=args.view, track=getattr(args, "track", None))
