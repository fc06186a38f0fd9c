"""`cratedigger scan|rescan|status|errors|show|genres|prune`: the library from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.wording import counted

from . import args as types
from .progress import fail, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scan", help="add music folders and analyse what is new or changed")
    p.add_argument("folders", nargs="+", metavar="DIR")
    _scan_options(p)
    p.set_defaults(func=_scan)

    r = sub.add_parser("rescan", help="scan every folder of the library again")
    _scan_options(r)
    r.set_defaults(func=_scan, folders=None)

    s = sub.add_parser("status", help="counts: tracks, analysed per model, missing, errors by reason")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_status)

    e = sub.add_parser("errors", help="files that could not be analysed, with the reason")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_errors)

    sh = sub.add_parser("show", help="tags, genres and the per-window genre timeline of a track")
    sh.add_argument("path")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=_show)

    g = sub.add_parser("genres", help="how the library's tracks spread over the genres")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=_genres)

    pr = sub.add_parser("prune", help="forget tracks whose files are gone")
    pr.set_defaults(func=_prune)


def _scan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json-progress", action="store_true", help="one JSON object per line on stdout instead of a bar")
    p.add_argument("--windows", default="default", help="window policy: default, all, or a number")
    p.add_argument("--workers", type=types.integer(0, 64), default=None,
                   help="decode processes, 0 to decode in this one (default: cores - 1)")
    p.add_argument("--model", help="genre model name (default: the active one)")
    p.add_argument("--models", type=_models, default=None, metavar="bbnn[,musicnn]",
                   help="which networks hear the tracks (default: bbnn, and musicnn when it is installed and "
                        "switched on in the Model view)")
    p.add_argument("--device", type=types.device, help="cpu, cuda or mps (default: best available)")
    p.add_argument("--retry-failed", action="store_true",
                   help="analyse again the files that failed before (see 'cratedigger errors'), even if unchanged")


def _models(text: str) -> list[str]:
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in ("bbnn", "musicnn")]
    if unknown or "bbnn" not in names:
        raise argparse.ArgumentTypeError("use bbnn or bbnn,musicnn (the genre model always listens)")
    return names


def _open(read_only: bool = False):
    """The library; commands that only read open it read-only (a read-only home, a running scan)."""
    from app.home import open_library

    return open_library(read_only=read_only)


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def _scan(args) -> int:
    from app.library import LibraryError
    from app.library.scanner import scan
    from model.store import ModelStoreError
    from model.windows import parse_policy

    folders = args.folders
    if folders:
        bad = [f for f in folders if not Path(f).is_dir()]
        if bad:
            return fail(f"not a folder: {', '.join(bad)}")
    try:
        policy = parse_policy(args.windows)
    except ValueError as e:
        return fail(str(e))
    if args.device:
        from model.device import pick_device

        pick_device(args.device)  # an unusable device is refused before anything is written
    library = _open()
    if not folders and not library.folders():
        return fail("no music folders yet: run 'cratedigger scan DIR'")
    ui: dict = {"bar": None, "analysing": False}  # the bar opens with the first report, so an early error prints alone
    if args.json_progress:
        def progress(p):
            print(json.dumps({"stage": p.stage, "done": p.done, "total": p.total, "rate": round(p.rate, 3),
                              "eta_seconds": None if p.eta_seconds is None else round(p.eta_seconds, 1),
                              "current": p.current, "errors": p.errors}), flush=True)
    else:
        from tqdm import tqdm

        def progress(p):
            if ui["bar"] is None:
                ui["bar"] = tqdm(total=None, unit="track", file=sys.stderr, dynamic_ncols=True, desc="looking for music")
            bar = ui["bar"]
            if p.stage == "discover":  # the total is not known yet: count files found
                bar.total = None
            elif not ui["analysing"]:  # analysis starts: its own count, rate and ETA
                ui["analysing"] = True
                bar.set_description("analysing", refresh=False)
                bar.reset(total=p.total)
            else:
                bar.total = p.total
            bar.n = p.done
            bar.set_postfix(errors=p.errors, refresh=False)
            bar.refresh()
    try:
        summary = scan(library, folders, model_name=args.model, policy=policy, progress=progress,
                       workers=args.workers, device=args.device, models=args.models, retry_failed=args.retry_failed)
    except (LibraryError, ModelStoreError) as e:
        return fail(str(e))
    finally:
        library.close()
        if ui["bar"] is not None:
            ui["bar"].close()
    return _report(summary, args.json_progress)


def _report(summary, as_json: bool) -> int:
    """The scan's last words: one summary line (or JSON), hints on stderr, the exit code."""
    line = (f"{summary.discovered} files: {summary.analysed} analysed, {summary.skipped} unchanged, "
            f"{summary.moved} moved, {summary.missing} missing, {counted(summary.errors, 'error')} "
            f"in {summary.seconds:.1f} s ({summary.model})")
    if summary.unreadable_folders:
        line += f"; {counted(summary.unreadable_folders, 'folder')} could not be read (see 'cratedigger errors')"
    if as_json:
        print(json.dumps({"summary": summary.__dict__}), flush=True)
    else:
        print(line)
    for move in summary.folder_moves:
        print(f"{move['old']} is gone and {move['tracks']} of its tracks are in {move['new']}: if the folder "
              f"was renamed or moved, run 'cratedigger folders move \"{move['old']}\" \"{move['new']}\"'",
              file=sys.stderr)
    if summary.musicnn_missing and not as_json:
        print("tip: 'cratedigger model fetch musicnn' adds MusiCNN's mood and style tags and a sharper "
              "'more like this'", file=sys.stderr)
    if summary.cancelled:
        print("stopped; run the same command again to continue where it left off", file=sys.stderr)
        return 130
    if summary.errors:
        print("see 'cratedigger errors' for the files that could not be analysed", file=sys.stderr)
    return 0


def _status(args) -> int:
    status = _open(read_only=True).status()
    if args.json:
        print_json(status)
        return 0
    print(f"{counted(status['tracks'], 'track')} in {counted(status['folders'], 'folder')}, {status['missing']} missing")
    print(f"active model: {status['active_model'] or 'none'}")
    for model, n in status["analysed"].items():
        print(f"  analysed by {model}: {n}")
    if status["pending"]:
        print(f"  waiting for analysis: {status['pending']}")
    for reason, n in status["errors"].items():
        print(f"  errors ({reason}): {n}")
    return 0


def _errors(args) -> int:
    from app.library.fspath import json_path

    errors = _open(read_only=True).errors()
    if args.json:
        print_json([dict(json_path(e["path"]), reason=e["reason"], detail=e["detail"]) for e in errors])
        return 0
    if not errors:
        print("no errors")
    for e in errors:
        print(f"{e['display_path']}: {e['reason']}: {e['detail']}")
    if errors:
        print("a scan skips these files until they change; 'cratedigger rescan --retry-failed' tries them again",
              file=sys.stderr)
    return 0


def _show(args) -> int:
    from app.library.fspath import display_path, json_path

    library = _open(read_only=True)
    track = library.find_track(args.path)
    if track is None:
        return fail(f"{display_path(args.path)} is not in the library (scan its folder first)")
    analysis = library.latest_analysis(track["id"])  # the previous model's until the active one has heard it
    error = library.track_error(track["id"])
    tags = {k: track[k] for k in ("title", "artist", "album", "album_artist", "tag_genre", "year", "track_no",
                                  "duration", "format", "codec", "sample_rate", "channels", "has_cover", "missing")}
    out = {**json_path(track["path"]), "tags": tags, "model": analysis["model"] if analysis else None,
           "genres": None, "windows": [], "error": error}
    top_tags = library.top_tags(track["id"])
    out["top_tags"] = [{"tag": tag, "probability": p} for tag, p in top_tags]
    out["tagger"] = library.tagger_name() if top_tags else None
    if analysis:
        classes = analysis["classes"]
        out["genres"] = dict(zip(classes, map(float, analysis["probs"])))
        out["windows"] = [{"start": float(s), "genres": dict(zip(classes, map(float, w)))}
                          for s, w in zip(analysis["window_starts"], analysis["window_probs"])]
    if args.json:
        print_json(out)
        return 0
    print(display_path(track["path"]))
    shown = dict(tags, duration=_clock(tags["duration"]) if tags["duration"] else None,
                 sample_rate=f"{tags['sample_rate']} Hz" if tags["sample_rate"] else None,
                 has_cover="yes" if tags["has_cover"] else None, missing="yes (file is gone)" if tags["missing"] else None)
    for k, v in shown.items():
        if v not in (None, ""):
            print(f"  {k}: {v}")
    if error:
        print(f"  error: {error['reason']}: {error['detail']}")
    if analysis:
        top = sorted(out["genres"].items(), key=lambda kv: -kv[1])[:5]
        print(f"  genres ({analysis['model']}): " + ", ".join(f"{g} {p:.0%}" for g, p in top))
        if top_tags:
            print(f"  tags ({out['tagger']}): " + ", ".join(f"{t} {p:.0%}" for t, p in top_tags))
        for w in out["windows"]:
            g, p = max(w["genres"].items(), key=lambda kv: kv[1])
            print(f"    {_clock(w['start']):>7}  {g:<10} {p:4.0%}  " + "#" * int(round(p * 20)))
    elif not error:
        print("  not analysed yet")
    return 0


def _genres(args) -> int:
    dist = _open(read_only=True).genre_distribution()
    if args.json:
        print_json(dist)
        return 0
    total = sum(dist.values()) or 1
    for genre, n in dist.items():
        print(f"{genre:<12} {n:6d}  {n / total:5.1%}  " + "#" * int(round(40 * n / total)))
    return 0


def _prune(args) -> int:
    n = _open().prune()
    print(f"removed {n} missing tracks")
    return 0
