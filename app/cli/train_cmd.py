"""`cratedigger train|runs|evaluate`: train BBNN on a folder of class folders or on library labels."""

from __future__ import annotations

import argparse
import signal
import sys

from . import args as types
from .progress import fail, print_json


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a genre model (the paper's GTZAN protocol by default)",
                       description="DATASET is a folder with one subfolder per class (GTZAN, Ballroom, your own), "
                                   "or 'library' to use the tag genres of your library (see --map).")
    t.add_argument("dataset", nargs="?", metavar="DATASET")
    t.add_argument("--protocol", choices=["paper", "filtered", "kfold", "holdout"],
                   help="default: suggested from the data set's size (paper from 500 files, kfold from 150, "
                        "else holdout)")
    t.add_argument("--folds", type=types.integer(2, 100), help="splits for paper/kfold (default 10 for paper, 5 for kfold)")
    t.add_argument("--fold", type=types.integer(0), action="append", dest="only_folds", metavar="K",
                   help="train only this split (repeatable)")
    t.add_argument("--epochs", type=types.integer(1, 10_000), help="most epochs (default: 100, 50 or 30 by data set size)")
    t.add_argument("--batch-size", type=types.integer(1, 4096), default=8)
    t.add_argument("--lr", type=types.positive, default=0.01)
    t.add_argument("--seed", type=types.integer(0), default=0)
    t.add_argument("--valid", type=types.fraction, help="holdout validation fraction (default 0.1, 0.2 below 150 files)")
    t.add_argument("--test", type=types.fraction, help="holdout test fraction (default 0.1, 0.2 below 150 files)")
    t.add_argument("--clip-seconds", type=types.positive, default=None, help="clip length (default: 30.01 s as the paper)")
    t.add_argument("--bn-momentum", type=types.real(0.0, 1.0, low_open=True), default=0.01, help="BatchNorm momentum while optimising (Keras: 0.01)")
    t.add_argument("--no-precise-bn", dest="precise_bn", action="store_false",
                   help="keep BatchNorm's running averages as training leaves them (the authors' Keras run) "
                        "instead of recomputing them over the training set after each epoch")
    t.add_argument("--augment", action="store_true", help="time/frequency masks, time warp, cell dropout")
    t.add_argument("--from-model", metavar="NAME", help="fine-tune this stored model (new last layer if classes differ)")
    t.add_argument("--out", metavar="NAME", help="name of the trained model in the store")
    t.add_argument("--map", metavar="FILE", help="with DATASET 'library': class mapping, lines 'class: tag genre, ...' or JSON")
    t.add_argument("--min-tracks", type=types.count, default=10, help="library without --map: tag genres with this many tracks")
    t.add_argument("--device", type=types.device, help="cpu, cuda, mps (default: best available)")
    t.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto")
    t.add_argument("--resume", metavar="RUN", help="resume a stopped or killed run (id from 'cratedigger runs')")
    t.add_argument("--activate", action="store_true", help="make the trained model the active one")
    t.set_defaults(func=_train)

    r = sub.add_parser("runs", help="list training runs; 'runs delete RUN' removes one")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_runs)
    rs = r.add_subparsers(dest="runs_command", metavar="{delete}")
    d = rs.add_parser("delete", help="delete runs (their trained models stay in the model store)")
    d.add_argument("run_ids", nargs="+", metavar="RUN")
    d.add_argument("--force", action="store_true", help="also a run marked running (e.g. killed)")
    d.set_defaults(func=_runs_delete)

    e = sub.add_parser("evaluate", help="test a stored model on a labelled data set")
    e.add_argument("model", metavar="MODEL")
    e.add_argument("dataset", metavar="DATASET")
    e.add_argument("--map", metavar="FILE")
    e.add_argument("--device", type=types.device, help="cpu, cuda, mps (default: best available)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_evaluate)


def load_dataset(spec: str, mapping_file: str | None = None, min_tracks: int = 10):
    """A folder, or 'library' (tag genres, optionally mapped). Raises DatasetError / LabelError."""
    from model.train.datasets import from_pairs, scan_folder

    if spec == "library":
        from app.home import open_library
        from app.library.labels import library_pairs, load_mapping

        mapping = load_mapping(mapping_file) if mapping_file else None
        with open_library(read_only=True) as lib:
            return from_pairs(library_pairs(lib, mapping, min_tracks), "library",
                              sorted(mapping) if mapping else None)
    return scan_folder(spec)


class _StopFlag:
    """First Ctrl-C asks the run to stop after the current batch (resumable); a second one aborts."""

    def __init__(self) -> None:
        self.stop = False

    def __call__(self) -> bool:
        return self.stop

    def install(self) -> None:
        def handler(signum, frame):
            if self.stop:
                raise KeyboardInterrupt
            self.stop = True
            print("\nstopping after this batch (Ctrl-C again to abort)...", file=sys.stderr)
        signal.signal(signal.SIGINT, handler)


class _Bars:
    def __init__(self) -> None:
        self.bar = None
        self.key = None

    def __call__(self, e) -> None:
        from tqdm import tqdm

        from model.train.estimate import estimate_text, format_seconds

        if e.kind in ("cache", "batch"):
            key = (e.kind, e.fold, e.epoch)
            if key != self.key:
                self.close()
                desc = "mel cache" if e.kind == "cache" else f"fold {e.fold} epoch {e.epoch + 1}/{e.epochs}"
                self.bar = tqdm(total=e.total, desc=desc, unit="file" if e.kind == "cache" else "batch",
                                file=sys.stderr, leave=False)
                self.key = key
            self.bar.n = e.done
            if e.eta_seconds is not None:
                self.bar.set_postfix_str(f"run: {format_seconds(e.eta_seconds)} left at most", refresh=False)
            self.bar.refresh()
        elif e.kind == "phase" and self.bar is not None:
            self.bar.set_postfix_str(e.message)
        elif e.kind == "estimate":
            self.close()
            m = e.metrics
            if m["splits_left"]:
                print(estimate_text(m["epoch_seconds"], m["total_seconds"], e.epochs, m["splits_left"], m["device"],
                                    m["precision"]), file=sys.stderr)
        elif e.kind == "epoch":
            self.close()
            m = e.metrics
            print(f"fold {e.fold} epoch {m['epoch'] + 1}: loss {m['loss']:.4f} acc {m['acc']:.3f} "
                  f"val_loss {m['val_loss']:.4f} val_acc {m['val_acc']:.3f} lr {m['lr']:.2e} "
                  f"({m['seconds']:.1f} s){' *' if m.get('best') else ''}", file=sys.stderr)
        elif e.kind == "fold":
            self.close()
            print(f"fold {e.fold}: test accuracy {e.metrics['test_accuracy']:.1%} "
                  f"(best epoch {e.metrics['best_epoch'] + 1})", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.key = None


def _config(args, dataset):
    """The run's TrainConfig: what the user gave, the rest suggested from the data set's size."""
    from model.train.estimate import suggest
    from model.train.loop import TrainConfig

    sug = suggest(dataset.counts())
    protocol = args.protocol or sug["protocol"]
    folds = args.folds or (sug["folds"] if protocol == sug["protocol"] else 10 if protocol == "paper" else 5)
    cfg = TrainConfig(protocol=protocol, folds=folds, only_folds=args.only_folds, epochs=args.epochs or sug["epochs"],
                      batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      valid_frac=sug["valid_frac"] if args.valid is None else args.valid,
                      test_frac=sug["test_frac"] if args.test is None else args.test, clip_seconds=args.clip_seconds,
                      augment=args.augment, from_model=args.from_model, model_name=args.out, device=args.device,
                      precision=args.precision, bn_momentum=args.bn_momentum, precise_bn=args.precise_bn)
    if None in (args.protocol, args.epochs):
        print(f"settings not given are suggested from the data set ({sug['why']}); this run: protocol "
              f"{cfg.protocol}, up to {cfg.epochs} epochs", file=sys.stderr)
    return cfg


def _check_out_name(store, name: str | None) -> str | None:
    from model.store import _NAME_OK

    if name and not _NAME_OK.match(name):
        return f"bad model name {name!r}: letters, digits, '.', '_' and '-' only"
    if name and name in store.names():
        return f"a model named {name!r} exists already; choose another --out"
    return None


def _new_run(args, store, mel_root, bars, stop):
    from app.home import runs_dir
    from model.train.loop import create_run

    dataset = load_dataset(args.dataset, args.map, args.min_tracks)
    print(f"{len(dataset.items)} files in {len(dataset.classes)} classes: {', '.join(dataset.classes)}",
          file=sys.stderr)
    cfg = _config(args, dataset)
    base_spec = store.manifest(cfg.from_model).spec if cfg.from_model else None
    run = create_run(runs_dir(), mel_root, dataset, cfg, base_spec, bars, stop)
    if run.dataset.skipped:
        bars.close()
        print(f"skipped {len(run.dataset.skipped)} unreadable file(s):", file=sys.stderr)
        for s in run.dataset.skipped:
            print(f"  {s['path']}: {s['reason']}: {s['detail']}", file=sys.stderr)
    return run


def _train(args) -> int:
    from app.home import cache_dir, model_store, models_dir, runs_dir
    from app.library.labels import LabelError
    from model.store import ModelStoreError
    from model.train.datasets import DatasetError
    from model.train.loop import Run, Stopped, TrainError, train_run
    from model.train.splits import SplitError

    from model.device import pick_device

    if args.device:
        pick_device(args.device)  # an unusable device is refused before a run is created
    stop, bars = _StopFlag(), _Bars()
    stop.install()
    store = model_store()
    mel_root = cache_dir() / "mels"
    run = None
    try:
        if args.resume:
            path = runs_dir() / args.resume
            if not args.resume or not path.is_dir() or not (path / "config.json").exists():
                return fail(f"no run {args.resume!r} (see 'cratedigger runs')")
            run = Run(path)
            if run.state().get("status") == "finished":
                return fail(f"run {run.id} is finished; its report is {run.dir / 'report.json'}")
        elif not args.dataset:
            return fail("give a DATASET folder (or 'library'), or --resume RUN")
        elif problem := _check_out_name(store, args.out):
            return fail(problem)
        from_model = run.config.from_model if run else args.from_model
        base = None
        if from_model:
            model, manifest = store.load(from_model)
            base = (model, manifest.classes)
        run = run or _new_run(args, store, mel_root, bars, stop)
        print(f"run {run.id} ({run.dir})", file=sys.stderr)
        report = train_run(run, models_dir(), mel_root, bars, stop, base)
    except Stopped:
        bars.close()
        print(f"stopped; resume with: cratedigger train --resume {run.id}" if run
              else "stopped before the run was created", file=sys.stderr)
        return 130
    except (DatasetError, LabelError, SplitError, TrainError, ModelStoreError) as e:
        bars.close()
        return fail(str(e))
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    bars.close()
    return _report(report, run, store, args.activate)


def _report(report: dict, run, store, activate: bool) -> int:
    from model.train.report import chance_warning

    warning = chance_warning(report["chosen_fold_test"]["accuracy"], report["chosen_fold_test"]["confusion"])
    active = False
    if warning:
        print(f"warning: model {report['model']!r}: {warning}", file=sys.stderr)
        if activate:
            print(f"not activated; 'cratedigger model use {report['model']}' activates it anyway", file=sys.stderr)
    elif activate:
        store.use(report["model"])
        active = True
    print(f"test accuracy {report['test_accuracy']:.1%} over {len(report['folds'])} split(s); "
          f"model {report['model']!r} saved{' and active' if active else ''}")
    print(f"report: {run.dir / 'report.json'}")
    return 0


def _runs(args) -> int:
    from app.home import runs_dir
    from model.train.loop import list_runs

    runs = [r.summary() for r in list_runs(runs_dir())]
    if args.json:
        print_json(runs)
        return 0
    if not runs:
        print("no training runs yet: see 'cratedigger train --help'")
    for r in runs:
        acc = f"{r['test_accuracy']:.1%}" if isinstance(r["test_accuracy"], float) else "-"
        print(f"{r['id']}  {r['status']:<9} {r['protocol']:<8} test {acc:>6}  {r['model'] or ''}")
    return 0


def _runs_delete(args) -> int:
    from app.home import runs_dir
    from model.train.loop import TrainError, delete_run

    failed = 0
    for run_id in args.run_ids:
        try:
            delete_run(runs_dir(), run_id, force=args.force)
            print(f"deleted run {run_id}")
        except TrainError as e:
            failed = fail(str(e))
    return failed


def _evaluate(args) -> int:
    from app.home import cache_dir, model_store, runs_dir
    from app.library.labels import LabelError
    from model.device import pick_device
    from model.store import ModelStoreError
    from model.train.datasets import DatasetError
    from model.train.evaluate import evaluate_dataset

    try:
        model, manifest = model_store().load(args.model)
        dataset = load_dataset(args.dataset, args.map)
        metrics = evaluate_dataset(model, manifest, dataset, cache_dir() / "mels", runs_dir() / "evaluations",
                                   pick_device(args.device))
    except (ModelStoreError, DatasetError, LabelError) as e:
        return fail(str(e))
    if args.json:
        print_json(metrics)
        return 0
    for s in metrics["skipped"]:
        print(f"skipped {s['path']}: {s['reason']}: {s['detail']}", file=sys.stderr)
    if metrics["unknown_classes"]:
        print(f"left out classes the model does not know: {', '.join(metrics['unknown_classes'])}", file=sys.stderr)
    print(f"{manifest.name} on {dataset.source}: accuracy {metrics['accuracy']:.1%} ({metrics['n']} files)")
    for c, m in metrics["per_class"].items():
        if m["support"]:
            print(f"  {c:<14} precision {m['precision']:.2f} recall {m['recall']:.2f} f1 {m['f1']:.2f} n {m['support']}")
    print(f"report: {metrics['report']}/report.json")
    return 0
