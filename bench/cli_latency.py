"""Benchmark: how long a user waits for the command line and the app, against `--help` in the same run.

    python bench/cli_latency.py [--repeat 3] [--big 100000] [--musicnn] [--skip-gui]

Builds a 65-track library (Library methods, a randomly initialised model active, a map) in a
temporary data home and times every read-only command as a fresh process (`python -m app ...`,
median of --repeat runs), next to `--help`, the floor of any command. Then `similar` on a
generated --big-track library (--musicnn: analysed by MusiCNN too, so `similar` uses its default
representation), and the app's start to its first painted window (offscreen),
with the heavy modules it had loaded by then. Every figure is also given as a ratio to `--help`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
OUT = REPO / "bench" / "out"
HEAVY = ("torch", "sklearn", "umap", "numba")
CLASSES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]

# The app as `cratedigger` starts it, stopped at the first paint of the main window.
FIRST_PAINT = """
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
import app.ui.main as main

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Paint and obj.isWindow():
            heavy = sorted(m for m in {heavy!r} if m in sys.modules)
            print("PAINT", time.time(), ",".join(heavy), flush=True)
            QTimer.singleShot(0, QApplication.instance().quit)
            QApplication.instance().removeEventFilter(self)
        return False

app = QApplication(sys.argv[:1])
spy = FirstPaint()
app.installEventFilter(spy)
sys.exit(main.run())
"""


def active_model(name: str):
    from app.home import model_store
    from model.bbnn import BBNN
    from model.store import Manifest

    return model_store().save(BBNN(len(CLASSES)), Manifest(name=name, classes=CLASSES, source="bench"), activate=True)


def installed_tagger(name: str = "bench-tagger") -> None:
    """A randomly initialised MusiCNN installed under `name` (what similarity_speed.build(musicnn=True) stores under)."""
    from app.home import model_store
    from model.musicnn import MusiCNN, MusicnnSpec
    from model.store import KIND_MUSICNN, MUSICNN_FORMAT, Manifest

    model_store().save(MusiCNN(), Manifest(name=name, classes=[f"tag{i}" for i in range(50)], source="bench",
                                           kind=KIND_MUSICNN, format=MUSICNN_FORMAT, input=MusicnnSpec().to_dict()))


def small_library(n: int = 65) -> list[str]:
    """n analysed tracks in 5 sound groups, written with Library's own methods, and their map."""
    from app.library.db import Library
    from app.library.mapping import build_map

    lib = Library()
    lib.ensure_model(active_model("bench-small"))
    rng = np.random.default_rng(0)
    centres, dense_centres = rng.normal(size=(5, 32)) * 3, rng.normal(size=(5, 416)) * 3
    paths = []
    for i in range(n):
        g = i % 5
        path = f"/music/group{g}/track{i:03d}.mp3"
        tid = lib.upsert_track(path, title=f"Song {i}", artist=f"Artist {i % 7}", album=f"Album {g}", duration=200.0)
        probs = np.full((3, len(CLASSES)), 0.02)
        probs[:, g] = 0.82
        lib.save_analysis(tid, "bench-small", [0.0, 60.0, 120.0], probs,
                          np.abs(centres[g] + 0.5 * rng.normal(size=(3, 32))),
                          np.abs(dense_centres[g] + rng.normal(size=(3, 416))), 0.3)
        paths.append(path)
    lib.record_error("/music/broken.mp3", "undecodable", "not audio")
    build_map(lib, "bench-small")
    lib.close()
    return paths


def timed(argv: list[str], repeat: int, env: dict) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "app", *argv], capture_output=True, env=env, cwd=REPO)
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise SystemExit(f"{argv} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(times)


def first_paint(env: dict, repeat: int) -> tuple[float, str]:
    times, heavy = [], ""
    for _ in range(repeat):
        t = time.time()
        done = subprocess.run([sys.executable, "-c", FIRST_PAINT.format(heavy=HEAVY)], capture_output=True, text=True,
                              env=dict(env, QT_QPA_PLATFORM="offscreen"), cwd=REPO, timeout=120)
        line = next((x for x in done.stdout.splitlines() if x.startswith("PAINT")), None)
        if line is None:
            raise SystemExit(f"the app did not paint: {done.stderr[-800:]}")
        _, at, *loaded = line.split(" ")
        times.append(float(at) - t)
        heavy = loaded[0] if loaded else ""
    return statistics.median(times), heavy


def row(label: str, seconds: float, help_s: float) -> dict:
    print(f"| {label:<44} | {seconds:7.3f} | {seconds / help_s:5.1f}x |", flush=True)
    return {"command": label, "seconds": round(seconds, 4), "ratio_to_help": round(seconds / help_s, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big", type=int, default=100_000, help="tracks of the library for `similar` (0: skip)")
    ap.add_argument("--skip-gui", action="store_true")
    ap.add_argument("--musicnn", action="store_true", help="the big library analysed by MusiCNN too (its default representation)")
    args = ap.parse_args()
    # UMAP's compiled code is kept between runs of this bench (the data homes are temporary)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(OUT / "numba"))
    os.environ["CRATEDIGGER_HOME"] = tempfile.mkdtemp(prefix="cratedigger-clibench-")
    paths = small_library()
    env = dict(os.environ)
    help_s = timed(["--help"], args.repeat, env)
    print("| command (65 tracks unless said) | seconds | / --help |\n|---|---|---|")
    results = [row("--help", help_s, help_s)]
    listing = Path(env["CRATEDIGGER_HOME"]) / "tracks.txt"
    listing.write_text("\n".join(paths[:5]) + "\n")
    out = Path(env["CRATEDIGGER_HOME"]) / "out.m3u8"
    for argv in (["status"], ["errors"], ["show", paths[0]], ["genres"], ["similar", "-n", "5", paths[0]],
                 ["path", "--steps", "5", paths[0], paths[1]], ["clusters"],
                 ["export-m3u", "--cluster", "0", str(out)], ["export-m3u", "--similar", paths[0], str(out)],
                 ["export-m3u", "--tracks", str(listing), str(out)]):
        results.append(row(" ".join(a if not a.startswith("/") else Path(a).name for a in argv),
                           timed(argv, args.repeat, env), help_s))
    if args.big:
        from similarity_speed import build

        build(args.big, args.musicnn).close()  # sets CRATEDIGGER_HOME to a new data home with model 'bench'
        big_env = dict(os.environ)
        active_model("bench")
        if args.musicnn:
            installed_tagger()
        what = f"{args.big} tracks" + (", MusiCNN" if args.musicnn else "")
        results.append(row(f"similar -n 20 ({what})", timed(["similar", "-n", "20", "/music/0/0.mp3"],
                                                            args.repeat, big_env), help_s))
    if not args.skip_gui:
        seconds, heavy = first_paint(env, args.repeat)
        results.append(row(f"app start to first paint (heavy loaded: {heavy or 'none'})", seconds, help_s))
    OUT.mkdir(exist_ok=True)
    (OUT / "cli_latency.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
