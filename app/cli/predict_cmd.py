"""`cratedigger predict FILE...`: genres of audio files with the active model, without a library."""

from __future__ import annotations

import argparse
import sys

from . import args as types
from .progress import fail, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="print the genres of audio files")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--offset", type=types.non_negative, default=None, metavar="SECONDS",
                   help="start the first 30 s window exactly here")
    p.add_argument("--windows", default="default", help="'default' (3 spread windows), 'all', or a number")
    p.add_argument("--model", help="model name (default: the active one)")
    p.add_argument("--device", type=types.device, help="cpu, cuda, mps (default: best available)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "bf16-mixed", "onnx", "fp16"])
    p.add_argument("--fp32", action="store_true", help="force fp32 (same as --precision fp32)")
    p.add_argument("--top", type=types.count, default=3, help="genres to show per file")
    p.set_defaults(func=_predict)


def _predict(args) -> int:
    from app.home import model_store
    from model.analyze import analyze_file
    from model.audio import AudioError
    from model.inference import Predictor
    from model.store import ModelStoreError
    from model.windows import parse_policy

    try:
        policy = parse_policy(args.windows)
    except ValueError as e:
        return fail(str(e))
    from model.device import pick_device

    device = pick_device(args.device)  # DeviceError (one line) before any model is loaded
    try:
        model, manifest = model_store().load(args.model)
    except ModelStoreError as e:
        return fail(str(e))
    predictor = Predictor(model, manifest.spec, device=device, precision="fp32" if args.fp32 else args.precision)
    results, failed = [], 0
    for path in args.files:
        try:
            track = analyze_file(predictor, path, policy=policy, offset=args.offset)
        except AudioError as e:
            failed += 1
            print(f"{path}: {e.reason}: {e.detail}", file=sys.stderr)
            continue
        except OSError as e:
            failed += 1
            print(f"{path}: unreadable: {e.strerror or e}", file=sys.stderr)
            continue
        genres = dict(zip(manifest.classes, (float(p) for p in track.probs)))
        results.append({
            "path": path,
            "genres": genres,
            "windows": [{"start": s, "genres": dict(zip(manifest.classes, (float(p) for p in w)))}
                        for s, w in zip(track.starts, track.window_probs)],
            "model": manifest.name,
        })
        if not args.json:
            top = sorted(genres.items(), key=lambda kv: -kv[1])[: args.top]
            print(f"{path}: " + ", ".join(f"{g} {p:.0%}" for g, p in top))
    if args.json:
        print_json(results)
    return 1 if failed else 0
