"""Benchmark: BBNN inference modes on the CPU, speed against fp32 and agreement with it on real music.

    python bench/infer.py [--music DIR ...] [--tracks 60] [--seconds 4] [--modes fp32,bf16,...]
                          [--model FILE.hdf5|.safetensors] [--threads N] [--cache FILE.npz]

Speed: windows/s of every mode at the scan's CPU micro-batch (1 window), as a ratio to fp32
channels_last (the reference) measured in the same run. Agreement, when music is given: every
mode runs the same windows of real tracks (3 per track, as a scan) and is compared with fp32 on
what a user sees: the top-1 genre per window and per track, the largest change of any
probability, and the "more like this" neighbours (top 5 of every track by the library's default
representation, as the share of fp32's neighbours kept). Needs the authors' weights for
meaningful agreement (`--model`, default ../shared's GTZAN fold 5); random weights otherwise.
Free game music (Debian packages hyperrogue-music, planetblupi-music-ogg, drascula-music...)
extracted under /tmp/music serves well.

Modes: fp32 (NCHW), fp32-cl (channels_last, the reference), bf16 (autocast everywhere),
bf16-mixed (autocast, the stem and the head kept in fp32: what model.inference runs as 'bf16-mixed'),
frozen (TorchScript freeze + oneDNN fusions), compile (torch.compile, compiled when the mode is
built: its "ready in" is the compile time), onnx (ONNX Runtime fp32,
the CPU's 'auto' when onnxruntime is installed),
onnx-int8 (ONNX Runtime, convolutions quantised to int8 with calibration on the same music).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from model.bbnn import BBNN  # noqa: E402
from model.device import cpu_has_native_bf16  # noqa: E402
from model.inference import Predictor  # noqa: E402

AUDIO = (".ogg", ".mp3", ".flac", ".wav", ".opus", ".m4a")
DEFAULT_MODEL = REPO.parent / "shared" / "bbnn" / "authors-weights" / "gtzan_fold5.hdf5"
ALL_MODES = "fp32,fp32-cl,bf16,bf16-mixed,frozen,compile,onnx,onnx-int8"


def load_model(path: Path | None) -> tuple[BBNN, bool]:
    if path is None or not path.exists():
        torch.manual_seed(0)
        return BBNN(10).eval(), False
    os.environ.setdefault("CRATEDIGGER_HOME", tempfile.mkdtemp(prefix="cratedigger-inferbench-"))
    from app.home import model_store

    store = model_store()
    return store.load(store.import_file(path).name)[0], True


def music_mels(folders: list[str], n_tracks: int) -> tuple[np.ndarray, np.ndarray]:
    """(mels (W, 647, 128), track index of every window) of up to n_tracks tracks spread over the folders."""
    from model.audio import AudioError, probe
    from model.mel import log_mels
    from model.melspec import MelSpec
    from model.windows import window_starts

    spec = MelSpec()
    per_folder = [sorted(p for p in Path(f).rglob("*") if p.suffix.lower() in AUDIO) for f in folders]
    take = max(1, n_tracks // max(1, len(per_folder)))
    files = [f for found in per_folder for f in found[:: max(1, len(found) // take)][:take]]
    mels, owner = [], []
    for path in files:
        try:
            starts = window_starts(probe(path).duration, spec.clip_seconds)
            chunks = [m for _, m in log_mels(path, starts, spec)]
        except AudioError:
            continue
        if chunks:
            m = np.concatenate(chunks)
            mels.append(m)
            owner += [len(mels) - 1] * len(m)
    return np.concatenate(mels).astype(np.float32), np.array(owner)


# -- modes: each returns a function mels (N, 647, 128) -> (probs, embedding, dense)
def torch_mode(model: BBNN, precision: str, channels_last: bool):
    predictor = Predictor(model, device="cpu", precision=precision, micro_batch=1)
    if not channels_last:
        predictor.model = predictor.model.to(memory_format=torch.contiguous_format)
        predictor.channels_last = False
    return lambda mels: astuple(predictor.run_mels(mels))


def astuple(r) -> tuple:
    return r.probs, r.embedding, r.dense


class _Wrapped(torch.nn.Module):
    """BBNN with a plain tensor-tuple output (what tracing, compiling and ONNX export need)."""

    def __init__(self, model: BBNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x, return_dense=True)
        return torch.softmax(out.logits, dim=-1), out.embedding, out.dense


def _run_each(fn, mels: np.ndarray) -> tuple:
    parts = [fn(mels[i:i + 1]) for i in range(len(mels))]
    return tuple(np.concatenate([np.asarray(p[k]) for p in parts]) for k in range(3))


def frozen_mode(model: BBNN):
    net = _Wrapped(model).eval().to(memory_format=torch.channels_last)
    example = torch.zeros(1, 1, 647, 128).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, example)))

    def run(mels):
        with torch.inference_mode():
            x = torch.from_numpy(mels).unsqueeze(1).contiguous(memory_format=torch.channels_last)
            return tuple(t.numpy() for t in frozen(x))
    return lambda mels: _run_each(run, mels)


def compile_mode(model: BBNN):
    """torch.compile (TorchInductor's C++ code for the CPU); compiled here, on one example window,
    so the mode's "ready in" time is its compilation."""
    net = torch.compile(_Wrapped(model).eval().to(memory_format=torch.channels_last))

    def run(mels):
        with torch.inference_mode():
            x = torch.from_numpy(mels).unsqueeze(1).contiguous(memory_format=torch.channels_last)
            return tuple(t.numpy() for t in net(x))
    run(np.zeros((1, 647, 128), np.float32))
    return lambda mels: _run_each(run, mels)


def onnx_file(model: BBNN, folder: Path) -> Path:
    from model.onnx_runtime import export

    path = folder / "bbnn.onnx"
    path.write_bytes(export(model, 647, 128))
    return path


def onnx_mode(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda mels: _run_each(lambda m: session.run(None, {"mels": m[:, None]}), mels)


def onnx_int8_file(path: Path, calibration: np.ndarray) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"mels": calibration[i:i + 1, None]} for i in range(len(calibration))])

        def get_next(self):
            return next(self.items, None)

    prepared = path.with_name("bbnn-prep.onnx")
    quant_pre_process(str(path), str(prepared))
    out = path.with_name("bbnn-int8.onnx")
    quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"])
    return out


def speed(fn, mels: np.ndarray, seconds: float) -> float:
    fn(mels[:2])  # warm-up (and compilation)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(mels[n % len(mels):n % len(mels) + 1])
        n += 1
    return n / (time.perf_counter() - start)


def neighbours(embedding: np.ndarray, dense: np.ndarray, owner: np.ndarray, k: int = 5) -> np.ndarray:
    """Top-k neighbours of every track by the library's default representation (track means)."""
    from app.library.vectors import DEFAULT_KIND, fit_basis

    tracks = np.unique(owner)
    parts = [np.stack([embedding[owner == t].mean(0) for t in tracks]),
             np.stack([dense[owner == t].mean(0) for t in tracks])]
    basis = fit_basis(DEFAULT_KIND, parts)
    x = basis.apply(parts)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    return np.argsort(-sims, axis=1)[:, :k]


def agreement(ref: tuple, got: tuple, owner: np.ndarray) -> dict:
    tracks = np.unique(owner)
    track_top = [np.stack([p[owner == t].mean(0) for t in tracks]).argmax(1) for p in (ref[0], got[0])]
    ref_nb, got_nb = neighbours(ref[1], ref[2], owner), neighbours(got[1], got[2], owner)
    kept = np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(ref_nb, got_nb)])
    return {"window_top1": float((ref[0].argmax(1) == got[0].argmax(1)).mean()),
            "track_top1": float((track_top[0] == track_top[1]).mean()),
            "max_prob_diff": float(np.abs(ref[0] - got[0]).max()), "neighbours": float(kept)}


def build_modes(names: list[str], model: BBNN, work: Path, calibration: np.ndarray) -> dict:
    makers = {
        "fp32": lambda: torch_mode(model, "fp32", channels_last=False),
        "fp32-cl": lambda: torch_mode(model, "fp32", channels_last=True),
        "bf16": lambda: torch_mode(model, "bf16", channels_last=True),
        "bf16-mixed": lambda: torch_mode(model, "bf16-mixed", channels_last=True),
        "frozen": lambda: frozen_mode(model),
        "compile": lambda: compile_mode(model),
        "onnx": lambda: torch_mode(model, "onnx", channels_last=True),  # the app's path (model/onnx_runtime.py)
        "onnx-int8": lambda: onnx_mode(onnx_int8_file(onnx_file(model, work), calibration)),
    }
    modes = {}
    for name in names:
        try:
            t = time.perf_counter()
            modes[name] = makers[name]()
            print(f"  {name}: ready in {time.perf_counter() - t:.1f} s", flush=True)
        except Exception as e:  # a mode this machine cannot run (no compiler, no onnxruntime) is reported
            print(f"  {name}: unavailable ({type(e).__name__}: {str(e)[:160]})", flush=True)
    return modes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--music", nargs="*", default=[], help="folders of real music for the agreement columns")
    ap.add_argument("--tracks", type=int, default=60)
    ap.add_argument("--seconds", type=float, default=4.0, help="timing per mode")
    ap.add_argument("--modes", default=ALL_MODES)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--cache", type=Path, help="keep the decoded windows in this .npz (and reuse them)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, real = load_model(args.model)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"native bf16: {cpu_has_native_bf16()}, weights: {args.model.name if real else 'random'}")
    if args.cache and args.cache.exists():
        saved = np.load(args.cache)
        mels, owner = saved["mels"], saved["owner"]
        print(f"{len(np.unique(owner))} tracks, {len(mels)} windows from {args.cache}")
    elif args.music:
        t = time.perf_counter()
        mels, owner = music_mels(args.music, args.tracks)
        print(f"{len(np.unique(owner))} tracks, {len(mels)} windows decoded in {time.perf_counter() - t:.0f} s")
        if args.cache:
            np.savez(args.cache, mels=mels, owner=owner)
    else:
        mels, owner = np.random.default_rng(0).normal(-30, 15, size=(16, 647, 128)).astype(np.float32), None
    work = Path(tempfile.mkdtemp(prefix="cratedigger-infer-"))
    modes = build_modes(args.modes.split(","), model, work, mels[::max(1, len(mels) // 32)])
    reference = modes.get("fp32-cl") or torch_mode(model, "fp32", channels_last=True)
    ref_rate = speed(reference, mels, args.seconds)
    ref_out = reference(mels) if owner is not None else None
    print(f"\n| mode | windows/s | / fp32-cl | window top-1 | track top-1 | neighbours | max prob diff |\n|---|---|---|---|---|---|---|")
    for name, fn in modes.items():
        rate = ref_rate if fn is reference else speed(fn, mels, args.seconds)
        cells = ["", "", "", ""]
        if ref_out is not None:
            a = agreement(ref_out, fn(mels), owner)
            cells = [f"{a['window_top1']:.1%}", f"{a['track_top1']:.1%}", f"{a['neighbours']:.1%}", f"{a['max_prob_diff']:.4f}"]
        print(f"| {name} | {rate:.1f} | {rate / ref_rate:.2f}x | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
