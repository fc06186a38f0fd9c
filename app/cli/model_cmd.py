"""`cratedigger model fetch|import|list|use|remove`: the model store from the command line."""

from __future__ import annotations

import argparse
import sys

from . import args as types
from .progress import byte_bar, fail, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="get, list and choose genre models and the MusiCNN tagger")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)

    f = msub.add_parser("fetch", help="download one of the BBNN authors' models (verify, activate), or MusiCNN")
    f.add_argument("which", nargs="?", choices=["bbnn", "musicnn"], default="bbnn",
                   help="bbnn (default): a genre model; musicnn: the MusiCNN tagger (the musicnn 0.1.0 wheel "
                        "from the Python package index, 29 MB)")
    f.add_argument("--dataset", choices=["gtzan", "extballroom"], default="gtzan")
    f.add_argument("--fold", type=types.integer(0, 9), default=None, help="which of the 10 folds (default: 5 for GTZAN)")
    f.add_argument("--url", help="base address to download from (default: the authors' repository; "
                                 "env CRATEDIGGER_WEIGHTS_URL). For musicnn: the wheel's address or a "
                                 "package-index base (env CRATEDIGGER_MUSICNN_URL)")
    f.add_argument("--timeout", type=types.positive, default=30.0, help="network timeout in seconds")
    f.add_argument("--no-activate", action="store_true")
    f.set_defaults(func=_fetch)

    i = msub.add_parser("import", help="import an authors' Keras .hdf5 file, a Cratedigger .safetensors checkpoint, "
                                       "or the musicnn wheel (or the folder it was unpacked into)")
    i.add_argument("path")
    i.add_argument("--name")
    i.add_argument("--no-activate", action="store_true")
    i.set_defaults(func=_import)

    ls = msub.add_parser("list", help="models in the store; * marks the active one")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    u = msub.add_parser("use", help="make a model the active one")
    u.add_argument("name")
    u.set_defaults(func=_use)

    r = msub.add_parser("remove", help="delete a model from the store")
    r.add_argument("name")
    r.set_defaults(func=_remove)


def _store():
    from app.home import model_store

    return model_store()


def _fetch(args) -> int:
    from model.authors_weights import DEFAULT_FOLD
    from model.store import ModelStoreError

    if args.which == "musicnn":
        return _fetch_musicnn(args)
    bar, update = byte_bar("download")
    try:
        m = _store().fetch(args.dataset, DEFAULT_FOLD if args.fold is None else args.fold, base_url=args.url,
                           progress=update, timeout=args.timeout, activate=not args.no_activate)
    except (ModelStoreError, ValueError) as e:
        bar.close()
        return fail(str(e))
    bar.close()
    print(f"{m.name}: {len(m.classes)} classes ({', '.join(m.classes)})" + ("" if args.no_activate else " - now active"))
    return 0


def _fetch_musicnn(args) -> int:
    from model.store import ModelStoreError

    bar, update = byte_bar("download")
    try:
        m = _store().fetch_musicnn(url=args.url, progress=update, timeout=args.timeout)
    except ModelStoreError as e:
        bar.close()
        return fail(str(e))
    bar.close()
    print(_describe(m, activated=False))
    return 0


def _describe(m, activated: bool) -> str:
    from model.store import KIND_MUSICNN

    if m.kind == KIND_MUSICNN:
        return f"{m.name}: MusiCNN tagger, {len(m.classes)} tags - used beside the active genre model (ISC licence)"
    return f"{m.name}: {len(m.classes)} classes ({', '.join(m.classes)})" + (" - now active" if activated else "")


def _import(args) -> int:
    from model.store import ModelStoreError

    try:
        m = _store().import_file(args.path, name=args.name, activate=not args.no_activate)
    except ModelStoreError as e:
        return fail(f"import failed, nothing changed: {e}")
    print(_describe(m, activated=not args.no_activate))
    return 0


def _list(args) -> int:
    from model.store import ModelStoreError

    store = _store()
    active = store.active_name()
    models, damaged = [], []
    for name in store.names(kind=None):  # one damaged manifest must not hide the others
        try:
            models.append(store.manifest(name))
        except ModelStoreError as e:
            damaged.append((name, str(e)))
    if args.json:
        print_json([{"name": m.name, "kind": m.kind, "active": m.name == active, "classes": m.classes,
                     "source": m.source, "source_sha256": m.source_sha256, "metrics": m.metrics} for m in models]
                   + [{"name": name, "active": name == active, "damaged": why} for name, why in damaged])
        return 1 if damaged else 0
    if not models and not damaged:
        print("no models yet: run 'cratedigger model fetch' or 'cratedigger model import FILE'")
    for m in models:
        acc = m.metrics.get("test_accuracy")
        extra = f", test accuracy {acc:.1%}" if isinstance(acc, (int, float)) else ""
        what = f"MusiCNN tagger, {len(m.classes)} tags" if m.kind != "bbnn" else f"{len(m.classes)} classes{extra}"
        print(f"{'*' if m.name == active else ' '} {m.name}  ({what}) {m.source}")
    if not store.musicnn():
        print("  (MusiCNN tagger not installed: 'cratedigger model fetch musicnn' adds mood/style tags)")
    for name, why in damaged:
        print(f"cratedigger: {why}; import or fetch it again, or 'cratedigger model remove {name}'", file=sys.stderr)
    return 1 if damaged else 0


def _use(args) -> int:
    from model.store import ModelStoreError

    try:
        m = _store().use(args.name)
    except ModelStoreError as e:
        return fail(str(e))
    print(f"{m.name} is now active")
    return 0


def _remove(args) -> int:
    from model.store import ModelStoreError

    try:
        _store().remove(args.name)
    except ModelStoreError as e:
        return fail(str(e))
    print(f"removed {args.name}")
    return 0
