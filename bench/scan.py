"""Benchmark: scanning a library end to end.

    python bench/scan.py [--tracks 40] [--minutes 4] [--workers N] [--music DIR]  # speed, stages, RSS, rescan
                                                                         # (BBNN alone, then BBNN + MusiCNN)
    python bench/scan.py --long-hours 3 [--windows all]                  # one long FLAC: peak RSS
    python bench/scan.py --rescan-10k                                    # unchanged 10k-track rescan
    python bench/scan.py --sweep [--music DIR]                           # windows vs agreement

Generated tracks (mixed mp3/flac/ogg/opus/m4a, each a sequence of different textures) are cached
in bench/out/. The model is the authors' GTZAN fold 5 from ../shared (or --model-file); without
it, a randomly initialised BBNN (same cost). Peak RSS is the scanning process's and the largest
reader process's (ru_maxrss of this process and of its reaped children).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
FORMATS = ["mp3", "flac", "ogg", "opus", "m4a"]
KINDS = ["tones", "noise", "clicks", "chords"]


def make_library(folder: Path, n: int, minutes: float) -> Path:
    from audio_factory import synth, write_audio

    folder.mkdir(parents=True, exist_ok=True)
    seconds = minutes * 60
    for i in range(n):
        path = folder / f"track{i:04d}.{FORMATS[i % len(FORMATS)]}"
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        parts, total = [], 0.0
        while total < seconds:
            length = float(min(rng.uniform(20, 60), seconds - total))
            parts.append(synth(KINDS[int(rng.integers(len(KINDS)))], length, seed=i * 100 + len(parts)))
            total += length
        write_audio(path, np.concatenate(parts), tags={"title": f"Track {i}", "artist": f"Artist {i % 7}"})
        print(f"\rgenerating {i + 1}/{n}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return folder


def fresh_home(model_file: Path, musicnn_wheel: Path | None = None) -> Path:
    home = Path(tempfile.mkdtemp(prefix="cratedigger-bench-"))
    os.environ["CRATEDIGGER_HOME"] = str(home)
    from app.home import model_store

    if model_file.exists():
        model_store().import_file(model_file)
    else:
        import torch

        from model.bbnn import BBNN
        from model.keras_import import GTZAN_CLASSES
        from model.store import Manifest

        torch.manual_seed(0)
        model_store().save(BBNN(10), Manifest(name="random-bbnn", classes=list(GTZAN_CLASSES), source="bench"),
                           activate=True)
    if musicnn_wheel is not None:
        model_store().import_file(musicnn_wheel)
    return home


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the scan's readers), user + system."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def run_scan(folder: Path, policy="default", workers=None, models=None):
    from app.library.db import Library
    from app.library.scanner import scan

    lib = Library()
    try:
        return scan(lib, [folder], policy=policy, workers=workers, models=models), lib
    finally:
        pass


def timed_first_scan(folder: Path, args, model_file: Path, models: list[str]):
    """A first scan of `folder` in a fresh data home: (summary, wall seconds, CPU seconds)."""
    fresh_home(model_file, args.musicnn_wheel if "musicnn" in models else None)
    cpu, wall = cpu_seconds(), time.perf_counter()
    summary, _ = run_scan(folder, workers=args.workers, models=models)
    return summary, time.perf_counter() - wall, cpu_seconds() - cpu


def compare_musicnn(folder: Path, args, model_file: Path):
    """First scans with BBNN alone, BBNN + MusiCNN, and BBNN alone again (load drift), same folder, same run."""
    runs = {}
    for label, models in (("bbnn", ["bbnn"]), ("both", ["bbnn", "musicnn"]), ("bbnn again", ["bbnn"])):
        runs[label] = timed_first_scan(folder, args, model_file, models)
        s, wall, cpu = runs[label]
        print(f"first scan, {label:<10}: {s.analysed} tracks in {wall:6.1f} s wall ({s.analysed / wall:.2f} tracks/s), "
              f"{cpu:6.1f} CPU-s ({cpu / max(s.analysed, 1):.2f} CPU-s/track); inference {s.stage_seconds['inference']:.1f} s")
    base_wall = (runs["bbnn"][1] + runs["bbnn again"][1]) / 2
    base_cpu = (runs["bbnn"][2] + runs["bbnn again"][2]) / 2
    print(f"cost of BBNN + MusiCNN vs BBNN alone: {runs['both'][1] / base_wall:.2f}x wall, "
          f"{runs['both'][2] / base_cpu:.2f}x CPU time (target <= 2x)")
    return runs["both"][0]


def bench_speed(args, model_file: Path) -> None:
    folder = Path(args.music) if args.music else make_library(
        REPO / "bench" / "out" / f"lib-{args.tracks}x{args.minutes:g}min", args.tracks, args.minutes)
    if args.musicnn_wheel and args.musicnn_wheel.exists():
        summary = compare_musicnn(folder, args, model_file)
    else:
        print(f"no MusiCNN wheel at {args.musicnn_wheel}: BBNN alone")
        fresh_home(model_file)
        summary, _ = run_scan(folder, workers=args.workers, models=["bbnn"])
    own, children = peak_rss_mb()
    print(f"\nfirst scan ({summary.model}): {summary.analysed} tracks of {args.minutes:g} min, {summary.windows} windows, "
          f"{summary.errors} errors in {summary.seconds:.1f} s = {summary.analysed / summary.seconds:.2f} tracks/s")
    print("time per stage (summed over processes; decode and mel run in parallel with inference):")
    for stage, seconds in summary.stage_seconds.items():
        print(f"  {stage:<10} {seconds:7.2f} s  {1000 * seconds / max(summary.analysed, 1):7.1f} ms/track")
    print(f"peak RSS (over every scan above): main {own:.0f} MB, largest worker {children:.0f} MB, "
          f"together {own + children:.0f} MB (target < 1.5 GB)")
    t = time.perf_counter()
    again, _ = run_scan(folder, workers=args.workers, models=summary.models)
    print(f"second scan of the unchanged library: {time.perf_counter() - t:.2f} s "
          f"({again.skipped} unchanged, {again.analysed} analysed)")


def make_long_flac(path: Path, hours: float, rate: int = 44100) -> Path:
    """A stereo FLAC `hours` long, written a minute at a time (textures change every minute)."""
    import soundfile

    from audio_factory import synth

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.flac")
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(tmp, "w", rate, 2, format="FLAC", subtype="PCM_16") as f:
        for minute in range(int(hours * 60)):
            kind = KINDS[int(rng.integers(len(KINDS)))]
            mono = synth(kind, 60.0, sr=rate, seed=minute)
            f.write(np.stack([mono, np.roll(mono, 7)], axis=1) * 0.5)
            print(f"\rwriting {minute + 1}/{int(hours * 60)} min", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    os.replace(tmp, path)
    return path


def bench_long(args, model_file: Path) -> None:
    """One long FLAC through the whole scan (BBNN): time and peak memory. Run it once more when
    the FLAC was generated in the same run, so generating it does not count."""
    path = make_long_flac(REPO / "bench" / "out" / f"long-{args.long_hours:g}h.flac", args.long_hours)
    folder = path.parent / f"long-{args.long_hours:g}h"
    folder.mkdir(exist_ok=True)
    link = folder / path.name
    if not link.exists():
        os.symlink(path, link)
    fresh_home(model_file)
    summary, _ = run_scan(folder, policy=args.windows, workers=args.workers, models=["bbnn"])
    own, children = peak_rss_mb()
    print(f"{args.long_hours:g}-hour FLAC, --windows {args.windows}: {summary.windows} windows, "
          f"{summary.errors} errors in {summary.seconds:.1f} s")
    print(f"peak RSS: main {own:.0f} MB, largest worker {children:.0f} MB, together {own + children:.0f} MB")


def bench_rescan_10k(args, model_file: Path) -> None:
    """10,000 real (tiny) files, all already analysed: how long does an unchanged rescan take?"""
    from audio_factory import synth, write_audio

    from app.library.db import Library
    from app.library.fspath import to_db

    folder = REPO / "bench" / "out" / "lib-10k-tiny"
    template = None
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(10_000):
        path = folder / f"{i // 500:02d}" / f"t{i:05d}.wav"
        if path.exists():
            continue
        path.parent.mkdir(exist_ok=True)
        if template is None:
            template = write_audio(folder / "template.wav", synth("tones", 0.05)).read_bytes()
        path.write_bytes(template)
    (folder / "template.wav").unlink(missing_ok=True)
    fresh_home(model_file)
    lib = Library()
    lib.add_folder(folder)
    from app.home import model_store

    manifest = model_store().active()
    lib.ensure_model(manifest)
    probs = np.full((1, 10), 0.1, np.float32)
    now = time.time()
    files = sorted(folder.rglob("*.wav"))
    with lib.db.conn:
        for i, p in enumerate(files):
            st = p.stat()
            cur = lib.db.execute("INSERT INTO tracks(path, size, mtime, fingerprint, first_seen, last_seen, missing)"
                                 " VALUES (?, ?, ?, ?, ?, ?, 0)", [to_db(p), st.st_size, st.st_mtime, f"fp{i}", now, now])
            lib.db.execute("INSERT INTO analyses(track_id, model, probs, top_genre, top_prob, n_windows)"
                           " VALUES (?, ?, ?, 'blues', 0.1, 1)", [cur.lastrowid, manifest.name, probs.tobytes()])
    from app.library.scanner import scan

    t = time.perf_counter()
    summary = scan(lib, None, workers=0)
    print(f"rescan of an unchanged {len(files)}-track library: {time.perf_counter() - t:.2f} s "
          f"({summary.skipped} unchanged, {summary.analysed} analysed)")


def bench_sweep(args, model_file: Path) -> None:
    folder = Path(args.music) if args.music else make_library(
        REPO / "bench" / "out" / f"lib-{args.tracks}x{args.minutes:g}min", args.tracks, args.minutes)
    results = {}
    for policy in ["all", 1, 2, 3, 5]:
        fresh_home(model_file)
        summary, lib = run_scan(folder, policy=policy, workers=args.workers)
        tops = {}
        for r in lib.track_rows(limit=100_000):
            if r["top_genre"]:
                tops[r["path"]] = (r["top_genre"], lib.analysis(r["id"])["probs"])
        results[policy] = (summary, tops)
    reference = results["all"][1]
    print(f"\n{'windows':<8} {'tracks/s':>9} {'windows/track':>14} {'top genre = all-windows':>24} {'mean TV distance':>17}")
    for policy, (summary, tops) in results.items():
        agree = np.mean([tops.get(p, (None,))[0] == g[0] for p, g in reference.items()]) if reference else float("nan")
        tv = np.mean([0.5 * np.abs(tops[p][1] - g[1]).sum() for p, g in reference.items() if p in tops])
        print(f"{str(policy):<8} {summary.analysed / summary.seconds:9.2f} {summary.windows / max(summary.analysed, 1):14.1f}"
              f" {agree:24.0%} {tv:17.3f}")


def main() -> None:
    import app.library.scanner  # noqa: F401  first, as in the CLI: it sets the OpenMP wait policy before torch loads

    ap = argparse.ArgumentParser(description="scan benchmark")
    ap.add_argument("--tracks", type=int, default=40)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--model-file", type=Path, default=REPO.parent / "shared/bbnn/authors-weights/gtzan_fold5.hdf5")
    ap.add_argument("--musicnn-wheel", type=Path, default=REPO.parent / "shared/musicnn/musicnn-0.1.0-py3-none-any.whl",
                    help="the musicnn wheel (MusiCNN's weights) for the BBNN + MusiCNN first scan")
    ap.add_argument("--rescan-10k", action="store_true")
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--music", help="a folder of real music (speed and --sweep; default: generated tracks)")
    ap.add_argument("--long-hours", type=float, help="scan one generated FLAC this many hours long")
    ap.add_argument("--windows", default="all", help="window policy for --long-hours")
    args = ap.parse_args()
    if args.long_hours:
        bench_long(args, args.model_file)
    elif args.rescan_10k:
        bench_rescan_10k(args, args.model_file)
    elif args.sweep:
        bench_sweep(args, args.model_file)
    else:
        bench_speed(args, args.model_file)


if __name__ == "__main__":
    main()
